"""Cost-quality frontiers of multi-model routers: the exact sweep, the hull, AIQ, mix and oracle.

A multi-model router estimates the quality of each of ``K`` models on each query. With a cost
weight ``w >= 0`` (the price of one cost unit in quality units) it sends each query to

    ``argmax_k (scores_k - w * cost_k)``,

ties broken toward the cheaper model, then toward the earlier column of ``scores``. Sweeping
``w`` from 0 (best predicted quality whatever the cost) upward trades quality for cost; every
routing it produces gives one point (mean cost, mean true quality) of the router's cost-quality
curve. :func:`cost_quality_curve` computes that curve exactly, with every routing the sweep
produces, and RouterBench's AIQ (Hu et al., arXiv:2403.12031), the mean height of the curve's
non-decreasing concave hull over the models' cost range. :func:`fixed_mix_curve` is the baseline
of routing at random in fixed proportions, :func:`oracle_curve` the ceiling of a router that
knows the true quality, and :func:`oracle_share` places a router between the two.

Only :mod:`._plotting` is imported: nothing here fits a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._validation import Real, check_vector, head
from ._plotting import ORACLE_STYLE, _axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

__all__ = [
    "CostQualityCurve",
    "aiq",
    "cost_quality_curve",
    "fixed_mix_curve",
    "oracle_curve",
    "oracle_share",
    "plot_frontier",
]

#: Rule of one model's cost per query.
_COST_RULE = Real(0)

#: Relative tolerance for float rounding: of a budget below the cheapest routing
#: (:meth:`CostQualityCurve.quality_at_budget`) and of ``oracle_aiq == mix_aiq``
#: (:func:`oracle_share`).
_RTOL = 1e-9

#: Levels of the batched quickhull before the hull falls back to a sequential scan (a safety
#: net: on real curves the batched search needs a few dozen levels).

#: Style of the fixed-mix hull in :func:`plot_frontier`.
_MIX_STYLE: dict[str, Any] = {"color": "grey", "linestyle": "--"}


# ------------------------------------------------------------------------------------------------
# Input checks
# ------------------------------------------------------------------------------------------------
def _check_frame(value: Any, name: str) -> np.ndarray:
    """Return a non-empty DataFrame of finite numbers with unique column names as a float copy."""
    if not isinstance(value, pd.DataFrame):
        raise TypeError(
            f"`{name}` must be a pandas DataFrame with one column per model; got "
            f"{type(value).__name__}."
        )
    if value.shape[0] == 0 or value.shape[1] == 0:
        raise ValueError(
            f"`{name}` must have at least 1 row (query) and 1 column (model); got shape "
            f"{value.shape}."
        )
    if value.columns.duplicated().any():
        dup = sorted({str(c) for c in value.columns[value.columns.duplicated()]})
        raise ValueError(f"`{name}` has duplicated column names {dup}; models must be unique.")
    bad = [
        c
        for c, dtype in value.dtypes.items()
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    ]
    if bad:
        raise TypeError(f"`{name}` must hold numbers; columns {head(bad)} are not numeric.")
    arr = value.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)  # never a view
    nonfinite = ~np.isfinite(arr)
    if nonfinite.any():
        where = [value.columns[j] for j in np.flatnonzero(nonfinite.any(axis=0))]
        raise ValueError(
            f"`{name}` must be finite; got {int(nonfinite.sum())} NaN or infinite values in "
            f"columns {head(where)}."
        )
    return arr


def _check_pair(scores: Any, quality: Any) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Return the models (columns of ``scores``) and both tables as float arrays in that order.

    ``quality`` may list the same models in another order: its columns are matched by name.
    Rows are matched by position, and refused when the two indexes differ.
    """
    s = _check_frame(scores, "scores")
    q = _check_frame(quality, "quality")
    models = scores.columns.tolist()
    if set(quality.columns) != set(models):
        missing = [m for m in models if m not in set(quality.columns)]
        extra = [m for m in quality.columns if m not in set(models)]
        raise ValueError(
            "`scores` and `quality` must have the same columns (one per model); `quality` "
            f"lacks {head(missing)} and has extra {head(extra)}."
        )
    if q.shape[0] != s.shape[0]:
        raise ValueError(
            "`scores` and `quality` must have the same number of rows (queries); got "
            f"{s.shape[0]} and {q.shape[0]}."
        )
    if not quality.index.equals(scores.index):
        first = int(np.flatnonzero(np.asarray(quality.index != scores.index))[0])
        ours, theirs = (
            v.item() if isinstance(v, np.generic) else v
            for v in (scores.index[first], quality.index[first])
        )
        raise ValueError(
            "`scores` and `quality` must have the same index (rows are matched by position); "
            f"they first differ at position {first}: {ours!r} and {theirs!r}. Align them "
            "first (`quality.loc[scores.index]`) or reset both indexes."
        )
    position = {m: j for j, m in enumerate(quality.columns)}
    return models, s, q[:, [position[m] for m in models]]


