"""``metarouter benchmark --data pandalm|multi-synthetic``: the multi-model protocol.

``_benchmark.run`` checks the options (those of other data are refused there) and hands the
two multi-model data values to :func:`run_multi`, which loads or generates a
`MultiRoutingDataset`, runs ``run_multi_protocol`` and writes the per-split scores, the summary
markdown and, when the true quality is known (multi-synthetic), the mean cost-quality frontier.
"""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from metarouter_econml.datasets import (
    MultiRoutingDataset,
    load_pandalm_routing,
    make_multi_routing_data,
)
from metarouter_econml.evaluation import (
    MULTI_PROTOCOL_METHODS,
    MultiProtocolResult,
    run_multi_protocol,
)
from metarouter_econml.evaluation._multi_protocol import split_sizes

from ._common import announce, list_written, output_dir, show, unexposed, writing

#: make_multi_routing_data's defaults; ``--n-samples``, ``--n-models``, ``--n-features`` and
#: ``--bias`` override them.
MULTI_SYNTHETIC: dict[str, Any] = {
    "n_samples": 2000,
    "n_models": 5,
    "n_features": 10,
    "bias": "shared",
}
#: How ``--data pandalm`` loads the data unless ``--judge`` or ``--n-components`` is given.
PANDALM: dict[str, Any] = {"judge": "gpt-3.5-turbo", "n_components": 10}

#: The library's names for what the multi-model options set (`one_line` renames them).
MULTI_RENAMED = {"n_queries": "`--n-samples`"}
#: Parameters of make_multi_routing_data that no option sets -> what to do instead.
MULTI_UNEXPOSED = unexposed(
    make_multi_routing_data,
    "Call metarouter_econml.datasets.make_multi_routing_data from Python to set it.",
    ["n_queries", "n_models", "n_features", "bias", "random_state"],
)

OUTPUTS = {
    "scores": "multi_protocol_scores.csv",
    "markdown": "multi_protocol_summary.md",
    "plot": "multi_protocol.png",
}

PAIRWISE_NOTE = (
    "Pairwise accuracy = share of the test queries' comparisons with a clear gold-standard "
    "verdict (mean gold label not 0) whose winner the router's estimated quality ranks "
    "higher, a predicted tie counting half (0.5 = chance, higher is better)."
)
DIFF_NOTE = (
    "diff = method minus {reference} (the first of the methods) on the same splits (paired), "
    "with its standard error and a 95% t-interval (none from a single split)."
)
QUALITY_NOTE = (
    "AIQ (RouterBench's average improvement in quality) = mean height, over the models' cost "
    "range, of the non-decreasing concave hull of the (mean cost, mean true gold-standard "
    "quality) of the router's routings at every cost weight (higher is better); oracle_share = "
    "(AIQ - fixed_mix's AIQ) / (oracle's AIQ - fixed_mix's AIQ): 0 is routing at random in "
    "fixed proportions (fixed_mix), 1 the oracle that knows the quality; both are reference "
    "lines, not fitted. The quality@<budget> columns of {scores} are the mean true quality "
    "reachable at that mean cost per query (plotted in {plot})."
)
PANDALM_NOTE = (
    "The five PandaLM models cost about the same (nominal costs: parameter counts in "
    "billions) and no per-query quality is known, so the routers are scored by pairwise "
    "accuracy against the mean vote of the three human annotators only."
)


