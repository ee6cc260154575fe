"""The baselines the Meta-Router is compared with: one choice of training labels each.

========================  ==================================================================
router                    training rows and labels (GS labels first rescaled to the PB scale)
========================  ==================================================================
``GoldOnlyRouter``        GS rows only
``PreferenceOnlyRouter``  PB rows only
``PooledRouter``          GS rows and PB rows as they are (naive union, RouteLLM-style)
``MeanShiftRouter``       GS rows and PB rows shifted by the global mean difference
========================  ==================================================================
"""

from __future__ import annotations

import numpy as np

from ._base import BaseRouter

__all__ = [
    "GoldOnlyRouter",
    "MeanShiftRouter",
    "PooledRouter",
    "PreferenceOnlyRouter",
    "mean_shift_labels",
]


def mean_shift_labels(y_pb: np.ndarray, gold: np.ndarray) -> tuple[float, np.ndarray]:
    """The global shift ``mean(GS) - mean(PB)`` and the labels with every PB label shifted by it."""
    shift = float(y_pb[gold].mean() - y_pb[~gold].mean())
    return shift, np.where(gold, y_pb, y_pb + shift)


class GoldOnlyRouter(BaseRouter):
    """Baseline trained on the gold-standard rows alone (accurate but scarce).

    Parameters
    ----------
    router_model : scikit-learn regressor, default=None
        Regressor for ``psi``. None means a choice validated on the training rows, the same for
        every router. Up to 2,000 rows: 300 boosted trees, replaced by a random forest (both
        LightGBM) when the forest has a lower cross-validated squared error on the router's
        training labels by more than one standard error of the paired difference (below 10
        rows, boosted trees without a choice). Above: boosted trees whose number is chosen by
        early stopping on a 25% hold-out, kept when they beat the mean of the labels there by
        more than one standard error, otherwise the forest. Boosted trees, when kept, are
        averaged with a small random forest (50 trees of 15 leaves, scikit-learn's
        ``VotingRegressor``; ``benchmarks/RESULTS.md`` §13n). The scores are kept in
        ``router_model_scores_``.
    gold_scale : {"variance", "wasserstein", "none"} or float, default="variance"
        How GS labels are put on the PB scale before training (see :class:`MetaRouter`).
    cost_primary, cost_alternative : float, default=1.0, 0.0
        Per-query costs of the two models in the units the cost weight prices.
    n_jobs : int or None, default=None
        Threads of the default LightGBM ``router_model`` when fitting and predicting; None means
        1, -1 all cores. The fitted trees are the same for every value (LightGBM runs with
        ``deterministic=True`` and a fixed histogram layout); only speed changes. A
        ``router_model`` you pass keeps its own setting.
    random_state : int, RandomState or None, default=None
        Seed for every random step.

    Attributes
    ----------
    router_model_ : regressor
        The fitted psi regressor (with ``router_model=None``: a LightGBM model, or the
        ``VotingRegressor`` averaging the boosted trees with the small forest).
    router_model_scores_ : DataFrame or None
        With ``router_model=None``: per candidate (index ``"boosted"``, ``"forest"``; above
        2,000 rows also ``"mean"``, the constant prediction), the held-out mean squared error
        ``mse`` (NaN for the forest above 2,000 rows: not scored), the paired difference against
        the boosted model (above 2,000 rows: against the mean) ``diff`` with its standard error
        ``diff_se``, the number of trees ``trees`` and ``chosen``. None when ``router_model``
        was given (or with fewer than 10 rows).
    scale_ : float
        Gold-to-preference scale factor.

    Examples
    --------
    >>> from metarouter_econml import GoldOnlyRouter
    >>> from metarouter_econml.datasets import make_routing_data
    >>> data = make_routing_data(1000, 10, random_state=0)
    >>> split = data.split(n_test=200, n_gold=100, random_state=0)
    >>> router = GoldOnlyRouter(random_state=0)
    >>> router = router.fit(split.X_train, split.y_train, gold=split.gold_train)
    >>> router.predict(split.X_test).shape
    (200,)
    """

    def _training_set(self, X, y_pb, gold, seed, params):
        return gold, y_pb[gold]


class PreferenceOnlyRouter(BaseRouter):
    """Baseline trained on the preference-based rows alone (abundant but biased).

    GS rows are used only to put the predictions back on the GS scale (``scale_``).

    Parameters
    ----------
    router_model, gold_scale, cost_primary, cost_alternative, n_jobs, random_state
        As in :class:`GoldOnlyRouter`.
    """

    def _training_set(self, X, y_pb, gold, seed, params):
        return ~gold, y_pb[~gold]


class PooledRouter(BaseRouter):
    """Baseline trained on the naive union of GS rows (rescaled) and PB rows.

    This is what a RouteLLM-style router does with both label sources: it treats a preference label
    as if it were a gold one.

    Parameters
    ----------
    router_model, gold_scale, cost_primary, cost_alternative, n_jobs, random_state
        As in :class:`GoldOnlyRouter`.
    """

    def _training_set(self, X, y_pb, gold, seed, params):
        return slice(None), y_pb


class MeanShiftRouter(BaseRouter):
    """Baseline that shifts every PB label by the global mean difference, then pools.

    The shift is ``mean(c * r over GS rows) - mean(y over PB rows)``, stored in ``shift_``: the
    right
    correction when the bias is the same for every query, and no better than pooling when it is not.

    Parameters
    ----------
    router_model, gold_scale, cost_primary, cost_alternative, n_jobs, random_state
        As in :class:`GoldOnlyRouter`.
    """

    def _training_set(self, X, y_pb, gold, seed, params):
        self.shift_, target = mean_shift_labels(y_pb, gold)
        return slice(None), target
