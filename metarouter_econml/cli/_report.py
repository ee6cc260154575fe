"""``metarouter report``: fit the Meta-Router on a data file, diagnose it, write the report.

Reading the file is the command's own job: the path is checked for what it is before it is
opened (a directory, a named pipe or a device is named as such, never read), the file must be
UTF-8 text (or a compressed or Parquet file) with a header and data rows, and each column is
checked with the column's and the option's names in the message (missing values are counted,
never dropped or guessed at; a name that appears twice in the header is refused). The gold
column must hold booleans, the library's rule for gold masks
(``metarouter_econml.MetaRouter.fit``). Every other value (the learner, the refuters, the
mask's counts) is checked by the library; a library message about a parameter that no option
sets says so (`UNEXPOSED`).
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import io
import lzma
import os
import re
import sys
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metarouter_econml import MetaRouter
from metarouter_econml.diagnostics import diagnose

from ._common import (
    check_input_file,
    check_output_file,
    list_written,
    show,
    unexposed,
    writing,
)

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_MAX_LISTED = 20  # columns listed when one is not found
_MAX_VALUES = 5  # distinct values shown when a gold column is refused
_MAX_SHOWN = 40  # characters of one value shown in a message
_SNIFF_BYTES = 65_536  # bytes read to tell text from binary before pandas parses the file
#: Largest magnitude accepted in the features and labels: its square is still finite in float64.
_MAX_ABS = float(np.sqrt(np.finfo(np.float64).max))
_FORMATS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zip": "zip"}

#: The library's names for what DATA and --no-overrule set.
RENAMED = {"data": "DATA", "path": "DATA", "overrule": "`--no-overrule`"}
_OVERRULE_ADVICE = (
    "Pass --no-overrule to skip OverRule's rules, or call "
    "metarouter_econml.diagnostics.diagnose from Python to set it."
)
#: Parameters of diagnose and MetaRouter that no option of ``report`` sets (their defaults
#: apply) -> what to do when the library refuses one for this data.
UNEXPOSED = {
    **unexposed(
        MetaRouter,
        "Fit metarouter_econml.MetaRouter from Python to set it.",
        ["learner", "random_state"],
    ),
    **unexposed(
        diagnose,
        "Call metarouter_econml.diagnostics.diagnose from Python to set it.",
        ["router", "X", "y", "gold", "refuters", "n_simulations", "overrule", "random_state"],
    ),
    "overrule_components": _OVERRULE_ADVICE,
    "overrule_standardize": _OVERRULE_ADVICE,
    "overrule_timeout": _OVERRULE_ADVICE,
}


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
    path = check_input_file(args.data, "DATA")
    out = check_output_file(args.out, "--out")
    markdown = None if args.markdown is None else check_output_file(args.markdown, "--markdown")
    _distinct_paths(path, out, markdown)
    options = _diagnose_options(args)
    frame, X, y, gold = read_routing_table(args, path)

    say(
        args,
        f"Read {len(frame)} rows ({int(gold.sum())} gold-standard) x {X.shape[1]} features "
        f"from {path}.",
    )
    say(args, f"Fitting MetaRouter(learner={args.learner!r}, random_state={args.random_state}) ...")
    router = MetaRouter(learner=args.learner, random_state=args.random_state)
    fit_telling_warnings(router, args, X, y, gold)
    say(
        args,
        f"Diagnosing: overlap checks{', OverRule' if args.overrule else ''}, {_runs(options)} ...",
    )
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
    with writing(out, "--out"):
        out.parent.mkdir(parents=True, exist_ok=True)
        report.to_html(out)
    written = [out]
    if markdown is not None:
        with writing(markdown, "--markdown"):
            markdown.parent.mkdir(parents=True, exist_ok=True)
            markdown.write_text(report.to_markdown(), encoding="utf-8")
        written.append(markdown)
    show(in_options(str(report)))
    list_written(written)
    return 0 if report.ok else 1


# -- reading the data file ----------------------------------------------------------------------
def read_routing_table(
    args: argparse.Namespace, path: Path
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """Read DATA and split it into features, labels and the gold mask, as the options say.

    Shared by ``report`` and ``suggest``, so both read and refuse a file the same way.

    Returns
    -------
    frame : pandas.DataFrame
        The whole table as read.
    X : pandas.DataFrame
        The feature columns (``--feature-columns``, or those starting with ``--feature-prefix``).
    y : numpy.ndarray
        The label column as floats.
    gold : numpy.ndarray of bool
        The gold column as a mask.
    """
    if args.gold_column == args.label_column:
        raise ValueError(
            f"--gold-column and --label-column must be different columns; got "
            f"{args.gold_column!r} for both."
        )
    frame = read_table(path)
    gold = gold_mask(
        _require_column(frame, args.gold_column, "--gold-column", path), args.gold_column
    )
    y = _labels(
        _require_column(frame, args.label_column, "--label-column", path), args.label_column
    )
    return frame, _features(frame, args, path), y, gold


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV (optionally compressed, e.g. ``.csv.gz``) or Parquet file into a DataFrame.

    Parameters
    ----------
    path : Path
        The file; its suffix says how to read it.

    Returns
    -------
    pandas.DataFrame
        At least one data row; its column names are those of the file, none twice.

    Raises
    ------
    ValueError
        If the path is not a readable regular file, has another suffix, is empty, is not
        UTF-8 text (CSV) or not compressed as its suffix says, cannot be parsed, has no data
        rows, or has a column name twice; the message names DATA and the file.
    ImportError
        If it is a Parquet file and pyarrow is not installed (the ``[parquet]`` extra).
    """
    text = str(path)
    check_input_file(text, "DATA")
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        frame = _read_parquet(path)
        header = [str(c) for c in frame.columns]
    elif name.endswith(_CSV_SUFFIXES):
        if os.stat(path).st_size == 0:
            raise ValueError(
                f"DATA {text!r} is empty (0 bytes); expected a CSV file with a header."
            )
        with _reading(path):
            head = _head(path)
        _check_text(head, path)
        with _reading(path):
            frame = pd.read_csv(path)  # compression inferred from the suffix
            header = list(pd.read_csv(path, header=None, nrows=1, dtype=str).iloc[0].fillna(""))
    else:
        raise ValueError(
            f"DATA must be a .csv (optionally .csv.gz, .csv.bz2, .csv.xz, .csv.zip) or .parquet "
            f"file; got {text!r}."
        )
    _check_header(frame, header, path)
    if len(frame) == 0:
        raise ValueError(
            f"DATA {text!r} has a header ({_column_list(frame.columns)}) but no data rows."
        )
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise ImportError(
            f"reading the Parquet file {str(path)!r} needs pyarrow, which is not installed: "
            "pip install 'metarouter-econml[parquet]' (or convert the file to CSV)."
        ) from None
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        detail = " ".join(str(exc).split())
        raise ValueError(f"DATA {str(path)!r} could not be read as Parquet: {detail}") from None


