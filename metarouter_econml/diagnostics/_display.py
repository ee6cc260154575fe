"""Plots of the overlap between gold-standard and preference-based rows (scikit-learn Display API).

* :class:`OverlapDisplay`: histograms of the cross-fitted propensity P(gold | x) per source, on a
  logarithmic axis (with a gold base rate of a few percent, the interesting differences are
  factors: 0.002 vs 0.02), with the extreme regions of :func:`assess_overlap` shaded.
* :class:`ProjectionDisplay`: the rows on the first two principal components, coloured by source.

matplotlib is imported only when plotting.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator

from .._estimation import propensity_bounds
from .._validation import Seed, check_aligned, check_features, check_gold_mask, random_seed
from ._overlap import DEFAULT_CV, check_propensity, cross_fit_propensity
from ._overrule import principal_components

__all__ = ["OverlapDisplay", "ProjectionDisplay"]

_COLORS = {"preference": "tab:blue", "gold": "tab:orange"}


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


class OverlapDisplay:
    """Histograms of the cross-fitted propensity P(gold | x) of gold and preference rows.

    Create it with :meth:`from_estimator` or :meth:`from_predictions`; both plot immediately.

    Parameters
    ----------
    propensity : ndarray of shape (n_samples,)
        Cross-fitted P(gold | x).
    gold : ndarray of bool, shape (n_samples,)
        True for gold-standard rows.
    bounds : (float, float)
        Propensities outside are extreme (``propensity_bounds(base_rate, factor)``).
    base_rate : float
        Share of gold-standard rows.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter_econml.diagnostics import OverlapDisplay
    >>> rng = np.random.RandomState(0)
    >>> gold = rng.rand(1000) < 0.05
    >>> e = np.clip(0.05 + 0.01 * rng.randn(1000), 0.001, 1)
    >>> display = OverlapDisplay.from_predictions(e, gold)
    >>> display.ax_.get_xlabel()
    'cross-fitted P(gold | x)'
    """

    def __init__(self, *, propensity, gold, bounds, base_rate):
        self.propensity = propensity
        self.gold = gold
        self.bounds = bounds
        self.base_rate = base_rate

    @classmethod
    def from_estimator(
        cls, router, X, gold, *, factor=10.0, random_state=None, ax=None, bins=40, **kwargs
    ):
        """Plot the propensities of a fitted :class:`~metarouter_econml.MetaRouter`.

        The router's cross-fitted propensities are reused when they cover every row of ``X``, i.e.
        when ``X`` and ``gold`` are the training data (only the length can be checked):
        ``propensity_`` (EconML's fold models, each read on its held-out fold), or, when that
        has gaps (a router with ``overlap="trim"``), ``overlap_propensity_``. Otherwise the
        propensity is cross-fitted on ``X`` as :func:`assess_overlap` does, with the router's
        overlap classifier (``model_overlap``, or the default) on ``cv`` folds, with a warning
        when the router's propensities belong to other rows.

        Parameters
        ----------
        router : fitted MetaRouter (or any object with ``propensity_``)
        X : array-like or DataFrame of shape (n_samples, n_features)
        gold : array-like of bool, shape (n_samples,)
        factor : float > 1, default=10.0
            Extremity factor of the shaded bounds.
        random_state : int, RandomState or None, default=None
            Seed when the propensity has to be computed.
        ax : matplotlib Axes, default=None
        bins : int, default=40
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        OverlapDisplay
        """
        X_arr = np.asarray(check_features(BaseEstimator(), X, reset=True), dtype=np.float64)
        n = X_arr.shape[0]
        gold_arr = check_gold_mask(gold, n_rows=n)
        check_aligned(X, gold, "gold")
        seed = random_seed(Seed().check(random_state, "random_state"))
        e, other_length = None, None
        for attr in ("propensity_", "overlap_propensity_"):
            values = getattr(router, attr, None)
            if values is None:
                continue
            values = np.asarray(values, dtype=np.float64)
            if values.shape != (n,):
                other_length = values.size
            elif np.isfinite(values).all():
                e = check_propensity(values, n)
                break
        if e is None:
            if other_length is not None:
                warnings.warn(
                    f"The router's propensities cover {other_length} rows but `X` has {n}, so "
                    "`X` is not its training data; cross-fitting the propensity on `X` instead.",
                    UserWarning,
                    stacklevel=2,
                )
            model, cv = getattr(router, "model_overlap", None), getattr(router, "cv", DEFAULT_CV)
            e, _ = cross_fit_propensity(X_arr, gold_arr, model=model, cv=cv, seed=seed)
        return cls.from_predictions(e, gold_arr, factor=factor, ax=ax, bins=bins, **kwargs)

    @classmethod
    def from_predictions(cls, propensity, gold, *, factor=10.0, ax=None, bins=40, **kwargs):
        """Plot given cross-fitted propensities (e.g. ``OverlapResult.propensity``).

        Parameters
        ----------
        propensity : array-like of shape (n_samples,)
        gold : array-like of bool, shape (n_samples,)
        factor : float > 1, default=10.0
        ax : matplotlib Axes, default=None
        bins : int, default=40
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        OverlapDisplay
        """
        n = len(propensity) if hasattr(propensity, "__len__") else 0
        e = check_propensity(propensity, n)
        gold_arr = check_gold_mask(gold, n_rows=n)
        base_rate = float(gold_arr.mean())
        display = cls(
            propensity=e,
            gold=gold_arr,
            bounds=propensity_bounds(base_rate, factor),
            base_rate=base_rate,
        )
        return display.plot(ax=ax, bins=bins, **kwargs)

    def plot(self, ax=None, *, bins=40, log_x=True, **kwargs):
        """Draw the histograms.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        bins : int, default=40
            Number of bins, equally wide in ``log10(P)`` when ``log_x`` (else in ``P``).
        log_x : bool, default=True
            Logarithmic propensity axis; the density is then per unit of ``log10(P)``, so
            equal areas mean equal shares of rows.
        **kwargs
            Passed to ``Axes.hist`` for both sources (e.g. ``alpha``, ``histtype``).

        Returns
        -------
        self
        """
        ax = _axes(ax)
        e, gold = np.asarray(self.propensity, dtype=np.float64), np.asarray(self.gold, dtype=bool)
        low, high = self.bounds
        if log_x:
            positive = e[e > 0]
            floor = min(low, positive.min()) if positive.size else low
            lo_edge = np.log10(floor) - 0.1
            hi_edge = np.log10(max(e.max(), high, self.base_rate)) + 0.05
            edges = np.logspace(lo_edge, hi_edge, int(bins) + 1)
            e = np.maximum(e, 10**lo_edge)  # exact zeros land in the first bin
            width = (hi_edge - lo_edge) / int(bins)
        else:
            edges = np.linspace(0.0, 1.0, int(bins) + 1)
            width = 1.0 / int(bins)
        style = {"histtype": "stepfilled", "alpha": 0.45, **kwargs}
        for name, mask, label in (
            ("preference", ~gold, "preference-based"),
            ("gold", gold, "gold-standard"),
        ):
            values = e[mask]
            ax.hist(
                values,
                bins=edges,
                weights=np.full(values.size, 1.0 / (values.size * width)),
                color=_COLORS[name],
                label=f"{label} (n={values.size})",
                **style,
            )
        left, right = edges[0], edges[-1]
        ax.axvspan(
            left,
            low,
            color="tab:red",
            alpha=0.12,
            lw=0,
            label=f"extreme: < {low:.3g} or > {high:.3g}",
        )
        if high < right:
            ax.axvspan(high, right, color="tab:red", alpha=0.12, lw=0)
        ax.axvline(
            self.base_rate, color="0.3", ls="--", lw=1, label=f"gold base rate {self.base_rate:.3g}"
        )
        if log_x:
            ax.set_xscale("log")
        ax.set_xlim(left, right)
        ax.set_xlabel("cross-fitted P(gold | x)")
        ax.set_ylabel("density (per unit of log10 P)" if log_x else "density")
        ax.legend(loc="best", fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self


class ProjectionDisplay:
    """The rows on their first two principal components, coloured by evaluation source.

    Gold-standard rows are drawn on top with larger markers. Features are centred (and
    standardised with ``standardize=True``) before the PCA, as for OverRule in
    :func:`assess_overlap`.

    Parameters
    ----------
    components : ndarray of shape (n_samples, 2)
        Principal-component scores.
    gold : ndarray of bool, shape (n_samples,)
    explained_variance_ratio : (float, float)
    standardized : bool

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter_econml.diagnostics import ProjectionDisplay
    >>> rng = np.random.RandomState(0)
    >>> X, gold = rng.randn(300, 4), rng.rand(300) < 0.1
    >>> ProjectionDisplay.from_data(X, gold, random_state=0).ax_.get_xlabel()  # doctest: +ELLIPSIS
    'PC1 (...% of variance)'
    """

    def __init__(self, *, components, gold, explained_variance_ratio, standardized):
        self.components = components
        self.gold = gold
        self.explained_variance_ratio = explained_variance_ratio
        self.standardized = standardized

    @classmethod
    def from_data(cls, X, gold, *, standardize=False, random_state=None, ax=None, **kwargs):
        """Project ``X`` on its first two principal components and plot.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features), at least 2 features
        gold : array-like of bool, shape (n_samples,)
        standardize : bool, default=False
            Standardise features before the PCA (for columns in unrelated units).
        random_state : int, RandomState or None, default=None
            Seed of the PCA.
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        ProjectionDisplay
        """
        X_arr = np.asarray(check_features(BaseEstimator(), X, reset=True), dtype=np.float64)
        if X_arr.shape[1] < 2:
            raise ValueError(
                f"`X` must have at least 2 features for a 2-D projection; got {X_arr.shape[1]}."
            )
        gold_arr = check_gold_mask(gold, n_rows=X_arr.shape[0])
        scores, pca, _ = principal_components(
            X_arr, 2, standardize=bool(standardize), random_state=random_state
        )
        display = cls(
            components=scores,
            gold=gold_arr,
            explained_variance_ratio=tuple(float(v) for v in pca.explained_variance_ratio_),
            standardized=bool(standardize),
        )
        return display.plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, size=6.0, **kwargs):
        """Draw the scatter plot.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        size : float, default=6.0
            Marker size of preference rows; gold rows get four times that.
        **kwargs
            Passed to ``Axes.scatter`` for both sources (e.g. ``alpha``).

        Returns
        -------
        self
        """
        ax = _axes(ax)
        scores, gold = np.asarray(self.components), np.asarray(self.gold, dtype=bool)
        ax.scatter(
            scores[~gold, 0],
            scores[~gold, 1],
            s=size,
            color=_COLORS["preference"],
            label=f"preference-based (n={int((~gold).sum())})",
            **{"alpha": 0.35, **kwargs},
        )
        ax.scatter(
            scores[gold, 0],
            scores[gold, 1],
            s=4 * size,
            color=_COLORS["gold"],
            edgecolors="black",
            linewidths=0.4,
            label=f"gold-standard (n={int(gold.sum())})",
            **{"alpha": 0.9, **kwargs},
        )
        kind = "standardised" if self.standardized else "centred"
        first, second = self.explained_variance_ratio
        ax.set_xlabel(f"PC1 ({first:.1%} of variance)")
        ax.set_ylabel(f"PC2 ({second:.1%} of variance)")
        ax.set_title(f"Principal components of the {kind} features", fontsize="medium")
        ax.legend(loc="best", fontsize="small")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
