"""Every input rule of the package: the adapters to (Y, T, X) and the parameter rules.

The Meta-Router pools gold-standard (GS) and preference-based (PB) rows and treats the evaluation
source as a treatment: ``T = 1`` for GS rows and ``T = 0`` for PB rows. Everything that turns user
input into validated arrays lives here (:func:`check_features`, :func:`check_labels`,
:func:`check_gold_mask`, :func:`check_aligned`), so that estimators further down the chain only
ever see clean float features, finite labels and a boolean treatment.

Parameters are checked by rules (:class:`Int`, :class:`Real`, :class:`Options`, :class:`Bool`,
:class:`Estimator`, :class:`Seed`, :class:`NJobs`); each public class or function states its
rules once, in one table (e.g. ``MetaRouter._parameter_rules``), and :func:`check_params` applies
the table at the top of ``fit``. Messages have one style: the parameter, the rule and the value
given. A value of the wrong type raises ``TypeError``, a value of the right type outside the
rule raises ``ValueError``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from numbers import Integral
from numbers import Real as NumbersReal
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, column_or_1d, validate_data


def _count_nonfinite(values: np.ndarray) -> int:
    return int(np.size(values) - np.count_nonzero(np.isfinite(values)))


def check_features(estimator, X, *, reset: bool, allow_empty: bool = False) -> np.ndarray:
    """Validate features with scikit-learn's machinery, naming ``X`` in every error.

    ``reset=True`` (at fit) records ``n_features_in_`` and, for DataFrames with string column
    names, ``feature_names_in_``; ``reset=False`` (at predict) checks the count, the names and
    their order against them. Errors name the offending columns: DataFrame column names, or
    0-based column indices for arrays. The input is never modified.

    Parameters
    ----------
    estimator : BaseEstimator
        The router whose ``n_features_in_`` and ``feature_names_in_`` are recorded or checked.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Numeric features.
    reset : bool
        True at fit, False when predicting.
    allow_empty : bool, default=False
        Accept 0 rows (a serving batch can be empty); fitting and calibration need rows.

    Returns
    -------
    ndarray of float64 or float32, shape (n_samples, n_features)

    Raises
    ------
    TypeError
        If a column is not numeric: strings, categories or booleans in a DataFrame, strings or
        complex numbers in an array.
    ValueError
        If ``X`` is not 2-D, has no rows (unless ``allow_empty``) or no columns, has duplicated
        column names, does not match the columns seen at fit (count, names or order), or holds
        NaN or infinite values.
    """
    if not reset and type(X) is np.ndarray and X.dtype in _FLOAT_DTYPES and X.ndim == 2:
        fast = _check_fitted_float_array(estimator, X, allow_empty)
        if fast is not None:
            return fast
    columns = None
    fast_dtype = None  # set when a DataFrame can skip scikit-learn's checks (see below)
    if isinstance(X, pd.Series):
        raise ValueError(
            "`X` must be a 2-D array or DataFrame of shape (n_samples, n_features); got a "
            f"Series of length {X.shape[0]}. Pass one query as `X.to_frame().T` (its index "
            "becomes the column names)."
        )
    if isinstance(X, pd.DataFrame):
        X = _with_string_labels(_dense_columns(X))
        columns = X.columns.tolist()
        distinct_dtypes = set(X.dtypes)  # usually one: checked once, not once per column
        if not all(_is_numeric_dtype(dtype) for dtype in distinct_dtypes):
            bad = [str(c) for c, dtype in X.dtypes.items() if not _is_numeric_dtype(dtype)]
            dtypes = sorted({str(d) for d in distinct_dtypes if not _is_numeric_dtype(d)})
            raise TypeError(
                f"`X` must contain only numeric features; columns {bad} are not numeric "
                f"(dtypes {dtypes}). Encode or embed them first (for raw text, see the `[text]` "
                "extra); cast boolean flags with `.astype(float)` if they are meant as features."
            )
        if X.columns.duplicated().any():
            dup = sorted({str(c) for c in X.columns[X.columns.duplicated()]})
            raise ValueError(f"`X` has duplicated column names {dup}; column names must be unique.")
        if not reset:
            _check_column_order(estimator, columns)
            fitted = getattr(estimator, "feature_names_in_", None)
            plain_floats = distinct_dtypes <= {np.dtype(np.float32), np.dtype(np.float64)}
            if plain_floats and fitted is not None and columns == list(fitted):
                # The names (hence the count) match the fit: scikit-learn's per-column DataFrame
                # checks, which dominate the latency of routing one query, can be skipped.
                fast_dtype = np.result_type(*distinct_dtypes)
        shape = X.shape
    elif sp.issparse(X) or hasattr(X, "columns") or hasattr(X, "__dataframe__"):
        shape = None  # sparse matrices and other frame types: scikit-learn's checks, named below
    else:
        try:
            X = np.asarray(X)  # no copy for arrays; lists become arrays (never modified)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(
                f"`X` must be a 2-D array of shape (n_samples, n_features): {exc}"
            ) from None
        if X.ndim != 2:
            hint = (
                " Reshape your data: pass one query as `X.reshape(1, -1)`." if X.ndim == 1 else ""
            )
            raise ValueError(
                "`X` must be a 2-D array of shape (n_samples, n_features); got a "
                f"{X.ndim}-D array of shape {X.shape}.{hint}"
            )
        complex_idx = _columns_holding(X, complex, "c")
        if complex_idx:  # a value problem, as in scikit-learn: ValueError
            raise ValueError(
                f"`X` must be real. Complex data not supported: columns {head(complex_idx)} "
                f"(0-based) of the {X.dtype} array hold complex numbers. Take the real part or "
                "the modulus explicitly."
            )
        bad_idx = _columns_holding(X, (str, bytes), "US")
        if bad_idx:
            raise TypeError(
                f"`X` must contain only numeric features; columns {head(bad_idx)} (0-based) of "
                f"the {X.dtype} array hold strings. Convert them to float explicitly, or encode "
                "or embed them first."
            )
        shape = X.shape
    if shape is not None:
        if shape[0] == 0 and not allow_empty:
            raise ValueError(f"`X` must have at least 1 row; got 0 (shape {shape}).")
        if shape[1] == 0:
            raise ValueError(
                f"`X` must have at least 1 column; got 0 feature(s) (shape={shape}) while a "
                "minimum of 1 is required."
            )
    if fast_dtype is not None:
        return _check_finite(X.to_numpy(dtype=fast_dtype), columns)
    try:
        X_arr = validate_data(
            estimator,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            ensure_min_samples=0 if allow_empty else 1,
        )
    except ValueError as exc:
        message = str(exc).strip()
        if "could not convert" in message or "dtype" in message.lower():
            raise TypeError(f"`X` must contain only numeric features: {message}") from None
        if not reset and "feature" in message:
            raise ValueError(f"`X` must have the columns seen at fit: {message}") from None
        raise ValueError(f"`X` is not a valid feature matrix: {message}") from None
    except TypeError as exc:
        raise TypeError(f"`X` is not a valid feature matrix: {exc}") from None
    return _check_finite(X_arr, columns)


_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _check_fitted_float_array(estimator, X: np.ndarray, allow_empty: bool) -> np.ndarray | None:
    """The serving fast path: a float ndarray with the fitted column count needs no conversion.

    Does what scikit-learn's ``validate_data(reset=False)`` does for such an array (the
    feature-count check and the missing-feature-names warning) without its general machinery;
    None when the array needs the full checks (wrong column count, no rows, not fitted).
    """
    n_features = getattr(estimator, "n_features_in_", None)
    if X.shape[1] != n_features or (X.shape[0] == 0 and not allow_empty) or X.shape[1] == 0:
        return None
    if getattr(estimator, "feature_names_in_", None) is not None:
        warnings.warn(
            "X does not have valid feature names, but "
            f"{type(estimator).__name__} was fitted with feature names",
            UserWarning,
            stacklevel=3,
        )
    return _check_finite(X, None)


def _with_string_labels(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with every column label as a string, so that columns are matched by name.

    scikit-learn records ``feature_names_in_`` only for string labels; integer, float, numpy or
    MultiIndex labels would leave columns matched by position, and a reordered frame would be
    misread in silence. ``str(label)`` names them instead (``0`` -> ``"0"``, ``("a", 1)`` ->
    ``"('a', 1)"``). A new frame sharing the data is returned; ``X`` is not modified.
    """
    labels = X.columns
    if isinstance(labels, pd.MultiIndex) or labels.inferred_type != "string":
        return X.set_axis([str(c) for c in labels], axis=1)
    return X