def _compression(path: Path) -> str | None:
    """The compression suffix of a CSV file name (``".gz"``), or None for plain CSV."""
    suffix = path.suffix.lower()
    return suffix if suffix in _FORMATS else None


def _head(path: Path) -> bytes:
    """The first bytes of the file, decompressed as its suffix says (none for a zip archive)."""
    suffix = _compression(path)
    if suffix == ".zip":
        return b""  # pandas checks the archive's members
    stream: io.BufferedIOBase
    if suffix == ".gz":
        stream = gzip.GzipFile(path, "rb")
    elif suffix == ".bz2":
        stream = bz2.BZ2File(path, "rb")
    elif suffix == ".xz":
        stream = lzma.LZMAFile(path, "rb")
    else:
        stream = open(path, "rb")
    with stream:
        return bytes(stream.read(_SNIFF_BYTES))


def _check_text(head: bytes, path: Path) -> None:
    """Refuse a binary file, or one with nothing but white space, before pandas parses it."""
    if b"\x00" in head:
        raise ValueError(
            f"DATA {str(path)!r} is not a text file (it holds NUL bytes): is it a binary file, "
            "e.g. Parquet or a spreadsheet, with a CSV name?"
        )
    if head and not head.strip():
        raise ValueError(
            f"DATA {str(path)!r} holds only white space; expected a CSV file with a header."
        )


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn what pandas and the decompressors raise for a bad CSV file into one clear message."""
    text = str(path)
    suffix = _compression(path)
    try:
        yield
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start : exc.start + 1].hex()
        raise ValueError(
            f"DATA {text!r} is not UTF-8 text (byte 0x{byte} cannot be decoded): save it as "
            "UTF-8 CSV (e.g. 'CSV UTF-8' in a spreadsheet, or pandas' to_csv)."
        ) from None
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"DATA {text!r} has no header row (no columns found); expected a CSV file with a "
            "header."
        ) from None
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as exc:
        if suffix is None:
            raise
        detail = " ".join(str(exc).split())
        raise ValueError(
            f"DATA {text!r} could not be decompressed as {_FORMATS[suffix]}, as its name says "
            f"({detail}): check that the file is complete, or rename it to match its format."
        ) from None
    except ValueError as exc:  # pandas' ParserError and the zip member checks
        detail = " ".join(str(exc).split())
        raise ValueError(f"DATA {text!r} could not be read as CSV: {detail}") from None


def _check_header(frame: pd.DataFrame, header: list[str], path: Path) -> None:
    """Refuse a header with a name twice, and say when the file is not comma-separated."""
    seen: dict[str, list[int]] = {}
    for position, column in enumerate(header, start=1):
        seen.setdefault(column, []).append(position)
    twice = {column: where for column, where in seen.items() if len(where) > 1}
    if twice:
        listed = "; ".join(
            f"{column!r} (columns {', '.join(map(str, where))})" for column, where in twice.items()
        )
        raise ValueError(
            f"DATA {str(path)!r} has column names that appear more than once: {listed}; "
            "rename them so that each column has its own name."
        )
    if frame.shape[1] == 1:
        only = str(frame.columns[0])
        for separator, called in ((";", "';'"), ("\t", "tab"), ("|", "'|'")):
            if separator in only:
                raise ValueError(
                    f"DATA {str(path)!r} has one column, {_shown(only)}: it looks "
                    f"{called}-separated, but CSV files must be comma-separated."
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
            _shown(v.item() if isinstance(v, np.generic) else v) for v in seen[:_MAX_VALUES]
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


def _shown(value: Any) -> str:
    """``repr(value)``, cut to `_MAX_SHOWN` characters."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _column_list(columns: Any) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(_shown(c) for c in names[:_MAX_LISTED])
    more = f", ... ({len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else ""
    return shown + more


