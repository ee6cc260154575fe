"""Command-line interface: ``metarouter <command> [options]``.

:func:`build_parser` describes every command; :func:`main` parses the arguments first and only
then imports the module that runs the command (``_demo``, ``_benchmark``, ``_report``,
``_suggest``), so that ``metarouter --version`` and ``metarouter <command> --help`` do not load
EconML, DoWhy, pandas or matplotlib. The command modules call only the public API
(``metarouter_econml``, ``metarouter_econml.datasets``, ``metarouter_econml.evaluation``,
``metarouter_econml.diagnostics``, ``metarouter_econml.active``), which checks the values it is
given; the parser checks only what an option must be on its own (counts, seeds, shares), with
the option's name in the message.

Commands
--------
demo
    Compare the Meta-Router with its baselines and an all-gold oracle on synthetic data with a
    known judge bias, over a few random splits of ``run_protocol``, and write curves, a summary
    table and a plot.
benchmark
    Run the paper's evaluation protocol (``run_protocol``) on synthetic data, the packaged GSM8K
    data or a CSV file in the paper's format, with uncertainty, paired comparisons and RouteLLM's
    metrics; or, with ``--data pandalm`` (the packaged PandaLM comparisons of five 7B models) or
    ``--data multi-synthetic`` (``make_multi_routing_data``), the multi-model protocol
    (``run_multi_protocol``): pairwise accuracy and, when the true quality is known, AIQ, oracle
    share and the cost-quality frontier.
report
    Fit the Meta-Router on a CSV or Parquet file of pooled gold-standard and preference rows, run
    its diagnostics (``metarouter_econml.diagnostics.diagnose``: positivity, refutation of the
    bias estimate) and write a self-contained HTML report.
suggest
    Fit the Meta-Router with bootstrap intervals on the same kind of file and choose which
    preference-only rows to send for gold-standard labelling next
    (``metarouter_econml.active.select_gold_queries``): a CSV file of the chosen rows, best
    first, with their inclusion probabilities, gain and bias intervals and the reason for each
    (optionally the inclusion probability of every candidate, for ``gold_probability`` when
    refitting).

Exit status: 0 on success; 1 when ``report`` wrote its report but a check failed (like a
linter), and never otherwise; 2 for usage and input errors, including a missing optional
dependency, with a one-line message on stderr. An unexpected error (a bug in this package or a
library it calls) also exits 2, with a one-line message that names the exception and where it
was raised; every command's ``--traceback`` option prints the full traceback before it.

Examples
--------
>>> from metarouter_econml.cli import build_parser
>>> args = build_parser().parse_args(["demo", "--splits", "2", "--quiet"])
>>> args.command, args.splits, args.n_gold, args.quiet
('demo', 2, 100, True)
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from types import ModuleType

from .. import __version__
from ._common import (
    DEMO_METRIC_NOTE,
    MAX_FEATURES,
    MAX_LOOPS,
    MAX_SAMPLES,
    PROG,
    at_least,
    at_most,
    n_jobs,
    names_an_install_command,
    one_line,
    origin,
    raised_outside_package,
    seed,
)

__all__ = ["build_parser", "main"]

_REPORT_EXIT = (
    "Exit status: 0 when the report was written and every check passed; 1 when it was written "
    "but a check failed (positivity, effective sample size or a refuter; skipped checks do not "
    "count), like a linter; 2 for input errors (unreadable file, missing or malformed columns), "
    "with a one-line message on stderr, and for unexpected errors (a bug: --traceback shows "
    "the traceback)."
)

_TRACEBACK_HELP = (
    "on an error, print the Python traceback before the one-line message (for a bug report); "
    "the exit status is the same"
)

_GOLD_HELP = (
    "column marking gold-standard rows: booleans, True for gold-standard and False for "
    "preference-based rows (in a CSV file true/false in any case, as pandas reads them), no "
    "missing values. 0/1 and other codes are refused rather than guessed at: a mis-read mask "
    "would swap the roles of the two label sources"
)


def _common_options() -> argparse.ArgumentParser:
    """Options every command has (a parent parser: they may follow the command's name)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--traceback", action="store_true", help=_TRACEBACK_HELP)
    return common


def _add_demo(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo",
        parents=[_common_options()],
        help="compare the Meta-Router with its baselines on synthetic data",
        description=(
            "Generate synthetic routing data with a known judge bias (make_routing_data), fit "
            "the Meta-Router, its baselines and an all-gold oracle on several random splits "
            "(run_protocol), and report efficiency-gain curves. " + DEMO_METRIC_NOTE
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument("--out", default="demo_output", help="output directory (created if missing)")
    demo.add_argument(
        "--n-samples",
        type=at_most(MAX_SAMPLES),
        default=5000,
        help=f"number of queries (at most {MAX_SAMPLES:,})",
    )
    demo.add_argument(
        "--n-features",
        type=at_most(MAX_FEATURES),
        default=50,
        help=f"number of features (at most {MAX_FEATURES:,})",
    )
    demo.add_argument(
        "--n-gold", type=at_least(2), default=100, help="gold-standard training rows per split"
    )
    demo.add_argument("--n-test", type=at_least(2), default=500, help="test rows per split")
    demo.add_argument(
        "--splits",
        type=at_least(1, MAX_LOOPS),
        default=3,
        help=f"number of random splits (1 to {MAX_LOOPS:,})",
    )
    demo.add_argument(
        "--bias",
        default="heterogeneous",
        help="shape of the judge bias, make_routing_data's `bias` (a wrong name lists the shapes)",
    )
    demo.add_argument(
        "--random-state",
        type=seed,
        default=0,
        help="seed of the data and of the splits: run_protocol draws one seed per split from it, "
        "used for the split and every router on it (listed in summary.md)",
    )
    demo.add_argument("--quiet", action="store_true", help="do not print progress to stderr")


class DefaultInt(int):
    """An option's default int, told apart (``isinstance``) from the same number typed.

    ``--n-test`` and ``--n-gold`` default to 500 and 100 rows for the two-model data, while
    ``--data pandalm`` (170 queries) and ``--data multi-synthetic`` use run_multi_protocol's
    defaults unless they are given; ``--n-jobs`` is refused with multi-model data only when given.
    """


#: The --data values that run the multi-model protocol (run_multi_protocol).
MULTI_DATA = ("pandalm", "multi-synthetic")
#: The verdicts load_pandalm_routing's `judge` takes (its default first).
JUDGES = ("gpt-3.5-turbo", "pandalm-7b", "both")


def _add_benchmark(commands: argparse._SubParsersAction) -> None:
    benchmark = commands.add_parser(
        "benchmark",
        parents=[_common_options()],
        help="run the paper's evaluation protocol over many random splits",
        description=(
            "Two-model data (--data synthetic, gsm8k or a CSV file): fit every method on many "
            "random splits (n_test test rows, n_gold gold-standard rows, the rest "
            "preference-based) and report efficiency-gain curves with uncertainty, paired "
            "differences in AUC and RouteLLM's APGR/CPT (protocol_*.csv, protocol_summary.md, "
            "protocol.png). Multi-model data (--data pandalm or multi-synthetic): the same "
            "splits of queries with run_multi_protocol, scored by pairwise accuracy against "
            "the gold labels and, on multi-synthetic (true quality known), by the "
            "cost-quality frontier, its AIQ and the share of the oracle's gain recovered "
            "(multi_protocol_scores.csv, multi_protocol_summary.md and, for multi-synthetic, "
            "multi_protocol.png). Options marked 'only' are refused with other data."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    benchmark.add_argument(
        "--data",
        default="synthetic",
        help="two-model data: 'synthetic' (make_routing_data), 'gsm8k' (packaged GSM8K data, "
        "50 components) or the path of a CSV file in the paper's format (embd.PC<k>, GL, PL "
        "columns); multi-model data: 'pandalm' (load_pandalm_routing: packaged human and "
        "LLM-judge comparisons of five 7B models on 170 queries) or 'multi-synthetic' "
        "(make_multi_routing_data, true quality and judge bias known)",
    )
    # The data-specific options default to argparse.SUPPRESS: absent from the namespace unless
    # given, so that giving one with other data is an error, and no "(default: None)" in help.
    benchmark.add_argument(
        "--bias",
        default=argparse.SUPPRESS,
        help="synthetic and multi-synthetic data only: shape of the judge bias, "
        "make_routing_data's or make_multi_routing_data's `bias` (default: heterogeneous "
        "and shared; a wrong name lists the shapes)",
    )
    benchmark.add_argument(
        "--n-samples",
        type=at_most(MAX_SAMPLES),
        default=argparse.SUPPRESS,
        help="synthetic and multi-synthetic data only: number of queries (default: 5000 and "
        f"2000; at most {MAX_SAMPLES:,})",
    )
    benchmark.add_argument(
        "--n-features",
        type=at_most(MAX_FEATURES),
        default=argparse.SUPPRESS,
        help="synthetic and multi-synthetic data only: number of features (default: 50 and "
        f"10; at most {MAX_FEATURES:,})",
    )
    benchmark.add_argument(
        "--n-models",
        type=at_least(2),
        default=argparse.SUPPRESS,
        help="multi-synthetic data only: number of models, m0 (cheapest, weakest on average) "
        "to m<K-1> (dearest), make_multi_routing_data's `n_models` (default: 5; at most 20)",
    )
    benchmark.add_argument(
        "--judge",
        choices=JUDGES,
        default=argparse.SUPPRESS,
        help="pandalm data only: the LLM judge whose verdicts are the preference-based labels "
        "('both': both judges' verdicts, as separate labels); the gold standard is always the "
        "three human annotators (default: gpt-3.5-turbo, which agrees more often with them)",
    )
    benchmark.add_argument(
        "--n-components",
        type=at_least(1),
        default=argparse.SUPPRESS,
        help="pandalm data only: principal components of the 384-d query embeddings kept as "
        "features, at most 170 (default: 10: a split has about 136 training queries, of "
        "which only about 10 carry gold-standard labels, so the bias and quality models need "
        "few features; 10 components keep 28%% of the embeddings' variance)",
    )
    benchmark.add_argument(
        "--n-gold",
        type=at_least(2),
        default=DefaultInt(100),
        help="gold-standard training rows per split; with multi-model data, gold-standard "
        "training queries per split (each with the gold labels of all its comparisons) and, "
        "unless given, run_multi_protocol's default instead of this one: 5%% of the training "
        "queries, at least 10",
    )
    benchmark.add_argument(
        "--n-test",
        type=at_least(2),
        default=DefaultInt(500),
        help="test rows per split; with multi-model data, test queries per split and, unless "
        "given, run_multi_protocol's default instead of this one: 20%% of the queries",
    )
    benchmark.add_argument(
        "--splits",
        type=at_least(1, MAX_LOOPS),
        default=20,
        help=f"number of random splits (1 to {MAX_LOOPS:,})",
    )
    benchmark.add_argument(
        "--methods",
        nargs="+",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="methods to compare: names of run_protocol's registry, "
        "metarouter_econml.evaluation.PROTOCOL_METHODS, or with multi-model data of "
        "MULTI_PROTOCOL_METHODS (a wrong name lists them; default: run_protocol's default, "
        "every method but the slow meta_auto, or every multi-model method; the summary's "
        "paired differences of multi-model data are from the first method)",
    )
    benchmark.add_argument(
        "--stop-at-nonpositive",
        action="store_true",
        help="two-model data only: stop each curve where the router's predictions turn "
        "non-positive (as in the paper)",
    )
    benchmark.add_argument(
        "--n-jobs",
        type=n_jobs,
        default=DefaultInt(1),
        help="two-model data only: splits run in parallel (-1: all cores, -2: all but one; at "
        "most 4 per core)",
    )
    benchmark.add_argument(
        "--ray",
        action="store_true",
        help="two-model data only: run the splits as Ray tasks (the [ray] extra; joins a "
        "running cluster when RAY_ADDRESS is set, else starts a local instance); --n-jobs is "
        "then ignored",
    )
    benchmark.add_argument(
        "--random-state",
        type=seed,
        default=0,
        help="seed of the data (of the PCA for pandalm) and of the splits",
    )
    benchmark.add_argument(
        "--out", default="benchmark_output", help="output directory (created if missing)"
    )
    benchmark.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _data_options(command: argparse.ArgumentParser) -> None:
    """DATA and its column options, shared by ``report`` and ``suggest`` (read by ``_report``)."""
    command.add_argument("data", metavar="DATA", help="CSV (.csv, .csv.gz) or Parquet file")
    command.add_argument("--gold-column", required=True, metavar="COL", help=_GOLD_HELP)
    command.add_argument(
        "--label-column",
        required=True,
        metavar="COL",
        help="numeric label column, no missing values",
    )
    features = command.add_mutually_exclusive_group(required=True)
    features.add_argument(
        "--feature-prefix",
        metavar="PREFIX",
        help="use every column whose name starts with PREFIX (in file order), except the gold "
        "and label columns",
    )
    features.add_argument(
        "--feature-columns", nargs="+", metavar="COL", help="use these feature columns"
    )


def _add_report(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        parents=[_common_options()],
        help="diagnose the Meta-Router on a data file and write an HTML report",
        description=(
            "Read pooled gold-standard and preference rows from a CSV (also .csv.gz) or Parquet "
            "file (Parquet needs the [parquet] extra), fit MetaRouter(learner, random_state) on "
            "them, run its diagnostics (positivity and overlap checks with OverRule, DoWhy "
            "refutations of the bias estimate) and write a self-contained HTML report "
            "(optionally markdown too). The label column holds the gold-standard gain on gold "
            "rows and the preference label elsewhere. " + _REPORT_EXIT
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _data_options(report)
    report.add_argument("--out", required=True, help="HTML report to write (e.g. report.html)")
    report.add_argument(
        "--markdown", default=None, metavar="PATH", help="also write the report as markdown"
    )
    report.add_argument(
        "--learner",
        default="r",
        help="MetaRouter's `learner` (a wrong name lists the learners)",
    )
    report.add_argument(
        "--refuters",
        nargs="+",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="refuters to run, names of diagnose's `refuters` (a wrong name lists them), or "
        "'none' (default: diagnose's default, every refuter)",
    )
    report.add_argument(
        "--n-simulations",
        type=at_least(2, MAX_LOOPS),
        default=argparse.SUPPRESS,
        help=f"refits per refuter, 2 to {MAX_LOOPS:,} (default: diagnose's default); each refits "
        "the whole bias estimator, so the time grows linearly with it",
    )
    report.add_argument(
        "--no-overrule",
        dest="overrule",
        action="store_false",
        help="skip OverRule's rules for the overlap region (learnt in a separate process)",
    )
    report.add_argument(
        "--random-state", type=seed, default=0, help="seed of the router and the diagnostics"
    )
    report.add_argument("--quiet", action="store_true", help="no progress on stderr")


#: The strategies of metarouter_econml.active.select_gold_queries (its STRATEGIES; not imported
#: here, which would load the scientific stack for --help).
SUGGEST_STRATEGIES = ("random", "bias", "decision", "overlap", "auto")
#: The strategies whose score depends on the routing threshold (the only ones --cost-weight moves).
COST_WEIGHT_STRATEGIES = ("decision", "auto")

_SUGGEST_COLUMNS = (
    "One row per chosen query, best first: rank (1 to --budget), row (0-based position of the "
    "data row in DATA, the header not counted), strategy, inclusion_probability (its chance of "
    "being drawn this round), psi, psi_low, psi_high (the estimated gold-standard gain of the "
    "primary model and its 90% interval, gold scale), bias, bias_low, bias_high (the judge's "
    "estimated bias and its 90% interval, preference scale) and reason (why the row was drawn, "
    "from those numbers)."
)
_SUGGEST_REFIT = (
    "Refitting once the gold labels are in: pass MetaRouter.fit(..., gold_probability=p), p "
    "being every row's chance of having been chosen for gold labelling by the design so far. "
    "For the candidate rows that is 1 - (1 - p_before) * (1 - inclusion_probability), with "
    "--probabilities-out giving inclusion_probability for every candidate (--out only for the "
    "chosen ones) and p_before the row's earlier chance (n_gold / n_rows for every row when the "
    "current gold rows are a uniform random sample), the rule run_active_protocol applies; "
    "from Python, metarouter_econml.active.draw_gold_round gives p for every row, the rows "
    "already gold included."
)


def _share(text: str) -> float:
    """Parse a ``--uniform-share`` value: a number in (0, 1]."""
    rule = "a number in (0, 1]"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {rule}; got {text!r}") from None
    if not 0 < value <= 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be {rule}; got {text}")
    return value


def _finite(text: str) -> float:
    """Parse a ``--cost-weight`` value: a finite number."""
    rule = "a finite number"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {rule}; got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be {rule}; got {text}")
    return value


def _add_suggest(commands: argparse._SubParsersAction) -> None:
    suggest = commands.add_parser(
        "suggest",
        parents=[_common_options()],
        help="choose which preference-only rows of a data file to send for gold labelling next",
        description=(
            "Read pooled gold-standard and preference rows as `report` does, fit "
            "MetaRouter(n_bootstrap, random_state) on them and choose --budget of the "
            "preference-only rows (the candidates) for gold-standard labelling with "
            "metarouter_econml.active.select_gold_queries: every candidate is scored by "
            "--strategy and the batch is drawn with known inclusion probabilities that mix the "
            "scores with a uniform share, so every candidate keeps a positive chance. "
            + _SUGGEST_COLUMNS
            + " "
            + _SUGGEST_REFIT
            + " Exit status: 0 when the file was written; 2 for input errors (unreadable file, "
            "missing or malformed columns, a budget larger than the candidates, too few gold "
            "rows), with a one-line message on stderr, and for unexpected errors (a bug: "
            "--traceback shows the traceback)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _data_options(suggest)
    suggest.add_argument(
        "--budget",
        type=at_least(1),
        required=True,
        metavar="N",
        help="how many queries to choose, at most the number of preference-only rows",
    )
    suggest.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="CSV file of the chosen rows to write (e.g. picks.csv; an existing file is "
        "replaced, DATA never)",
    )
    suggest.add_argument(
        "--probabilities-out",
        default=None,
        metavar="PATH",
        help="also write a CSV file with the columns row and inclusion_probability for every "
        "candidate row, in DATA's order (for gold_probability when refitting)",
    )
    suggest.add_argument(
        "--strategy",
        choices=SUGGEST_STRATEGIES,
        default="auto",
        help="what makes a candidate worth a gold label: random (uniform); bias (the width of "
        "its bias interval); decision (the chance that its routing decision is wrong: its gain "
        "interval straddles the routing threshold of --cost-weight, or without one those that "
        "send 20%%-80%% of the candidates to the primary model); overlap (1 / P(gold | x), "
        "cross-fitted on the gold rows against the candidates: few gold rows like it); auto "
        "(the bias score; with --cost-weight, times the decision score: an uncertain bias where "
        "it can change the decision at that weight)",
    )
    suggest.add_argument(
        "--cost-weight",
        type=_finite,
        default=None,
        metavar="W",
        help="strategies decision and auto only: the cost weight routing will use (threshold "
        "W x (cost_primary - cost_alternative) = W); default: average over the thresholds "
        "that send 20%%-80%% of the candidates to the primary model",
    )
    suggest.add_argument(
        "--uniform-share",
        type=_share,
        default=0.2,
        metavar="U",
        help="share of the inclusion probability spread uniformly, in (0, 1]: every candidate "
        "has at least U x --budget / (number of candidates) chance; 1 ignores the scores",
    )
    suggest.add_argument(
        "--n-bootstrap",
        type=at_least(2, MAX_LOOPS),
        default=30,
        help=f"bootstrap replicates behind the intervals, 2 to {MAX_LOOPS:,} (each refits the "
        "final stages, so the time grows linearly with it)",
    )
    suggest.add_argument(
        "--n-jobs",
        type=n_jobs,
        default=1,
        help="threads of the router's LightGBM models (-1: all cores); the choice does not "
        "depend on it",
    )
    suggest.add_argument(
        "--random-state", type=seed, default=0, help="seed of the router and of the draw"
    )
    suggest.add_argument(
        "--quiet", action="store_true", help="no progress on stderr and no summary on stdout"
    )


def build_parser() -> argparse.ArgumentParser:
    """Build the ``metarouter`` argument parser with one subparser per command.

    Building and using the parser imports nothing beyond the standard library.

    Returns
    -------
    argparse.ArgumentParser
        The parser; ``args.command`` names the command to run.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Cost-aware LLM routers from gold-standard and preference-based labels.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo(commands)
    _add_benchmark(commands)
    _add_report(commands)
    _add_suggest(commands)
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
        Exit code: 0 on success; 1 only when ``report`` wrote its report and a check failed; 2
        for invalid input, a missing optional dependency or an unexpected error, with a
        one-line message on stderr (``--traceback`` prints the traceback before it).
        Command-line syntax errors and invalid option values exit through ``argparse``
        (``SystemExit`` with code 2).
    """
    args = build_parser().parse_args(argv)
    command: ModuleType | None = None
    try:
        command = importlib.import_module(f"._{args.command}", __name__)
        return int(command.run(args))
    except ImportError as exc:
        if names_an_install_command(exc):
            return _fail(args, command, exc)
        return _internal_error(args, exc)
    except MemoryError as exc:
        return _out_of_memory(args, exc)
    except (ValueError, TypeError, OSError) as exc:
        return _fail(args, command, exc)
    except Exception as exc:  # a bug here or in a dependency: one line, never exit 1
        return _internal_error(args, exc)


def _say(args: argparse.Namespace, exc: BaseException, message: str) -> int:
    """Print the error (and, with ``--traceback``, its traceback) on stderr; return 2."""
    if args.traceback:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"{PROG} {args.command}: {message}", file=sys.stderr)
    return 2


def _fail(args: argparse.Namespace, command: ModuleType | None, exc: Exception) -> int:
    """An input error: the library's or the command's message, naming the options."""
    message = one_line(
        exc, args, getattr(command, "RENAMED", None), getattr(command, "UNEXPOSED", None)
    )
    if raised_outside_package(exc) and not args.traceback:
        # not one of this package's checks: say where it came from, to help make sense of it
        message += f" (raised in {origin(exc)}; --traceback shows the traceback)"
    return _say(args, exc, f"error: {message}")


def _out_of_memory(args: argparse.Namespace, exc: MemoryError) -> int:
    sizes = [
        f"--{dest.replace('_', '-')}"
        for dest in ("n_samples", "n_features", "splits", "n_simulations", "n_bootstrap", "n_jobs")
        if hasattr(args, dest)
    ]
    hint = f"smaller values of {', '.join(sizes)}" if sizes else "a smaller data file"
    detail = " ".join(str(exc).split()) or "no details"
    return _say(args, exc, f"error: out of memory ({detail}); try {hint}.")


def _internal_error(args: argparse.Namespace, exc: Exception) -> int:
    where = origin(exc)
    detail = " ".join(str(exc).split())
    return _say(
        args,
        exc,
        f"internal error: {type(exc).__name__}: {detail}"
        + (f" (raised in {where})" if where else "")
        + ". This is a bug in metarouter_econml or a library it uses, not an input error: "
        "rerun with --traceback to see the traceback, and please report it.",
    )
