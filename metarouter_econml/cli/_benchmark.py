"""``metarouter benchmark``: the paper's evaluation protocol on synthetic, GSM8K or CSV data.

``--data pandalm`` and ``--data multi-synthetic`` run the multi-model protocol instead
(``_multi_benchmark``); the options that apply to some data only are checked here, for both.
"""

from __future__ import annotations

import argparse
import lzma
import os
import zlib
from typing import Any

from metarouter_econml.datasets import (
    RoutingDataset,
    load_gsm8k_routing,
    load_paper_csv,
    make_routing_data,
)
from metarouter_econml.evaluation import run_protocol

from . import MULTI_DATA, DefaultInt
from ._common import (
    announce,
    check_input_file,
    list_written,
    output_dir,
    show,
    unexposed,
    writing,
)
from ._multi_benchmark import MULTI_RENAMED, MULTI_UNEXPOSED, run_multi

#: Size of the synthetic data (the paper's HealthBench data: 5,000 queries, 50 components);
#: the ``--bias``, ``--n-samples`` and ``--n-features`` options override it.
SYNTHETIC = {"n_samples": 5000, "n_features": 50, "bias": "heterogeneous"}

NOTE = (
    "Efficiency gain = true gold-standard gain of the test queries a router sends to the "
    "primary model minus that of sending the same number of random queries, divided by the "
    "mean gold-standard gain of the data times the test size, as in the paper (0 = random "
    "routing, higher is better); AUC is its mean over shares 0.2-0.8, with its standard error "
    "and the range of the central 95% of splits. ΔAUC is the mean paired difference with "
    "{reference} on the same splits, with a 95% t-interval. APGR (average performance gap "
    "recovered) and CPT (share of calls to the primary needed to recover 50%/80% of the gap) "
    "are RouteLLM's metrics on the same ranking."
)

#: The library's names for what --splits, --ray, --quiet and --data set.
RENAMED = {
    "n_splits": "`--splits`",
    "use_ray": "`--ray`",
    "verbose": "`--quiet`",
    "path": "`--data`",
    "dataset": "`--data`",
    **MULTI_RENAMED,
}
_SET = ["methods", "n_test", "n_gold", "n_splits", "stop_at_nonpositive", "n_jobs", "use_ray"]
#: Parameters of run_protocol that no option sets (their defaults apply) -> what to do instead.
UNEXPOSED = {
    **unexposed(
        run_protocol,
        "Call metarouter_econml.evaluation.run_protocol from Python to set it.",
        ["dataset", *_SET, "random_state", "verbose"],
    ),
    "n_components": "`--data gsm8k` loads the GSM8K data with 50 components; call "
    "metarouter_econml.datasets.load_gsm8k_routing from Python for another number.",
    **MULTI_UNEXPOSED,
}

#: The --data values of two-model data ("csv": the path of a CSV file).
TWO_MODEL = ("synthetic", "gsm8k", "csv")
#: Options that apply to some data only -> the --data values they apply to; the others
#: refuse them when they are given.
ONLY = {
    "bias": ("synthetic", "multi-synthetic"),
    "n_samples": ("synthetic", "multi-synthetic"),
    "n_features": ("synthetic", "multi-synthetic"),
    "n_models": ("multi-synthetic",),
    "judge": ("pandalm",),
    "n_components": ("pandalm",),
    "stop_at_nonpositive": TWO_MODEL,
    "n_jobs": TWO_MODEL,
    "ray": TWO_MODEL,
}
#: Why the multi-model protocol has no use for a two-model option.
_TWO_MODEL_ONLY = {
    "stop_at_nonpositive": "the multi-model protocol draws no efficiency-gain curves to stop",
    "n_jobs": "run_multi_protocol runs its splits one after another in this process",
    "ray": "run_multi_protocol runs its splits one after another in this process",
}

OUTPUTS = {
    "curves": "protocol_curves.csv",
    "metrics": "protocol_metrics.csv",
    "markdown": "protocol_summary.md",
    "plot": "protocol.png",
}


