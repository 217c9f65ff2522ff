"""Spec parsing: axis forms, overrides, and every bad input refused with file, key and value."""

import math

import pytest
from conftest import spec_text

from dynax import SpecError, load_spec, parse_spec
from dynax.cli import main
from dynax.spec import Auto

GRID = "depth = [1, 2]\nn_over_p = [0.5, 2.0]\nsnr = [1.0, inf]\nseed = { count = 3 }"


def test_axis_forms_and_order():
    s = parse_spec(
        spec_text(
            "depth = 1\nn_over_p = { geomspace = [0.25, 4.0, 5] }\nsnr = { linspace = [1, 3, 3] }\n"
            "init_scale = [0.1, 0.01]\nseed = [3, 5]\nlearning_rate = [0.01, 0.02]"
        )
    )
    assert s.dims == ("depth", "n_over_p", "snr", "init_scale", "learning_rate", "seed")
    assert s.axis("n_over_p").values == pytest.approx((0.25, 0.5, 1.0, 2.0, 4.0))
    assert s.axis("snr").values == (1.0, 2.0, 3.0)
    assert s.n_train == (48, 24, 12, 6, 3)
    assert s.n_runs == 1 * 5 * 3 * 2 * 2 * 2


def test_defaults_and_record_grids():
    s = parse_spec(spec_text(GRID, train="epochs = 1000\nrecord = { log = 20 }"))
    assert s.train.learning_rate == Auto(0.5)
    assert s.model.width == 12 and s.model.init == "gaussian" and s.model.init_scale == 1e-3
    rec = s.record_epochs
    assert rec[0] == 0 and rec[-1] == 1000 and list(rec) == sorted(set(rec)) and len(rec) <= 20
    s = parse_spec(spec_text(GRID, train="epochs = 10\nrecord = { every = 4 }"))
    assert s.record_epochs == (0, 4, 8, 10)
    assert math.isinf(s.axis("snr").values[1])


def test_overrides_parse_as_toml():
    s = parse_spec(
        spec_text(GRID),
        overrides=[
            "train.epochs=100",
            "model.init=orthogonal",
            "grid.snr=[1,10]",
            "train.learning_rate={auto=0.3}",
        ],
    )
    assert s.train.epochs == 100 and s.model.init == "orthogonal"
    assert s.axis("snr").values == (1.0, 10.0)
    assert s.train.learning_rate == Auto(0.3)
    assert s.overrides[0] == "train.epochs=100"
    assert parse_spec(spec_text(GRID)).sha256 != s.sha256


BAD = [
    # (grid, problem, model, train, key in message, words in message)
    (
        GRID,
        "n_in = 12",
        "",
        "epochs = 50\nlearnig_rate = 0.1",
        "train.learnig_rate",
        "did you mean `train.learning_rate`",
    ),
    (GRID, "n_in = 12", "", 'epochs = "100"', "train.epochs", "'100' (str)"),
    (GRID.replace("[1.0, inf]", "[]"), "n_in = 12", "", "epochs = 5", "grid.snr", "empty"),
    (GRID.replace("[1.0, inf]", "[1.0, -2.0]"), "n_in = 12", "", "epochs = 5", "grid.snr[1]", "-2.0"),
    (GRID.replace("[1.0, inf]", "[1.0, nan]"), "n_in = 12", "", "epochs = 5", "grid.snr[1]", "nan"),
    (
        GRID.replace("[1.0, inf]", "[1.0, 1.0]"),
        "n_in = 12",
        "",
        "epochs = 5",
        "grid.snr",
        "duplicate value 1.0",
    ),
    (GRID.replace("[1, 2]", "[0, 1]"), "n_in = 12", "", "epochs = 5", "grid.depth[0]", "got 0"),
    (GRID.replace("[0.5, 2.0]", "[0.5, 30.0]"), "n_in = 12", "", "epochs = 5", "grid.n_over_p", "P ≥ 1"),
    (
        GRID.replace("[0.5, 2.0]", "[1.0, 1.04]"),
        "n_in = 12",
        "",
        "epochs = 5",
        "grid.n_over_p",
        "both give P = 12",
    ),
    (GRID, "n_in = 12", "", "epochs = 5\nlearning_rate = 0", "train.learning_rate", "> 0"),
    (GRID, "n_in = 12", "", "epochs = 5\nlearning_rate = -0.1", "train.learning_rate", "-0.1"),
    (
        GRID,
        "n_in = 12",
        "",
        'epochs = 5\noptimizer = "sgd"',
        "train.optimizer",
        "allowed: gd, momentum, adam",
    ),
    (GRID, "n_in = 12", 'init = "xavier"', "epochs = 5", "model.init", "allowed: gaussian"),
    (GRID, "n_in = 12", "", 'epochs = 5\nprotocol = "offline"', "train.protocol", "allowed: replay, online"),
    (GRID, "n_in = 12", 'init = "zero"', "epochs = 5", "model.init", "depth ≥ 2"),
    (GRID, "n_in = 12\nn_out = 2", 'init = "balanced"', "epochs = 5", "model.init", "n_out = 1"),
    (
        GRID.replace("seed = { count = 3 }", "seed = { count = 0 }"),
        "n_in = 12",
        "",
        "epochs = 5",
        "grid.seed.count",
        "got 0",
    ),
    (
        GRID + "\ninit_scale = [0.1]",
        "n_in = 12",
        "init_scale = 0.2",
        "epochs = 5",
        "grid.init_scale",
        "one place",
    ),
    (GRID, "n_in = 12", "", "epochs = 5\nrecord = { log = 1 }", "train.record.log", "got 1"),
    (GRID.replace("depth = [1, 2]\n", ""), "n_in = 12", "", "epochs = 5", "grid.depth", "missing"),
]


