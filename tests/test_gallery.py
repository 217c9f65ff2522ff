"""Tiny versions of the gallery's specs (sweeps/*.toml), run end to end: sweep, theory,
figures and numbers. Each asserts the claim its item reproduces, at a scale that runs in
seconds (so with loose tolerances)."""

import json
from pathlib import Path

import numpy as np
import pytest

from dynax import gallery, load_spec, run_sweep
from dynax.predict import theory_dataset

SWEEPS = Path(__file__).resolve().parent.parent / "sweeps"


def _results(name, overrides, theory=True):
    spec = load_spec(SWEEPS / f"{name}.toml", overrides)
    return run_sweep(spec), theory_dataset(spec, n=600) if theory else None


def ds_snr(ds):
    """The sweep's one SNR."""
    (snr,) = ds.snr.values
    return snr


def _make(item, results, tmp_path):
    nums = gallery.make(item, results, tmp_path)
    assert json.loads((tmp_path / "numbers.json").read_text())["item"] == item
    for fig in nums["figures"]:
        assert Path(fig).stat().st_size > 10_000  # a rendered figure, not an empty canvas
    return nums


@pytest.mark.slow  # a gallery item end to end (5-8 s); `dynax gallery` on the committed results runs it
def test_learning_curves_tiny(tmp_path):
    res = _results(
        "learning_curves",
        [
            "grid.n_over_p=[2.0, 1.0, 0.5]",
            "grid.snr=[1.0, 10.0]",
            "grid.init_scale=[0.0, 1.0]",
            "grid.seed={count=6}",
            "problem.n_in=150",
        ],
    )
    nums = _make("learning_curves", [res], tmp_path)
    rows = {
        tuple(r[k] for k in ("alpha", "sigma_w2", "sigma_eps2", "sigma_0_2")): r for r in nums["table_2_8"]
    }
    assert set(rows) == {(0.5, 1, 1, 0), (0.5, 1, 1, 1), (1.0, 1, 1, 0), (2.0, 1, 1, 0)}
    for r in rows.values():  # dynax's theory reproduces the table; the simulation is near it
        np.testing.assert_allclose(r["theory_dynax"][:3], r["theory_table"][:3], rtol=2e-3)
        np.testing.assert_allclose(r["sim"][:3], r["theory_table"][:3], rtol=0.06)
    over = nums["overtraining_2_4_snr1"]  # the overtraining peak at alpha = 1
    assert over["alpha=1"]["sim"] > 3 * max(over["alpha=0.5"]["sim"], over["alpha=2"]["sim"])
    snr1 = nums["table_2_5"]["snr=1"]
    np.testing.assert_allclose(snr1["theory_dynax"], snr1["table"], rtol=2e-3)
    assert nums["optimal_error_monotone_in_alpha"]["theory_max_rise"] < 0


@pytest.mark.slow  # a gallery item end to end (5-8 s); `dynax gallery` on the committed results runs it
def test_phase_diagram_tiny(tmp_path):
    res = _results(
        "phase_diagram",
        [
            "grid.depth=[1, 2]",
            "grid.n_over_p=[2.0, 1.0, 0.5]",
            "grid.snr=[1.0, 10.0]",
            "grid.seed={count=3}",
            "problem.n_in=40",
            "model.width=20",
            "train.epochs=1500",
        ],
    )
    nums = _make("phase_diagram", [res], tmp_path)
    for d in ("depth=1", "depth=2"):  # the final error peaks at N = P at every SNR
        assert nums["final_error_peak_n_over_p"][d]["peak"] == [1.0, 1.0]
    ridge = nums["excess_over_ridge_percent"]["depth=1"]  # like with like: ridge on the same data
    assert abs(ridge["max"]) < 10 and abs(ridge["min"]) < 10
    lo, hi = nums["theory_excess_over_bayes_percent_depth1"]["whole_grid"]
    assert 0 < lo and hi < 3  # early stopping is within a few percent of Bayes (docs/theory.md §2.5)


