"""`dynax analyze` on every kind of result the engine writes: each one gives a summary and
figures, not a traceback (a held-out-data result ended in an xarray MergeError on `n_fit`)."""

import pytest
import xarray as xr
from conftest import spec_text

from dynax.cli import main

TREE = "teacher = 'hierarchy'\nn_in = 4\nn_out = 30\nhierarchy = { branching = 2, levels = 2, flip = 0.1 }"
GRID = "depth = [1, 2]\nn_over_p = [0.5, 2.0]\nsnr = [1.0, 4.0]\nseed = { count = 2 }"
CASES = {
    "validation": (
        "depth = [1]\nn_over_p = [0.5, 2.0]\nsnr = [1.0]\nseed = { count = 2 }",
        "n_in = 8",
        "",
        "validation = 0.25",
    ),
    "weight_decay_axis": (f"{GRID}\nweight_decay = [0.0, 0.1]", "n_in = 8", "", ""),
    "modes_and_weights": (
        GRID,
        "n_in = 8\nn_out = 2\nteacher_singular_values = [3.0, 1.0]",
        "",
        "record = { log = 10, weights = true, final_weights = true }",
    ),
    "hierarchy": ("depth = [1, 2]\nn_over_p = [1.0]\nsnr = [inf, 2.0]\nseed = { count = 2 }", TREE, "", ""),
    "online": (f"{GRID}\nprotocol = ['replay', 'online']", "n_in = 8", "", ""),
    "covariance_pretrained": (
        f"{GRID.replace('[1, 2]', '[2]')}\ninit = ['orthogonal', 'pretrained']",
        "n_in = 8\ninput_spectrum = [4, 2, 1, 1, 1, 0.5, 0.25, 0.25]",
        "pretrain_epochs = 10\ninit_scale = 0.3",
        "learning_rate = 0.02",
    ),
    "nonlinear": (
        "depth = [2]\nn_over_p = [0.5, 2.0]\nsnr = [1.0]\nseed = { count = 2 }",
        "n_in = 8\nn_test = 200",
        "activation = 'tanh'\nwidth = 6",
        "learning_rate = 0.05",
    ),
}
DEFAULT = ("validation",)  # the rest behind slow (12-20 s each on 2 cores)


@pytest.mark.parametrize(
    "case", [c if c in DEFAULT else pytest.param(c, marks=pytest.mark.slow) for c in CASES]
)
def test_dynax_analyze_reads_every_kind_of_result(tmp_path, case):
    grid, problem, model, train = CASES[case]
    spec = tmp_path / f"{case}.toml"
    spec.write_text(spec_text(grid, problem, model, f"epochs = 40\n{train}"))
    out = tmp_path / f"{case}.nc"
    assert main(["run", str(spec), "-o", str(out), "--quiet"]) == 0
    assert main(["analyze", str(out), "--theory"]) == 0
    with xr.open_dataset(tmp_path / f"{case}.summary.nc") as s:
        assert "opt_error_of_mean" in s and "overtraining" in s
    assert any(p.suffix == ".png" for p in (tmp_path / case).iterdir())


def test_every_file_carries_conventions_and_its_spec(tmp_path):
    """A summary and a theory file say what they were made from, as a result does."""
    spec = tmp_path / "small.toml"
    spec.write_text(
        spec_text("depth = [1]\nn_over_p = [0.5, 2.0]\nsnr = [1.0]\nseed = { count = 2 }", "n_in = 6")
    )
    out = tmp_path / "small.nc"
    assert main(["run", str(spec), "-o", str(out), "--quiet"]) == 0
    assert main(["analyze", str(out), "--figures", str(tmp_path / "f")]) == 0
    assert main(["theory", str(spec), "-o", str(tmp_path / "th.nc")]) == 0
    with xr.open_dataset(out) as r:
        made = r.attrs
    for path in (tmp_path / "small.summary.nc", tmp_path / "th.nc"):
        with xr.open_dataset(path) as s:
            assert s.attrs["Conventions"].startswith("CF-"), path
            assert s.attrs["spec_toml"] == made["spec_toml"] and s.attrs["spec_sha256"] == made["spec_sha256"]


def test_a_git_archive_copy_knows_its_commit(tmp_path):
    """Without git, the commit comes from _commit.txt, which `git archive` fills in (export-subst)."""
    from dynax._version import archived_commit

    filled = tmp_path / "filled.txt"
    filled.write_text("0123456789abcdef0123456789abcdef01234567\n")
    assert archived_commit(filled) == "0123456789abcdef0123456789abcdef01234567"
    raw = tmp_path / "raw.txt"
    raw.write_text("$Format:%H$\n")
    assert archived_commit(raw) == "unknown" and archived_commit(tmp_path / "none.txt") == "unknown"


@pytest.mark.slow  # builds a wheel (~15 s, setuptools fetched for the isolated build)
def test_a_wheel_built_from_a_checkout_knows_its_commit(tmp_path):
    """setup.py's build hook writes the checkout's commit into the wheel's _commit.txt (the
    source file keeps git's placeholder)."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("dynax-*.whl")
    recorded = zipfile.ZipFile(wheel).read("dynax/_commit.txt").decode().strip()
    assert recorded.split("+")[0] == head.stdout.strip()
    assert (root / "dynax" / "_commit.txt").read_text().startswith("$Format")