@pytest.mark.parametrize(("grid", "problem", "model", "train", "key", "words"), BAD)
def test_bad_input_names_file_key_and_value(tmp_path, grid, problem, model, train, key, words):
    path = tmp_path / "bad.toml"
    path.write_text(spec_text(grid, problem, model, train))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    msg = str(err.value)
    assert str(path) in msg and f"`{key}`" in msg and words in msg, msg


def test_snr_inf_is_allowed():
    s = parse_spec(spec_text(GRID.replace("[1.0, inf]", "inf")))
    assert s.axis("snr").values == (math.inf,)


def test_toml_syntax_error_and_missing_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[grid\ndepth = 1\n")
    with pytest.raises(SpecError, match=r"broken\.toml: TOML syntax error"):
        load_spec(path)
    with pytest.raises(SpecError, match=r"nothere\.toml: no such spec file"):
        load_spec(tmp_path / "nothere.toml")


def test_bad_override_is_refused():
    with pytest.raises(SpecError, match="expected KEY=VALUE"):
        parse_spec(spec_text(GRID), overrides=["train.epochs"])
    with pytest.raises(SpecError, match=r"`grid\.sner`.*did you mean `grid\.snr`"):
        parse_spec(spec_text(GRID), overrides=["grid.sner=[1]"])


def test_cli_exit_code_2_and_message(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(spec_text(GRID, train="epochs = 0"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "`train.epochs`" in err and "got 0" in err
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "no such spec file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["run", str(path), "--chunk-size", "0"])
    assert e.value.code == 2


def test_validate_prints_plan_and_warns_on_unstable_rate(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(spec_text(GRID, train="epochs = 100\nlearning_rate = 1.0"))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "runs        24" in out and "2 compile group(s)" in out and "per call" in out
    assert "warning: learning rate 1 exceeds the stability bound" in out
    path.write_text(spec_text(GRID, train="epochs = 100\nlearning_rate = 0.01"))
    assert main(["validate", str(path)]) == 0
    assert "warning" not in capsys.readouterr().out


@pytest.mark.slow  # ~8 s of probe runs
def test_validate_time_predicts_each_group_from_measured_probes(tmp_path, capsys):
    """`validate --time`: one line per compile group with the plan's batches and chunks, each
    group's time its own model (compile and set-up + batches x seconds per batch + part files
    x seconds per file), a line for what the sweep pays once (every seed's statistics, every
    (seed, P, noise)'s ridge baselines, loading netCDF), the total their sum."""
    import re

    from dynax.engine import plan_sweep
    from dynax.spec import load_spec

    path = tmp_path / "s.toml"
    path.write_text(spec_text(GRID, train="epochs = 300\nlearning_rate = 0.01"))
    assert main(["validate", str(path), "--time"]) == 0
    out = capsys.readouterr().out
    plan = plan_sweep(load_spec(path, []))
    num = r"([0-9.e+-]+)"
    rows = re.findall(
        rf"~ *{num} s  \(compile and set-up {num} s \+ (\d+) batch\(es\) x {num} s \+ (\d+) part file\(s\) "
        rf"x {num} s; {num} net",
        out,
    )
    assert len(rows) == len(plan.groups)
    for (t, c, b, per, k, w, rate), g in zip(rows, plan.groups, strict=True):
        assert int(b) == -(-len(g.runs) // g.batch) and 0 < float(per) < 60
        assert int(k) == g.n_chunks and 0 < float(w) < 10
        assert float(t) == pytest.approx(float(c) + int(b) * float(per) + int(k) * float(w), abs=0.1)
        assert float(rate) == pytest.approx(g.batch * 300 / float(per), rel=0.01)
    once = re.search(rf"once +~ *{num} s  \((\d+) seed\(s\) x {num} s \+ (\d+) \(seed, P, noise\)", out)
    t = plan.table
    assert int(once.group(2)) == len(set(t.seed.tolist()))
    assert int(once.group(4)) == len(
        set(zip(t.seed.tolist(), t.p_index.tolist(), t.noise_std.tolist(), strict=True))
    )
    total = float(re.search(rf"time        ~{num} s", out).group(1))
    assert total == pytest.approx(
        float(once.group(1)) + sum(float(r[0]) for r in rows), abs=0.1 * (1 + len(rows))
    )
