"""Command-line interface: ``metarouter <command> [options]``.

Each command is one ``_run_<command>(args) -> int`` function plus one parser block in
:func:`build_parser` that ends with ``set_defaults(func=_run_<command>)``. The commands call only
the public API (``metarouter_econml``, ``metarouter_econml.datasets``,
``metarouter_econml.evaluation``).

Commands
--------
demo
    Compare the Meta-Router with its baselines and an all-gold oracle on synthetic data with a
    known judge bias, over a few random splits of ``run_protocol``, and write curves, a summary
    table and a plot.
benchmark
    Run the paper's evaluation protocol (``run_protocol``) on synthetic data, the packaged GSM8K
    data or a CSV file in the paper's format, with uncertainty, paired comparisons and RouteLLM's
    metrics.

Examples
--------
>>> from metarouter_econml.cli import build_parser
>>> args = build_parser().parse_args(["demo", "--splits", "2", "--quiet"])
>>> args.command, args.splits, args.n_gold, args.quiet
('demo', 2, 100, True)
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from ._format import markdown_table
from .datasets import make_routing_data
from .evaluation import PROTOCOL_METHODS, ProtocolResult, run_protocol

__all__ = ["build_parser", "main"]

_PROG = "metarouter"

# -- demo ------------------------------------------------------------------------------------------

#: The demo's methods, in the order they are run: ``run_protocol`` registry name -> display name.
#: The registry holds exactly the demo's routers (``MetaRouter(learner="r")``, ...); only a
#: registry name can express the oracle ("all_gold": ``PooledRouter(gold_scale="none")`` fitted
#: on ``split.gold_gain_train``), since routers passed in a dict are fitted on ``split.y_train``.
_DEMO_METHODS = {
    "meta_r": "Meta-Router (R)",
    "meta_dr": "Meta-Router (DR)",
    "pooled": "pooled",
    "mean_shift": "mean-shift",
    "gold_only": "gold-only",
    "preference_only": "preference-only",
    "all_gold": "all-gold (oracle)",
}

#: Primary-usage ratios reported in the summary table (points of the default ratio grid).
_SUMMARY_RATIOS = (0.2, 0.4, 0.6, 0.8)

_METRIC_NOTE = (
    "Efficiency gain = true gold-standard gain of the test queries a router sends to the "
    "primary model minus that of sending the same number of random queries, divided by the "
    "total gain (0 = random routing, higher is better); AUC is its mean over shares 0.2-0.8."
)


def _run_demo(args: argparse.Namespace) -> int:
    """Run the protocol with the demo's methods, print the summary and write the outputs."""
    out = _output_dir(args)
    data = make_routing_data(
        args.n_samples, args.n_features, bias=args.bias, random_state=args.random_state
    )
    _announce(args, data)
    result = _display_names(
        run_protocol(
            data,
            methods=list(_DEMO_METHODS),
            n_test=args.n_test,
            n_gold=args.n_gold,
            n_splits=args.splits,
            normalizer="split",  # each split's total test gain, as `_METRIC_NOTE` says
            random_state=args.random_state,
            verbose=0 if args.quiet else 1,
        )
    )
    summary = _summarise(result)
    header = (
        f"Data: {data.name}, n_samples={len(data)}, n_features={data.n_features}, "
        f"bias={args.bias}; n_gold={args.n_gold}, n_test={args.n_test}, "
        f"splits={args.splits}, seed={args.random_state}."
    )
    seeds = f"Split seeds (drawn from seed {args.random_state}): {result.settings['seeds']}."
    table = markdown_table(_display_frame(summary)) + _warning_text(result)
    print(table)

    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "curves": out / "curves.csv",
        "summary": out / "summary.csv",
        "markdown": out / "summary.md",
        "plot": out / "efficiency_gain.png",
    }
    result.curves.to_csv(paths["curves"], index=False)
    summary.to_csv(paths["summary"], index=False)
    paths["markdown"].write_text(
        f"{header}\n{seeds}\n\n{_METRIC_NOTE}\n\n{table}\n", encoding="utf-8"
    )
    from matplotlib.figure import Figure  # lazy: no pyplot, no global backend change

    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = result.plot(ax=fig.add_subplot(), band=False, methods=list(summary["method"]))
    ax.set_title(f"Efficiency gain, n_gold={args.n_gold}, mean over {args.splits} splits")
    fig.savefig(paths["plot"], dpi=120)
    print("\nWrote:")
    for path in paths.values():
        print(f"  {path}")
    return 0


def _display_names(result: ProtocolResult) -> ProtocolResult:
    """Return ``result`` with the registry names of `_DEMO_METHODS` replaced by display names."""

    def rename(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(method=frame["method"].map(_DEMO_METHODS))

    settings = dict(result.settings)
    for key in ("methods", "oracle_methods"):
        settings[key] = [_DEMO_METHODS[name] for name in settings[key]]
    settings["routers"] = {_DEMO_METHODS[name]: r for name, r in settings["routers"].items()}
    return dataclasses.replace(
        result,
        curves=rename(result.curves),
        metrics=rename(result.metrics),
        fit_warnings=rename(result.fit_warnings),
        settings=settings,
    )


def _summarise(result: ProtocolResult) -> pd.DataFrame:
    """One row per method: mean gain at `_SUMMARY_RATIOS`, AUC mean and SE, mean fit time."""
    summary = result.summary(reference=None)
    mean = result.mean_curves().groupby("method", sort=False)
    columns = {
        f"gain@{ratio:g}": [
            float(np.interp(ratio, mean.get_group(name)["ratio"], mean.get_group(name)["mean"]))
            for name in summary["method"]
        ]
        for ratio in _SUMMARY_RATIOS
    }
    summary = pd.concat(
        [summary[["method"]], pd.DataFrame(columns), summary[["auc", "auc_se", "fit_seconds"]]],
        axis=1,
    )
    return summary.sort_values("auc", ascending=False, kind="stable").reset_index(drop=True)


def _display_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Format the summary for reading: 3 decimals, AUC as ``mean ± SE``."""
    shown = pd.DataFrame({"method": summary["method"]})
    for ratio in _SUMMARY_RATIOS:
        shown[f"gain@{ratio:g}"] = summary[f"gain@{ratio:g}"].map("{:.3f}".format)
    shown["AUC ± SE"] = [
        f"{auc:.3f}" if math.isnan(se) else f"{auc:.3f} ± {se:.3f}"
        for auc, se in zip(summary["auc"], summary["auc_se"], strict=True)
    ]
    shown["fit (s)"] = summary["fit_seconds"].map("{:.2f}".format)
    return shown


def _warning_text(result: ProtocolResult) -> str:
    """List the warnings ``run_protocol`` recorded while fitting (empty text if none)."""
    lines = [
        f"- {row.method}: {row.category} x{row.count} in {row.n_splits} split(s), e.g. "
        f'"{" ".join(str(row.example).split())[:160]}"'
        for row in result.fit_warnings.itertuples(index=False)
    ]
    return "\n\nWarnings recorded while fitting:\n\n" + "\n".join(lines) if lines else ""


# -- benchmark -------------------------------------------------------------------------------------

#: Size of the synthetic data of ``benchmark`` (the paper's HealthBench: 5,000 queries, 50 PCs).
_BENCHMARK_SYNTHETIC = {"n_samples": 5000, "n_features": 50, "bias": "heterogeneous"}

_BENCHMARK_NOTE = (
    "Efficiency gain = true gold-standard gain of the test queries a router sends to the "
    "primary model minus that of sending the same number of random queries, divided by the "
    "mean gold-standard gain of the data times the test size, as in the paper (0 = random "
    "routing, higher is better); AUC is its mean over shares 0.2-0.8, with its standard error "
    "and the range of the central 95% of splits. ΔAUC is the mean paired difference with "
    "{reference} on the same splits, with a 95% t-interval. APGR (average performance gap "
    "recovered) and CPT (share of calls to the primary needed to recover 50%/80% of the gap) "
    "are RouteLLM's metrics on the same ranking."
)

_BENCHMARK_OUTPUTS = {
    "curves": "protocol_curves.csv",
    "metrics": "protocol_metrics.csv",
    "markdown": "protocol_summary.md",
    "plot": "protocol.png",
}


def _benchmark_data(args: argparse.Namespace) -> Any:
    """Load or generate the dataset named by ``--data``; synthetic-only options are checked."""
    # These options default to argparse.SUPPRESS: absent from `args` unless given.
    given = {key: getattr(args, key) for key in _BENCHMARK_SYNTHETIC if hasattr(args, key)}
    synthetic_only = ["--" + key.replace("_", "-") for key in given]
    if args.data not in ("synthetic", "gsm8k") and not Path(args.data).is_file():
        raise ValueError(
            "`--data` must be 'synthetic', 'gsm8k' or the path of a CSV file in the paper's "
            f"format; got {args.data!r}, which is not an existing file."
        )
    if args.data != "synthetic" and synthetic_only:
        raise ValueError(
            f"{', '.join(f'`{o}`' for o in synthetic_only)} only apply to `--data synthetic`; "
            f"got `--data {args.data}`."
        )
    if args.data == "synthetic":
        options = {**_BENCHMARK_SYNTHETIC, **given}
        return make_routing_data(
            options["n_samples"],
            options["n_features"],
            bias=options["bias"],
            random_state=args.random_state,
        )
    if args.data == "gsm8k":
        from .datasets import load_gsm8k_routing

        return load_gsm8k_routing(n_components=50)
    from .datasets import load_paper_csv

    return load_paper_csv(args.data)


def _setting_text(key: str, value: Any) -> str:
    """Show one protocol setting in the markdown report; long grids are summarised."""
    if key == "ratios" and len(value) > 5:
        return f"{len(value)} shares from {value[0]:g} to {value[-1]:g}"
    if key == "normalizer":
        if value == "split":
            return "each split's total test gold-standard gain"
        return f"{value:.6g} (mean gold-standard gain of the data x n_test, for every split)"
    return str(value)


def _run_benchmark(args: argparse.Namespace) -> int:
    """Run the evaluation protocol, print the summary and write tables, markdown and plot."""
    out = _output_dir(args)
    data = _benchmark_data(args)
    _announce(args, data)
    result = run_protocol(
        data,
        methods=getattr(args, "methods", None),
        n_test=args.n_test,
        n_gold=args.n_gold,
        n_splits=args.splits,
        stop_at_nonpositive=args.stop_at_nonpositive,
        n_jobs=args.n_jobs,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
    )
    reference = "pooled" if "pooled" in result.methods else result.methods[0]
    table = result.to_markdown(reference=reference)
    print(table)

    out.mkdir(parents=True, exist_ok=True)
    paths = {key: out / name for key, name in _BENCHMARK_OUTPUTS.items()}
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
    paths["markdown"].write_text(
        f"{header}\n\n{_BENCHMARK_NOTE.format(reference=reference)}\n\n{table}\n\n"
        f"## Settings\n\n{settings}\n",
        encoding="utf-8",
    )
    from matplotlib.figure import Figure  # lazy: no pyplot, no global backend change

    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = result.plot(ax=fig.add_subplot())
    ax.set_title(f"{data.name}: efficiency gain, n_gold={args.n_gold}, {args.splits} splits")
    fig.savefig(paths["plot"], dpi=120)
    print("\nWrote:")
    for path in paths.values():
        print(f"  {path}")
    return 0


# -- helpers ---------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def _output_dir(args: argparse.Namespace) -> Path:
    """Return ``--out`` as a path, checked (not created) before any work is done."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out` must be a directory; got an existing file {str(out)!r}.")
    return out


def _announce(args: argparse.Namespace, data: Any) -> None:
    """Say on stderr, unless ``--quiet``, what ``run_protocol`` is about to run."""
    if not args.quiet:
        print(
            f"Running {args.splits} splits of {data.name} (n={len(data)}) ...",
            file=sys.stderr,
            flush=True,
        )


def _cli_message(exc: Exception, args: argparse.Namespace) -> str:
    """Put the API's error message on one line, naming parameters as command-line options."""
    message = " ".join(str(exc).split())
    for dest in vars(args).keys() - {"command", "func"}:
        option = "--" + dest.replace("_", "-")
        message = message.replace(f"`{dest}`", f"`{option}`")
    return message


# -- parser and entry point ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Build the ``metarouter`` argument parser with one subparser per command.

    Returns
    -------
    argparse.ArgumentParser
        The parser; each subcommand sets ``func``, the function that runs it.
    """
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Cost-aware LLM routers from gold-standard and preference-based labels.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # demo
    demo = commands.add_parser(
        "demo",
        help="compare the Meta-Router with its baselines on synthetic data",
        description=(
            "Generate synthetic routing data with a known judge bias (make_routing_data), fit "
            "the Meta-Router, its baselines and an all-gold oracle on several random splits "
            "(run_protocol), and report efficiency-gain curves. " + _METRIC_NOTE
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument("--out", default="demo_output", help="output directory (created if missing)")
    demo.add_argument("--n-samples", type=int, default=5000, help="number of queries")
    demo.add_argument("--n-features", type=int, default=50, help="number of features")
    demo.add_argument("--n-gold", type=int, default=100, help="gold-standard training rows")
    demo.add_argument("--n-test", type=int, default=500, help="test rows")
    demo.add_argument("--splits", type=_positive_int, default=3, help="number of random splits")
    demo.add_argument(
        "--bias",
        default="heterogeneous",
        help="shape of the judge bias: heterogeneous, nonlinear, constant or none",
    )
    demo.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="seed of the data and of the splits: run_protocol draws one seed per split from it, "
        "used for the split and every router on it (listed in summary.md)",
    )
    demo.add_argument("--quiet", action="store_true", help="do not print progress to stderr")
    demo.set_defaults(func=_run_demo)

    # benchmark
    benchmark = commands.add_parser(
        "benchmark",
        help="run the paper's evaluation protocol over many random splits",
        description=(
            "Fit every method on many random splits (n_test test rows, n_gold gold-standard "
            "rows, the rest preference-based) and report efficiency-gain curves with "
            "uncertainty, paired differences in AUC and RouteLLM's APGR/CPT."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    benchmark.add_argument(
        "--data",
        default="synthetic",
        help="'synthetic' (make_routing_data), 'gsm8k' (packaged GSM8K data, 50 components) "
        "or the path of a CSV file in the paper's format (embd.PC<k>, GL, PL columns)",
    )
    benchmark.add_argument(
        "--bias",
        default=argparse.SUPPRESS,  # not in args unless given; no "(default: None)" in help
        help="synthetic data only: heterogeneous, nonlinear, constant or none "
        "(default: heterogeneous)",
    )
    benchmark.add_argument(
        "--n-samples",
        type=int,
        default=argparse.SUPPRESS,
        help="synthetic data only: number of queries (default: 5000)",
    )
    benchmark.add_argument(
        "--n-features",
        type=int,
        default=argparse.SUPPRESS,
        help="synthetic data only: number of features (default: 50)",
    )
    benchmark.add_argument("--n-gold", type=int, default=100, help="gold-standard training rows")
    benchmark.add_argument("--n-test", type=int, default=500, help="test rows")
    benchmark.add_argument(
        "--splits", type=_positive_int, default=20, help="number of random splits"
    )
    benchmark.add_argument(
        "--methods",
        nargs="+",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help=f"methods to compare, among {', '.join(PROTOCOL_METHODS)} "
        "(default: all but meta_auto, which is about 10x slower)",
    )
    benchmark.add_argument(
        "--stop-at-nonpositive",
        action="store_true",
        help="stop each curve where the router's predictions turn non-positive (as in the paper)",
    )
    benchmark.add_argument(
        "--n-jobs", type=int, default=1, help="splits run in parallel (-1: all cores)"
    )
    benchmark.add_argument(
        "--random-state", type=int, default=0, help="seed of the data and of the splits"
    )
    benchmark.add_argument(
        "--out", default="benchmark_output", help="output directory (created if missing)"
    )
    benchmark.add_argument("--quiet", action="store_true", help="no progress on stderr")
    benchmark.set_defaults(func=_run_benchmark)

    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``metarouter`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit code: 0 on success, 2 for invalid input (a one-line message is printed on stderr).
        Command-line syntax errors exit through ``argparse`` (``SystemExit`` with code 2).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError, OSError) as exc:
        print(f"{_PROG} {args.command}: error: {_cli_message(exc, args)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
