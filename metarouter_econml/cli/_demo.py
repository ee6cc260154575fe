"""``metarouter demo``: the Meta-Router against its baselines on synthetic data."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd

from metarouter_econml.datasets import make_routing_data
from metarouter_econml.evaluation import ProtocolResult, run_protocol

from ._common import (
    DEMO_METRIC_NOTE,
    announce,
    list_written,
    markdown_table,
    output_dir,
    show,
    unexposed,
    writing,
)

#: The demo's methods in the order they are run: display name -> ``run_protocol`` registry name.
#: A registry name is the only way to ask for the oracle ("all_gold":
#: ``PooledRouter(gold_scale="none")`` fitted on the gold-standard gain of every training row).
METHODS = {
    "Meta-Router (R)": "meta_r",
    "Meta-Router (DR)": "meta_dr",
    "pooled": "pooled",
    "mean-shift": "mean_shift",
    "gold-only": "gold_only",
    "preference-only": "preference_only",
    "all-gold (oracle)": "all_gold",
}

#: The library's names for what --splits and --quiet set.
RENAMED = {"n_splits": "`--splits`", "verbose": "`--quiet`"}
#: Parameters of run_protocol and make_routing_data that no option sets -> what to do instead.
UNEXPOSED = {
    **unexposed(
        run_protocol,
        "Call metarouter_econml.evaluation.run_protocol from Python to set it.",
        ["dataset", "methods", "n_test", "n_gold", "n_splits", "random_state", "verbose"],
    ),
    **unexposed(
        make_routing_data,
        "Call metarouter_econml.datasets.make_routing_data from Python to set it.",
        ["n_samples", "n_features", "bias", "random_state"],
    ),
}

#: Primary-usage ratios reported in the summary table (points of the default ratio grid).
SUMMARY_RATIOS = (0.2, 0.4, 0.6, 0.8)


def run(args: argparse.Namespace) -> int:
    """Run the protocol with the demo's methods, print the summary and write the outputs.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``demo`` options.

    Returns
    -------
    int
        0.
    """
    out = output_dir(args)
    data = make_routing_data(
        args.n_samples, args.n_features, bias=args.bias, random_state=args.random_state
    )
    announce(args, data)
    result = run_protocol(
        data,
        methods=METHODS,
        n_test=args.n_test,
        n_gold=args.n_gold,
        n_splits=args.splits,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
    )
    summary = summarise(result)
    header = (
        f"Data: {data.name}, n_samples={len(data)}, n_features={data.n_features}, "
        f"bias={args.bias}; n_gold={args.n_gold}, n_test={args.n_test}, "
        f"splits={args.splits}, seed={args.random_state}."
    )
    seeds = f"Split seeds (drawn from seed {args.random_state}): {result.settings['seeds']}."
    table = _table(summary) + _warning_text(result)
    show(table)

    paths = {
        "curves": out / "curves.csv",
        "summary": out / "summary.csv",
        "markdown": out / "summary.md",
        "plot": out / "efficiency_gain.png",
    }
    from matplotlib.figure import Figure  # no pyplot, no global backend change

    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = result.plot(ax=fig.add_subplot(), band=False, methods=list(summary["method"]))
    ax.set_title(f"Efficiency gain, n_gold={args.n_gold}, mean over {args.splits} splits")
    with writing(out, "`--out`"):
        out.mkdir(parents=True, exist_ok=True)
        result.curves.to_csv(paths["curves"], index=False)
        summary.to_csv(paths["summary"], index=False)
        paths["markdown"].write_text(
            f"{header}\n{seeds}\n\n{DEMO_METRIC_NOTE}\n\n{table}\n", encoding="utf-8"
        )
        fig.savefig(paths["plot"], dpi=120)
    list_written(list(paths.values()))
    return 0


def summarise(result: ProtocolResult) -> pd.DataFrame:
    """One row per method: mean gain at `SUMMARY_RATIOS`, AUC mean and SE, mean fit time.

    Parameters
    ----------
    result : ProtocolResult
        The demo's protocol run.

    Returns
    -------
    pandas.DataFrame
        Columns ``method``, ``gain@<ratio>``, ``auc``, ``auc_se`` and ``fit_seconds``, best AUC
        first.
    """
    summary = result.summary(reference=None)
    mean = result.mean_curves().groupby("method", sort=False)
    gains = {
        f"gain@{ratio:g}": [
            float(np.interp(ratio, mean.get_group(name)["ratio"], mean.get_group(name)["mean"]))
            for name in summary["method"]
        ]
        for ratio in SUMMARY_RATIOS
    }
    summary = pd.concat(
        [summary[["method"]], pd.DataFrame(gains), summary[["auc", "auc_se", "fit_seconds"]]],
        axis=1,
    )
    return summary.sort_values("auc", ascending=False, kind="stable").reset_index(drop=True)


def _table(summary: pd.DataFrame) -> str:
    """Lay the summary out as a markdown table: 3 decimals, AUC as ``mean ± SE``."""
    columns = ["method", *(f"gain@{ratio:g}" for ratio in SUMMARY_RATIOS), "AUC ± SE", "fit (s)"]
    rows = [
        [
            str(row["method"]),
            *(f"{row[f'gain@{ratio:g}']:.3f}" for ratio in SUMMARY_RATIOS),
            f"{row['auc']:.3f}"
            if math.isnan(row["auc_se"])
            else f"{row['auc']:.3f} ± {row['auc_se']:.3f}",
            f"{row['fit_seconds']:.2f}",
        ]
        for _, row in summary.iterrows()
    ]
    return markdown_table(columns, rows)


def _warning_text(result: ProtocolResult) -> str:
    """List the warnings ``run_protocol`` recorded while fitting (empty text if none)."""
    lines = [
        f"- {row.method}: {row.category} x{row.count} in {row.n_splits} split(s), e.g. "
        f'"{" ".join(str(row.example).split())[:160]}"'
        for row in result.fit_warnings.itertuples(index=False)
    ]
    return "\n\nWarnings recorded while fitting:\n\n" + "\n".join(lines) if lines else ""
