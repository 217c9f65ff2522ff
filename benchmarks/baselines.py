"""Bit-identity baselines for a change that must not move any number (a redesign).

    python benchmarks/baselines.py make DIR        # run every case below, write DIR/<case>.nc
    python benchmarks/baselines.py compare OLD NEW [--except-halved] [--report]

Run ``make`` with the code before the change (e.g. in a ``git worktree`` of the commit) and
after it, then ``compare``: every data variable of OLD must equal NEW's bit for bit
(``xarray.testing.assert_equal``; attributes may differ, variables NEW adds are listed).
``--except-halved`` leaves out runs whose automatic rate was halved after a rise
(``rate_halvings > 0``), the one behaviour the stable-rate change (issue 26) meant to change.
``--report`` says, for a sweep that differs, by how much: per variable the largest difference
relative to the variable's largest magnitude (floats, NaN where one side is NaN and the other
not) or the count of entries that differ (integers), for a change whose tolerance is stated.

The cases: the quickstart; the tests/baselines sweeps; one small sweep per trainer (closed
form, XLA kernel, fused CPU kernel, Pallas in interpret mode, raw-data: online, minibatch,
nonlinear), per optimizer and per record flag; and every gallery spec in sweeps/, shrunk.
About 4 minutes on a 2-core CPU.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SMALL = ["grid.seed={count=2}"]
CASES: dict[str, tuple[str, list[str]]] = {
    "quickstart": ("sweeps/quickstart.toml", []),
    "quickstart_xla": ("sweeps/quickstart.toml", ["train.kernel=xla", "train.epochs=600"]),
    "quickstart_momentum": ("sweeps/quickstart.toml", ["train.optimizer=momentum", "train.epochs=1500"]),
    "quickstart_momentum_xla": (
        "sweeps/quickstart.toml",
        ["train.optimizer=momentum", "train.epochs=600", "train.kernel=xla"],
    ),
    "quickstart_adam": ("sweeps/quickstart.toml", ["train.optimizer=adam", "train.epochs=300"]),
    "quickstart_decay": (
        "sweeps/quickstart.toml",
        ["train.weight_decay=0.05", "train.epochs=1500", "train.null_space_error=true"],
    ),
    "quickstart_decay_xla": (
        "sweeps/quickstart.toml",
        ["train.weight_decay=0.05", "train.epochs=400", "train.kernel=xla"],
    ),
    "quickstart_float64": ("sweeps/quickstart.toml", ["train.dtype=float64", "train.epochs=1500"]),
    "quickstart_gd_method": ("sweeps/quickstart.toml", ["train.method=gd", "grid.depth=[1]"]),
    "pallas": (
        "sweeps/quickstart.toml",
        [
            "train.kernel=pallas",
            "train.epochs=60",
            "grid.depth=[2,3]",
            "grid.seed={count=1}",
            "grid.snr=[1.0]",
        ],
    ),
    "pallas_momentum_decay": (
        "sweeps/quickstart.toml",
        [
            "train.kernel=pallas",
            "train.epochs=40",
            "grid.depth=[2]",
            "grid.seed={count=1}",
            "grid.snr=[1.0]",
            "train.optimizer=momentum",
            "train.weight_decay=0.1",
            "train.null_space_error=true",
        ],
    ),
    "validation": ("sweeps/stopping.toml", [*SMALL, "train.epochs=400"]),
    "modes_weights": (
        "sweeps/hierarchy_stages.toml",
        [
            "train.epochs=400",
            "train.record={log=20,weights=true,similarity=true,modes=true,final_weights=true}",
        ],
    ),
    "modes_xla_final": (
        "sweeps/modes_generalization.toml",
        [*SMALL, "train.epochs=300", "train.record={log=20,modes=true,final_weights=true}"],
    ),
}
for stem in ("linear", "nonlinear", "online", "raw", "tanh"):
    CASES[f"tests_{stem}"] = (f"tests/baselines/{stem}.toml", [])
CASES["tests_linear_float64"] = ("tests/baselines/linear.toml", ["train.dtype=float64"])
GALLERY = {  # every gallery spec, shrunk to seconds (epochs, seeds, widths)
    "decomposition": ["grid.seed={count=3}", "train.epochs=500", "grid.width=[5,20,60]"],
    "depth": [*SMALL, "train.epochs=800"],
    "depth1_theory": [*SMALL, "train.epochs=800"],
    "depth_balanced": [*SMALL, "train.epochs=800"],
    "frozen_subspace": [*SMALL, "train.epochs=1500"],
    "hierarchy_noise": [*SMALL, "train.epochs=800"],
    "hierarchy_stages": ["train.epochs=800"],
    "learning_curves": [*SMALL, "train.epochs=500", "grid.init_scale=[0.0,1.0]"],
    "modes_depth": [*SMALL, "train.epochs=600"],
    "modes_generalization": [*SMALL, "train.epochs=800"],
    "modes_plateau": [*SMALL, "train.epochs=2000"],
    "nonlinear": ["grid.seed={count=3}", "train.epochs=500", "grid.width=[20,300,700]"],
    "nonlinear_snr": ["grid.seed={count=3}", "train.epochs=500", "grid.width=[20,300]"],
    "phase_diagram": [*SMALL, "train.epochs=3000"],
    "regularization_modes": [*SMALL, "train.epochs=600"],
    "regularization_null": [*SMALL, "train.epochs=2000"],
    "regularization_path": [*SMALL, "train.epochs=2000"],
    "regularization_peak": [*SMALL, "train.epochs=1000"],
    "replay_vs_online": [*SMALL, "train.epochs=50"],
    "stopping": [*SMALL, "train.epochs=1000"],
}
for stem, over in GALLERY.items():
    CASES[f"gallery_{stem}"] = (f"sweeps/{stem}.toml", over)


def make(out: Path, names=None) -> None:
    import dynax

    out.mkdir(parents=True, exist_ok=True)
    for name, (path, over) in CASES.items():
        if names and name not in names:
            continue
        t0 = time.perf_counter()
        ds = dynax.run_sweep(dynax.load_spec(ROOT / path, over))
        ds.to_netcdf(out / f"{name}.nc")
        print(f"{name:28s} {ds.diverged.size:6d} runs  {time.perf_counter() - t0:6.1f} s", flush=True)


def compare(old: Path, new: Path, except_halved: bool, report: bool = False) -> int:
    import xarray as xr

    bad = 0
    for path in sorted(old.glob("*.nc")):
        a = xr.open_dataset(path).load()
        b = xr.open_dataset(new / path.name).load()
        added = sorted(set(b.data_vars) - set(a.data_vars))
        b = b[list(a.data_vars)]
        note = ""
        if except_halved and "rate_halvings" in xr.open_dataset(new / path.name):
            h = xr.open_dataset(new / path.name).rate_halvings.load()
            keep = h.isnull() | (h <= 0)
            note = f" ({int((~keep).sum())} halved runs left out)"
            mask = lambda d, keep=keep: d.map(lambda v: v.where(keep) if "seed" in v.dims else v)  # noqa: E731
            a, b = mask(a), mask(b)
            if "time" in a.coords and "seed" in a.time.dims:  # t = rate × epoch: the halved runs' differ
                a, b = (d.assign_coords(time=d.time.where(keep)) for d in (a, b))
        try:
            xr.testing.assert_equal(a.drop_attrs(), b.drop_attrs())
            print(f"{path.stem:28s} equal{note}" + (f"; new variables {added}" if added else ""))
        except AssertionError as e:
            bad += 1
            print(f"{path.stem:28s} DIFFERS{note}: " + (_report(a, b) if report else str(e)[:1500]))
    return bad


def _report(a, b) -> str:
    """How far each data variable of ``b`` is from ``a``'s (see the module's ``--report``)."""
    import numpy as np

    out = []
    for v in a.data_vars:
        x, y = a[v].values, b[v].values
        if np.issubdtype(x.dtype, np.floating):
            both = np.isfinite(x) & np.isfinite(y)
            if (np.isnan(x) != np.isnan(y)).any():
                out.append(f"{v}: NaN in one only at {int((np.isnan(x) != np.isnan(y)).sum())}")
            elif both.any():
                scale = np.max(np.abs(x[both])) or 1.0
                d = np.max(np.abs(x[both] - y[both])) / scale
                if d:
                    out.append(f"{v}: {d:.1e}")
        elif (x != y).any():
            out.append(f"{v}: {int((x != y).sum())} of {x.size} differ")
    return "; ".join(out) or "attributes or coordinates only"


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "make":
        make(Path(args[0]), args[1:])
    elif cmd == "compare":
        sys.exit(
            1 if compare(Path(args[0]), Path(args[1]), "--except-halved" in args, "--report" in args) else 0
        )
    else:
        raise SystemExit(__doc__)
