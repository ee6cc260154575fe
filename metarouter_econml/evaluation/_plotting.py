"""Drawing of efficiency-gain curves (matplotlib is imported only when something is drawn).

The result objects (:class:`~metarouter_econml.evaluation.EfficiencyGainCurve`,
:class:`~metarouter_econml.evaluation.ProtocolResult`) hold the numbers; their ``plot``
methods hand them to the functions here. Nothing here computes a metric, and nothing changes
matplotlib's global state (no backend selection, no style).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["plot_curve", "plot_mean_curves"]

#: Line style of the oracle methods in protocol plots.
ORACLE_STYLE: dict[str, Any] = {"color": "black", "linestyle": ":"}


def _axes(ax: Axes | None, **figure_kwargs: Any) -> Axes:
    """Return ``ax``, or the axes of a new pyplot figure."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(**figure_kwargs)
    return new


def plot_curve(
    ratios: np.ndarray,
    gains: np.ndarray,
    *,
    ax: Axes | None = None,
    label: str | None = None,
    **kwargs: Any,
) -> Axes:
    """Draw one curve, gain against ratio, with a dashed zero line for random routing.

    Parameters
    ----------
    ratios, gains : numpy.ndarray of shape (n_ratios,)
        The curve's points.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created if None.
    label : str, optional
        Legend label; a legend is drawn when given.
    **kwargs
        Passed to :meth:`matplotlib.axes.Axes.plot`.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    ax = _axes(ax)
    ax.plot(ratios, gains, label=label, **kwargs)
    ax.axhline(0.0, linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("share of queries sent to the primary")
    ax.set_ylabel("efficiency gain (normalised)")
    if label is not None:
        ax.legend()
    return ax


def plot_mean_curves(
    curves: pd.DataFrame,
    names: Sequence[str],
    *,
    oracles: set[str],
    ax: Axes | None = None,
    band: bool = True,
    title: str = "",
) -> Axes:
    """Draw the mean curve of each method, optionally with its band (the paper's Figure 1).

    Parameters
    ----------
    curves : pandas.DataFrame
        Columns ``method``, ``ratio``, ``mean``, ``lower``, ``upper`` (as returned by
        :meth:`~metarouter_econml.evaluation.ProtocolResult.mean_curves`).
    names : sequence of str
        Methods to draw, in this order.
    oracles : set of str
        Methods drawn in the oracle's style (black, dotted).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is created if None.
    band : bool, default=True
        Shade ``lower``-``upper`` around each mean curve.
    title : str, default=""
        Title of the axes.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    ax = _axes(ax, figsize=(8, 5))
    for name in names:
        part = curves[curves["method"] == name]
        style = ORACLE_STYLE if name in oracles else {}
        (line,) = ax.plot(part["ratio"], part["mean"], label=name, linewidth=1.8, **style)
        if band:
            ax.fill_between(
                part["ratio"],
                part["lower"],
                part["upper"],
                color=line.get_color(),
                alpha=0.15,
                linewidth=0,
            )
    ax.axhline(0.0, linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("share of queries sent to the primary model")
    ax.set_ylabel("efficiency gain (normalised)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax
