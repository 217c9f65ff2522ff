"""dynax from a notebook or a script: run a small sweep, put the theory beside it, reduce it.

    python examples/notebook.py [OUTPUT_FOLDER]

Each block is what one notebook cell would hold.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # in a notebook, leave this out: figures show inline
import matplotlib.pyplot as plt

import dynax

out = Path(sys.argv[1] if len(sys.argv) > 1 else "results/example")
out.mkdir(parents=True, exist_ok=True)

# A spec is a file path, TOML text, or a dict like this one (kept in the result as TOML).
spec = {
    "name": "example",
    "grid": {
        "depth": [1, 2],
        "n_over_p": {"geomspace": [0.25, 4.0, 7]},
        "snr": [1.0, 8.0],
        "seed": {"count": 4},
    },
    "problem": {"n_in": 40},
    "model": {"width": 40, "init": "gaussian_fan_in", "init_scale": 0.1},
    "train": {"epochs": 2000, "learning_rate": {"auto": 0.5}, "record": {"log": 40}},
}

# Train every network (a progress bar per batch); with output=, the netCDF is written too,
# an existing file is refused unless force=True, and resume=True continues a stopped run.
ds = dynax.run(spec, output=out / "example.nc", force=True)

# The theory on the same grid, and the summary: optimal early-stopping errors and the rest.
theory = dynax.predict(ds)
summary = dynax.analyze(ds, theory=theory)
print(summary.opt_error_of_mean.sel(depth=2, snr=8.0).to_series().round(3))

# One figure: the optimal early-stopping error against N/P, simulation (error bars: bootstrap
# standard errors over seeds) and the large-N theory (at N = 40 and P = 10 finite-size effects show).
fig, ax = plt.subplots(figsize=(5, 3.5))
for depth in ds.depth.values:
    s = summary.sel(depth=depth, snr=8.0)
    ax.errorbar(
        s.n_over_p, s.opt_error_of_mean, yerr=s.opt_error_of_mean_sem, marker="o", label=f"depth {depth}"
    )
ax.plot(summary.n_over_p, summary.theory_optimal_error.sel(depth=1, snr=8.0), "k--", label="theory (depth 1)")
ax.set(xscale="log", xlabel="N/P", ylabel="E_g* (min over epochs of the seed mean)", title="SNR 8, N = 40")
ax.set_xticks([0.25, 0.5, 1, 2, 4], labels=["1/4", "1/2", "1", "2", "4"], minor=False)
ax.minorticks_off()
ax.legend()
fig.tight_layout()
fig.savefig(out / "example.png", dpi=120)
print(f"wrote {out / 'example.nc'} and {out / 'example.png'}")
