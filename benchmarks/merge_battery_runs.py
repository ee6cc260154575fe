"""One battery report from several ``battery.py`` runs of the same splits (issue 11's full table).

Each method of the battery need not be run in one go: the expensive ones (``auto``, the forest
learners) are run separately on the same scenarios, seeds and number of splits. This script
concatenates such runs, checks that they are of the same splits, and writes the battery's report
(summary of issue 11's checks, one table per scenario) for every method together, plus a table of
each method's closure of the pooled→oracle gap per scenario.

The checks: a (scenario, split) must have the same seed in every run, and a (scenario, split,
method) present in more than one run the same AUC in each (to 1e-12). A run that shares a method
with the runs before it (a cheap one such as ``pooled``, re-run for this) is thereby proven to
hold the same data and code; the report notes the runs that do not. Fit times come from
separate runs and are only comparable within one run, so the report leaves them out.

    python benchmarks/merge_battery_runs.py benchmarks/results/battery/es_fallback.csv \\
        benchmarks/results/battery/auto20.csv --tag merged
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import battery
import numpy as np
import pandas as pd

KEYS = ["scenario", "split", "method"]


def merge(runs: list[pd.DataFrame], names: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The runs' rows, each (scenario, split, method) once, and notes on what was checked.

    Raises SystemExit when two runs give one (scenario, split) different seeds, or one
    (scenario, split, method) different AUCs.
    """
    merged, notes = runs[0], []
    for run, name in zip(runs[1:], names[1:], strict=True):
        seeds = merged[["scenario", "split", "seed"]].drop_duplicates()
        paired = seeds.merge(run[["scenario", "split", "seed"]], on=["scenario", "split"])
        if (paired["seed_x"] != paired["seed_y"]).any():
            raise SystemExit(f"{name}: its splits have other seeds than the runs before it.")
        shared = merged[[*KEYS, "auc"]].merge(run[[*KEYS, "auc"]], on=KEYS, suffixes=("", "_new"))
        differ = ~np.isclose(shared["auc"], shared["auc_new"], rtol=0, atol=1e-12)
        if differ.any():
            first = shared[differ].iloc[0]
            raise SystemExit(
                f"{name}: {int(differ.sum())} (scenario, split, method) differ from the runs "
                f"before it, e.g. {first['scenario']} split {first['split']} {first['method']}: "
                f"{first['auc']!r} vs {first['auc_new']!r}; not the same data or code."
            )
        unproven = sorted(set(run["scenario"]) - set(shared["scenario"]))
        if unproven:
            notes.append(
                f"`{Path(name).name}` shares no method with the runs before it on "
                f"{len(unproven)} scenario(s): same split seeds, data seed not checked."
            )
        merged = pd.concat([merged, run]).drop_duplicates(KEYS, keep="first")
    return merged.reset_index(drop=True), notes


def closure_table(tables: pd.DataFrame) -> pd.DataFrame:
    """Each method's closure (columns) per scenario (rows), from ``battery.method_table`` rows."""
    wide = tables.pivot(index="scenario", columns="method", values="closure")
    wide = wide.loc[pd.unique(tables["scenario"]), pd.unique(tables["method"])]
    return wide.map(battery._pct).rename_axis(columns=None).reset_index()


def report(
    metrics: pd.DataFrame, command: str, sources: list[str], notes: list[str]
) -> tuple[str, pd.DataFrame]:
    """The markdown report and the per-scenario method tables of the merged runs."""
    summary_rows, method_rows, sections = [], [], []
    for scenario, group in metrics.groupby("scenario", sort=False):
        table = battery.method_table(group)
        method_rows.append(table.assign(scenario=scenario))
        summary_rows.append({"scenario": scenario, **battery.scenario_checks(group)})
        splits = group["split"].nunique()
        sections.append(
            f"## {scenario}\n\n{splits} splits.\n\n"
            + battery._shown(table).drop(columns="fit (s)").to_markdown(index=False)
        )
    tables = pd.concat(method_rows, ignore_index=True)
    summary = pd.DataFrame.from_records(summary_rows)
    for key in ("closure_default", "closure_best"):
        summary[key] = summary[key].map(battery._pct)
    text = [
        "# Routing battery, merged runs",
        "",
        f"    {command}",
        "",
        "Runs merged (same splits, checked): " + ", ".join(f"`{s}`" for s in sources) + ".",
        *notes,
        "Columns as in `battery.py`'s reports; fit times are left out (separate runs).",
        "",
        "## Summary",
        "",
        summary.to_markdown(index=False),
        "",
        "## Closure of the pooled→oracle gap",
        "",
        closure_table(tables).to_markdown(index=False),
        "",
        *sections,
    ]
    return "\n".join(text) + "\n", tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="battery.py CSVs of the same splits")
    parser.add_argument("--tag", required=True, help="output name")
    parser.add_argument("--out-dir", type=Path, default=battery.RESULTS_DIR)
    args = parser.parse_args(argv)
    runs = [pd.read_csv(path) for path in args.runs]
    names = [str(path) for path in args.runs]
    metrics, notes = merge(runs, names)
    command = "python benchmarks/merge_battery_runs.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    text, tables = report(metrics, command, [path.name for path in args.runs], notes)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{args.tag}.md").write_text(text, encoding="utf-8")
    metrics.to_csv(args.out_dir / f"{args.tag}.csv", index=False)
    tables.to_csv(args.out_dir / f"{args.tag}_summary.csv", index=False)
    print(text.split("\n## ", 3)[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
