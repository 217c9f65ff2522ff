"""Reading, analysing and merging results imports no JAX (dynax.cli.JAX_COMMANDS: only the
commands that train or draw data do), so they start without its import time."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULT = str(ROOT / "results" / "reference" / "depth1_theory.nc")  # a committed result


def _loaded(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print('JAX' if 'jax' in sys.modules else 'NOJAX')"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[-1]


def test_import_dynax_imports_no_jax_until_a_name_needs_it():
    assert _loaded("import dynax; dynax.__version__; dynax.load_spec") == "NOJAX"
    assert _loaded("import dynax; dynax.run_sweep") == "JAX"


@pytest.mark.parametrize(
    "argv",
    [
        ["analyze", RESULT, "-o", "{tmp}/s.nc", "--figures", "{tmp}/figs"],
        pytest.param(["merge", "{tmp}/m.nc", RESULT], marks=pytest.mark.slow),  # ~4 s; sibling: analyze
    ],
    ids=["analyze", "merge"],
)
def test_analyze_and_merge_of_a_committed_result_import_no_jax(tmp_path, argv):
    argv = [a.format(tmp=tmp_path) for a in argv]
    code = f"from dynax.cli import main\nassert main({argv!r}) == 0"
    assert _loaded(code) == "NOJAX"


@pytest.mark.slow  # ~6 s; its siblings: analyze and merge above
def test_analyze_with_the_theory_imports_jax_where_it_computes_it(tmp_path):
    argv = ["analyze", RESULT, "-o", str(tmp_path / "s.nc"), "--figures", str(tmp_path / "f"), "--theory"]
    assert _loaded(f"from dynax.cli import main\nassert main({argv!r}) == 0") == "JAX"