def _dense_columns(X: pd.DataFrame) -> pd.DataFrame:
    """``X`` with pandas sparse columns made dense (their values kept, no scipy needed)."""
    dtypes = X.dtypes
    if not any(isinstance(dtype, pd.SparseDtype) for dtype in set(dtypes)):
        return X
    return X.astype({c: d.subtype for c, d in dtypes.items() if isinstance(d, pd.SparseDtype)})


def _check_finite(X_arr: np.ndarray, columns: list | None) -> np.ndarray:
    """Return ``X_arr`` if it is finite; otherwise name the columns holding NaN or inf."""
    if np.isfinite(X_arr).all():
        return X_arr
    nonfinite = ~np.isfinite(X_arr)
    if nonfinite.any():
        bad_idx = np.flatnonzero(nonfinite.any(axis=0)).tolist()
        where = [columns[j] for j in bad_idx] if columns is not None else bad_idx
        raise ValueError(
            f"`X` must be finite; got {int(nonfinite.sum())} NaN or infinite values in columns "
            f"{head(where)}. Impute or drop those rows before fitting or routing."
        )
    return X_arr


def head(items: list, limit: int = 10) -> str:
    """``repr`` of a list, cut to its first ``limit`` items with a count of the rest.

    Examples
    --------
    >>> head(list(range(12)), 3)
    '[0, 1, 2] and 9 more'
    """
    if len(items) <= limit:
        return repr(items)
    return f"{items[:limit]!r} and {len(items) - limit} more"


