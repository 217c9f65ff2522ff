"""Gallery item 5: replay against one-pass online learning at equal data (docs/theory.md §4.2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import analysis, plot
from .common import (
    num,
    save,
)

__all__ = ["replay_vs_online"]


# --------------------------------------------------------------------------- item 5

TABLE_4_2_SNR10 = {0.25: 1.03, 0.5: 1.11, 1.0: 1.52, 2.0: 2.30, 4.0: 2.15, 8.0: 1.63}
TABLE_4_2_SNR1 = {0.25: 1.00, 1.0: 1.03, 4.0: 1.12}


def replay_vs_online(results, out: Path) -> tuple[dict, list]:
    """Replay with oracle early stopping against one pass of online SGD at equal data."""
    ((ds, th),) = results
    written, nums = [], {}
    save(plot.replay_vs_online(ds, th), out, "replay_vs_online", written)
    ok = analysis.valid(ds)
    ratios = {}
    for q in ds.snr.values:
        nv = float(ds.noise_var.sel(snr=q))
        row = {}
        for r in ds.n_over_p.values:
            a = float(ds.alpha.sel(n_over_p=r))
            pt = {"snr": q, "n_over_p": r, "depth": ds.depth.values[0]}
            rp, op = {**pt, "protocol": "replay"}, {**pt, "protocol": "online"}
            rep = ds.best_test_error.sel(rp).where(ok.sel(rp)).mean("seed")
            onl = ds.sel(op)
            at_p = int(np.argmin(abs(onl.examples.values - int(ds.n_train.sel(n_over_p=r)))))
            on = onl.test_error.isel(epoch=at_p).where(ok.sel(op)).mean("seed")
            tab = (
                TABLE_4_2_SNR10 if abs(q - 10) < 1e-9 else TABLE_4_2_SNR1 if abs(q - 1) < 1e-9 else {}
            ).get(a)
            row[f"alpha={a:g}"] = {
                "online": num(on / nv),
                "replay": num(rep / nv),
                "excess_ratio": num((on - nv) / (rep - nv), 3),
                "table_ratio": tab,
            }
        ratios[f"snr={q:g}"] = row
    nums["equal_data"] = ratios
    return nums, written
