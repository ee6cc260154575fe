"""Adapters from routing data to the (Y, T, X) of a causal problem, input validation, gold rescaling.

The Meta-Router pools gold-standard (GS) and preference-based (PB) rows and treats the evaluation
source as a treatment: ``T = 1`` for GS rows and ``T = 0`` for PB rows. Everything that turns user
input into validated arrays lives here, so that estimators further down the chain only ever see
clean ``float64`` features, finite labels and a boolean treatment.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_array, column_or_1d, validate_data

GOLD_SCALES = ("variance", "wasserstein", "none")


def _count_nonfinite(values: np.ndarray) -> int:
    return int(np.size(values) - np.count_nonzero(np.isfinite(values)))


def check_features(estimator, X, *, reset: bool) -> np.ndarray:
    """Validate features with scikit-learn's machinery, naming ``X`` in every error.

    ``reset=True`` (at fit) records ``n_features_in_`` and, for DataFrames with string column
    names, ``feature_names_in_``; ``reset=False`` (at predict) checks the count and the names
    against them. Non-numeric columns get a message naming them instead of a conversion traceback.
    """
    if isinstance(X, pd.DataFrame):
        bad = [str(c) for c, dtype in X.dtypes.items() if not _is_numeric_dtype(dtype)]
        if bad:
            raise TypeError(
                f"`X` must contain only numeric features; columns {bad} are not numeric. "
                "Encode or embed them first (for raw text, see the `[text]` extra)."
            )
        if X.columns.duplicated().any():
            dup = sorted({str(c) for c in X.columns[X.columns.duplicated()]})
            raise ValueError(f"`X` has duplicated column names {dup}; column names must be unique.")
    try:
        X_arr = validate_data(
            estimator,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            ensure_min_samples=1,
        )
    except ValueError as exc:
        if "could not convert" in str(exc) or "dtype" in str(exc).lower():
            raise TypeError(f"`X` must contain only numeric features: {exc}") from None
        raise
    nonfinite = _count_nonfinite(X_arr)
    if nonfinite:
        raise ValueError(
            f"`X` must be finite; got {nonfinite} NaN or infinite values. "
            "Impute or drop those rows before fitting or routing."
        )
    return X_arr


def _is_numeric_dtype(dtype) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def check_labels(y, *, n_rows: int) -> np.ndarray:
    """Return ``y`` as a finite 1-D ``float64`` copy of length ``n_rows``."""
    try:
        y_arr = column_or_1d(check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=False))
    except ValueError as exc:
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
    if isinstance(gold, pd.Series) and gold.dtype == "boolean":
        if gold.isna().any():
            raise ValueError(f"`gold` must not contain missing values; got {int(gold.isna().sum())}.")
        gold = gold.to_numpy(dtype=bool)
    gold_arr = np.asarray(gold)
    if gold_arr.ndim != 1:
        raise ValueError(f"`gold` must be a 1-D boolean mask; got an array of shape {gold_arr.shape}.")
    if gold_arr.dtype != np.bool_:
        raise TypeError(
            f"`gold` must be a boolean mask (True = gold-standard row); got dtype {gold_arr.dtype}. "
            "If 1 marks gold rows, pass `gold == 1`."
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
            sd_gold = float(np.std(gold_labels, ddof=1))
            if not sd_gold > 0:
                raise ValueError(
                    "`gold_scale='variance'` needs gold labels that vary; all "
                    f"{gold_labels.size} gold labels equal {float(gold_labels[0])!r}. "
                    "Pass `gold_scale='none'` or a float."
                )
            sd_pref = float(np.std(preference_labels, ddof=1))
            if not sd_pref > 0:
                raise ValueError(
                    "`gold_scale='variance'` needs preference labels that vary; all "
                    f"{preference_labels.size} preference labels are equal. "
                    "Pass `gold_scale='none'` or a float."
                )
            return sd_pref / sd_gold
        if method == "wasserstein":
            return _wasserstein_scale(gold_labels, preference_labels)
        raise ValueError(f"`gold_scale` must be one of {GOLD_SCALES} or a positive float; got {method!r}.")
    if isinstance(method, Real) and not isinstance(method, bool):
        value = float(method)
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"`gold_scale` as a number must be finite and positive; got {method!r}.")
        return value
    raise TypeError(
        f"`gold_scale` must be one of {GOLD_SCALES} or a positive float; got {type(method).__name__}."
    )


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
