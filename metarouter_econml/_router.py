"""Cost-aware routers: the Meta-Router and the baselines it is compared with.

Every router learns ``psi_hat(x)``, the expected gold-standard (GS) quality gain of the primary model
over the alternative, from pooled GS and preference-based (PB) rows. They differ only in the labels
their final regressor (``router_model``) is trained on:

========================  ==================================================================
router                    training rows and labels (GS labels first rescaled to the PB scale)
========================  ==================================================================
``GoldOnlyRouter``        GS rows only
``PreferenceOnlyRouter``  PB rows only
``PooledRouter``          GS rows and PB rows as they are (naive union, RouteLLM-style)
``MeanShiftRouter``       GS rows and PB rows shifted by the global mean difference
``MetaRouter``            GS rows and PB rows debiased by ``Delta_hat(x)`` from EconML
========================  ==================================================================

Predictions are reported back on the GS scale, so ``route`` compares them with the cost of the
primary model in GS units.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from . import _bias
from ._data import check_features, check_gold_mask, check_labels, gold_scale_factor

__all__ = ["GoldOnlyRouter", "MeanShiftRouter", "MetaRouter", "PooledRouter", "PreferenceOnlyRouter"]


def _default_router_model(random_state: int):
    from lightgbm import LGBMRegressor

    return LGBMRegressor(
        n_estimators=300,
        learning_rate=0.03,
        num_leaves=15,
        min_child_samples=20,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        n_jobs=1,
        random_state=random_state,
        verbose=-1,
    )


class _BaseRouter(BaseEstimator):
    """Shared fitting, prediction and routing; subclasses define the training labels."""

    def __init__(
        self,
        *,
        router_model=None,
        gold_scale="variance",
        cost_primary: float = 1.0,
        cost_alternative: float = 0.0,
        random_state=None,
    ):
        self.router_model = router_model
        self.gold_scale = gold_scale
        self.cost_primary = cost_primary
        self.cost_alternative = cost_alternative
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, X, y, *, gold):
        """Fit the router on pooled gold-standard and preference-based rows.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Query features, e.g. embeddings reduced to principal components.
        y : array-like of shape (n_samples,)
            The label of each row: the GS quality gain on gold rows, the PB label elsewhere.
        gold : array-like of bool, shape (n_samples,)
            True for gold-standard rows, False for preference-based rows.

        Returns
        -------
        self
            The fitted router.
        """
        X_arr = check_features(self, X, reset=True)
        y_arr = check_labels(y, n_rows=X_arr.shape[0])
        gold_arr = check_gold_mask(gold, n_rows=X_arr.shape[0])
        self._check_costs()
        self.scale_ = gold_scale_factor(y_arr[gold_arr], y_arr[~gold_arr], self.gold_scale)
        y_pb = np.where(gold_arr, y_arr * self.scale_, y_arr)
        self.n_gold_ = int(gold_arr.sum())
        self.n_preference_ = int((~gold_arr).sum())
        seed = _bias.random_seed(self.random_state)
        rows, target = self._training_set(X_arr, y_pb, gold_arr, seed)
        model = _default_router_model(seed) if self.router_model is None else clone(self.router_model)
        self.router_model_ = model.fit(X_arr[rows], target)
        return self

    def _training_set(self, X, y_pb, gold, seed):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_costs(self):
        for name in ("cost_primary", "cost_alternative"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
                raise ValueError(f"`{name}` must be a finite number; got {value!r}.")

    # -- prediction and routing -------------------------------------------------------------------
    def predict(self, X) -> np.ndarray:
        """Estimated GS quality gain ``psi_hat(x)`` of the primary over the alternative (GS scale).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)
            Features with the same columns (and order) as at fit.

        Returns
        -------
        ndarray of shape (n_queries,)
        """
        check_is_fitted(self, "router_model_")
        X_arr = check_features(self, X, reset=False)
        return np.asarray(self.router_model_.predict(X_arr), dtype=np.float64) / self.scale_

    def route(self, X, cost_weight: float) -> np.ndarray:
        """Decide per query whether to call the primary model.

        The rule is ``psi_hat(x) > cost_weight * (cost_primary - cost_alternative)``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)
        cost_weight : float
            Price of one unit of cost in GS quality units (the paper's ``w``).

        Returns
        -------
        ndarray of bool, shape (n_queries,)
            True where the query goes to the primary model.
        """
        weight = _check_real(cost_weight, "cost_weight")
        return self.predict(X) > weight * (self.cost_primary - self.cost_alternative)

    def threshold_for_ratio(self, X, ratio: float) -> float:
        """The ``cost_weight`` at which ``route(X, cost_weight)`` sends ``floor(ratio * n)`` queries to the primary.

        This is the RouteLLM-style calibration: pick the share of traffic the budget allows and read
        off the cost weight. The threshold is placed midway between the last query sent and the
        first one kept, so small perturbations of the predictions do not change the decisions.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)
            Queries representative of the traffic to route.
        ratio : float in [0, 1]
            Desired share of queries sent to the primary model.

        Returns
        -------
        float
            The cost weight. When predictions tie at the cut-off the exact share is impossible; a
            warning says how many queries the returned weight sends instead (fewer, never more).
        """
        ratio = _check_real(ratio, "ratio")
        if not 0 <= ratio <= 1:
            raise ValueError(f"`ratio` must be in [0, 1]; got {ratio!r}.")
        cost_gap = self.cost_primary - self.cost_alternative
        if not cost_gap > 0:
            raise ValueError(
                "`threshold_for_ratio` needs `cost_primary` > `cost_alternative`; got "
                f"{self.cost_primary!r} and {self.cost_alternative!r}."
            )
        predictions = self.predict(X)
        n = predictions.size
        k = int(np.floor(ratio * n + 1e-9))
        ordered = np.sort(predictions)[::-1]
        if k == 0:
            threshold = ordered[0]
        elif k == n:
            threshold = ordered[-1] - max(1.0, abs(ordered[-1]))
        else:
            threshold = (ordered[k - 1] + ordered[k]) / 2
            if ordered[k - 1] == ordered[k]:
                sent = int(np.sum(predictions > threshold))
                warnings.warn(
                    f"Predictions tie at the cut-off for ratio={ratio}: the returned weight sends {sent} "
                    f"of {n} queries instead of {k}.",
                    UserWarning,
                    stacklevel=2,
                )
        return float(threshold / cost_gap)


class GoldOnlyRouter(_BaseRouter):
    """Baseline trained on the gold-standard rows alone (accurate but scarce).

    Parameters
    ----------
    router_model : scikit-learn regressor, default=None
        Regressor for ``psi``; None means a small LightGBM model (the same for every router).
    gold_scale : {"variance", "wasserstein", "none"} or float, default="variance"
        How GS labels are put on the PB scale before training (see :class:`MetaRouter`).
    cost_primary, cost_alternative : float, default=1.0, 0.0
        Per-query costs of the two models in the units the cost weight prices.
    random_state : int, RandomState or None, default=None
        Seed for every random step.

    Examples
    --------
    >>> from metarouter_econml import GoldOnlyRouter
    >>> from metarouter_econml.datasets import make_routing_data
    >>> split = make_routing_data(1000, 10, random_state=0).split(n_test=200, n_gold=100, random_state=0)
    >>> router = GoldOnlyRouter(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)
    >>> router.predict(split.X_test).shape
    (200,)
    """

    def _training_set(self, X, y_pb, gold, seed):
        return gold, y_pb[gold]


class PreferenceOnlyRouter(_BaseRouter):
    """Baseline trained on the preference-based rows alone (abundant but biased).

    GS rows are used only to put the predictions back on the GS scale (``scale_``).

    Parameters
    ----------
    router_model, gold_scale, cost_primary, cost_alternative, random_state
        As in :class:`GoldOnlyRouter`.
    """

    def _training_set(self, X, y_pb, gold, seed):
        return ~gold, y_pb[~gold]


class PooledRouter(_BaseRouter):
    """Baseline trained on the naive union of GS rows (rescaled) and PB rows.

    This is what a RouteLLM-style router does with both label sources: it treats a preference label
    as if it were a gold one.

    Parameters
    ----------
    router_model, gold_scale, cost_primary, cost_alternative, random_state
        As in :class:`GoldOnlyRouter`.
    """

    def _training_set(self, X, y_pb, gold, seed):
        return slice(None), y_pb


class MeanShiftRouter(_BaseRouter):
    """Baseline that shifts every PB label by the global mean difference, then pools.

    The shift is ``mean(c * r over GS rows) - mean(y over PB rows)``, stored in ``shift_``: the right
    correction when the bias is the same for every query, and no better than pooling when it is not.

    Parameters
    ----------
    router_model, gold_scale, cost_primary, cost_alternative, random_state
        As in :class:`GoldOnlyRouter`.
    """

    def _training_set(self, X, y_pb, gold, seed):
        self.shift_ = float(y_pb[gold].mean() - y_pb[~gold].mean())
        return slice(None), np.where(gold, y_pb, y_pb + self.shift_)


class MetaRouter(_BaseRouter):
    """Meta-Router: debias preference labels with a CATE estimate of the evaluation bias, then route.

    The evaluation source is the treatment (``T = 1`` for gold-standard rows, ``0`` for
    preference-based rows) and the bias ``Delta(x) = E[Y | T=1, x] - E[Y | T=0, x]`` is its
    conditional average treatment effect, estimated by EconML with cross-fitting (Zhang, Xie, Yang,
    Wu, "Meta-Router", arXiv 2509.25535). ``fit`` then

    1. rescales GS labels onto the PB scale (``scale_``, see ``gold_scale``);
    2. fits the EconML estimator on the pooled rows (``cate_estimator_``);
    3. debiases PB labels ``y' = y + Delta_hat(x)`` and fits ``router_model`` on the GS rows plus the
       debiased PB rows;
    4. reports predictions on the GS scale for cost-aware routing.

    Parameters
    ----------
    learner : {"r", "dr", "causal_forest", "forest_dr", "auto"} or EconML estimator, default="r"
        How Delta is estimated: ``"r"`` is the R-learner ``econml.dml.NonParamDML``, ``"dr"`` the
        DR-learner ``econml.dr.DRLearner``, ``"causal_forest"`` ``econml.dml.CausalForestDML``,
        ``"forest_dr"`` ``econml.dr.ForestDRLearner``. ``"auto"`` chooses among the R- and
        DR-learners, mean-shift and pooling by cross-validation on the gold rows only, and keeps a
        CATE learner only when it beats the better baseline by more than one standard error (see
        ``auto_scores_`` and ``auto_reason_``). An unfitted EconML estimator taking ``fit(Y, T, X=...)`` is used as given.
    gold_scale : {"variance", "wasserstein", "none"} or float, default="variance"
        ``"variance"``: ``c = sd(PB) / sd(GS)``; ``"wasserstein"``: the ``c`` minimising the
        2-Wasserstein distance between ``c * GS`` and ``PB``; ``"none"``: ``c = 1``; a float: that c.
    model_y, model_t : estimators, default=None
        Outcome and propensity nuisance models of the R-learner family (EconML's names).
    model_propensity, model_regression : estimators, default=None
        Propensity and outcome (on ``[X, T]``) nuisance models of the DR-learner family.
    model_final : regressor, default=None
        Final CATE model of ``"r"`` and ``"dr"``; must accept ``sample_weight`` for ``"r"``.
        Defaults to a ridge on standardised features with a cross-validated penalty.
    router_model : regressor, default=None
        Final regressor for ``psi``; None means a small LightGBM model shared with the baselines.
    cv : int, default=3
        Number of cross-fitting folds, stratified on the gold flag (3 routed as well as 5 in the
        benchmark at two thirds of the time).
    min_propensity : float, default=0.01
        Propensity floor of the DR learners (inverse weights are capped at ``1 / min_propensity``).
    cost_primary, cost_alternative : float, default=1.0, 0.0
        Per-query costs of the two models.
    random_state : int, RandomState or None, default=None
        Seed for folds and every model; the same seed gives the same router.

    Attributes
    ----------
    cate_estimator_ : EconML estimator or None
        The fitted estimator that produced ``Delta_hat``; None when ``"auto"`` fell back to a
        baseline.
    learner_ : str
        The learner used (``"auto"`` resolved).
    scale_ : float
        Gold-to-preference scale factor ``c``.
    propensity_ : ndarray or None
        Cross-fitted P(gold | x) of the training rows, read from the fold models EconML fitted.
    propensity_summary_ : dict or None
        Base rate, range and counts of extreme propensities.
    auto_scores_ : DataFrame or None
        With ``learner="auto"``: per candidate, the held-out GS mean squared error and its paired
        difference (with standard error) against the better baseline.
    auto_reason_ : str or None
        With ``learner="auto"``: what was chosen and why, in words.
    router_model_ : regressor
        The fitted psi regressor.

    Examples
    --------
    >>> from metarouter_econml import MetaRouter
    >>> from metarouter_econml.datasets import make_routing_data
    >>> data = make_routing_data(n_samples=1500, n_features=10, random_state=0)
    >>> split = data.split(n_test=300, n_gold=100, random_state=0)
    >>> router = MetaRouter(learner="r", random_state=0)
    >>> router = router.fit(split.X_train, split.y_train, gold=split.gold_train)
    >>> router.route(split.X_test, cost_weight=0.1).dtype
    dtype('bool')
    >>> w = router.threshold_for_ratio(split.X_test, 0.4)
    >>> int(router.route(split.X_test, cost_weight=w).sum())
    120
    """

    def __init__(
        self,
        *,
        learner="r",
        gold_scale="variance",
        model_y=None,
        model_t=None,
        model_propensity=None,
        model_regression=None,
        model_final=None,
        router_model=None,
        cv: int = 3,
        min_propensity: float = 0.01,
        cost_primary: float = 1.0,
        cost_alternative: float = 0.0,
        random_state=None,
    ):
        super().__init__(
            router_model=router_model,
            gold_scale=gold_scale,
            cost_primary=cost_primary,
            cost_alternative=cost_alternative,
            random_state=random_state,
        )
        self.learner = learner
        self.model_y = model_y
        self.model_t = model_t
        self.model_propensity = model_propensity
        self.model_regression = model_regression
        self.model_final = model_final
        self.cv = cv
        self.min_propensity = min_propensity

    def _given_models(self) -> dict:
        return {name: getattr(self, name) for name in _bias.MODEL_PARAMS}

    def _training_set(self, X, y_pb, gold, seed):
        self.auto_scores_ = None
        self.auto_reason_ = None
        learner = self.learner
        if isinstance(learner, str) and learner == "auto":
            learner = self._choose_learner(X, y_pb, gold, seed)
        self.learner_ = learner if isinstance(learner, str) else type(learner).__name__
        self.cate_estimator_ = None
        self.propensity_ = None
        self.propensity_summary_ = None
        if learner == "pooled":
            self.shift_ = 0.0
            return slice(None), y_pb
        if learner == "mean_shift":
            self.shift_ = float(y_pb[gold].mean() - y_pb[~gold].mean())
            return slice(None), np.where(gold, y_pb, y_pb + self.shift_)
        self.cate_estimator_ = self._fit_cate(learner, X, y_pb, gold, seed)
        bias = self.cate_estimator_.effect(X[~gold])
        target = y_pb.copy()
        target[~gold] += np.ravel(bias)
        return slice(None), target

    def _fit_cate(self, learner, X, y_pb, gold, seed):
        min_propensity = _check_real(self.min_propensity, "min_propensity")
        if not 0 < min_propensity < 0.5:
            raise ValueError(f"`min_propensity` must be in (0, 0.5); got {self.min_propensity!r}.")
        folds = _bias.make_folds(self.cv, int(gold.sum()), seed)
        if isinstance(learner, str):
            if learner not in _bias.LEARNERS:
                raise ValueError(
                    f"`learner` must be one of {_bias.LEARNERS + ('auto',)} or an EconML estimator; "
                    f"got {learner!r}."
                )
            given = self._given_models()
            _bias.check_learner_models(learner, given)
            models = _bias.default_models(learner, seed)
            models.update({k: v for k, v in given.items() if v is not None and k in models})
        else:
            if not (hasattr(learner, "fit") and hasattr(learner, "effect")):
                raise TypeError(
                    "`learner` must be a string or an EconML estimator with `fit(Y, T, X=...)` and "
                    f"`effect(X)`; got {type(learner).__name__}."
                )
            models = {}
        estimator = _bias.build_cate_estimator(
            learner, models, folds=folds, min_propensity=min_propensity, random_state=seed
        )
        _bias.fit_cate_estimator(estimator, y_pb, gold, X)
        if isinstance(learner, str):
            self.propensity_ = _bias.out_of_fold_propensity(estimator, X, gold, folds)
            if self.propensity_ is not None:
                self.propensity_summary_ = _bias.check_extreme_propensity(
                    self.propensity_, gold, min_propensity=min_propensity
                )
        return estimator

    def _choose_learner(self, X, y_pb, gold, seed):
        """Pick a learner by K-fold cross-validation over the GS rows; PB rows always train.

        Every candidate is refitted without the held-out GS rows and scored by the squared error
        of its psi prediction against their (rescaled) GS labels, which are unbiased for psi. A
        CATE learner is chosen only when it beats the better of mean-shift and pooling by more
        than one standard error of the paired per-row difference: with ~100 noisy GS rows a
        smaller error is often luck, and the baselines are the safer default.
        """
        cate_learners, baselines = ("r", "dr"), ("mean_shift", "pooled")
        gold_idx = np.flatnonzero(gold)
        n_splits = max(2, min(int(self.cv) if isinstance(self.cv, Integral) else 3, gold_idx.size // 2))
        splitter = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
        errors = {name: np.empty(gold_idx.size) for name in cate_learners + baselines}
        for _, held in splitter.split(gold_idx):
            held_rows = gold_idx[held]
            keep = np.ones(X.shape[0], dtype=bool)
            keep[held_rows] = False
            for name in errors:
                # GS labels in y_pb are already on the PB scale, hence gold_scale=1.0
                candidate = clone(self).set_params(learner=name, gold_scale=1.0, random_state=seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    candidate.fit(X[keep], y_pb[keep], gold=gold[keep])
                errors[name][held] = (candidate.predict(X[held_rows]) - y_pb[held_rows]) ** 2
        mse = {name: float(err.mean()) for name, err in errors.items()}
        baseline = min(baselines, key=mse.get)
        best_cate = min(cate_learners, key=mse.get)
        rows = []
        for name, err in errors.items():
            diff = err - errors[baseline]
            rows.append({
                "learner": name,
                "mse": mse[name],
                "diff_vs_baseline": float(diff.mean()),
                "diff_se": float(diff.std(ddof=1) / np.sqrt(diff.size)),
            })
        self.auto_scores_ = pd.DataFrame.from_records(rows).set_index("learner")
        gain = self.auto_scores_.loc[best_cate]
        if gain["diff_vs_baseline"] + gain["diff_se"] < 0:
            self.auto_reason_ = (
                f"{best_cate!r} lowered the held-out GS squared error of {baseline!r} by "
                f"{-gain['diff_vs_baseline']:.4g} (more than one standard error, {gain['diff_se']:.4g}) "
                f"over {gold_idx.size} GS rows in {n_splits} folds."
            )
            return best_cate
        self.auto_reason_ = (
            f"No CATE learner beat {baseline!r} by more than one standard error on {gold_idx.size} "
            f"held-out GS rows ({best_cate!r}: difference {gain['diff_vs_baseline']:.4g} +/- "
            f"{gain['diff_se']:.4g}); the bias estimate did not validate, so {baseline!r} is used."
        )
        return baseline

    def estimate_bias(self, X) -> np.ndarray:
        """Estimated bias ``Delta_hat(x) = E[Y | gold, x] - E[Y | preference, x]`` on the PB scale.

        This is the correction added to preference labels before the router is trained. When
        ``learner="auto"`` fell back to mean-shift (or pooling) it is the constant shift (or 0).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)

        Returns
        -------
        ndarray of shape (n_queries,)
        """
        check_is_fitted(self, "router_model_")
        X_arr = check_features(self, X, reset=False)
        if self.cate_estimator_ is None:
            return np.full(X_arr.shape[0], self.shift_)
        return np.ravel(self.cate_estimator_.effect(X_arr)).astype(np.float64)


def _check_real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a real number; got {type(value).__name__} {value!r}.")
    if not np.isfinite(value):
        raise ValueError(f"`{name}` must be finite; got {value!r}.")
    return float(value)