def _columns_holding(X: np.ndarray, types, kinds: str) -> list[int]:
    """0-based indices of the columns of ``X`` of a dtype kind in ``kinds`` or holding ``types``.

    An array of such a kind has all its columns listed; an object array those holding at least
    one instance of ``types``.
    """
    if X.dtype.kind in kinds:
        return list(range(X.shape[1]))
    if X.dtype.kind != "O":
        return []
    found = np.frompyfunc(lambda v: isinstance(v, types), 1, 1)(X).astype(bool)
    return np.flatnonzero(found.any(axis=0)).tolist()


def _check_column_order(estimator, columns: list) -> None:
    """Refuse the fitted feature names in another order, naming the misplaced columns."""
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is None:
        return
    fitted = list(fitted)
    if columns != fitted and len(columns) == len(fitted) and set(columns) == set(fitted):
        moved = [c for c, f in zip(columns, fitted, strict=True) if c != f]
        raise ValueError(
            f"`X` has the feature names seen at fit in a different order; columns {head(moved)} "
            f"are out of place (fit order starts {head(fitted, 5)}). Select them in the fit "
            "order with `X[router.feature_names_in_]`: columns are matched by position, so a "
            "reordered frame would be silently misread."
        )


def _is_numeric_dtype(dtype) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def check_aligned(X, other, name: str) -> None:
    """Refuse a pandas ``other`` (``y`` or ``gold``) whose index does not match a DataFrame ``X``.

    Rows are matched by position, as in scikit-learn. When both come with an index and the
    indexes differ (e.g. ``X`` was shuffled or filtered and the labels were not), matching by
    position would silently pair each query with another query's label.
    """
    if not (isinstance(X, pd.DataFrame) and isinstance(other, (pd.Series, pd.DataFrame))):
        return
    if len(other.index) != len(X.index) or other.index.equals(X.index):
        return  # a length mismatch gets its own error
    differ = np.flatnonzero(np.asarray(other.index != X.index))
    first = int(differ[0])
    x_label, other_label = (
        v.item() if isinstance(v, np.generic) else v for v in (X.index[first], other.index[first])
    )
    raise ValueError(
        f"`{name}` and `X` have different indexes ({differ.size} of {len(X.index)} positions "
        f"differ; first at position {first}: `X` has {x_label!r}, `{name}` has "
        f"{other_label!r}). Rows are matched by position, so the labels would be paired "
        f"with the wrong queries. Align them first (`{name}.loc[X.index]`), or pass arrays."
    )


