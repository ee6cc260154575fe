"""Efficiency-gain curves and RouteLLM's metrics: how well a router ranks test queries.

A router ranks test queries by the predicted quality gain of the primary (expensive) model over
the alternative (cheap) one and sends a share ``rho`` of them to the primary. The efficiency-gain
curve of the Meta-Router paper (Zhang et al., arXiv:2509.25535) measures, for each ``rho``, how
much more true gain this captures than sending the same number of randomly chosen queries;
:func:`routellm_metrics` reports the same ranking in RouteLLM's terms (APGR, CPT). This is the
lowest layer of :mod:`metarouter_econml.evaluation`: it fits nothing and imports no router.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._validation import Bool, Real, check_vector, nullable
from ._plotting import plot_curve

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

__all__ = ["EfficiencyGainCurve", "efficiency_gain_curve", "routellm_metrics"]

#: Rule of an explicit normaliser: a positive finite number (None selects the default).
NORMALIZER_RULE = nullable(Real(0, low_open=True))

# Tolerance added before flooring ``rho * n`` so that e.g. 0.29 * 100 = 28.999999999999996
# counts as 29 queries, not 28.
_FLOOR_EPS = 1e-9


def _check_ratios(ratios: ArrayLike | None) -> np.ndarray:
    """Validate the shares of queries sent to the primary; ``None`` gives the paper's grid."""
    if ratios is None:
        return np.linspace(0.2, 0.8, 61)
    arr = check_vector(ratios, "ratios", min_length=1)
    outside = arr[(arr < 0) | (arr > 1)]
    if outside.size:
        raise ValueError(f"`ratios` must lie in [0, 1]; got {float(outside[0])!r}.")
    steps = np.diff(arr)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        a, b = float(arr[i]), float(arr[i + 1])
        raise ValueError(f"`ratios` must be strictly increasing; got {a!r} followed by {b!r}.")
    return arr


def _n_sent(ratios: np.ndarray, n: int) -> np.ndarray:
    """Count the queries sent to the primary, ``floor(ratio * n)``, robust to float error.

    Examples
    --------
    >>> _n_sent(np.array([0.0, 0.29, 1.0]), 100)
    array([  0,  29, 100])
    """
    return np.clip(np.floor(ratios * n + _FLOOR_EPS), 0, n).astype(np.int64)


def _check_normalizer(normalizer: Any, total: float) -> float:
    """Return the normaliser: ``normalizer`` if given, else the total true gain ``total``."""
    value = NORMALIZER_RULE.check(normalizer, "normalizer")
    if value is not None:
        return float(value)
    if not total > 0:
        raise ValueError(
            "The default normaliser is the total true gain of the test queries, which must "
            f"be > 0; got {total!r}. Pass `normalizer=` explicitly (a positive number)."
        )
    return float(total)


def _readonly(values: ArrayLike) -> np.ndarray:
    arr = np.array(values, dtype=np.float64, copy=True)
    arr.setflags(write=False)
    return arr


# No ``slots=True``: before Python 3.12, assigning to a frozen slotted dataclass raises a
# TypeError from ``super()`` instead of FrozenInstanceError.
# ``eq=False``: comparing arrays elementwise has no single truth value.
@dataclass(frozen=True, eq=False)
class EfficiencyGainCurve:
    """Efficiency gain of a router as a function of the share of queries sent to the primary.

    Usually built by :func:`efficiency_gain_curve`. The arrays are read-only copies.

    Parameters
    ----------
    ratios : numpy.ndarray
        Shares of test queries sent to the primary model, strictly increasing in [0, 1].
    gains : numpy.ndarray
        Normalised efficiency gain at each ratio; NaN where the curve was stopped.
    normalizer : float
        The number the raw gains were divided by.
    n_queries : int
        Number of test queries.

    Attributes
    ----------
    auc : float
        Mean gain over the ratio range (trapezoid area divided by the range's width).
    peak : float
        Largest finite gain.
    peak_ratio : float
        First ratio where ``peak`` is attained.

    Examples
    --------
    >>> curve = EfficiencyGainCurve(
    ...     ratios=[0.0, 0.5, 1.0], gains=[0.0, 0.4, 0.0], normalizer=2.0, n_queries=4
    ... )
    >>> print(curve)
    EfficiencyGainCurve: n_queries=4, ratios 0.00-1.00, auc=0.2, peak=0.4 at ratio 0.50
    >>> curve.gains.flags.writeable
    False
    """

    ratios: np.ndarray
    gains: np.ndarray
    normalizer: float
    n_queries: int

    def __post_init__(self) -> None:
        ratios, gains = _readonly(self.ratios), _readonly(self.gains)
        if ratios.ndim != 1 or ratios.shape != gains.shape:
            raise ValueError(
                "`ratios` and `gains` must be 1-D with the same length; "
                f"got shapes {ratios.shape} and {gains.shape}."
            )
        object.__setattr__(self, "ratios", ratios)
        object.__setattr__(self, "gains", gains)
        object.__setattr__(self, "normalizer", float(self.normalizer))
        object.__setattr__(self, "n_queries", int(self.n_queries))

    @property
    def auc(self) -> float:
        """Mean gain over the ratio range, by the trapezoid rule.

        With NaNs (a stopped curve) it is computed over the leading run of finite gains and
        divided by that run's width; it is NaN if that run has fewer than 2 points. With a
        single ratio it is that ratio's gain.
        """
        if self.gains.size == 1:
            return float(self.gains[0])
        finite = np.isfinite(self.gains)
        m = self.gains.size if finite.all() else int(np.argmin(finite))
        if m < 2:
            return float("nan")
        x, y = self.ratios[:m], self.gains[:m]
        return float(np.trapezoid(y, x) / (x[-1] - x[0]))

    @property
    def _peak_index(self) -> int | None:
        finite = np.flatnonzero(np.isfinite(self.gains))
        return None if finite.size == 0 else int(finite[np.argmax(self.gains[finite])])

    @property
    def peak(self) -> float:
        """Largest finite gain (NaN if there is none)."""
        i = self._peak_index
        return float("nan") if i is None else float(self.gains[i])

    @property
    def peak_ratio(self) -> float:
        """First ratio at which :attr:`peak` is attained (NaN if there is none)."""
        i = self._peak_index
        return float("nan") if i is None else float(self.ratios[i])

    def summary(self) -> pd.DataFrame:
        """One-row table of the curve's headline numbers.

        Returns
        -------
        pandas.DataFrame
            Columns ``auc``, ``peak``, ``peak_ratio``, ``n_queries``, ``normalizer``,
            ``ratio_min`` and ``ratio_max``.
        """
        return pd.DataFrame(
            {
                "auc": [self.auc],
                "peak": [self.peak],
                "peak_ratio": [self.peak_ratio],
                "n_queries": [self.n_queries],
                "normalizer": [self.normalizer],
                "ratio_min": [float(self.ratios[0])],
                "ratio_max": [float(self.ratios[-1])],
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """Return the curve as a table with columns ``ratio`` and ``gain``."""
        return pd.DataFrame({"ratio": self.ratios.copy(), "gain": self.gains.copy()})

    def __str__(self) -> str:
        return (
            f"EfficiencyGainCurve: n_queries={self.n_queries}, "
            f"ratios {self.ratios[0]:.2f}-{self.ratios[-1]:.2f}, auc={self.auc:.4g}, "
            f"peak={self.peak:.4g} at ratio {self.peak_ratio:.2f}"
        )

    def plot(self, ax: Axes | None = None, *, label: str | None = None, **kwargs: Any) -> Axes:
        """Draw gain against ratio, with a dashed zero line for random routing.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; a new figure is created if None.
        label : str, optional
            Legend label of the curve; a legend is drawn when given.
        **kwargs
            Passed to :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        return plot_curve(self.ratios, self.gains, ax=ax, label=label, **kwargs)


def efficiency_gain_curve(
    true_gain: ArrayLike,
    predicted_gain: ArrayLike,
    *,
    ratios: ArrayLike | None = None,
    normalizer: float | None = None,
    stop_at_nonpositive: bool = False,
) -> EfficiencyGainCurve:
    """Efficiency gain of a router over random routing, as in the Meta-Router paper.

    For each share ``rho`` the ``k = floor(rho * n)`` test queries with the highest predicted gain
    are sent to the primary model. The value is the sum of their true gains minus
    ``(k / n) * total``, the expected sum when ``k`` queries are chosen at random (this equals
    ``rho * total`` when ``rho * n`` is an integer), divided by ``normalizer``. Queries with
    equal predictions that straddle the cut-off are counted by their expectation under uniformly
    random tie-breaking (the tied group contributes the number of slots left times its mean true
    gain), so the result does not depend on the order of the rows.

    Parameters
    ----------
    true_gain : array-like of shape (n,)
        True (gold-standard) quality gain of the primary model over the alternative for each
        test query; may be negative. At least 2 finite values.
    predicted_gain : array-like of shape (n,)
        The router's predicted gain for the same queries.
    ratios : array-like, optional
        Shares of queries sent to the primary, strictly increasing in [0, 1]. Defaults to
        ``np.linspace(0.2, 0.8, 61)``.
    normalizer : float, optional
        Positive number the gains are divided by. The library's convention (see Notes) is the
        paper's: the mean gold-standard gain of the whole data set times ``n``, e.g.
        ``normalizer=data.gold_gain.mean() * len(split.gain_test)``. Defaults to the total
        true gain of these ``n`` queries, which must then be > 0.
    stop_at_nonpositive : bool, default=False
        If True, the gain is NaN at ratios where the smallest prediction sent to the primary is
        <= 0, reproducing the paper's curves that stop where predictions turn non-positive.
        Ratios sending no query keep the value 0.

    Returns
    -------
    EfficiencyGainCurve
        The curve, with its ``auc``, ``peak`` and ``peak_ratio``.

    Raises
    ------
    ValueError
        If an input is not 1-D and finite, the lengths differ, there are fewer than 2 queries,
        ``ratios`` are outside [0, 1] or not strictly increasing, or the normaliser is not
        positive.
    TypeError
        If ``normalizer`` is not a real number or ``stop_at_nonpositive`` not a bool.

    Notes
    -----
    **One normalisation convention.** Efficiency gains are reported in units of the gain of
    sending every scored query to the primary, ``mean gold-standard gain x n``, and that mean
    is taken, as in the paper, over the *whole data set* whenever it is known:
    :func:`~metarouter_econml.evaluation.run_protocol` does so by default (``normalizer=None``
    there), and the README, the tutorials, the benchmarks and the command line report AUCs on
    this scale. It is the right scale to compare and average:

    - it is one constant for every split of a data set, so the per-split AUCs share one unit,
      and their mean and the paired differences between methods are not reweighted by the
      noise of each test set's own total (with 500 noisy labels that total varies a lot from
      split to split);
    - it stays defined when a test set's gains happen to sum to <= 0;
    - the numbers are on the scale of the paper's Figure 1.

    This function's default, the test queries' own total, is the same quantity estimated from
    the scored queries alone; use it only when no better estimate of the mean gain is at
    hand. AUCs computed with different normalisers are not comparable.

    Examples
    --------
    >>> from metarouter_econml.evaluation import efficiency_gain_curve
    >>> curve = efficiency_gain_curve(
    ...     [3.0, -1.0, 2.0, 0.0], [0.8, -0.2, 0.4, 0.6], ratios=[0.0, 0.25, 0.5, 0.75, 1.0]
    ... )
    >>> curve.gains
    array([0.  , 0.5 , 0.25, 0.5 , 0.  ])
    >>> curve.auc
    0.3125
    >>> print(curve)
    EfficiencyGainCurve: n_queries=4, ratios 0.00-1.00, auc=0.3125, peak=0.5 at ratio 0.25
    >>> efficiency_gain_curve(
    ...     [3.0, -1.0, 2.0, 0.0], [0.8, -0.2, 0.4, 0.6], ratios=[0.5, 1.0],
    ...     stop_at_nonpositive=True,
    ... ).gains
    array([0.25,  nan])
    """
    t = check_vector(true_gain, "true_gain", min_length=2)
    p = check_vector(predicted_gain, "predicted_gain", min_length=2)
    if t.size != p.size:
        raise ValueError(
            "`true_gain` and `predicted_gain` must have the same length; "
            f"got {t.size} and {p.size}."
        )
    stop = Bool().check(stop_at_nonpositive, "stop_at_nonpositive")
    rho = _check_ratios(ratios)
    n = t.size

    ranking = _Ranking(t, p)
    total = ranking.total
    norm = _check_normalizer(normalizer, total)

    k = _n_sent(rho, n)
    sent, lowest_sent = ranking.sent_gain(k)
    gains = (sent - k * total / n) / norm
    if stop:
        gains[(k > 0) & (lowest_sent <= 0)] = np.nan
    return EfficiencyGainCurve(ratios=rho, gains=gains, normalizer=norm, n_queries=n)


class _Ranking:
    """Queries ranked by predicted gain, with equal predictions grouped (shared by the metrics).

    Rows are put in a canonical order (prediction descending, then true gain) so that sums do
    not depend on the order of the input rows, and equal predictions form one group.

    Parameters
    ----------
    true_gain, predicted_gain : numpy.ndarray of shape (n,)
        Validated, finite, same length.

    Examples
    --------
    >>> ranking = _Ranking(np.array([1.0, 2.0, 4.0]), np.array([0.5, 0.5, 0.1]))
    >>> ranking.total
    7.0
    >>> ranking.sent_gain(np.array([0, 1, 2, 3]))[0]  # tie: 1 slot gets the mean of 1 and 2
    array([0. , 1.5, 3. , 7. ])
    """

    def __init__(self, true_gain: np.ndarray, predicted_gain: np.ndarray) -> None:
        order = np.lexsort((true_gain, -predicted_gain))
        t, self._p = true_gain[order], predicted_gain[order]
        self._starts = np.flatnonzero(np.r_[True, self._p[1:] != self._p[:-1]])
        self._sizes = np.diff(np.r_[self._starts, t.size])
        self._group_sums = np.add.reduceat(t, self._starts)
        self._cum_sums = np.r_[0.0, np.cumsum(self._group_sums)]
        self.total = float(self._cum_sums[-1])

    def sent_gain(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the expected true gain of the top ``k`` queries under random tie-breaking.

        A tied group straddling the cut-off contributes the number of slots left times its
        mean true gain.

        Parameters
        ----------
        k : numpy.ndarray of int
            Numbers of queries sent to the primary, each in ``[0, n]``.

        Returns
        -------
        sent : numpy.ndarray of float
            Expected sum of the true gains of the queries sent.
        lowest_sent : numpy.ndarray of float
            Prediction of the group holding the ``k``-th query (the smallest prediction sent
            when ``k > 0``).
        """
        g = np.searchsorted(np.cumsum(self._sizes), k, side="left")  # group of the k-th query
        g = np.minimum(g, self._sizes.size - 1)
        slots = k - self._starts[g]
        sent = self._cum_sums[g] + slots * self._group_sums[g] / self._sizes[g]
        return sent, self._p[self._starts[g]]


#: Tolerance of the comparison ``PGR(k) >= x`` in :func:`routellm_metrics`, so that a PGR that
#: is mathematically equal to ``x`` (e.g. 0.5) is not missed by float rounding of the sums.
_PGR_TOL = 1e-12


def routellm_metrics(true_gain: ArrayLike, predicted_gain: ArrayLike) -> dict[str, float]:
    """RouteLLM's summary metrics of a router: APGR, CPT(50%) and CPT(80%).

    RouteLLM (Ong et al., arXiv:2406.18665) scores a router that sends some queries to a
    strong model and the rest to a weak one by the *performance gap recovered*,
    ``PGR = (score(router) - score(weak)) / (score(strong) - score(weak))``, as a function of
    the share of calls to the strong model. Here the strong model is the primary, the weak one
    the alternative, and ``true_gain`` is the per-query quality of the primary minus that of
    the alternative. Sending the ``k`` queries with the highest predicted gain to the primary
    and the alternative answering everything else, the gap recovered is

        ``PGR(k) = (sum of the true gains of the top k) / (sum of all true gains)``,

    at the share ``k / n``, for ``k = 0, ..., n`` (``PGR(0) = 0``, ``PGR(n) = 1``). Ties in
    the predictions are handled as in :func:`efficiency_gain_curve`: by the expectation under
    uniformly random tie-breaking. Then

    - ``apgr``: the *average* PGR, the area under PGR against ``k / n`` over ``[0, 1]`` by the
      trapezoid rule over all ``n + 1`` points (RouteLLM averages PGR over a grid of
      thresholds; this is the exact area). Random routing gives 0.5 in expectation, a perfect
      ranking of non-negative gains up to 1. It is tied to the efficiency gain: with the default
      normaliser, ``efficiency_gain(k / n) = PGR(k) - k / n``, so the area under the efficiency
      curve over ``[0, 1]`` is ``apgr - 0.5``.
    - ``cpt50``, ``cpt80``: the *call-performance threshold* CPT(x), the smallest share
      ``k / n`` of calls to the primary with ``PGR(k) >= x`` (compared with a tolerance of
      1e-12 for float rounding); NaN if it is never reached (impossible for ``x <= 1``, since
      ``PGR(n) = 1``). Lower is better.

    Parameters
    ----------
    true_gain : array-like of shape (n,)
        True (gold-standard) gain of the primary over the alternative per test query; may be
        negative, but the total must be > 0 (the gap to recover). At least 2 finite values.
    predicted_gain : array-like of shape (n,)
        The router's predicted gain for the same queries.

    Returns
    -------
    dict
        ``{"apgr": float, "cpt50": float, "cpt80": float}``.

    Raises
    ------
    ValueError
        If an input is not 1-D and finite, the lengths differ, there are fewer than 2 queries,
        or the total true gain is not > 0.

    See Also
    --------
    efficiency_gain_curve : The Meta-Router paper's metric on the same ranking.

    Examples
    --------
    >>> from metarouter_econml.evaluation import routellm_metrics
    >>> # Ranked by prediction the true gains are 3, 0, 2, -1 (total 4): PGR = 0, .75, .75,
    >>> # 1.25, 1 at shares 0, .25, .5, .75, 1.
    >>> routellm_metrics([3.0, -1.0, 2.0, 0.0], [0.8, -0.2, 0.4, 0.6])
    {'apgr': 0.8125, 'cpt50': 0.25, 'cpt80': 0.75}
    """
    t = check_vector(true_gain, "true_gain", min_length=2)
    p = check_vector(predicted_gain, "predicted_gain", min_length=2)
    if t.size != p.size:
        raise ValueError(
            "`true_gain` and `predicted_gain` must have the same length; "
            f"got {t.size} and {p.size}."
        )
    ranking = _Ranking(t, p)
    total = ranking.total
    if not total > 0:
        raise ValueError(
            "RouteLLM's performance gap recovered is relative to the total true gain of the "
            f"test queries, which must be > 0; got {total!r}."
        )
    n = t.size
    k = np.arange(n + 1)
    pgr = ranking.sent_gain(k)[0] / total
    share = k / n
    apgr = float(np.trapezoid(pgr, share))

    def cpt(x: float) -> float:
        reached = np.flatnonzero(pgr >= x - _PGR_TOL)
        return float(share[reached[0]]) if reached.size else float("nan")

    return {"apgr": apgr, "cpt50": cpt(0.5), "cpt80": cpt(0.8)}
