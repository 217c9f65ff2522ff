"""What the command line says, as a researcher meets it: `-q` works, `dynax gallery --help`
names the items, a noiseless sweep's summary has no empty table."""

import pytest
from conftest import spec_text

from dynax.cli import main
from dynax.gallery import ITEMS

SMALL = spec_text("depth = [1]\nn_over_p = [0.5, 2.0]\nsnr = [inf]\nseed = { count = 2 }", "n_in = 6")


def test_short_quiet_flag(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(SMALL)
    assert main(["run", str(spec), "-o", str(tmp_path / "s.nc"), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_gallery_help_names_every_item(capsys):
    with pytest.raises(SystemExit) as e:
        main(["gallery", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert all(item in out for item in ITEMS)


def test_noiseless_summary_prints_no_empty_table(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(SMALL)
    assert main(["run", str(spec), "-o", str(tmp_path / "s.nc")]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "sigma_eps^2" not in out  # no σ_ε² to divide by: no header without rows


def test_gallery_refuses_to_overwrite_an_items_outputs(tmp_path, capsys):
    folder = tmp_path / "results" / "stopping"
    folder.mkdir(parents=True)
    (folder / "numbers.json").write_text("{}")
    assert main(["gallery", "stopping", "--results", str(tmp_path / "results")]) == 2
    assert "exists and would be replaced" in capsys.readouterr().err
    assert (folder / "numbers.json").read_text() == "{}"