def check_labels(y, *, n_rows: int) -> np.ndarray:
    """Return ``y`` as a finite 1-D ``float64`` copy of length ``n_rows``.

    A column vector of shape ``(n_rows, 1)`` is accepted and flattened. Booleans, strings and
    object arrays are refused (``TypeError``), as are complex labels, other shapes, a length
    other than ``n_rows`` and NaN or infinite labels (``ValueError``); every message names ``y``.
    """
    if y is None:
        raise ValueError(
            "`y` must be the labels of the rows of `X`; got None (the router requires y to be "
            "passed, but the target y is None)."
        )
    try:
        kind = np.asarray(y).dtype.kind
    except (ValueError, TypeError) as exc:  # ragged or otherwise not array-like
        raise ValueError(f"`y` must be a 1-D array of labels: {exc}") from None
    if kind == "c":
        raise ValueError(
            f"`y` must be real labels. Complex data not supported: got dtype {np.asarray(y).dtype}."
        )
    try:
        y_arr = column_or_1d(check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=False))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"`y` must be a 1-D array of labels: {exc}") from None
    if not (np.issubdtype(y_arr.dtype, np.number) and not np.issubdtype(y_arr.dtype, np.bool_)):
        raise TypeError(f"`y` must be numeric labels; got dtype {y_arr.dtype}.")
    y_arr = np.array(y_arr, dtype=np.float64)
    if y_arr.shape[0] != n_rows:
        raise ValueError(
            f"`X` and `y` must have the same number of rows; got {n_rows} and {y_arr.shape[0]}."
        )
    nonfinite = _count_nonfinite(y_arr)
    if nonfinite:
        raise ValueError(f"`y` must be finite; got {nonfinite} NaN or infinite labels.")
    return y_arr


def check_gold_mask(gold, *, n_rows: int, min_each: int = 2) -> np.ndarray:
    """Return the gold mask as a 1-D boolean copy; reject anything that is not a clean boolean mask.

    A 0/1 integer or string column is refused rather than guessed at: a silently inverted or
    mis-parsed mask would swap the roles of the two label sources.
    """
    if gold is None:
        raise TypeError("`gold` is required: a boolean mask with True for gold-standard rows.")
    pandas_like = (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)
    if isinstance(gold, pandas_like) and pd.api.types.is_bool_dtype(gold.dtype):
        n_missing = int(pd.isna(gold).sum())  # nullable ("boolean", "bool[pyarrow]") masks
        if n_missing:
            raise ValueError(f"`gold` must not contain missing values; got {n_missing}.")
        gold = gold.to_numpy(dtype=bool)
    gold_arr = np.asarray(gold)
    if gold_arr.ndim != 1:
        raise ValueError(
            f"`gold` must be a 1-D boolean mask; got an array of shape {gold_arr.shape}."
        )
    if gold_arr.dtype != np.bool_:
        raise TypeError(
            "`gold` must be a boolean mask (True = gold-standard row); got dtype "
            f"{getattr(gold, 'dtype', gold_arr.dtype)}. If 1 marks gold rows, pass `gold == 1`."
        )
    if gold_arr.shape[0] != n_rows:
        raise ValueError(
            f"`X` and `gold` must have the same number of rows; got {n_rows} and "
            f"{gold_arr.shape[0]}."
        )
    n_gold = int(gold_arr.sum())
    n_pref = n_rows - n_gold
    if n_gold < min_each:
        raise ValueError(f"`gold` must mark at least {min_each} gold-standard rows; got {n_gold}.")
    if n_pref < min_each:
        raise ValueError(
            f"`gold` must leave at least {min_each} preference-based rows (False); got {n_pref}."
        )
    return gold_arr.copy()


def check_gold_probability(probability: Any, gold: np.ndarray) -> np.ndarray:
    """Return the known gold probabilities of an active design as a float64 copy.

    One value per row: the probability, fixed by the design before labelling, that the row
    was sent for gold labelling. A gold row must have had a positive chance (``p > 0``) and a
    preference row a chance of staying one (``p < 1``); every value lies in ``[0, 1]``.
    """
    kind = np.asarray(probability).dtype.kind
    if kind not in "iuf":
        raise TypeError(
            "`gold_probability` must be numbers in [0, 1]; got dtype "
            f"{np.asarray(probability).dtype}."
        )
    p = check_vector(probability, "gold_probability", min_length=1)
    if p.shape[0] != gold.shape[0]:
        raise ValueError(
            f"`X` and `gold_probability` must have the same number of rows; got "
            f"{gold.shape[0]} and {p.shape[0]}."
        )
    if np.any((p < 0) | (p > 1)):
        bad = float(p[(p < 0) | (p > 1)][0])
        raise ValueError(f"`gold_probability` must lie in [0, 1]; got {bad!r}.")
    for rows, impossible, what in ((gold, 0.0, "gold-standard"), (~gold, 1.0, "preference")):
        hit = np.flatnonzero(rows & (p == impossible))
        if hit.size:
            raise ValueError(
                f"`gold_probability` must be {'> 0' if impossible == 0 else '< 1'} on "
                f"{what} rows (a row the design could not have labelled so); row {hit[0]} has "
                f"{impossible!r}."
            )
    return p