@pytest.mark.slow  # a gallery item end to end (5-8 s); `dynax gallery` on the committed results runs it
def test_frozen_subspace_tiny(tmp_path):
    res = _results(
        "frozen_subspace",
        [
            "grid.depth=[1, 3]",
            "grid.n_over_p=[2.0, 0.5]",
            "grid.init_scale=[0.1, 10.0]",
            "grid.seed={count=4}",
            "problem.n_in=40",
            "model.width=40",
            "train.epochs=800",
        ],
        theory=False,
    )
    nums = _make("frozen_subspace", [(res[0], None)], tmp_path)
    assert nums["depth1_null_error_max_change_over_training"] < 1e-5  # frozen
    d1 = nums["carried_null_space_error"]["alpha=0.5,depth=1"]
    # what the init put in the null space stays there: (1 - alpha) sigma_0^2 = 0.5 * 100/40
    assert d1["end"][1] == pytest.approx(d1["theory_depth1"][1], rel=0.35)
    assert d1["end"] == pytest.approx(d1["initial"], rel=1e-3)
    teacher, expected = nums["teacher_null_part_vs_1_minus_alpha"]["alpha=0.5"]
    assert teacher == pytest.approx(expected, rel=0.35)


@pytest.mark.slow  # the depth item end to end (~6 s)
def test_depth_tiny(tmp_path):
    common = ["grid.n_over_p=[1.0]", "grid.seed={count=3}", "problem.n_in=30", "model.width=30"]
    fan_in = _results(
        "depth", [*common, "grid.depth=[1, 2]", "grid.init_scale=[0.1, 1.0]", "train.epochs=2000"]
    )
    balanced = _results(
        "depth_balanced", [*common, "grid.depth=[2]", "grid.init_scale=[0.3]", "train.epochs=1000"]
    )
    nums = _make("depth", [fan_in, balanced], tmp_path)
    # balanced init follows the exact end-to-end flow (small step: discrete ~ flow)
    assert max(v["max_rel_dev_to_3_t_star"] for v in nums["balanced_sim_vs_flow_max_rel_dev"].values()) < 0.01
    # the table's reduction, recomputed here: each curve at the minimum of its seed mean,
    # depth 2 (init 0.1) minus depth 1 on the same seed, in units of σ_ε²
    ds = fan_in[0].sel(n_over_p=1.0, snr=ds_snr(fan_in[0]))
    curves = ds.test_error.where(ds.diverged == 0)
    at_min = curves.isel(epoch=curves.mean("seed").argmin("epoch"))
    diff = (at_min.sel(depth=2, init_scale=0.1) - at_min.sel(depth=1).isel(init_scale=0)) / ds.noise_var
    row = nums["fan_in_vs_table_3_4"]["alpha=1,depth=2,init=0.1"]
    assert row["paired_diff_sim"] == float(f"{float(diff.mean('seed')):.4g}")  # numbers.json's rounding
    assert row["paired_diff_sem"] == float(f"{float(diff.std('seed')) / np.sqrt(3):.2g}")


@pytest.mark.slow  # a gallery item end to end (5-8 s); `dynax gallery` on the committed results runs it
def test_replay_vs_online_tiny(tmp_path):
    res = _results(
        "replay_vs_online",
        [
            "grid.n_over_p=[1.0, 0.5]",
            "grid.snr=[10.0]",
            "grid.seed={count=3}",
            "problem.n_in=40",
            "train.epochs=20",
        ],
    )
    nums = _make("replay_vs_online", [res], tmp_path)
    row = nums["equal_data"]["snr=10"]
    assert row["alpha=2"]["excess_ratio"] > 1.3  # replay wins when data is scarce and clean
    assert row["alpha=2"]["table_ratio"] == 2.30


NONLINEAR_TINY = [
    "grid.n_over_p=0.3",  # P = 50 at N = 15
    "grid.width=[10, 50, 150]",
    "grid.seed={count=4}",
    "problem.n_test=200",
    "train.epochs=2000",
    "train.learning_rate=0.1",
]


