"""Adapters from routing data to the (Y, T, X) of a causal problem, input validation, gold rescaling.

The Meta-Router pools gold-standard (GS) and preference-based (PB) rows and treats the evaluation
source as a treatment: ``T = 1`` for GS rows and ``T = 0`` for PB rows. Everything that turns user
input into validated arrays lives here, so that estimators further down the chain only ever see
clean ``float64`` features, finite labels and a boolean treatment.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils.validation import check_array, column_or_1d, validate_data

GOLD_SCALES = ("variance", "wasserstein", "none")


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
    columns = None
    fast_dtype = None  # set when a DataFrame can skip scikit-learn's checks (see below)
    if isinstance(X, pd.DataFrame):
        columns = list(X.columns)
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
            hint = " Pass one query as `X.reshape(1, -1)`." if X.ndim == 1 else ""
            raise ValueError(
                "`X` must be a 2-D array of shape (n_samples, n_features); got a "
                f"{X.ndim}-D array of shape {X.shape}.{hint}"
            )
        bad_idx = _non_numeric_columns(X)
        if bad_idx:
            raise TypeError(
                f"`X` must contain only numeric features; columns {_head(bad_idx)} (0-based) of "
                f"the {X.dtype} array hold strings or complex numbers. Convert them to float "
                "explicitly, or encode or embed them first."
            )
        shape = X.shape
    if shape is not None:
        if shape[0] == 0 and not allow_empty:
            raise ValueError(f"`X` must have at least 1 row; got 0 (shape {shape}).")
        if shape[1] == 0:
            raise ValueError(f"`X` must have at least 1 column; got 0 (shape {shape}).")
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


def _check_finite(X_arr: np.ndarray, columns: list | None) -> np.ndarray:
    """Return ``X_arr`` if it is finite; otherwise name the columns holding NaN or inf."""
    nonfinite = ~np.isfinite(X_arr)
    if nonfinite.any():
        bad_idx = np.flatnonzero(nonfinite.any(axis=0)).tolist()
        where = [columns[j] for j in bad_idx] if columns is not None else bad_idx
        raise ValueError(
            f"`X` must be finite; got {int(nonfinite.sum())} NaN or infinite values in columns "
            f"{_head(where)}. Impute or drop those rows before fitting or routing."
        )
    return X_arr


def _head(items: list, limit: int = 10) -> str:
    """``repr`` of a list, cut to its first ``limit`` items with a count of the rest."""
    if len(items) <= limit:
        return repr(items)
    return f"{items[:limit]!r} and {len(items) - limit} more"


def _non_numeric_columns(X: np.ndarray) -> list[int]:
    """0-based indices of the columns of a 2-D array that hold strings, bytes or complex numbers."""
    if X.dtype.kind in "USc":
        return list(range(X.shape[1]))
    if X.dtype.kind != "O":
        return []
    text = np.frompyfunc(lambda v: isinstance(v, (str, bytes, complex)), 1, 1)(X).astype(bool)
    return np.flatnonzero(text.any(axis=0)).tolist()


def _check_column_order(estimator, columns: list) -> None:
    """Refuse the fitted feature names in another order, naming the misplaced columns."""
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is None:
        return
    fitted = list(fitted)
    if columns != fitted and len(columns) == len(fitted) and set(columns) == set(fitted):
        moved = [c for c, f in zip(columns, fitted, strict=True) if c != f]
        raise ValueError(
            f"`X` has the feature names seen at fit in a different order; columns {_head(moved)} "
            f"are out of place (fit order starts {_head(fitted, 5)}). Select them in the fit "
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

    A column vector of shape ``(n_rows, 1)`` is accepted and flattened. Booleans, strings,
    complex numbers and object arrays are refused (``TypeError``), as are other shapes, a length
    other than ``n_rows`` and NaN or infinite labels (``ValueError``); every message names ``y``.
    """
    if np.iscomplexobj(y):
        raise TypeError(f"`y` must be numeric labels; got complex dtype {np.asarray(y).dtype}.")
    try:
        y_arr = column_or_1d(check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=False))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"`y` must be a 1-D array of labels: {exc}") from None
    if not (np.issubdtype(y_arr.dtype, np.number) and not np.issubdtype(y_arr.dtype, np.bool_)):
        raise TypeError(f"`y` must be numeric labels; got dtype {y_arr.dtype}.")
    y_arr = np.array(y_arr, dtype=np.float64)
    if y_arr.shape[0] != n_rows:
        raise ValueError(f"`X` and `y` must have the same number of rows; got {n_rows} and {y_arr.shape[0]}.")
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
        raise ValueError(f"`gold` must be a 1-D boolean mask; got an array of shape {gold_arr.shape}.")
    if gold_arr.dtype != np.bool_:
        raise TypeError(
            "`gold` must be a boolean mask (True = gold-standard row); got dtype "
            f"{getattr(gold, 'dtype', gold_arr.dtype)}. If 1 marks gold rows, pass `gold == 1`."
        )
    if gold_arr.shape[0] != n_rows:
        raise ValueError(
            f"`X` and `gold` must have the same number of rows; got {n_rows} and {gold_arr.shape[0]}."
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


def check_n_jobs(n_jobs) -> int | None:
    """Return ``n_jobs`` (None or a non-zero int, joblib's convention) or raise a ValueError."""
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral) or n_jobs == 0
    ):
        raise ValueError(f"`n_jobs` must be None or a non-zero int; got {n_jobs!r}.")
    return None if n_jobs is None else int(n_jobs)


