"""Putting gold-standard labels on the preference scale (the paper's Remark 1)."""

from __future__ import annotations

from numbers import Real

import numpy as np

__all__ = ["GOLD_SCALES", "gold_scale_factor"]

GOLD_SCALES = ("variance", "wasserstein", "none")


def gold_scale_factor(
    gold_labels: np.ndarray,
    preference_labels: np.ndarray,
    method,
    *,
    gold_weight: np.ndarray | None = None,
    preference_weight: np.ndarray | None = None,
) -> float:
    """Return the constant ``c`` that puts gold labels on the preference scale (``c * r``).

    Parameters
    ----------
    gold_labels, preference_labels : ndarray
        Labels of the GS rows and of the PB rows.
    method : {"variance", "wasserstein", "none"} or float
        ``"variance"``: ``c = sd(PB) / sd(GS)`` (sample standard deviations, ``ddof=1``).
        ``"wasserstein"``: the ``c > 0`` minimising the 2-Wasserstein distance between the empirical
        distributions of ``c * GS`` and ``PB``. ``"none"``: ``c = 1``. A float is used as given.
    gold_weight, preference_weight : ndarray, optional
        Weights of the labels (inverse selection probabilities when the gold rows were chosen
        by an active design), used by ``"variance"`` (weighted standard deviations); the
        other methods refuse them.

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
                scale = _spread(preference_labels, preference_weight) / _spread(
                    gold_labels, gold_weight
                )
            return _finite_scale(float(scale), method)
        if method == "wasserstein" and not (gold_weight is None and preference_weight is None):
            raise ValueError(
                "`gold_scale='wasserstein'` cannot weight the labels by known gold "
                "probabilities (`gold_probability`); use 'variance', 'none' or a float."
            )
        if method == "wasserstein":
            with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
                scale = _wasserstein_scale(gold_labels, preference_labels)
            return _finite_scale(scale, method)
        raise ValueError(
            f"`gold_scale` must be one of {GOLD_SCALES} or a positive float; got {method!r}."
        )
    if isinstance(method, Real) and not isinstance(method, bool):
        value = float(method)
        if not (np.isfinite(value) and value > 0):
            raise ValueError(
                f"`gold_scale` as a number must be finite and positive; got {method!r}."
            )
        return value
    raise TypeError(
        f"`gold_scale` must be one of {GOLD_SCALES} or a positive float; got "
        f"{type(method).__name__}."
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
            f"(int Q_G Q_P = {numer:.4g}, int Q_G^2 = {denom:.4g}); use "
            "`gold_scale='variance'` or a float."
        )
    return numer / denom


def _spread(labels: np.ndarray, weight: np.ndarray | None) -> float:
    """Sample standard deviation (``ddof=1``), or its weighted version (reliability weights)."""
    if weight is None:
        return float(np.std(labels, ddof=1))
    mean = np.average(labels, weights=weight)
    total = weight.sum()
    effective = total - np.sum(weight**2) / total  # the ddof=1 correction for weights
    return float(np.sqrt(np.sum(weight * (labels - mean) ** 2) / effective))