@pytest.mark.slow  # 13-23 s: the default suite stays under 10 minutes on 2 cores
def test_nonlinear_tiny(tmp_path):
    """SNR 1 and the other SNRs (docs/theory.md §5 items 6-7): overtraining peaks where the
    trained parameters equal P at every SNR, and the engine's test-set estimate of the final
    error agrees with the exact population risk of the same runs."""
    res = _results("nonlinear", NONLINEAR_TINY)
    res_snr = _results("nonlinear_snr", NONLINEAR_TINY)
    nums = _make("nonlinear", [res, res_snr], tmp_path)
    assert nums["n_train"] == 50
    assert nums["width_of_max_overtraining"] == 50  # trained parameters = P
    assert len(nums["figures"]) == 3
    for q in ("snr=0.01", "snr=10"):
        assert nums["other_snr"][q]["width_of_max_overtraining"] == 50
    spec = nums["hidden_spectrum"]  # N_h = 25, 50, 100 at P = 50 (docs/theory.md §5 item 6 E)
    assert spec["width=100"]["zero_fraction"] == 0.5  # the spike of mass 1 - P/N_h at 0
    assert spec["width=50"]["smallest_nonzero_median"] < 0.1 * spec["width=25"]["smallest_nonzero_median"]
    z = np.asarray(nums["final_sim_minus_exact_in_sem"], float)
    assert np.all(np.abs(z) < 4)


@pytest.mark.slow  # 13-23 s: the default suite stays under 10 minutes on 2 cores
def test_decomposition_tiny(tmp_path):
    """NN2020 Fig. 9 at P = 50: no null-space error while N_h ≤ P and some beyond, the
    over-fitting error peaks at N_h = P, the approximation error falls with the width, and
    the simulated E_g (new examples) agrees with the exact one."""
    res = _results(
        "decomposition",
        ["grid.width=[10, 50, 150]", "grid.seed={count=20}", "problem.n_test=2000", "train.epochs=2000"],
    )
    nums = _make("decomposition", [res], tmp_path)
    null = np.asarray(nums["null_space_error"], float)
    assert null[0] == 0 and null[1] == 0 and null[2] > 0.01
    assert nums["width_of_max_overfitting"] == 50
    approx = np.asarray(nums["approximation_error"], float)
    assert np.all(np.diff(approx) < 0)
    assert nums["max_abs_sim_minus_exact_in_sem"] < 4


def test_gallery_rebuilds_a_result_spec_with_its_overrides(tmp_path):
    """A result made with ``--set seed=5`` gets its theory and its teachers at root seed 5,
    not at the seed written in the spec file (the gallery reads the spec back from the
    result's attributes, overrides included)."""
    from dynax.cli import main
    from dynax.gallery.common import realized_teacher_var
    from dynax.gallery.frozen_subspace import _teacher_null
    from dynax.sim import data, teachers

    out = tmp_path / "frozen_subspace" / "frozen_subspace.nc"
    tiny = ["grid.depth=[1]", "grid.n_over_p=[2.0]", "grid.init_scale=[0.1]", "grid.seed={count=2}"]
    args = ["run", str(SWEEPS / "frozen_subspace.toml"), "-o", str(out), "--quiet", "--set", "seed=5"]
    args += [f"--set={o}" for o in [*tiny, "problem.n_in=8", "train.epochs=20"]]
    assert main(args) == 0
    ((ds, th),) = gallery.load("frozen_subspace", tmp_path)
    assert th.attrs["spec_sha256"] == ds.attrs["spec_sha256"] and "seed=5" in th.attrs["spec_overrides"]
    teachers = [
        np.asarray(teachers.teacher(data.data_key(root, s), 8, 1, 1.0)) for root in (5, 0) for s in (0, 1)
    ]
    np.testing.assert_allclose(realized_teacher_var(ds), [np.mean(t**2) for t in teachers[:2]], rtol=1e-12)
    assert not np.allclose(realized_teacher_var(ds), [np.mean(t**2) for t in teachers[2:]])
    x, _, w_bar, _ = data.raw_data(5, 1, 4, 8, 1, 1.0, 1.0)
    null = np.linalg.svd(x)[2][4:]
    np.testing.assert_allclose(_teacher_null(ds).isel(seed=1), np.sum((w_bar @ null.T) ** 2) / 8, rtol=1e-10)