def check_vector(values: Any, name: str, *, min_length: int) -> np.ndarray:
    """Return ``values`` as a new 1-D float array, raising errors that name ``name``.

    Parameters
    ----------
    values : array-like
        List, numpy array or pandas Series of numbers.
    name : str
        Name of the argument, used in error messages.
    min_length : int
        Minimum number of values.

    Returns
    -------
    numpy.ndarray
        A float64 copy of ``values`` (the input is never modified).

    Raises
    ------
    ValueError
        If ``values`` is not 1-D, not numeric, too short or not finite.

    Examples
    --------
    >>> check_vector([1, 2.5], "x", min_length=2)
    array([1. , 2.5])
    """
    try:
        arr = check_array(
            values,
            ensure_2d=False,
            dtype=np.float64,
            ensure_all_finite=False,
            ensure_min_samples=0,
            copy=True,
            input_name=name,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`{name}` must be a 1-D array of finite numbers; got {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D; got an array of shape {arr.shape}.")
    if arr.size < min_length:
        raise ValueError(f"`{name}` must contain at least {min_length} values; got {arr.size}.")
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise ValueError(f"`{name}` must be finite; got {n_bad} NaN or infinite values.")
    return arr


def default_feature_names(n_features: int) -> list[str]:
    """Names of unnamed feature columns, ``x0, x1, ...`` (used wherever columns need names).

    Examples
    --------
    >>> default_feature_names(3)
    ['x0', 'x1', 'x2']
    """
    return [f"x{j}" for j in range(n_features)]


def check_n_jobs(n_jobs) -> int | None:
    """Return ``n_jobs`` (None or a non-zero int, joblib's convention) or raise.

    Examples
    --------
    >>> check_n_jobs(-1)
    -1
    """
    return NJobs().check(n_jobs, "n_jobs")


def random_seed(random_state) -> int:
    """Draw one integer seed from ``random_state`` (None, int or RandomState) for the delegates."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


# ------------------------------------------------------------------------------------------------
# Parameter rules
# ------------------------------------------------------------------------------------------------
def _type_error(name: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"`{name}` must be {expected}; got {type(value).__name__} {value!r}.")


@dataclass(frozen=True)
class Int:
    """An integer (never a bool) in ``[low, high]``; either bound may be None."""

    low: int | None = None
    high: int | None = None
    what: str = ""  # what the number means, added to the message

    def check(self, value: Any, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise _type_error(name, "an int" + self._what(), value)
        number = int(value)
        if (self.low is not None and number < self.low) or (
            self.high is not None and number > self.high
        ):
            raise ValueError(f"`{name}` must be {self.describe()}; got {value!r}.")
        return number

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            bound = f"an int between {self.low} and {self.high}"
        elif self.low is not None:
            bound = f"an int >= {self.low}"
        elif self.high is not None:
            bound = f"an int <= {self.high}"
        else:
            bound = "an int"
        return bound + self._what()

    def _what(self) -> str:
        return f" ({self.what})" if self.what else ""


@dataclass(frozen=True)
class Real:
    """A finite real number (never a bool) within optional bounds, open or closed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    what: str = ""

    def check(self, value: Any, name: str) -> float:
        if type(value) is not float and (  # plain floats skip the (slow) ABC check
            isinstance(value, bool) or not isinstance(value, NumbersReal)
        ):
            raise _type_error(name, "a real number" + self._what(), value)
        number = float(value)
        if not np.isfinite(number) or not self._inside(number):
            raise ValueError(f"`{name}` must be {self.describe()}; got {value!r}.")
        return number

    def _inside(self, number: float) -> bool:
        if self.low is not None and (number <= self.low if self.low_open else number < self.low):
            return False
        if self.high is not None:
            return not (number >= self.high if self.high_open else number > self.high)
        return True

    def describe(self) -> str:
        if self.low is None and self.high is None:
            bound = "a finite number"
        elif self.high is None:
            bound = f"a finite number {'>' if self.low_open else '>='} {self.low:g}"
        elif self.low is None:
            bound = f"a finite number {'<' if self.high_open else '<='} {self.high:g}"
        else:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            bound = f"a number in {left}{self.low:g}, {self.high:g}{right}"
        return bound + self._what()

    def _what(self) -> str:
        return f" ({self.what})" if self.what else ""


@dataclass(frozen=True)
class Options:
    """One of a fixed tuple of strings."""

    choices: tuple[str, ...]

    def check(self, value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise _type_error(name, f"one of {list(self.choices)}", value)
        if value not in self.choices:
            raise ValueError(f"`{name}` must be one of {list(self.choices)}; got {value!r}.")
        return value

    def describe(self) -> str:
        return f"one of {list(self.choices)}"


@dataclass(frozen=True)
class Bool:
    """A bool (Python or numpy)."""

    def check(self, value: Any, name: str) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise _type_error(name, "a bool", value)
        return bool(value)

    def describe(self) -> str:
        return "a bool"


@dataclass(frozen=True)
class Estimator:
    """An object with the given methods (an unfitted scikit-learn-style model)."""

    methods: tuple[str, ...] = ("fit", "predict")
    kind: str = "an estimator"

    def check(self, value: Any, name: str) -> Any:
        missing = [m for m in self.methods if not callable(getattr(value, m, None))]
        if missing:
            raise TypeError(
                f"`{name}` must be {self.describe()}; got {type(value).__name__}, which lacks "
                f"{missing}."
            )
        return value

    def describe(self) -> str:
        return f"{self.kind} with {' and '.join(f'`{m}`' for m in self.methods)}"


@dataclass(frozen=True)
class Seed:
    """None, an int in ``[0, 2**32 - 1]`` or a ``numpy.random.RandomState`` (scikit-learn's)."""

    def check(self, value: Any, name: str) -> Any:
        if value is None or isinstance(value, np.random.RandomState):
            return value
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise _type_error(name, "None, an int or a numpy RandomState", value)
        if not 0 <= int(value) <= 2**32 - 1:
            raise ValueError(f"`{name}` must be an int between 0 and 2**32 - 1; got {value!r}.")
        return value

    def describe(self) -> str:
        return "None, an int or a numpy RandomState"


@dataclass(frozen=True)
class NJobs:
    """None or a non-zero int (joblib's convention: -1 means all cores)."""

    def check(self, value: Any, name: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise _type_error(name, "None or a non-zero int", value)
        if value == 0:
            raise ValueError(f"`{name}` must be None or a non-zero int; got 0.")
        return int(value)

    def describe(self) -> str:
        return "None or a non-zero int"


@dataclass(frozen=True)
class AnyOf:
    """The first of several rules that accepts the value; None passes when ``none`` is True."""

    rules: tuple
    none: bool = False

    def check(self, value: Any, name: str) -> Any:
        if value is None and self.none:
            return None
        for rule in self.rules:
            try:
                return rule.check(value, name)
            except (TypeError, ValueError):
                continue
        expected = " or ".join(rule.describe() for rule in self.rules)
        if self.none:
            expected = "None or " + expected
        wrong_type = all(_wrong_type(rule, value, name) for rule in self.rules)
        error = TypeError if wrong_type else ValueError
        raise error(f"`{name}` must be {expected}; got {value!r}.")

    def describe(self) -> str:
        return ("None or " if self.none else "") + " or ".join(r.describe() for r in self.rules)


def _wrong_type(rule: Any, value: Any, name: str) -> bool:
    try:
        rule.check(value, name)
    except TypeError:
        return True
    except ValueError:
        return False
    return False


def nullable(rule: Any) -> AnyOf:
    """``rule``, or None."""
    return AnyOf((rule,), none=True)


def check_params(owner: Any, rules: dict[str, Any]) -> dict[str, Any]:
    """Check ``owner``'s parameters against ``rules``; return the validated values by name.

    Parameters
    ----------
    owner : object
        The estimator whose attributes (its ``get_params`` names) are checked.
    rules : dict of str to rule
        One rule per parameter name.

    Returns
    -------
    dict
        The validated (and normalised, e.g. numpy ints to int) values.

    Examples
    --------
    >>> class Model:
    ...     cv = 1
    >>> check_params(Model(), {"cv": Int(low=2)})
    Traceback (most recent call last):
    ...
    ValueError: `cv` must be an int >= 2; got 1.
    """
    return {name: rule.check(getattr(owner, name), name) for name, rule in rules.items()}


def check_cost_weight(value: Any, name: str = "cost_weight") -> float:
    """A cost weight: any finite real number (the price of one cost unit in quality units)."""
    return Real().check(value, name)