def run_multi(args: argparse.Namespace, n_test: int | None, n_gold: int | None) -> int:
    """Run the multi-model protocol, print the summary and write scores, markdown and plot.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``benchmark`` options, already checked for options of other data.
    n_test, n_gold : int or None
        Test and gold-standard training queries per split; None: run_multi_protocol's
        default.

    Returns
    -------
    int
        0.
    """
    out = output_dir(args)
    data = _dataset(args)
    n_test, n_gold = split_sizes(len(data), n_test, n_gold)  # resolved here, to report them
    announce(args, data)
    result = run_multi_protocol(
        data,
        methods=getattr(args, "methods", MULTI_PROTOCOL_METHODS),
        n_splits=args.splits,
        n_test=n_test,
        n_gold=n_gold,
        random_state=args.random_state,
    )
    known = data.quality is not None
    tables = [result.to_markdown()]
    if known:  # the summary is of AIQ: the pairwise accuracy too
        tables.append(result.to_markdown("pairwise_accuracy"))
    show("\n\n".join(tables))

    paths = {key: out / name for key, name in OUTPUTS.items() if known or key != "plot"}
    with writing(out, "`--out`"):
        out.mkdir(parents=True, exist_ok=True)
        scores_table(result).to_csv(paths["scores"], index=False)
    header = (
        f"Data: {data.name}, n_queries={len(data)}, n_features={data.n_features}, "
        f"n_models={len(data.models)} ({data.kind}); n_gold={n_gold}, n_test={n_test}, "
        f"splits={args.splits}, seed={args.random_state}."
    )
    reference = result.methods[0]
    if known:
        quality = QUALITY_NOTE.format(scores=OUTPUTS["scores"], plot=OUTPUTS["plot"])
        notes = [quality, PAIRWISE_NOTE]
    else:
        notes = [PAIRWISE_NOTE, PANDALM_NOTE]
    notes.append(DIFF_NOTE.format(reference=reference))
    settings = "\n".join(f"- {key}: {value}" for key, value in _settings(data, result).items())
    text = "\n\n".join([header, *notes, *tables, f"## Settings\n\n{settings}"]) + "\n"
    with writing(out, "`--out`"):
        paths["markdown"].write_text(text, encoding="utf-8")
    if known:
        from matplotlib.figure import Figure  # no pyplot, no global backend change

        fig = Figure(figsize=(8, 5), layout="constrained")
        ax = result.plot(ax=fig.add_subplot())
        ax.set_title(f"{data.name}: cost-quality frontier, n_gold={n_gold}, {args.splits} splits")
        with writing(out, "`--out`"):
            fig.savefig(paths["plot"], dpi=120)
    list_written(list(paths.values()))
    return 0


def scores_table(result: MultiProtocolResult) -> pd.DataFrame:
    """Lay out ``result.scores`` wide: one row per split and method, one column per metric.

    Rows and columns keep the order of ``result.scores``: per split, the fitted methods, then
    the reference lines (``fixed_mix``, ``oracle``); ``pairwise_accuracy`` first.
    """
    scores = result.scores
    wide = scores.pivot(index=["split", "method"], columns="metric", values="value")
    rows = pd.MultiIndex.from_frame(scores[["split", "method"]].drop_duplicates())
    wide = wide.reindex(index=rows, columns=list(dict.fromkeys(scores["metric"])))
    wide.columns.name = None
    return wide.reset_index()


def _dataset(args: argparse.Namespace) -> MultiRoutingDataset:
    """Load PandaLM or generate multi-synthetic data from the options given (or the defaults)."""
    if args.data == "pandalm":
        options = {**PANDALM, **{key: getattr(args, key) for key in PANDALM if hasattr(args, key)}}
        return load_pandalm_routing(
            judge=options["judge"],
            n_components=options["n_components"],
            random_state=args.random_state,
        )
    settings = {
        **MULTI_SYNTHETIC,
        **{key: getattr(args, key) for key in MULTI_SYNTHETIC if hasattr(args, key)},
    }
    return make_multi_routing_data(
        settings["n_samples"],
        settings["n_models"],
        n_features=settings["n_features"],
        bias=settings["bias"],
        random_state=args.random_state,
    )


def _settings(data: MultiRoutingDataset, result: MultiProtocolResult) -> dict[str, str]:
    """What the markdown's Settings section lists."""
    settings = {
        "methods": str(list(result.methods)),
        "models (cost per query)": ", ".join(
            f"{model} ({data.costs[model]:g})" for model in data.models
        ),
    }
    if result.budgets:
        settings["budgets of quality@"] = (
            f"{len(result.budgets)} from {result.budgets[0]:.4g} to {result.budgets[-1]:.4g}"
        )
    if "judges" in data.metadata:
        dropped = data.metadata.get("n_dropped", {})
        settings["judge"] = ", ".join(
            f"{judge} ({dropped.get(judge, 0)} unparseable verdicts dropped)"
            for judge in data.metadata["judges"]
        )
    settings["data"] = data.description or data.name
    return settings
