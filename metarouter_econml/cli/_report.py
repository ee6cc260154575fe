"""``metarouter report``: fit the Meta-Router on a data file, diagnose it, write the report.

Reading the file is the command's own job: each column is checked with the column's and the
option's names in the message (missing values are counted, never dropped or guessed at), and
the gold column must hold booleans, the library's rule for gold masks
(``metarouter_econml.MetaRouter.fit``). Every other value (the learner, the refuters, the
mask's counts) is checked by the library.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metarouter_econml import MetaRouter
from metarouter_econml.diagnostics import diagnose

from ._common import list_written

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_MAX_LISTED = 20  # columns listed when one is not found
_MAX_VALUES = 5  # distinct values shown when a gold column is refused


def run(args: argparse.Namespace) -> int:
    """Fit the Meta-Router on DATA, diagnose it and write the report.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``report`` options.

    Returns
    -------
    int
        0 when every check passed, 1 when the report was written but a check failed.
    """
    out = _output_file(Path(args.out), "--out")
    markdown = None if args.markdown is None else _output_file(Path(args.markdown), "--markdown")
    options = _diagnose_options(args)
    path = Path(args.data)
    frame = read_table(path)
    gold = gold_mask(
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
        _named(router.fit, args, X, y, gold=gold)
    for message in dict.fromkeys(str(w.message) for w in caught if w.category is UserWarning):
        say(f"warning: {' '.join(message.split())}")
    say(f"Diagnosing: overlap checks{', OverRule' if args.overrule else ''}, {_runs(options)} ...")
    # diagnose's warnings (e.g. a failing positivity check) are in the report, in plain words
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = _named(
            diagnose,
            args,
            router,
            X,
            y,
            gold=gold,
            overrule=args.overrule,
            random_state=args.random_state,
            **options,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    report.to_html(out)
    written = [out]
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(report.to_markdown(), encoding="utf-8")
        written.append(markdown)
    print(report)
    list_written(written)
    return 0 if report.ok else 1


# -- reading the data file ----------------------------------------------------------------------
def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV (optionally compressed, e.g. ``.csv.gz``) or Parquet file into a DataFrame.

    Parameters
    ----------
    path : Path
        The file; its suffix says how to read it.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        If the file does not exist, has another suffix or cannot be read.
    ImportError
        If it is a Parquet file and pyarrow is not installed (the ``[parquet]`` extra).
    """
    name = path.name.lower()
    if not path.is_file():
        raise ValueError(f"DATA {str(path)!r} is not an existing file.")
    if name.endswith(_PARQUET_SUFFIXES):
        try:
            return pd.read_parquet(path)
        except ImportError:
            raise ImportError(
                f"reading the Parquet file {str(path)!r} needs pyarrow, which is not installed: "
                "pip install 'metarouter-econml[parquet]' (or convert the file to CSV)."
            ) from None
        except Exception as exc:  # pyarrow raises its own error types for corrupt files
            raise ValueError(f"could not read {str(path)!r} as Parquet: {exc}") from None
    if name.endswith(_CSV_SUFFIXES):
        try:
            return pd.read_csv(path)  # compression inferred from the suffix
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"could not read {str(path)!r} as CSV: {exc}") from None
    raise ValueError(
        f"DATA must be a .csv (optionally .csv.gz, .csv.bz2, .csv.xz, .csv.zip) or .parquet "
        f"file; got {str(path)!r}."
    )


def gold_mask(values: pd.Series, column: str) -> np.ndarray:
    """Return the gold column as a boolean mask, applying the library's rule for gold masks.

    The column must hold booleans, as pandas reads them from a CSV file (``True``/``False`` in
    any case) or a Parquet file (a boolean column), without missing values. 0/1 and other codes
    are refused, as ``MetaRouter.fit`` refuses them: a silently inverted mask would swap the two
    label sources.

    Parameters
    ----------
    values : pandas.Series
        The column as read.
    column : str
        Its name, for the messages.

    Returns
    -------
    numpy.ndarray of bool

    Raises
    ------
    ValueError
        If a value is not a boolean (the message lists the values seen and how to write the
        column) or is missing.
    """
    missing = int(values.isna().sum())
    if pd.api.types.infer_dtype(values, skipna=True) != "boolean":
        seen = pd.unique(values.dropna())
        shown = ", ".join(
            repr(v.item() if isinstance(v, np.generic) else v) for v in seen[:_MAX_VALUES]
        )
        if len(seen) > _MAX_VALUES:
            shown += f" and {len(seen) - _MAX_VALUES} more"
        absent = f", {missing} missing" if missing else ""
        raise ValueError(
            f"gold column {column!r} (--gold-column) must hold booleans, True for gold-standard "
            f"rows and False for preference-based rows; got {shown or 'no values'} (dtype "
            f"{values.dtype}{absent}). Codes such as 0/1 are refused rather than guessed at, "
            "since a mis-read mask swaps the two label sources: write the column as True/False, "
            f"e.g. with pandas `df[{column!r}] = df[{column!r}] == 1` before saving."
        )
    if missing:
        raise ValueError(
            f"gold column {column!r} (--gold-column) has {missing} missing value(s); every row "
            "must be True (gold-standard) or False (preference-based)."
        )
    return values.to_numpy(dtype=bool)


def _column_list(columns: Any) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(repr(c) for c in names[:_MAX_LISTED])
    more = f", ... ({len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else ""
    return shown + more


def _require_column(frame: pd.DataFrame, column: str, option: str, path: Path) -> pd.Series:
    if column not in frame.columns:
        raise ValueError(
            f"column {column!r} ({option}) not found in {str(path)!r}; available columns: "
            f"{_column_list(frame.columns)}."
        )
    return frame[column]


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


# -- options and messages -----------------------------------------------------------------------
def _output_file(path: Path, option: str) -> Path:
    if path.is_dir():
        raise ValueError(f"{option} must be a file path; got the directory {str(path)!r}.")
    return path


def _diagnose_options(args: argparse.Namespace) -> dict[str, Any]:
    """Collect the ``diagnose`` arguments the user gave; the others keep ``diagnose``'s defaults."""
    options: dict[str, Any] = {}
    if hasattr(args, "refuters"):
        names = tuple(args.refuters)
        if "none" in names and len(names) > 1:
            raise ValueError("`refuters`: 'none' cannot be combined with refuter names.")
        options["refuters"] = () if names == ("none",) else names
    if hasattr(args, "n_simulations"):
        options["n_simulations"] = args.n_simulations
    return options


def _runs(options: dict[str, Any]) -> str:
    """Say which refutations ``diagnose`` is about to run."""
    refuters = options.get("refuters")
    if refuters == ():
        return "no refuters"
    which = "the default refuters" if refuters is None else f"{len(refuters)} refuter(s)"
    simulations = options.get("n_simulations")
    times = "the default number of" if simulations is None else str(simulations)
    return f"{which} x {times} simulations, each refitting the estimator"


def _named(function: Any, args: argparse.Namespace, *positional: Any, **keywords: Any) -> Any:
    """Call the library; its messages about ``X``, ``y`` and ``gold`` name the data's columns."""
    try:
        return function(*positional, **keywords)
    except (ValueError, TypeError) as exc:
        names = {
            "`gold`": f"the gold column {args.gold_column!r} (--gold-column)",
            "`y`": f"the label column {args.label_column!r} (--label-column)",
            "`X`": "the feature columns",
        }
        message = " ".join(str(exc).split())
        for name, column in names.items():
            message = message.replace(name, column)
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(message) from None