@pytest.mark.slow  # five compile groups (~12 s); the default suite stays under 10 minutes on 2 cores
def test_modes_tiny(tmp_path):
    """Saxe et al. (2014) mode by mode at N = 8: aligned modes follow the exact GD recursion
    and the flow, a random depth-2 init the sigmoid from its linear-phase u0, the plateau
    the escape time (the D = 3 power law in u0), orthogonal layers learn like the linearised
    network at the rate eta0/D, and early stopping keeps a deep net's strong modes only."""
    small = ["problem.n_in=8", "problem.n_out=8", "model.width=8", "grid.seed={count=2}"]
    spectrum = "problem.teacher_singular_values=[4.0, 2.0]"
    plateau = [*small, "grid.depth=[2, 3]", "grid.init_scale=[0.1, 0.3]", spectrum, "train.epochs=6000"]
    deep = [*small, "grid.depth=[2]", "grid.learning_rate=[0.01, 0.005]", "grid.init_scale=[1.0]"]
    spectrum = "problem.teacher_singular_values=[4.0, 2.0, 1.0, 0.5]"
    gen = [
        *small,
        "grid.depth=[2]",
        "grid.n_over_p=[0.25]",
        "grid.snr=[1.0, 10.0]",
        "grid.seed={count=3}",
        spectrum,
    ]
    results = [
        _results("modes_plateau", plateau, theory=False),
        _results("modes_depth", [*deep, "train.epochs=1500"], theory=False),
        _results("modes_generalization", [*gen, "train.epochs=2000"], theory=False),  # the oracle: computed
    ]
    nums = _make("modes", results, tmp_path)
    assert len(nums["figures"]) == 4
    curves = nums["mode_curves"]
    for d in (2, 3):  # the engine is the exact per-mode GD recursion; the step is near the flow
        assert curves[f"aligned,depth={d}"]["max_dev_vs_gd_recursion"] < 1e-9
        assert curves[f"aligned,depth={d}"]["max_dev_seed_mean_vs_flow"] < 0.03
    assert curves["depth2_random_start_check_max_abs"] < 1e-12  # the gallery rebuilt the runs' weights
    random2 = curves["gaussian_fan_in,depth=2"]  # aligns, then follows the sigmoid from |a0 + b0|²/4
    assert max(abs(x) for x in random2["half_time_shift_relative"]) < 0.03
    assert min(random2["half_time_shift_vs_nominal_u0_relative"]) > 0.05  # later than the aligned init
    plat = nums["plateau"]
    assert plat["depth=2"]["aligned_sim_vs_escape_time_max_rel_dev"] < 0.01
    assert plat["depth=3"]["log_log_slope_vs_u0_aligned_sim"] == pytest.approx([-0.37, -0.38], abs=0.03)
    ortho = nums["depth"]["orthogonal,scale=1"]  # starts as depth 1 at D times the rate
    assert ortho["not_learnt_runs"] == 0 and 0.5 < ortho["sim_over_linearised"][0] < 1.5
    u = nums["generalization"]["depth=2,alpha=4,snr=1"]["u_over_s_at_t_star"]
    assert u[0] > 0.8 and u[-1] < 0.5  # the strong mode is learnt by t*, the weak one is not
    at = nums["generalization"]["error_at_optimum"]["alpha=4,snr=10"]  # the oracle knows the modes
    assert at["mode_oracle"][0] < min(at["depth=2"][0], at["best_ridge"][0])