def _require_column(frame: pd.DataFrame, column: str, option: str, path: Path) -> pd.Series:
    if column not in frame.columns:
        raise ValueError(
            f"column {column!r} ({option}) not found in {str(path)!r}; available columns: "
            f"{_column_list(frame.columns)}."
        )
    return frame[column]


def _not_numeric(dtype: Any) -> bool:
    """Whether a column of this dtype is not numbers (booleans are codes, not numbers)."""
    return pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype)


def _as_float(values: pd.Series) -> np.ndarray:
    """A numeric column as float64, pandas' missing values (``pd.NA``) as NaN."""
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _labels(values: pd.Series, column: str) -> np.ndarray:
    if _not_numeric(values.dtype) or pd.api.types.is_complex_dtype(values.dtype):
        example = values.dropna().iloc[0] if values.notna().any() else None
        kind = "real" if pd.api.types.is_complex_dtype(values.dtype) else "numeric"
        raise ValueError(
            f"label column {column!r} (--label-column) must be {kind}; got dtype "
            f"{values.dtype} (e.g. {_shown(example)})."
        )
    y = _as_float(values)
    missing = int((~np.isfinite(y)).sum())
    if missing:
        raise ValueError(
            f"label column {column!r} (--label-column) has {missing} missing or infinite "
            "value(s); drop or fill those rows first."
        )
    if np.abs(y).max() > _MAX_ABS:
        raise ValueError(
            f"label column {column!r} (--label-column) has values too large to fit on "
            f"(|y| up to {np.abs(y).max():.3g}; above {_MAX_ABS:.3g} their squares overflow): "
            "rescale it."
        )
    return y


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
    for kind, test in (
        ("numeric", _not_numeric),
        ("real", pd.api.types.is_complex_dtype),
    ):
        bad = {str(c): str(dtype) for c, dtype in X.dtypes.items() if test(dtype)}
        if bad:
            listed = ", ".join(f"{_shown(c)} ({dtype})" for c, dtype in bad.items())
            raise ValueError(f"feature column(s) must be {kind}; not {kind}: {listed}.")
    values = {str(c): _as_float(X[c]) for c in columns}
    nonfinite = {c: n for c, v in values.items() if (n := int((~np.isfinite(v)).sum()))}
    if nonfinite:
        listed = ", ".join(f"{_shown(c)} ({n})" for c, n in nonfinite.items())
        raise ValueError(
            f"feature column(s) with missing or infinite values (count): {listed}; impute or "
            "drop those rows first."
        )
    huge = {c: float(np.abs(v).max()) for c, v in values.items() if np.abs(v).max() > _MAX_ABS}
    if huge:
        listed = ", ".join(f"{_shown(c)} (|x| up to {m:.3g})" for c, m in huge.items())
        raise ValueError(
            f"feature column(s) with values too large for the estimators (above {_MAX_ABS:.3g} "
            f"their squares overflow): {listed}; rescale them."
        )
    return X