def _check_costs(costs: Any, models: list[Any]) -> np.ndarray:
    """Return the cost of each model, in the order of ``models``; extra keys are ignored."""
    if not isinstance(costs, (Mapping, pd.Series)):
        raise TypeError(
            "`costs` must be a mapping (e.g. a dict) from model name to cost per query; got "
            f"{type(costs).__name__}."
        )
    missing = [m for m in models if m not in costs]
    if missing:
        raise ValueError(
            f"`costs` must give the cost of every model (column); missing {head(missing)}."
        )
    return np.array([_COST_RULE.check(costs[m], f"costs[{m!r}]") for m in models])


def _check_cost_weights(cost_weights: Any) -> np.ndarray:
    arr = check_vector(cost_weights, "cost_weights", min_length=1)
    if np.any(arr < 0):
        raise ValueError(
            "`cost_weights` must be >= 0 (a negative weight would pay for cost); got "
            f"{float(arr[arr < 0][0])!r}."
        )
    steps = np.diff(arr)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0))
        raise ValueError(
            "`cost_weights` must be strictly increasing; got "
            f"{float(arr[i])!r} followed by {float(arr[i + 1])!r}."
        )
    return arr


def _check_cost_range(cost_range: Any) -> tuple[float, float]:
    try:
        lo, hi = cost_range
    except (TypeError, ValueError):
        raise TypeError(
            "`cost_range` must be None or a pair (low, high) of costs; got "
            f"{type(cost_range).__name__} {cost_range!r}."
        ) from None
    lo = Real().check(lo, "cost_range[0]")
    hi = Real().check(hi, "cost_range[1]")
    if hi < lo:
        raise ValueError(f"`cost_range` must have low <= high; got ({lo!r}, {hi!r}).")
    return lo, hi


def _readonly(values: Any, name: str) -> np.ndarray:
    arr = np.array(values, dtype=np.float64, copy=True)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"`{name}` must be a non-empty 1-D array; got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        n_bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"`{name}` must be finite; got {n_bad} NaN or infinite values.")
    arr.setflags(write=False)
    return arr


# ------------------------------------------------------------------------------------------------
# The hull and its area
# ------------------------------------------------------------------------------------------------
def _upper_chain(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the vertices of the upper hull of points with strictly increasing ``x``.

    Andrew's monotone-chain scan: one pass, each point pushed and popped at most once.
    Collinear points are not vertices.

    Examples
    --------
    >>> _upper_chain(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.0, 2.0, 2.5, 3.0]))
    array([0, 1, 3])
    """
    xs, ys = x.tolist(), y.tolist()
    chain: list[int] = []
    for i, (px, py) in enumerate(zip(xs, ys, strict=True)):
        while len(chain) >= 2:
            a, b = chain[-2], chain[-1]
            if (xs[b] - xs[a]) * (py - ys[a]) - (ys[b] - ys[a]) * (px - xs[a]) >= 0:
                chain.pop()  # b is on or below the chord from a to the new point
            else:
                break
        chain.append(i)
    return np.array(chain, dtype=np.int64)


def _hull(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Vertices ``(cost, quality)`` of the non-decreasing concave hull, by increasing cost.

    The hull's value at a cost ``c`` (between its first and last vertices) is the highest mean
    quality of a random mixture of the points with mean cost ``<= c``. Its first vertex is the
    cheapest point (the best one among the cheapest); its last the best point (the cheapest one
    among the best). Dominated points are dropped first.
    """
    order = np.lexsort((-quality, cost))  # by cost, then best quality first
    x, y = cost[order], quality[order]
    best_before = np.maximum.accumulate(np.r_[-np.inf, y[:-1]])
    pareto = y > best_before  # strictly better than every cheaper-or-equal point
    x, y = x[pareto], y[pareto]
    chain = _upper_chain(x, y)
    vertices = np.column_stack([x[chain], y[chain]])
    vertices.setflags(write=False)
    return vertices


def _hull_area(hull: np.ndarray, low: float, high: float) -> float:
    """Mean of the hull's value over ``[low, high]``, extended flat beyond both end vertices."""
    hx, hy = hull[:, 0], hull[:, 1]
    if high == low:
        return float(np.interp(low, hx, hy))
    inner = hx[(hx > low) & (hx < high)]
    xs = np.r_[low, inner, high]
    return float(np.trapezoid(np.interp(xs, hx, hy), xs) / (high - low))