@pytest.mark.slow  # a gallery item end to end (6 s); `dynax gallery` on the committed results runs it
def test_dropout_tiny(tmp_path):
    """One mode on one unit under dropout: the fixed point p s (inverted) and s (unscaled), and
    the time to half of it against the expected-loss logistic, at N = 8; modes sharing a hidden
    layer end at the equalised minimum with equal unit shares (and unequal ones without dropout)."""
    small = ["problem.n_in=8", "grid.seed={count=4}", "grid.dropout=[0.0, 0.5]", "train.epochs=6000"]
    results = [_results("dropout", small, theory=False), _results("dropout_unscaled", small, theory=False)]
    shared = ["grid.seed={count=2}", "grid.width=[4, 8]", "grid.dropout=[0.0, 0.5]", "train.epochs=10000"]
    results.append(_results("dropout_shared", shared, theory=False))
    nums = _make("dropout", results, tmp_path)
    for width in (4, 8):  # modes sharing a hidden layer: the equalised minimum, equal shares
        row = nums["shared"]["by_case"][f"width={width},q=0.5"]
        assert row["max_abs_difference_over_s"] < 0.03 and row["unit_share_spread_end"] < 0.1
        assert nums["shared"]["by_case"][f"width={width},q=0"]["unit_share_spread_end"] > 0.2
    for scaling, fixed in (("inverted", 0.5), ("none", 1.0)):
        row = nums[scaling]["by_q"]["q=0.5"]
        assert abs(row["fixed_point_over_s"]["sim"] - fixed) < 2e-3
        half = row["half_time"]
        assert abs(half["sim"] - half["theory"]) < 0.03 * half["theory"]
    slow, fast = (nums[k]["by_q"]["q=0.5"]["half_time"]["sim"] for k in ("none", "inverted"))
    assert slow > 1.6 * fast  # unscaled masks learn at rate 2 p s: half as fast at p = 1/2


@pytest.mark.slow  # a gallery item end to end (10 s); `dynax gallery` on the committed results runs it
def test_input_noise_tiny(tmp_path):
    """Input noise shrinks every mode by 1/(1 + N sigma_n^2); weight decay at gamma = P sigma_n^2 is
    the same at depth 1 and thresholds the weak modes at depth 2."""
    small = ["grid.seed={count=2}", "grid.depth=[1, 2]", "train.epochs=3000"]
    results = [
        _results("input_noise", [*small, "grid.input_noise=[0.0, 0.2]"], theory=False),
        _results("input_noise_decay", [*small, "grid.weight_decay=[0.0, 0.64]"], theory=False),
    ]
    nums = _make("input_noise", results, tmp_path)
    rows = nums["by_case"]
    for depth in (1, 2):
        noisy = rows[f"noise depth={depth} sigma_n=0.2 (gamma=0.64)"]["fixed_point_over_s"]
        np.testing.assert_allclose(noisy["sim"], 1 / 1.64, rtol=0.02)  # seeds' noise: 2 seeds
    decay = rows["decay depth=2 gamma=0.64"]["fixed_point_over_s"]["sim"]
    np.testing.assert_allclose(decay[:3], [0.84, 0.68, 0.36], atol=2e-3)
    assert decay[3] < 1e-3  # s = 0.5 < gamma/alpha: the mode dies


@pytest.mark.slow  # a gallery item end to end (10 s); `dynax gallery` on the committed results runs it
def test_bounds_tiny(tmp_path):
    """Both bounds hold at every run and epoch; the norm bound is far above the gap everywhere; the
    gap and the frozen-subspace bound peak at N/P = 1."""
    small = ["grid.seed={count=4}", "grid.n_over_p=[2.0, 1.0, 0.5]", "problem.n_in=20", "model.width=20"]
    nums = _make("bounds", [_results("bounds", [*small, "train.epochs=4000"], theory=False)], tmp_path)
    held = nums["bound_holds_at_run_epochs"]
    assert held["rademacher"] == held["frozen_subspace"] == held["of"] > 0
    for depth in ("depth=1", "depth=2"):
        last = nums["seed_means"][depth]["t=20"]
        assert min(last["rademacher_over_gap"]) > 20
        assert nums["peak_n_over_p_at_last_epoch"][depth]["frozen_subspace_gap_bound"] == 1.0
        assert nums["peak_n_over_p_at_last_epoch"][depth]["generalization_gap"] == 1.0


@pytest.mark.slow  # a gallery item end to end (15 s); `dynax gallery` on the committed results runs it
def test_very_deep_tiny(tmp_path):
    """The aligned start at scale 1 learns in the exact recursion's epochs at every depth and no
    slower at depth 12 than at depth 3; the Gaussian start is slower than the orthogonal one at
    depth 12."""
    small = ["grid.seed={count=3}", "grid.depth=[1, 3, 12]", "grid.init_scale=[1.0]", "train.epochs=600"]
    nums = _make("very_deep", [_results("very_deep", small, theory=False)], tmp_path)
    assert nums["aligned_sim_vs_theory_on_records_max_relative"] < 1e-9
    aligned = nums["by_init"]["aligned,scale=1"]["epochs_mean"]
    assert aligned[2] <= aligned[1] <= aligned[0]
    orthogonal = nums["by_init"]["orthogonal,scale=1"]
    gaussian = nums["by_init"]["gaussian_fan_in,scale=1"]
    assert gaussian["n_not_reached"][2] == 3 or gaussian["epochs_mean"][2] > 2 * orthogonal["epochs_mean"][2]


@pytest.mark.slow  # two sweeps end to end (40-60 s); `dynax gallery` on the committed results runs it
def test_pretraining_tiny(tmp_path):
    """With the teacher along the strong input directions the pretrained start learns at least 2x
    sooner than the orthogonal one at the same scale from depth 3 on; with a random teacher its
    advantage is smaller."""
    small = ["grid.seed={count=3}", "grid.depth=[3, 6]", "train.epochs=800"]
    results = [_results(name, small, theory=False) for name in ("pretraining", "pretraining_random")]
    nums = _make("pretraining", results, tmp_path)
    aligned = nums["input_basis=teacher"]["orthogonal_over_pretrained_epochs_lower_bound"]
    random = nums["input_basis=random"]["orthogonal_over_pretrained_epochs_lower_bound"]
    assert min(aligned) >= 2
    assert aligned[0] > random[0]
    assert nums["input_basis=teacher"]["by_init"]["pretrained"]["n_learnt"] == [3, 3]


@pytest.mark.slow  # a gallery item end to end (10 s); `dynax gallery` on the committed results runs it
def test_denoising_tiny(tmp_path):
    """The denoising autoencoder's gains along the input's principal directions fall with the
    noise and follow ridge at gamma = P sigma_n^2 on each seed's own data."""
    small = ["grid.seed={count=4}", "grid.input_noise=[0.0, 0.3]", "train.epochs=1500"]
    nums = _make("denoising", [_results("denoising", small, theory=False)], tmp_path)
    for depth in (1, 2):
        row = nums["by_run"][f"depth={depth},sigma_n=0.3"]
        assert row["sim_minus_ridge_max_abs"] < 0.02
        assert row["gain_seed_mean"][0] > 0.5 > 0.2 > row["gain_seed_mean"][-1]
        assert max(nums["by_run"][f"depth={depth},sigma_n=0"]["gain_seed_mean"]) > 0.999


@pytest.mark.slow  # a gallery item end to end (about 40 s); `dynax gallery` on the committed results runs it
def test_committee_tiny(tmp_path):
    """Every committee sweep at N = 60 (4 seeds, alpha to 150): the symmetric plateau of K = M = 2
    near its T = I value (0.029 at eta = 0.5), the runs escape it, and each run stays near its own
    ODE outside the escape window: the RMS difference under 0.05, twice what the 1/sqrt(N) scaling
    of the full gallery's (0.0116 at N = 250, SNR 5) gives at N = 60 (4 seeds put no s.e. on a
    heavy-tailed difference)."""
    small = ["problem.n_in=60", "grid.seed={count=4}", "train.epochs=150", "train.record={log=30}"]
    names = ("committee_n250", "committee_n500", "committee_n1000", "committee_k3", "committee_k4")
    nums = _make("committee", [_results(name, small) for name in names], tmp_path)
    two = nums["runs"]["committee_n1000: N=60,K=M=2,eta=0.5,snr=inf"]
    assert 0.02 < two["plateau_test_error_ode"] < 0.04
    assert two["escape_alpha_unreached"]["sim"] < 4
    assert all(r["rms_difference_outside_window"] < 0.05 for r in nums["runs"].values())