def gold_scale_factor(gold_labels: np.ndarray, preference_labels: np.ndarray, method) -> float:
    """Return the constant ``c`` that puts gold labels on the preference scale (``c * r``).

    Parameters
    ----------
    gold_labels, preference_labels : ndarray
        Labels of the GS rows and of the PB rows.
    method : {"variance", "wasserstein", "none"} or float
        ``"variance"``: ``c = sd(PB) / sd(GS)`` (sample standard deviations, ``ddof=1``).
        ``"wasserstein"``: the ``c > 0`` minimising the 2-Wasserstein distance between the empirical
        distributions of ``c * GS`` and ``PB``. ``"none"``: ``c = 1``. A float is used as given.

    Returns
    -------
    float
        A finite, positive scale factor.

    Raises
    ------
    ValueError
        If the labels do not allow the method (constant labels for ``"variance"``, no positive
        minimiser for ``"wasserstein"``), or the factor is not a finite positive float64 (labels
        near the float64 limits), or ``method`` is an unknown name or a non-positive number.

    Examples
    --------
    >>> import numpy as np
    >>> gold_scale_factor(np.array([-1.0, 1.0]), np.array([-2.0, 2.0]), "variance")
    2.0
    >>> gold_scale_factor(np.array([0.0, 1.0]), np.array([0.0, 3.0]), "wasserstein")
    3.0
    """
    if isinstance(method, str):
        if method == "none":
            return 1.0
        if method == "variance":
            for source, labels in (("gold", gold_labels), ("preference", preference_labels)):
                if np.all(labels == labels[0]):
                    raise ValueError(
                        f"`gold_scale='variance'` needs {source} labels that vary; all "
                        f"{labels.size} {source} labels equal {float(labels[0])!r}. "
                        "Pass `gold_scale='none'` or a float."
                    )
            # spreads that over- or underflow float64 give 0, inf or NaN: refused by _finite_scale
            with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
                scale = np.std(preference_labels, ddof=1) / np.std(gold_labels, ddof=1)
            return _finite_scale(float(scale), method)
        if method == "wasserstein":
            with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
                scale = _wasserstein_scale(gold_labels, preference_labels)
            return _finite_scale(scale, method)
        raise ValueError(f"`gold_scale` must be one of {GOLD_SCALES} or a positive float; got {method!r}.")
    if isinstance(method, Real) and not isinstance(method, bool):
        value = float(method)
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"`gold_scale` as a number must be finite and positive; got {method!r}.")
        return value
    raise TypeError(
        f"`gold_scale` must be one of {GOLD_SCALES} or a positive float; got {type(method).__name__}."
    )


def _finite_scale(value: float, method: str) -> float:
    """Refuse a scale factor that over- or underflowed (labels near the float64 limits)."""
    if not (np.isfinite(value) and value > 0):
        raise ValueError(
            f"`gold_scale={method!r}` gave the scale factor {value!r}, which is not a finite "
            "positive number (labels too large or too small for float64); rescale `y` or pass a "
            "float."
        )
    return float(value)


def _wasserstein_scale(gold_labels: np.ndarray, preference_labels: np.ndarray) -> float:
    """Exact minimiser of ``W2(c * G, P)`` over ``c``.

    In one dimension ``W2^2(c G, P) = int_0^1 (c Q_G(u) - Q_P(u))^2 du`` with ``Q`` the empirical
    quantile functions, which are step functions. The minimiser is
    ``c = int Q_G Q_P du / int Q_G^2 du``, computed exactly on the union of the step breakpoints.
    """
    g = np.sort(gold_labels)
    p = np.sort(preference_labels)
    breaks = np.union1d(np.arange(1, g.size + 1) / g.size, np.arange(1, p.size + 1) / p.size)
    breaks[-1] = 1.0
    lengths = np.diff(np.concatenate([[0.0], breaks]))
    mids = breaks - lengths / 2
    q_g = g[np.minimum((mids * g.size).astype(np.int64), g.size - 1)]
    q_p = p[np.minimum((mids * p.size).astype(np.int64), p.size - 1)]
    denom = float(np.sum(lengths * q_g**2))
    numer = float(np.sum(lengths * q_g * q_p))
    if not (denom > 0 and numer > 0):
        raise ValueError(
            "`gold_scale='wasserstein'` has no positive minimiser for these labels "
            f"(int Q_G Q_P = {numer:.4g}, int Q_G^2 = {denom:.4g}); use `gold_scale='variance'` or a float."
        )
    return numer / denom