def aiq(
    cost: ArrayLike, quality: ArrayLike, cost_range: tuple[float, float] | None = None
) -> float:
    """RouterBench's Average Improvement in Quality: the mean height of the hull over costs.

    The points ``(cost[j], quality[j])`` are routings (or models) with their mean cost and mean
    quality per query. Randomising between two of them reaches every point of the segment
    joining them, and a budget ``c`` may be underspent, so the quality reachable at mean cost
    ``<= c`` is ``H(c)``, the *non-decreasing concave hull* of the points (Hu et al., 2024,
    arXiv:2403.12031). AIQ is its mean over the cost range ``[low, high]``::

        AIQ = 1 / (high - low) * integral from low to high of H(c) dc,

    computed exactly (``H`` is piecewise linear).

    Parameters
    ----------
    cost : array-like of shape (n_points,)
        Mean cost per query of each point; finite.
    quality : array-like of shape (n_points,)
        Mean quality per query of each point; finite.
    cost_range : (float, float), optional
        ``(low, high)`` with ``low <= high``. Defaults to the smallest and the largest
        ``cost``. :func:`cost_quality_curve` passes the cheapest and the dearest model's cost.

    Returns
    -------
    float
        The AIQ, in the units of ``quality``.

    Raises
    ------
    ValueError
        If the inputs are not 1-D, finite and of the same non-zero length, or ``low > high``.
    TypeError
        If ``cost_range`` is not a pair of real numbers.

    Notes
    -----
    The ends, precisely. Let ``c0`` be the cost of the cheapest point (the best one if several
    share that cost) and ``c1`` that of the best point (the cheapest if several share the best
    quality). On ``[c0, c1]``, ``H`` is the upper concave hull of the points, non-decreasing
    because every dominated point (another is at least as cheap and at least as good) is
    dropped. Beyond ``c1``, ``H`` stays at the best quality (a larger budget may be
    underspent). Below ``c0`` no routing is that cheap; ``H`` is then taken as ``H(c0)``, so
    that a range starting a rounding error below the cheapest routing is harmless. A curve
    from :func:`cost_quality_curve` starts at the cheapest model's cost, so this convention
    never changes its AIQ beyond float rounding. If ``low == high`` the AIQ is ``H(low)``, the
    limit of the mean over a shrinking range.

    Examples
    --------
    >>> from metarouter_econml.evaluation import aiq
    >>> # Hull (1, 1/3) -> (7/3, 5/6), then flat to 3: (4/3 * 7/12 + 2/3 * 5/6) / 2 = 2/3.
    >>> round(aiq([7 / 3, 5 / 3, 1.0], [5 / 6, 0.5, 1 / 3], cost_range=(1.0, 3.0)), 6)
    0.666667
    >>> aiq([1.0, 3.0], [0.0, 1.0])  # the chord: mean 0.5 over [1, 3]
    0.5
    """
    x = check_vector(cost, "cost", min_length=1)
    y = check_vector(quality, "quality", min_length=1)
    if x.size != y.size:
        raise ValueError(
            f"`cost` and `quality` must have the same length; got {x.size} and {y.size}."
        )
    low, high = (
        (float(x.min()), float(x.max())) if cost_range is None else _check_cost_range(cost_range)
    )
    return _hull_area(_hull(x, y), low, high)


# ------------------------------------------------------------------------------------------------
# The curve
# ------------------------------------------------------------------------------------------------
def _fmt(value: float) -> str:
    return f"{value:.4g}"