def run(args: argparse.Namespace) -> int:
    """Run the evaluation protocol, print the summary and write tables, markdown and plot.

    ``--data pandalm`` and ``--data multi-synthetic`` run the multi-model protocol
    (`run_multi`); every other ``--data`` the two-model one.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``benchmark`` options.

    Returns
    -------
    int
        0.
    """
    check_options(args)
    if args.data in MULTI_DATA:
        return run_multi(
            args,
            n_test=args.n_test if given(args, "n_test") else None,
            n_gold=args.n_gold if given(args, "n_gold") else None,
        )
    out = output_dir(args)
    data = _dataset(args)
    announce(args, data)
    result = run_protocol(
        data,
        methods=getattr(args, "methods", None),
        n_test=int(args.n_test),
        n_gold=int(args.n_gold),
        n_splits=args.splits,
        stop_at_nonpositive=args.stop_at_nonpositive,
        n_jobs=None if args.ray else int(args.n_jobs),
        use_ray=args.ray,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
    )
    reference = "pooled" if "pooled" in result.methods else result.methods[0]
    table = result.to_markdown(reference=reference)
    show(table)

    paths = {key: out / name for key, name in OUTPUTS.items()}
    with writing(out, "`--out`"):
        out.mkdir(parents=True, exist_ok=True)
        result.curves.to_csv(paths["curves"], index=False)
        result.metrics.to_csv(paths["metrics"], index=False)
    header = (
        f"Data: {data.name}, n_samples={len(data)}, n_features={data.n_features}; "
        f"n_gold={args.n_gold}, n_test={args.n_test}, splits={args.splits}, "
        f"seed={args.random_state}."
    )
    settings = "\n".join(
        f"- {key}: {_setting_text(key, value)}" for key, value in result.settings.items()
    )
    from matplotlib.figure import Figure  # no pyplot, no global backend change

    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = result.plot(ax=fig.add_subplot())
    ax.set_title(f"{data.name}: efficiency gain, n_gold={args.n_gold}, {args.splits} splits")
    with writing(out, "`--out`"):
        paths["markdown"].write_text(
            f"{header}\n\n{NOTE.format(reference=reference)}\n\n{table}\n\n"
            f"## Settings\n\n{settings}\n",
            encoding="utf-8",
        )
        fig.savefig(paths["plot"], dpi=120)
    list_written(list(paths.values()))
    return 0


def given(args: argparse.Namespace, dest: str) -> bool:
    """Whether the option ``dest`` was typed (rather than left at its default)."""
    if not hasattr(args, dest):  # argparse.SUPPRESS: absent unless given
        return False
    value = getattr(args, dest)
    if isinstance(value, bool):  # store_true
        return value
    return not isinstance(value, DefaultInt)


def check_options(args: argparse.Namespace) -> None:
    """Refuse a ``--data`` that is neither a known name nor a path, and the options it ignores.

    Raises
    ------
    ValueError
        If ``--data`` names no data, or an option given applies only to other data; the
        message names the options and the data they apply to.
    """
    if args.data not in ("synthetic", "gsm8k", *MULTI_DATA) and not os.path.lexists(args.data):
        raise ValueError(
            "`--data` must be 'synthetic', 'gsm8k' or the path of a CSV file in the paper's "
            "format (two-model data), or 'pandalm' or 'multi-synthetic' (multi-model data); "
            f"got {args.data!r}, which does not exist."
        )
    data = args.data if args.data in ("synthetic", "gsm8k", *MULTI_DATA) else "csv"
    refused: dict[tuple[str, ...], list[str]] = {}
    for dest, applies in ONLY.items():
        if data not in applies and given(args, dest):
            refused.setdefault(applies, []).append(dest)
    sentences = []
    for applies, dests in refused.items():
        named = ", ".join(f"`--{dest.replace('_', '-')}`" for dest in dests)
        verb = "applies" if len(dests) == 1 else "apply"
        if applies == TWO_MODEL:
            reasons = "; ".join(dict.fromkeys(_TWO_MODEL_ONLY[dest] for dest in dests))
            sentences.append(
                f"{named} only {verb} to two-model data (`--data synthetic`, `gsm8k` or a CSV "
                f"file); got `--data {args.data}`: {reasons}."
            )
        else:
            where = " or ".join(f"`--data {value}`" for value in applies)
            sentences.append(f"{named} only {verb} to {where}; got `--data {args.data}`.")
    if sentences:
        raise ValueError(" ".join(sentences))


def _dataset(args: argparse.Namespace) -> RoutingDataset:
    """Load or generate the two-model dataset named by ``--data`` (options already checked)."""
    # The synthetic-only options are absent from `args` unless given (argparse.SUPPRESS).
    chosen = {key: getattr(args, key) for key in SYNTHETIC if hasattr(args, key)}
    if args.data == "synthetic":
        settings: dict[str, Any] = {**SYNTHETIC, **chosen}
        return make_routing_data(
            settings["n_samples"],
            settings["n_features"],
            bias=settings["bias"],
            random_state=args.random_state,
        )
    if args.data == "gsm8k":
        return load_gsm8k_routing(n_components=50)
    path = check_input_file(args.data, "`--data`")
    try:
        return load_paper_csv(path)
    except UnicodeDecodeError:
        raise ValueError(
            f"`--data` {args.data!r} is not UTF-8 text: save it as UTF-8 CSV."
        ) from None
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        detail = " ".join(str(exc).split())
        raise ValueError(f"`--data` {args.data!r} could not be read: {detail}.") from None


def _setting_text(key: str, value: Any) -> str:
    """Show one protocol setting in the markdown report; long grids are summarised."""
    if key == "ratios" and len(value) > 5:
        return f"{len(value)} shares from {value[0]:g} to {value[-1]:g}"
    if key == "normalizer":
        if value == "split":
            return "each split's total test gold-standard gain"
        return f"{value:.6g} (mean gold-standard gain of the data x n_test, for every split)"
    return str(value)
