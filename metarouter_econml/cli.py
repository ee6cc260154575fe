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
report
    Fit the Meta-Router on a CSV or Parquet file of pooled gold-standard and preference rows, run
    its diagnostics (``metarouter_econml.diagnostics.diagnose``: positivity, refutation of the
    bias estimate) and write a self-contained HTML report. Exit status 0 when every check passes,
    1 when the report was written but a check failed (like a linter), 2 for input errors.

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
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import MetaRouter, __version__
from ._format import markdown_table
from .datasets import make_routing_data
from .diagnostics import diagnose
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
        n_jobs=None if args.ray else args.n_jobs,
        use_ray=args.ray,
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


# -- report ----------------------------------------------------------------------------------------

#: Refuters ``diagnose`` can run and its default number of simulations (read from its signature).
_REPORT_REFUTERS = tuple(diagnose.__kwdefaults__["refuters"])
_REPORT_SIMULATIONS = diagnose.__kwdefaults__["n_simulations"]
_REPORT_LEARNERS = ("r", "dr", "causal_forest", "forest_dr", "auto")

_REPORT_EXIT = (
    "Exit status: 0 when the report was written and every check passed; 1 when it was written "
    "but a check failed (positivity, effective sample size or a refuter; skipped checks do not "
    "count), like a linter; 2 for input errors (unreadable file, missing or malformed columns), "
    "with a one-line message on stderr."
)

_GOLD_HELP = (
    "column marking gold-standard rows. Accepted: a boolean column (True/False; CSV readers parse "
    "true/false in any case), 0/1 numbers (1 = gold-standard) or the strings true/false/1/0 in "
    "any case. Anything else, and missing values, are refused rather than guessed at: a "
    "mis-read mask would swap the roles of the two label sources"
)

_MAX_LISTED = 20


def _column_list(columns) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(repr(c) for c in names[:_MAX_LISTED])
    more = f", ... ({len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else ""
    return shown + more


def _read_table(path: Path) -> pd.DataFrame:
    """Read a CSV (optionally compressed, e.g. ``.csv.gz``) or Parquet file into a DataFrame."""
    name = path.name.lower()
    if not path.is_file():
        raise ValueError(f"DATA {str(path)!r} is not an existing file.")
    if name.endswith((".parquet", ".pq")):
        try:
            return pd.read_parquet(path)
        except ImportError:
            raise ValueError(
                f"reading the Parquet file {str(path)!r} needs pyarrow, which is not installed: "
                "`pip install pyarrow` (or convert the file to CSV)."
            ) from None
        except Exception as exc:  # pyarrow raises its own error types for corrupt files
            raise ValueError(f"could not read {str(path)!r} as Parquet: {exc}") from None
    if name.endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")):
        try:
            return pd.read_csv(path)  # compression inferred from the suffix
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"could not read {str(path)!r} as CSV: {exc}") from None
    raise ValueError(
        f"DATA must be a .csv (optionally .csv.gz, .csv.bz2, .csv.xz, .csv.zip) or .parquet "
        f"file; got {str(path)!r}."
    )


def _require_column(frame: pd.DataFrame, column: str, option: str, path: Path) -> pd.Series:
    if column not in frame.columns:
        raise ValueError(
            f"column {column!r} ({option}) not found in {str(path)!r}; available columns: "
            f"{_column_list(frame.columns)}."
        )
    return frame[column]


def _gold_mask(values: pd.Series, column: str) -> np.ndarray:
    """Parse the gold column strictly (see ``_GOLD_HELP``); name the column in every error."""
    missing = int(values.isna().sum())
    if missing:
        raise ValueError(
            f"gold column {column!r} (--gold-column) has {missing} missing value(s); every row "
            "must be marked gold-standard (True/1) or preference-based (False/0)."
        )
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        bad = values[~values.isin([0, 1])]
        if bad.empty:
            return values.to_numpy() == 1
    else:
        text = values.astype(str).str.strip().str.lower()
        bad = values[~text.isin(["true", "false", "1", "0"])]
        if bad.empty:
            return text.isin(["true", "1"]).to_numpy()
    examples = ", ".join(repr(v) for v in pd.unique(bad)[:5])
    raise ValueError(
        f"gold column {column!r} (--gold-column) must be boolean (True/False) or 0/1 "
        f"(1 = gold-standard); got {len(bad)} other value(s), e.g. {examples}."
    )


def _labels(values: pd.Series, column: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        example = values.dropna().iloc[0] if values.notna().any() else None
        raise ValueError(
            f"label column {column!r} (--label-column) must be numeric; got dtype "
            f"{values.dtype} (e.g. {example!r})."
        )
    missing = int((~np.isfinite(values.to_numpy(dtype=np.float64))).sum())
    if missing:
        raise ValueError(
            f"label column {column!r} (--label-column) has {missing} missing or infinite "
            "value(s); drop or fill those rows first."
        )
    return values.to_numpy(dtype=np.float64)


def _features(frame: pd.DataFrame, args: argparse.Namespace, path: Path) -> pd.DataFrame:
    """Select the feature columns (by prefix or by name) and check they are finite numbers."""
    reserved = {args.gold_column, args.label_column}
    if args.feature_columns is not None:
        missing = [c for c in args.feature_columns if c not in frame.columns]
        if missing:
            raise ValueError(
                f"feature column(s) {missing} (--feature-columns) not found in {str(path)!r}; "
                f"available columns: {_column_list(frame.columns)}."
            )
        clash = [c for c in args.feature_columns if c in reserved]
        if clash:
            raise ValueError(
                f"--feature-columns must not include the gold or label column; got {clash}."
            )
        columns = list(dict.fromkeys(args.feature_columns))
    else:
        # the gold and label columns are never features, even if their names match the prefix
        columns = [
            c for c in frame.columns if str(c).startswith(args.feature_prefix) and c not in reserved
        ]
        if not columns:
            raise ValueError(
                f"no feature column starts with --feature-prefix {args.feature_prefix!r} in "
                f"{str(path)!r}; available columns: {_column_list(frame.columns)}."
            )
    X = frame[columns]
    bad = {
        str(c): str(dtype)
        for c, dtype in X.dtypes.items()
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype)
    }
    if bad:
        listed = ", ".join(f"{c!r} ({dtype})" for c, dtype in bad.items())
        raise ValueError(f"feature column(s) must be numeric; not numeric: {listed}.")
    nonfinite = {
        str(c): n
        for c in columns
        if (n := int((~np.isfinite(X[c].to_numpy(dtype=np.float64))).sum()))
    }
    if nonfinite:
        listed = ", ".join(f"{c!r} ({n})" for c, n in nonfinite.items())
        raise ValueError(
            f"feature column(s) with missing or infinite values (count): {listed}; impute or "
            "drop those rows first."
        )
    return X


def _refuters(args: argparse.Namespace) -> tuple[str, ...]:
    names = tuple(args.refuters)
    if "none" in names:
        if len(names) > 1:
            raise ValueError("`refuters`: 'none' cannot be combined with refuter names.")
        return ()
    return names


def _check_output(path: Path, option: str) -> Path:
    if path.is_dir():
        raise ValueError(f"{option} must be a file path; got the directory {str(path)!r}.")
    return path


def _run_report(args: argparse.Namespace) -> int:
    """Fit the Meta-Router on DATA, diagnose it, write the report; exit 0, 1 (a check failed)."""
    out = _check_output(Path(args.out), "--out")
    markdown = None if args.markdown is None else _check_output(Path(args.markdown), "--markdown")
    refuters = _refuters(args)
    path = Path(args.data)
    frame = _read_table(path)
    gold = _gold_mask(
        _require_column(frame, args.gold_column, "--gold-column", path), args.gold_column
    )
    y = _labels(
        _require_column(frame, args.label_column, "--label-column", path), args.label_column
    )
    X = _features(frame, args, path)

    def say(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    say(
        f"Read {len(frame)} rows ({int(gold.sum())} gold-standard) x {X.shape[1]} features "
        f"from {path}."
    )
    say(f"Fitting MetaRouter(learner={args.learner!r}, random_state={args.random_state}) ...")
    router = MetaRouter(learner=args.learner, random_state=args.random_state)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        router.fit(X, y, gold=gold)
    for message in dict.fromkeys(str(w.message) for w in caught if w.category is UserWarning):
        say(f"warning: {' '.join(message.split())}")
    runs = (
        f"{len(refuters)} refuter(s) x {args.n_simulations} simulations, each refitting the "
        "estimator"
        if refuters
        else "no refuters"
    )
    say(f"Diagnosing: overlap checks{', OverRule' if args.overrule else ''}, {runs} ...")
    # diagnose's warnings (e.g. a failing positivity check) are in the report, in plain words
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = diagnose(
            router,
            X,
            y,
            gold=gold,
            refuters=refuters,
            n_simulations=args.n_simulations,
            overrule=args.overrule,
            random_state=args.random_state,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    report.to_html(out)
    written = [out]
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(report.to_markdown(), encoding="utf-8")
        written.append(markdown)
    print(report)
    print("\nWrote:")
    for item in written:
        print(f"  {item}")
    return 0 if report.ok else 1


# -- helpers ---------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def _at_least_two(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2; got {value}")
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
        help="shape of the judge bias: heterogeneous, nonlinear, regional, constant or none",
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
        help="synthetic data only: heterogeneous, nonlinear, regional, constant or none "
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
        "--ray",
        action="store_true",
        help="run the splits as Ray tasks (the [ray] extra; joins a running cluster when "
        "RAY_ADDRESS is set, else starts a local instance); --n-jobs is then ignored",
    )
    benchmark.add_argument(
        "--random-state", type=int, default=0, help="seed of the data and of the splits"
    )
    benchmark.add_argument(
        "--out", default="benchmark_output", help="output directory (created if missing)"
    )
    benchmark.add_argument("--quiet", action="store_true", help="no progress on stderr")
    benchmark.set_defaults(func=_run_benchmark)

    # report
    report = commands.add_parser(
        "report",
        help="diagnose the Meta-Router on a data file and write an HTML report",
        description=(
            "Read pooled gold-standard and preference rows from a CSV (also .csv.gz) or Parquet "
            "file (Parquet needs pyarrow), fit MetaRouter(learner, random_state) on them, run "
            "its diagnostics (positivity and overlap checks with OverRule, DoWhy refutations of "
            "the bias estimate) and write a self-contained HTML report (optionally markdown too). "
            "The label column holds the gold-standard gain on gold rows and the preference label "
            "elsewhere. " + _REPORT_EXIT
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    report.add_argument("data", metavar="DATA", help="CSV (.csv, .csv.gz) or Parquet file")
    report.add_argument("--gold-column", required=True, metavar="COL", help=_GOLD_HELP)
    report.add_argument(
        "--label-column",
        required=True,
        metavar="COL",
        help="numeric label column, no missing values",
    )
    features = report.add_mutually_exclusive_group(required=True)
    features.add_argument(
        "--feature-prefix",
        metavar="PREFIX",
        help="use every column whose name starts with PREFIX (in file order), except the gold "
        "and label columns",
    )
    features.add_argument(
        "--feature-columns", nargs="+", metavar="COL", help="use these feature columns"
    )
    report.add_argument("--out", required=True, help="HTML report to write (e.g. report.html)")
    report.add_argument(
        "--markdown", default=None, metavar="PATH", help="also write the report as markdown"
    )
    report.add_argument(
        "--learner", default="r", choices=_REPORT_LEARNERS, help="MetaRouter learner"
    )
    report.add_argument(
        "--refuters",
        nargs="+",
        default=list(_REPORT_REFUTERS),
        choices=[*_REPORT_REFUTERS, "none"],
        metavar="NAME",
        help=f"refuters to run, among {', '.join(_REPORT_REFUTERS)}, or 'none'",
    )
    report.add_argument(
        "--n-simulations",
        type=_at_least_two,
        default=_REPORT_SIMULATIONS,
        help="refits per refuter; each refits the whole bias estimator (about 2.5 CPU-seconds "
        "at 4,500 rows x 50 features), so the total cost grows linearly with it",
    )
    report.add_argument(
        "--no-overrule",
        dest="overrule",
        action="store_false",
        help="skip OverRule's rules for the overlap region (a separate process, usually 4-10 s)",
    )
    report.add_argument(
        "--random-state", type=int, default=0, help="seed of the router and the diagnostics"
    )
    report.add_argument("--quiet", action="store_true", help="no progress on stderr")
    report.set_defaults(func=_run_report)

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
        Exit code: 0 on success, 2 for invalid input (a one-line message is printed on stderr);
        ``report`` returns 1 when it wrote the report but a check failed.
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