# ``eq=False``: comparing arrays elementwise has no single truth value. No ``slots=True`` (see
# EfficiencyGainCurve).
@dataclass(frozen=True, eq=False)
class CostQualityCurve:
    """Mean cost and mean true quality of a router's routings, with their hull and AIQ.

    Usually built by :func:`cost_quality_curve`, :func:`fixed_mix_curve` or
    :func:`oracle_curve`. The arrays are read-only copies; ``hull`` and ``aiq`` are computed
    from the points.

    Parameters
    ----------
    cost : array-like of shape (n_points,)
        Mean cost per query of each routing.
    quality : array-like of shape (n_points,)
        Mean true quality per query of each routing.
    cost_weights : array-like of shape (n_points,), optional
        Cost weight ``w`` of each routing: from a sweep, the routing holds for every ``w`` from
        this value up to the next one (the last for every larger ``w``). None for points that
        are not routings of one router (:func:`fixed_mix_curve`).
    cost_range : (float, float), optional
        The costs ``(low, high)`` over which :attr:`aiq` averages the hull; defaults to the
        smallest and largest ``cost``.
    models : tuple, optional
        Name of the model of each point when each point is one model (:func:`fixed_mix_curve`);
        drawn next to the points.

    Attributes
    ----------
    hull : numpy.ndarray of shape (n_vertices, 2)
        Vertices ``(cost, quality)`` of the non-decreasing concave hull, by increasing cost:
        the best mean quality reachable by randomising between routings, as a function of the
        budget (see :func:`aiq` for the ends).
    aiq : float
        RouterBench's AIQ: the mean of the hull's value over ``cost_range`` (:func:`aiq`).

    Examples
    --------
    >>> from metarouter_econml.evaluation import CostQualityCurve
    >>> curve = CostQualityCurve(cost=[1.0, 2.0, 3.0], quality=[0.2, 0.3, 0.6])
    >>> curve.hull  # (2, 0.3) lies under the chord from (1, 0.2) to (3, 0.6)
    array([[1. , 0.2],
           [3. , 0.6]])
    >>> print(curve)
    CostQualityCurve: 3 routings, mean cost 1-3 (AIQ over 1-3), aiq=0.4, best quality 0.6
    """

    cost: np.ndarray
    quality: np.ndarray
    cost_weights: np.ndarray | None = None
    cost_range: tuple[float, float] | None = None
    models: tuple[Any, ...] | None = None
    hull: np.ndarray = field(init=False, repr=False)
    aiq: float = field(init=False)

    def __post_init__(self) -> None:
        cost, quality = _readonly(self.cost, "cost"), _readonly(self.quality, "quality")
        if cost.shape != quality.shape:
            raise ValueError(
                "`cost` and `quality` must have the same length; got "
                f"{cost.size} and {quality.size}."
            )
        object.__setattr__(self, "cost", cost)
        object.__setattr__(self, "quality", quality)
        if self.cost_weights is not None:
            weights = _readonly(self.cost_weights, "cost_weights")
            if weights.shape != cost.shape:
                raise ValueError(
                    "`cost_weights` must have one value per point; got "
                    f"{weights.size} for {cost.size} points."
                )
            object.__setattr__(self, "cost_weights", weights)
        if self.cost_range is None:
            cost_range = (float(cost.min()), float(cost.max()))
        else:
            cost_range = _check_cost_range(self.cost_range)
        object.__setattr__(self, "cost_range", cost_range)
        if self.models is not None:
            models = tuple(self.models)
            if len(models) != cost.size:
                raise ValueError(
                    f"`models` must name every point; got {len(models)} for {cost.size} points."
                )
            object.__setattr__(self, "models", models)
        hull = _hull(cost, quality)
        object.__setattr__(self, "hull", hull)
        object.__setattr__(self, "aiq", _hull_area(hull, *cost_range))

    @property
    def n_points(self) -> int:
        """Number of points (routings) of the curve."""
        return int(self.cost.size)

    def quality_at_budget(self, budget: float) -> float:
        """Best mean quality reachable with mean cost ``<= budget``: the hull's value there.

        Randomising between the two routings of the hull that surround ``budget`` meets the
        budget in expectation; past the best routing the budget is underspent.

        Parameters
        ----------
        budget : float
            Mean cost per query allowed.

        Returns
        -------
        float
            The hull's value at ``budget``; NaN if ``budget`` is below the cheapest routing's
            mean cost (beyond a relative tolerance of 1e-9 for float rounding): no routing of
            this curve meets it.

        Raises
        ------
        TypeError
            If ``budget`` is not a real number.
        ValueError
            If ``budget`` is not finite.

        Examples
        --------
        >>> from metarouter_econml.evaluation import CostQualityCurve
        >>> curve = CostQualityCurve(cost=[1.0, 3.0], quality=[0.2, 0.6])
        >>> curve.quality_at_budget(2.0), curve.quality_at_budget(5.0)
        (0.4, 0.6)
        >>> curve.quality_at_budget(0.5)
        nan
        """
        value = Real().check(budget, "budget")
        hx, hy = self.hull[:, 0], self.hull[:, 1]
        scale = max(abs(float(hx[0])), float(hx[-1] - hx[0]), float(np.finfo(float).tiny))
        if value < hx[0] - _RTOL * scale:
            return float("nan")
        return float(np.interp(value, hx, hy))

    def summary(self) -> pd.DataFrame:
        """One-row table of the curve's headline numbers.

        Returns
        -------
        pandas.DataFrame
            Columns ``aiq``, ``n_points``, ``n_hull_vertices``, ``cost_min``, ``cost_max``,
            ``quality_min``, ``quality_max``, ``range_low`` and ``range_high``.
        """
        assert self.cost_range is not None  # set in __post_init__
        return pd.DataFrame(
            {
                "aiq": [self.aiq],
                "n_points": [self.n_points],
                "n_hull_vertices": [int(self.hull.shape[0])],
                "cost_min": [float(self.cost.min())],
                "cost_max": [float(self.cost.max())],
                "quality_min": [float(self.quality.min())],
                "quality_max": [float(self.quality.max())],
                "range_low": [self.cost_range[0]],
                "range_high": [self.cost_range[1]],
            }
        )

    def to_frame(self) -> pd.DataFrame:
        """The points as a table: ``cost_weight`` (if known), ``cost``, ``quality``, ``model``."""
        table: dict[str, Any] = {}
        if self.cost_weights is not None:
            table["cost_weight"] = self.cost_weights.copy()
        table["cost"] = self.cost.copy()
        table["quality"] = self.quality.copy()
        if self.models is not None:
            table["model"] = list(self.models)
        return pd.DataFrame(table)

    def __str__(self) -> str:
        assert self.cost_range is not None
        low, high = self.cost_range
        return (
            f"CostQualityCurve: {self.n_points} routings, mean cost "
            f"{_fmt(float(self.cost.min()))}-{_fmt(float(self.cost.max()))} (AIQ over "
            f"{_fmt(low)}-{_fmt(high)}), aiq={_fmt(self.aiq)}, best quality "
            f"{_fmt(float(self.quality.max()))}"
        )

    def _hull_line(self) -> tuple[np.ndarray, np.ndarray]:
        """The hull's vertices, extended flat to both ends of ``cost_range``."""
        assert self.cost_range is not None
        hx, hy = self.hull[:, 0], self.hull[:, 1]
        low, high = self.cost_range
        if low < hx[0]:
            hx, hy = np.r_[low, hx], np.r_[hy[0], hy]
        if high > hx[-1]:
            hx, hy = np.r_[hx, high], np.r_[hy, hy[-1]]
        return hx, hy

    def plot(
        self,
        ax: Axes | None = None,
        *,
        label: str | None = None,
        points: bool = True,
        **kwargs: Any,
    ) -> Axes:
        """Draw the hull (the curve the AIQ averages) and, optionally, every routing's point.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Axes to draw on; a new figure is created if None.
        label : str, optional
            Legend label of the hull; a legend is drawn when given.
        points : bool, default=True
            Also mark the routings (small dots of the hull's colour; models are named when
            the points are single models).
        **kwargs
            Passed to :meth:`matplotlib.axes.Axes.plot` for the hull.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        ax = _axes(ax)
        hx, hy = self._hull_line()
        (line,) = ax.plot(hx, hy, label=label, **kwargs)
        if points:
            size = 4 if self.models is not None or self.n_points <= 200 else 1
            ax.plot(
                self.cost,
                self.quality,
                linestyle="none",
                marker="o",
                markersize=size,
                color=line.get_color(),
                alpha=0.6,
            )
            for name, x, y in zip(self.models or (), self.cost, self.quality, strict=False):
                ax.annotate(
                    str(name), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8
                )
        ax.set_xlabel("mean cost per query")
        ax.set_ylabel("mean quality per query")
        if label is not None:
            ax.legend()
        return ax


def _sweep(
    s: np.ndarray, q: np.ndarray, c: np.ndarray
) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
    """Every change of decision as the cost weight grows from 0: the exact sweep.

    For one query the lines ``s_k - w * c_k`` have an upper envelope over ``w >= 0`` whose
    pieces are the decisions; as ``w`` grows the decision moves to ever cheaper models. From
    the current model the next one is the strictly cheaper model whose line crosses first,
    at ``w = (s_cur - s_j) / (c_cur - c_j)`` (of several crossing together, the cheapest,
    then the earliest column: the tie rule). Dearer or equally dear models never overtake.
    At most ``K - 1`` vectorised steps, each over the queries not yet at a cheapest model.

    Returns
    -------
    start_cost, start_quality : float
        Total cost and total true quality of the routing at ``w = 0``.
    w, d_cost, d_quality : numpy.ndarray
        One entry per change of decision, sorted by ``w``: the weight from which it holds and
        the change of the query's cost and true quality.
    """
    n, k = s.shape
    order = np.lexsort((np.arange(k), c))  # by cost, then column: first index wins ties
    s, q, c = s[:, order], q[:, order], c[order]
    rows = np.arange(n)
    current = np.argmax(s, axis=1)  # first maximum: the cheapest, then the earliest column
    start_cost = float(c[current].sum())
    start_quality = float(q[rows, current].sum())
    weight = np.zeros(n)
    events_w, events_c, events_q = [], [], []
    active = rows[c[current] > c[0]]  # queries not yet at a cheapest model
    while active.size:
        cur = current[active]
        c_cur = c[cur]
        cheaper = c[None, :] < c_cur[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing = (s[active, cur][:, None] - s[active]) / (c_cur[:, None] - c[None, :])
        crossing = np.where(cheaper, crossing, np.inf)
        nxt = np.argmin(crossing, axis=1)  # first minimum: the cheapest among simultaneous ones
        # Every active query has a strictly cheaper model with a finite crossing; the maximum
        # keeps the order of a query's own changes under float rounding.
        w_next = np.maximum(crossing[np.arange(active.size), nxt], weight[active])
        events_w.append(w_next)
        events_c.append(c[nxt] - c_cur)
        events_q.append(q[active, nxt] - q[active, cur])
        current[active] = nxt
        weight[active] = w_next
        active = active[c[nxt] > c[0]]
    if not events_w:
        empty = np.zeros(0)
        return start_cost, start_quality, empty, empty, empty
    w = np.concatenate(events_w)
    by_w = np.argsort(w, kind="stable")
    return (
        start_cost,
        start_quality,
        w[by_w],
        np.concatenate(events_c)[by_w],
        np.concatenate(events_q)[by_w],
    )


def cost_quality_curve(
    scores: pd.DataFrame,
    quality: pd.DataFrame,
    costs: Mapping[Any, float],
    cost_weights: ArrayLike | None = None,
) -> CostQualityCurve:
    """The cost-quality curve of a multi-model router and its AIQ, by an exact sweep.

    With a cost weight ``w >= 0`` each query goes to ``argmax_k (scores_k - w * cost_k)``,
    ties broken toward the cheaper model, then toward the earlier column of ``scores``. For
    each routing the curve records the mean cost and the mean true ``quality`` of the chosen
    models over the queries.

    By default every routing is found exactly: a query's decision changes only where two of
    its lines ``scores_k - w * cost_k`` cross on their upper envelope, at most ``K - 1`` times,
    always toward a cheaper model. The curve has one point at ``w = 0`` (the best predicted
    quality whatever the cost) and one at each weight where some query's decision changes,
    up to the last, beyond which every query goes to a cheapest model. Consecutive points are
    distinct routings; their mean cost decreases along the curve.

    Parameters
    ----------
    scores : pandas.DataFrame of shape (n_queries, n_models)
        The router's estimated quality of each model (column) on each query. The column
        order sets the last tie rule.
    quality : pandas.DataFrame of shape (n_queries, n_models)
        True (gold-scale) quality of each model on the same queries: the same columns (in any
        order: matched by name) and the same index (rows are matched by position).
    costs : mapping
        Cost per query of each model: every column must be a key (extra keys are ignored),
        each cost a finite number >= 0.
    cost_weights : array-like, optional
        Evaluate only these weights instead (strictly increasing, >= 0): one point per weight,
        computed from the same sweep (so the tie rule at a crossing holds exactly).

    Returns
    -------
    CostQualityCurve
        Points in order of increasing cost weight, ``cost_weights`` (the weight from which
        each routing holds), the hull, and the AIQ over ``[min(costs), max(costs)]`` of the
        models (:func:`aiq`).

    Raises
    ------
    TypeError
        If ``scores`` or ``quality`` is not a DataFrame or holds non-numeric columns, ``costs``
        is not a mapping, or a cost is not a real number.
    ValueError
        If the tables are empty, non-finite or do not match (columns, rows, index), a model
        has no cost or a negative or non-finite one, or ``cost_weights`` are negative or not
        strictly increasing.

    See Also
    --------
    oracle_curve : The same with the true quality as scores.
    fixed_mix_curve : Random routing in fixed proportions, the baseline.

    Notes
    -----
    The sweep takes at most ``K - 1`` vectorised steps over the queries, plus a sort of the
    at most ``n (K - 1)`` changes of decision; 100,000 queries and 10 models take well under
    a second. Adding the same number to every score of a query changes no decision.

    Examples
    --------
    >>> import pandas as pd
    >>> from metarouter_econml.evaluation import cost_quality_curve
    >>> scores = pd.DataFrame({"small": [0.0, 1.0, 2.0], "large": [2.0, 2.0, 1.0]})
    >>> quality = pd.DataFrame({"small": [0.0, 0.0, 1.0], "large": [0.5, 1.0, 0.0]})
    >>> curve = cost_quality_curve(scores, quality, {"small": 1.0, "large": 3.0})
    >>> curve.cost_weights  # query 1 switches to "small" at w = 0.5, query 0 at w = 1
    array([0. , 0.5, 1. ])
    >>> curve.cost.round(4), curve.quality.round(4)
    (array([2.3333, 1.6667, 1.    ]), array([0.8333, 0.5   , 0.3333]))
    >>> round(curve.aiq, 4), round(curve.quality_at_budget(5 / 3), 4)
    (0.6667, 0.5833)
    """
    models, s, q = _check_pair(scores, quality)
    c = _check_costs(costs, models)
    grid = None if cost_weights is None else _check_cost_weights(cost_weights)
    n = s.shape[0]
    start_cost, start_quality, w, d_cost, d_quality = _sweep(s, q, c)
    total_cost = np.r_[start_cost, start_cost + np.cumsum(d_cost)]
    total_quality = np.r_[start_quality, start_quality + np.cumsum(d_quality)]
    if grid is None:
        last = np.flatnonzero(np.r_[w[1:] != w[:-1], True]) if w.size else np.zeros(0, int)
        at = np.r_[0, last + 1]  # number of changes applied: none, then each distinct w
        weights = np.r_[0.0, w[last]]
        if weights.size > 1 and weights[1] == 0.0:  # changes at w = 0 (rounding): one routing
            at, weights = at[1:], weights[1:]
    else:
        at = np.searchsorted(w, grid, side="right")
        weights = grid
    return CostQualityCurve(
        cost=total_cost[at] / n,
        quality=total_quality[at] / n,
        cost_weights=weights,
        cost_range=(float(c.min()), float(c.max())),
    )


def oracle_curve(
    quality: pd.DataFrame, costs: Mapping[Any, float], cost_weights: ArrayLike | None = None
) -> CostQualityCurve:
    """The cost-quality curve of the oracle router, which knows the true quality.

    ``cost_quality_curve(quality, quality, costs, cost_weights)``: at each cost weight ``w`` it
    maximises mean quality minus ``w`` times mean cost over every routing, so its hull lies on
    or above that of any router scored on the same ``quality`` (and of the fixed mix).

    Parameters
    ----------
    quality : pandas.DataFrame of shape (n_queries, n_models)
        True quality of each model (column) on each query.
    costs : mapping
        Cost per query of each model (see :func:`cost_quality_curve`).
    cost_weights : array-like, optional
        Evaluate only these weights (see :func:`cost_quality_curve`).

    Returns
    -------
    CostQualityCurve
        The oracle's curve; it is concave (the slope between consecutive routings is the
        weight at which they swap).

    Examples
    --------
    >>> import pandas as pd
    >>> from metarouter_econml.evaluation import oracle_curve
    >>> quality = pd.DataFrame({"small": [0.0, 0.0, 1.0], "large": [0.5, 1.0, 0.0]})
    >>> curve = oracle_curve(quality, {"small": 1.0, "large": 3.0})
    >>> curve.cost_weights, curve.quality.round(4)
    (array([0.  , 0.25, 0.5 ]), array([0.8333, 0.6667, 0.3333]))
    >>> round(curve.aiq, 4)  # 25 / 36
    0.6944
    """
    return cost_quality_curve(quality, quality, costs, cost_weights)


def fixed_mix_curve(quality: pd.DataFrame, costs: Mapping[Any, float]) -> CostQualityCurve:
    """The best fixed mix: every model's point and their hull, the baseline of routing.

    Sending every query to model ``k`` gives the point ``(cost_k, mean quality_k)``; sending
    each query to model ``k`` with probability ``p_k``, whatever the query, gives in
    expectation the mixture of those points. The best such random routing at each budget is
    the non-decreasing concave hull of the single models' points, and its AIQ is the
    baseline a router must beat.

    Parameters
    ----------
    quality : pandas.DataFrame of shape (n_queries, n_models)
        True quality of each model (column) on each query.
    costs : mapping
        Cost per query of each model (see :func:`cost_quality_curve`).

    Returns
    -------
    CostQualityCurve
        One point per model, in column order, with ``models`` naming them,
        ``cost_weights=None`` and the AIQ over ``[min(costs), max(costs)]``.

    Examples
    --------
    >>> import pandas as pd
    >>> from metarouter_econml.evaluation import fixed_mix_curve
    >>> quality = pd.DataFrame({"small": [0.0, 0.0, 1.0], "large": [0.5, 1.0, 0.0]})
    >>> mix = fixed_mix_curve(quality, {"small": 1.0, "large": 3.0})
    >>> mix.to_frame().round(4)
       cost  quality  model
    0   1.0   0.3333  small
    1   3.0   0.5000  large
    >>> round(mix.aiq, 4)  # (1/3 + 1/2) / 2
    0.4167
    """
    q = _check_frame(quality, "quality")
    models = quality.columns.tolist()
    c = _check_costs(costs, models)
    return CostQualityCurve(
        cost=c,
        quality=q.mean(axis=0),
        cost_range=(float(c.min()), float(c.max())),
        models=tuple(models),
    )


def _aiq_of(value: Any, name: str) -> float:
    if isinstance(value, CostQualityCurve):
        return value.aiq
    return Real().check(value, name)


def oracle_share(router_aiq: Any, mix_aiq: Any, oracle_aiq: Any) -> float:
    """Share of the oracle's AIQ gain over the best fixed mix that a router recovers.

    ``(router_aiq - mix_aiq) / (oracle_aiq - mix_aiq)``: 0 for a router no better than random
    routing in fixed proportions, 1 for the oracle; negative for a router below the fixed mix.

    Parameters
    ----------
    router_aiq, mix_aiq, oracle_aiq : float or CostQualityCurve
        AIQs of the router, of :func:`fixed_mix_curve` and of :func:`oracle_curve` on the same
        queries and costs, or the curves themselves.

    Returns
    -------
    float
        The share; NaN when ``oracle_aiq`` equals ``mix_aiq`` (up to a relative tolerance of
        1e-9): no routing beats the fixed mix, so there is no gap to recover.

    Raises
    ------
    TypeError
        If an argument is neither a real number nor a :class:`CostQualityCurve`.
    ValueError
        If an AIQ is not finite, ``oracle_aiq < mix_aiq`` beyond the tolerance (impossible
        on the same queries: the oracle's hull dominates the fixed mix's), or curves given
        have different ``cost_range``.

    Examples
    --------
    >>> from metarouter_econml.evaluation import oracle_share
    >>> round(oracle_share(2 / 3, 5 / 12, 25 / 36), 12)
    0.9
    >>> oracle_share(0.5, 0.5, 0.5)
    nan
    """
    given = {
        name: value.cost_range
        for name, value in (
            ("router_aiq", router_aiq),
            ("mix_aiq", mix_aiq),
            ("oracle_aiq", oracle_aiq),
        )
        if isinstance(value, CostQualityCurve)
    }
    if len(set(given.values())) > 1:
        raise ValueError(
            "The curves must average their hulls over the same cost range (the same costs); "
            f"got {given}."
        )
    router = _aiq_of(router_aiq, "router_aiq")
    mix = _aiq_of(mix_aiq, "mix_aiq")
    oracle = _aiq_of(oracle_aiq, "oracle_aiq")
    gap = oracle - mix
    if abs(gap) <= _RTOL * max(abs(oracle), abs(mix)):
        return float("nan")
    if gap < 0:
        raise ValueError(
            "`oracle_aiq` must be >= `mix_aiq` (on the same queries the oracle dominates the "
            f"best fixed mix); got oracle_aiq={oracle!r} and mix_aiq={mix!r}."
        )
    return (router - mix) / gap


def plot_frontier(
    curves: Mapping[str, CostQualityCurve],
    ax: Axes | None = None,
    *,
    fixed_mix: CostQualityCurve | None = None,
    oracle: CostQualityCurve | None = None,
    points: bool = False,
) -> Axes:
    """Draw the hulls of several routers, with the fixed mix and the oracle for reference.

    Parameters
    ----------
    curves : mapping of str to CostQualityCurve
        Routers to draw, labelled by name and AIQ in the legend.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created if None.
    fixed_mix : CostQualityCurve, optional
        :func:`fixed_mix_curve` of the same queries, drawn dashed grey with the single models.
    oracle : CostQualityCurve, optional
        :func:`oracle_curve` of the same queries, drawn dotted black.
    points : bool, default=False
        Also mark every routing of the routers' curves.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.

    Raises
    ------
    TypeError
        If ``curves`` is not a mapping of names to CostQualityCurve, or ``fixed_mix`` or
        ``oracle`` is not a CostQualityCurve.
    ValueError
        If there is nothing to draw.
    """
    if not isinstance(curves, Mapping):
        raise TypeError(
            f"`curves` must be a mapping of names to CostQualityCurve; got {type(curves).__name__}."
        )
    for name, curve in curves.items():
        if not isinstance(curve, CostQualityCurve):
            raise TypeError(
                f"`curves[{name!r}]` must be a CostQualityCurve; got {type(curve).__name__}."
            )
    for name, reference in (("fixed_mix", fixed_mix), ("oracle", oracle)):
        if reference is not None and not isinstance(reference, CostQualityCurve):
            raise TypeError(f"`{name}` must be a CostQualityCurve; got {type(reference).__name__}.")
    if not curves and fixed_mix is None and oracle is None:
        raise ValueError(
            "`curves` is empty and no `fixed_mix` or `oracle` is given: nothing to draw."
        )
    ax = _axes(ax)
    for name, curve in curves.items():
        curve.plot(ax, label=f"{name} (AIQ {curve.aiq:.3g})", points=points)
    if oracle is not None:
        oracle.plot(ax, label=f"oracle (AIQ {oracle.aiq:.3g})", points=False, **ORACLE_STYLE)
    if fixed_mix is not None:
        fixed_mix.plot(ax, label=f"fixed mix (AIQ {fixed_mix.aiq:.3g})", **_MIX_STYLE)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax
