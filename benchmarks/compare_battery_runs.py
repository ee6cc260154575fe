"""Paired comparison of two battery runs of the same splits: did a library change move anything?

Both files are ``benchmarks/battery.py`` outputs (``<tag>.csv``) made with the same scenarios,
splits and seeds, before and after a change of the library. For every (scenario, method) the
table gives both mean AUCs, the paired difference ``after - before`` over the splits with a
Student-t 95% interval (``battery._paired``; "same" when every split is identical), the number
of identical splits and the ratio of summed fit seconds (meaningful only when both runs had
the machine to themselves, or shared it alike).

    python benchmarks/compare_battery_runs.py BEFORE.csv AFTER.csv [--out table.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import battery
import numpy as np
import pandas as pd

KEYS = ["scenario", "split", "method"]


def compare(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """One row per (scenario, method) present in both runs."""
    merged = before[[*KEYS, "auc", "fit_seconds"]].merge(
        after[[*KEYS, "auc", "fit_seconds"]], on=KEYS, suffixes=("_before", "_after")
    )
    if merged.empty:
        raise SystemExit("the two runs share no (scenario, split, method)")
    rows = []
    for (scenario, method), group in merged.groupby(["scenario", "method"], sort=False):
        auc = pd.DataFrame({"after": group["auc_after"], "before": group["auc_before"]})
        same = np.isclose(auc["after"], auc["before"], rtol=0, atol=1e-12)
        if same.all():
            diff = "same"
        else:
            mean, low, high = battery._paired(auc, "after", "before")
            diff = f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"
        rows.append(
            {
                "scenario": scenario,
                "method": method,
                "before": round(group["auc_before"].mean(), 3),
                "after": round(group["auc_after"].mean(), 3),
                "after − before": diff,
                "identical splits": f"{int(same.sum())}/{len(group)}",
                "fit time ratio": round(
                    group["fit_seconds_after"].sum() / group["fit_seconds_before"].sum(), 2
                ),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    table = compare(pd.read_csv(args.before), pd.read_csv(args.after)).to_markdown(index=False)
    print(table)
    if args.out is not None:
        args.out.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