# -- options and messages -----------------------------------------------------------------------
def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist yet
        return os.path.abspath(first) == os.path.abspath(second)


#: diagnose's parameters that the report's advice may name -> the options that set them.
_ADVICE_NAMES = {"n_simulations": "--n-simulations", "random_state": "--random-state"}


def in_options(text: str) -> str:
    """Name diagnose's parameters in the report's advice as the options that set them.

    The report is the library's text, written for Python users ("rerun with n_simulations >=
    10"); printed by the command, the advice names the options. Settings shown as
    ``name=value`` are left as they are.

    Parameters
    ----------
    text : str
        The report as text.

    Returns
    -------
    str

    Examples
    --------
    >>> in_options("rerun with n_simulations >= 10 (random_state=0)")
    'rerun with --n-simulations >= 10 (random_state=0)'
    """
    for name, option in _ADVICE_NAMES.items():
        text = re.sub(rf"(?<![\w-]){name}\b(?!=)", option, text)
    return text


def _distinct_paths(data: Path, out: Path, markdown: Path | None) -> None:
    """Refuse outputs that would overwrite DATA or each other."""
    for option, path in (("--out", out), ("--markdown", markdown)):
        if path is not None and _same_file(path, data):
            raise ValueError(f"{option} {str(path)!r} is DATA itself; writing it would erase it.")
    if markdown is not None and _same_file(markdown, out):
        raise ValueError(f"--markdown and --out must be different files; got {str(out)!r} twice.")


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


def say(args: argparse.Namespace, message: str) -> None:
    """Tell the user on stderr what is happening, unless ``--quiet``."""
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


def fit_telling_warnings(router: Any, args: argparse.Namespace, X: Any, y: Any, gold: Any) -> None:
    """Fit ``router``, saying each distinct warning of the fit once, in one line, on stderr.

    The warnings of a fit (few gold rows, a positivity violation) are worth telling the user
    in plain words; errors name the data's columns (``_named``).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _named(router.fit, args, X, y, gold=gold)
    for message in dict.fromkeys(str(w.message) for w in caught if w.category is UserWarning):
        say(args, f"warning: {' '.join(message.split())}")


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
        # the library's traceback is kept: --traceback shows it, and the message says where a
        # dependency raised it
        raise kind(message).with_traceback(exc.__traceback__) from None
