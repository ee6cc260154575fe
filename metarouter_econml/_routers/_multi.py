"""The multi-model Meta-Router: one judge's bias among K models, then cost-aware routing."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from .._comparisons import (
    check_comparisons,
    gold_coverage,
    model_names,
    pair_coding,
    to_pairs,
)
from .._estimation import (
    GOLD_SCALES,
    FeatureScale,
    gold_scale_factor,
    validated_router_model,
)
from .._estimation._multi import MULTI_LEARNERS, build_multi_bias_estimator, group_folds
from .._persist import save_router
from .._validation import (
    AnyOf,
    Estimator,
    Int,
    NJobs,
    Options,
    Real,
    Seed,
    check_cost_weight,
    check_features,
    check_n_jobs,
    check_params,
    nullable,
    random_seed,
)

__all__ = ["MultiMetaRouter"]

STRUCTURES = ("shared", "independent", "none")
_RULES = {
    "structure": Options(STRUCTURES),
    "learner": Options(MULTI_LEARNERS),
    "gold_scale": AnyOf((Options(GOLD_SCALES), Real(0, low_open=True))),
    "router_model": nullable(Estimator(("fit", "predict"), kind="a regressor")),
    "cv": Int(low=2, what="number of cross-fitting folds"),
    "min_gold": Int(low=1, what="number of gold-standard comparisons per model"),
    "n_jobs": NJobs(),
    "random_state": Seed(),
}


class MultiMetaRouter(BaseEstimator):
    """Route among K models: debias one judge's comparisons with EconML, then pick per query.

    The two-model Meta-Router (:class:`MetaRouter`) estimates the judge's bias as the
    conditional effect of the evaluation source. Among K models every label compares two of
    them (or grades one), and the gold-standard (GS) labels of one pair are rare, so the bias
    needs structure. ``fit``

    1. turns the labels into comparisons of two models ``i < j`` (name order), with the label
       oriented for ``i`` (pointwise grades: within the grades one source gave one query,
       each model against the reference, or the query's first model when the reference was
       not graded);
    2. rescales GS labels onto the preference-based (PB) scale (``scale_``, as the two-model
       router);
    3. estimates the bias ``Delta_ij(x)`` (gold minus preference, PB scale) of every pair:

       - ``structure="shared"`` (default): every model ``k`` has a bias ``b_k(x)`` against the
         reference and ``Delta_ij = -(b_i - b_j)``, so K - 1 functions explain all
         K(K - 1)/2 pairs. One multi-treatment DML fits them: treatment columns = the gold
         flag times the pair's ±1 coding of the models, controls = the coding
         (``econml.dml.DML`` with a lasso final stage by default, see ``learner``);
         cross-fitting folds keep each query's rows together;
       - ``"independent"``: the same estimator on each pair's rows alone (a pair with fewer
         gold queries than ``cv`` gets its mean gold-minus-preference shift, with a warning);
       - ``"none"``: no correction (the pooled union of the labels, RouteLLM-style); the
         only structure that also fits labels of one source alone (gold-only,
         preference-only or all-gold routers), which are then used on their own scale;
    4. debiases the PB comparisons ``y' = y + Delta_ij(x)`` and fits ``router_model`` on the
       query features plus the pair coding; the quality of model ``k`` relative to the
       reference is its prediction for the pair (k, reference), reported on the GS scale.

    With two models there is one pair, nothing to share, and ``fit`` is the two-model router:
    :class:`MetaRouter` (``structure`` "shared" or "independent", its default learner) or
    :class:`PooledRouter` (``"none"``), kept in ``two_model_router_``; predictions are equal.

    Parameters
    ----------
    reference : str or None, default=None
        The model that qualities and biases are measured against (its column is 0). None means
        the first model in name order. Routing does not depend on it.
    structure : {"shared", "independent", "none"}, default="shared"
        How the bias is structured across pairs (see above). Why "shared" is the default:
        ``benchmarks/RESULTS.md`` (§14).
    learner : {"lasso", "ridge", "linear", "forest"}, default="lasso"
        The EconML estimator of the bias with more than two models, each a function of the
        standardised features: ``econml.dml.DML`` with a cross-validated lasso (``"lasso"``)
        or ridge (``"ridge"``) final stage, ``LinearDML`` (``"linear"``, unpenalised, with
        analytic intervals) or ``CausalForestDML`` (``"forest"``). Why the lasso:
        ``benchmarks/RESULTS.md`` (§14; unpenalised, the bias estimate from ~10 gold labels
        per pair was noise that routed worse than pooling).
    gold_scale : {"variance", "wasserstein", "none"} or float, default="variance"
        How GS labels are put on the PB scale (as :class:`MetaRouter`).
    router_model : regressor, default=None
        Model of the debiased label on ``[x, coding]``. None means the validated default of the
        two-model routers (boosted trees or a random forest, both LightGBM), without their
        averaging of kept boosted trees with a small forest: the forest, seeing a third of the
        columns per split, rarely splits on the pair coding, and the average routed worse.
    cv : int, default=3
        Cross-fitting folds of the bias estimator.
    min_gold : int, default=10
        ``fit`` warns, naming them, about models with fewer gold-standard comparisons than
        this (positivity per model): their bias rests on those few labels, and the penalised
        estimate shrinks it toward no correction, so the judge's labels of these models are
        taken nearly as they are (with ``structure="none"``: their quality rests almost only
        on the judge).
    n_jobs : int or None, default=None
        Threads of the default LightGBM models; None means 1.
    random_state : int, RandomState or None, default=None
        Seed of folds and models; the same seed gives the same router.

    Attributes
    ----------
    models_ : list of str
        The models, in name order: the columns of ``predict`` and ``estimate_bias``.
    reference_ : str
        The reference model.
    kind_ : str
        ``"pairwise"`` or ``"pointwise"``.
    scale_ : float
        Gold-to-preference scale factor.
    coverage_ : GoldCoverage
        Gold and preference comparisons per model (``coverage_.per_model``) and per pair
        (``coverage_.per_pair``), after pointwise grades were paired.
    bias_estimator_ : EconML estimator or None
        The shared structure's fitted multi-treatment DML (on a loaded router, a read-only
        stand-in with its ``const_marginal_effect`` only; see :meth:`save`).
    pair_bias_ : dict or None
        Independent structure: per pair ``(model, opponent)`` its fitted EconML estimator (on
        a loaded router, such a stand-in), or a float (the mean shift of a pair with too few
        gold queries).
    two_model_router_ : MetaRouter, PooledRouter or None
        The two-model router that does the work when there are two models.
    router_model_ : regressor or None
        The fitted model of the debiased labels (None with two models).
    router_model_scores_ : DataFrame or None
        The validated choice of the default router model (as the two-model routers).

    Examples
    --------
    >>> from metarouter_econml import MultiMetaRouter
    >>> from metarouter_econml.datasets import make_multi_routing_data
    >>> data = make_multi_routing_data(n_queries=600, n_models=3, random_state=0)
    >>> split = data.split(n_test=100, n_gold=50, random_state=0)
    >>> router = MultiMetaRouter(random_state=0).fit(split.X_train, split.comparisons_train)
    >>> router.models_
    ['m0', 'm1', 'm2']
    >>> router.predict(split.X_test).shape
    (100, 3)
    >>> router.route(split.X_test[:3], costs=split.costs, cost_weight=0.5).shape
    (3,)
    """

    def __init__(
        self,
        *,
        reference: str | None = None,
        structure: str = "shared",
        learner: str = "lasso",
        gold_scale="variance",
        router_model=None,
        cv: int = 3,
        min_gold: int = 10,
        n_jobs: int | None = None,
        random_state=None,
    ) -> None:
        self.reference = reference
        self.structure = structure
        self.learner = learner
        self.gold_scale = gold_scale
        self.router_model = router_model
        self.cv = cv
        self.min_gold = min_gold
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, X, comparisons):
        """Fit on query features and the long table of labels.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)
            One row per query.
        comparisons : DataFrame
            One row per label: ``query`` (row position in ``X``), ``model``, ``opponent`` (the
            other model of a pairwise comparison; missing for a pointwise grade), ``label``
            (pairwise: positive means ``model`` is better; pointwise: the grade), ``gold``
            (bool: gold-standard or preference-based). An optional ``source`` column (e.g. the
            annotator) groups pointwise grades; other columns are ignored. All rows pairwise
            or all pointwise. Several labels of one query and pair are allowed.

        Returns
        -------
        self
        """
        params = check_params(self, _RULES)  # `reference` is checked against the models
        X_arr = check_features(self, X, reset=True)
        correct = params["structure"] != "none"
        table, kind = check_comparisons(comparisons, X_arr.shape[0], both_sources=correct)
        models = model_names(table)
        if len(models) < 2:
            raise ValueError(f"`comparisons` must involve at least 2 models; got {list(models)}.")
        reference = self._check_reference(models)
        pairs = to_pairs(table, kind, models, reference)
        self.models_ = list(models)
        self.reference_ = reference
        self.kind_ = kind
        self.coverage_ = gold_coverage(pairs)
        self._warn_thin_models(params["min_gold"])
        self.bias_estimator_ = None
        self.pair_bias_ = None
        self.two_model_router_ = None
        self.router_model_ = None
        self.router_model_scores_ = None
        self.cate_feature_mean_ = self.cate_feature_scale_ = None
        self.n_gold_ = int(pairs.gold.sum())
        self.n_preference_ = int((~pairs.gold).sum())
        one_source = pairs.gold.all() or not pairs.gold.any()
        if one_source and correct:
            raise ValueError(
                "`comparisons` must hold both gold-standard and preference-based comparisons "
                f"after pairing; got {self.n_gold_} and {self.n_preference_}."
            )
        if one_source:  # structure="none" on one source (gold-only, preference-only): as given
            self.scale_ = 1.0
        else:
            self.scale_ = gold_scale_factor(
                pairs.label[pairs.gold], pairs.label[~pairs.gold], params["gold_scale"]
            )
        seed = random_seed(self.random_state)
        if len(models) == 2 and not one_source:
            self._fit_two_models(X_arr, pairs, params)
            return self
        y = np.where(pairs.gold, pairs.label * self.scale_, pairs.label)
        X_rows = X_arr[pairs.query]
        if params["structure"] != "none":
            scale = FeatureScale.fit(X_arr)
            self.cate_feature_mean_, self.cate_feature_scale_ = scale.mean, scale.scale
            Z = scale.transform(X_arr)[pairs.query]
            if params["structure"] == "shared":
                self.bias_estimator_ = self._fit_bias(Z, y, pairs, np.arange(pairs.n_rows), seed)
            else:
                self.pair_bias_ = self._fit_pair_biases(Z, y, pairs, seed)
            correction = self._pair_correction(Z, pairs.first, pairs.second)
            y = np.where(pairs.gold, y, y + correction)
        features = np.hstack([X_rows, pair_coding(pairs.first, pairs.second, len(models))])
        self.router_model_, self.router_model_scores_ = self._fit_router_model(features, y, seed)
        return self

    def _check_reference(self, models: tuple[str, ...]) -> str:
        if self.reference is None:
            return models[0]
        if not isinstance(self.reference, str):
            raise TypeError(
                f"`reference` must be None or a model name (str); got "
                f"{type(self.reference).__name__} {self.reference!r}."
            )
        if self.reference not in models:
            raise ValueError(
                f"`reference` must be one of the models in `comparisons` {list(models)}; got "
                f"{self.reference!r}."
            )
        return self.reference

    def _warn_thin_models(self, minimum: int) -> None:
        thin = self.coverage_.thin_models(minimum)
        if not thin:
            return
        counts = self.coverage_.per_model.loc[thin, "gold_labels"].to_dict()
        if self.structure == "none":
            consequence = "their quality rests almost only on the judge's labels"
        else:
            consequence = (
                "the judge's bias on them rests on these few labels and the estimate shrinks it "
                "toward no correction, so the judge's labels of these models are taken nearly "
                "as they are"
            )
        warnings.warn(
            f"Few gold-standard comparisons for model(s) {counts} (fewer than min_gold="
            f"{minimum}): {consequence} (positivity per model). Collect gold labels of these "
            "models; see `coverage_` for the counts per model and per pair.",
            UserWarning,
            stacklevel=3,
        )

    def _n_threads(self) -> int:
        n_jobs = check_n_jobs(self.n_jobs)
        return 1 if n_jobs is None else n_jobs

    def _fit_two_models(self, X_arr, pairs, params) -> None:
        """One pair: the two-model router on labels oriented for the non-reference model."""
        from ._baselines import PooledRouter
        from ._meta import MetaRouter

        other_is_first = self.models_.index(self.reference_) == 1
        label = pairs.label if other_is_first else -pairs.label
        common = {
            "gold_scale": params["gold_scale"],
            "router_model": self.router_model,
            "n_jobs": self.n_jobs,
            "random_state": self.random_state,
        }
        if params["structure"] == "none":
            router = PooledRouter(**common)
        else:
            router = MetaRouter(**common, cv=params["cv"])
        self.two_model_router_ = router.fit(X_arr[pairs.query], label, gold=pairs.gold)

    def _fit_bias(self, Z, y, pairs, rows, seed):
        """Fit the multi-treatment DML on ``rows`` (all rows: shared; one pair: independent)."""
        if rows.size < pairs.n_rows:  # one pair: its own single column, the pair's orientation
            coding = np.ones((rows.size, 1))
        else:
            coding = self._treatment_coding(pairs.first, pairs.second)
        gold = pairs.gold[rows]
        folds = group_folds(self.cv, gold, pairs.query[rows], seed)
        estimator = build_multi_bias_estimator(
            self.learner, coding.shape[1], folds=folds, random_state=seed, n_jobs=self._n_threads()
        )
        with warnings.catch_warnings():
            # EconML warns that LinearDML's default featurizer-free final stage is not
            # regularised; the nuisances are, and the final stage has few parameters per model.
            warnings.filterwarnings("ignore", message=".*Co-variance matrix is underdetermined.*")
            estimator.fit(y[rows], gold[:, None] * coding, X=Z[rows], W=coding)
        return estimator

    def _fit_pair_biases(self, Z, y, pairs, seed) -> dict:
        """Independent structure: one estimator per pair, or its mean shift when gold is thin."""
        result: dict = {}
        thin = []
        for i in range(len(self.models_)):
            for j in range(i + 1, len(self.models_)):
                rows = np.flatnonzero((pairs.first == i) & (pairs.second == j))
                if rows.size == 0:
                    continue
                gold = pairs.gold[rows]
                n_gold_queries = np.unique(pairs.query[rows][gold]).size
                n_pref_queries = np.unique(pairs.query[rows][~gold]).size
                key = (self.models_[i], self.models_[j])
                if min(n_gold_queries, n_pref_queries) < max(self.cv, 2):
                    thin.append(key)
                    shift = (
                        float(y[rows][gold].mean() - y[rows][~gold].mean())
                        if gold.any() and (~gold).any()
                        else 0.0
                    )
                    result[key] = shift
                else:
                    result[key] = self._fit_bias(Z, y, pairs, rows, seed)
        if thin:
            warnings.warn(
                f"Pairs {thin} have fewer than {max(self.cv, 2)} gold-standard or "
                "preference-based queries: their bias is their mean gold-minus-preference "
                "shift (0 without gold labels), not a function of the query.",
                UserWarning,
                stacklevel=3,
            )
        return result

    def _treatment_coding(self, first, second) -> np.ndarray:
        """The ±1 pair coding without the reference's column."""
        coding = pair_coding(first, second, len(self.models_))
        return np.delete(coding, self.models_.index(self.reference_), axis=1)

    def _model_shift(self, Z) -> np.ndarray:
        """Shared structure: ``theta_k(x)`` (gold minus preference) per model, reference 0."""
        theta = np.reshape(
            self.bias_estimator_.const_marginal_effect(Z), (Z.shape[0], len(self.models_) - 1)
        )
        return np.insert(theta, self.models_.index(self.reference_), 0.0, axis=1)

    def _pair_correction(self, Z, first, second) -> np.ndarray:
        """``Delta_ij(x)`` (gold minus preference, PB scale) for comparisons ``first < second``."""
        if self.bias_estimator_ is not None:
            theta = self._model_shift(Z)
            rows = np.arange(first.size)
            return theta[rows, first] - theta[rows, second]
        correction = np.zeros(first.size)
        for (name_i, name_j), estimate in self.pair_bias_.items():
            rows = np.flatnonzero(
                (first == self.models_.index(name_i)) & (second == self.models_.index(name_j))
            )
            if rows.size == 0:
                continue
            if isinstance(estimate, float):
                correction[rows] = estimate
            else:
                correction[rows] = np.ravel(estimate.const_marginal_effect(Z[rows]))
        return correction

    def _fit_router_model(self, features, y, seed):
        if self.router_model is not None:
            return clone(self.router_model).fit(features, y), None
        # not averaged with the forest: a forest that sees a third of the columns per split
        # rarely splits on the pair coding, and the average routed worse (test_multi_router)
        return validated_router_model(
            features, y, random_state=seed, n_jobs=self._n_threads(), average=False
        )

    # -- prediction -------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if "models_" not in self.__dict__:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                "This MultiMetaRouter instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    def _reference_pairs(self):
        """Per model ``k`` but the reference: ``(k, first, second, sign)``.

        ``(first, second)`` is the canonical pair (``first < second``) of ``k`` and the
        reference, and ``sign`` is +1 when ``k`` is its first model (the pair's gain is ``k``'s
        gain over the reference) and -1 otherwise.
        """
        ref = self.models_.index(self.reference_)
        for k in range(len(self.models_)):
            if k != ref:
                first, second = min(k, ref), max(k, ref)
                yield k, first, second, (1.0 if k == first else -1.0)

    def predict(self, X) -> pd.DataFrame:
        """Estimated gold-standard quality of each model relative to the reference.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)

        Returns
        -------
        DataFrame of shape (n_queries, n_models)
            Columns ``models_``; the reference's column is 0. GS scale.
        """
        self._check_fitted()
        X_arr = check_features(self, X, reset=False, allow_empty=True)
        n = X_arr.shape[0]
        quality = np.zeros((n, len(self.models_)))
        if n and self.two_model_router_ is not None:
            other = next(self._reference_pairs())[0]
            quality[:, other] = self.two_model_router_.predict(X_arr)
        elif n:
            for k, first, second, sign in self._reference_pairs():
                coding = pair_coding(np.full(n, first), np.full(n, second), len(self.models_))
                gain = self.router_model_.predict(np.hstack([X_arr, coding])) / self.scale_
                quality[:, k] = sign * gain
        return pd.DataFrame(quality, columns=self.models_, index=_index_of(X, n))

    def estimate_bias(self, X) -> pd.DataFrame:
        """The judge's estimated bias per model (preference minus gold, PB scale), reference 0.

        For a comparison of models ``i`` and ``j`` the judge's label is, on average, off by
        ``bias_i(x) - bias_j(x)``. With ``structure="independent"`` the column of model ``k``
        is the bias of the pair (k, reference) (NaN if that pair was never compared); with
        ``"none"`` it is 0.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)

        Returns
        -------
        DataFrame of shape (n_queries, n_models)
        """
        self._check_fitted()
        X_arr = check_features(self, X, reset=False, allow_empty=True)
        n = X_arr.shape[0]
        bias = np.zeros((n, len(self.models_)))
        if n and self.two_model_router_ is not None:
            router = self.two_model_router_
            delta = router.estimate_bias(X_arr) if hasattr(router, "estimate_bias") else 0.0
            bias[:, next(self._reference_pairs())[0]] = -delta
        elif n and self.structure != "none":
            Z = FeatureScale(self.cate_feature_mean_, self.cate_feature_scale_).transform(X_arr)
            if self.bias_estimator_ is not None:
                bias = -self._model_shift(Z)
            else:
                for k, first, second, sign in self._reference_pairs():
                    if (self.models_[first], self.models_[second]) not in self.pair_bias_:
                        bias[:, k] = np.nan
                        continue
                    delta = self._pair_correction(Z, np.full(n, first), np.full(n, second))
                    bias[:, k] = -sign * delta
        return pd.DataFrame(bias, columns=self.models_, index=_index_of(X, n))

    # -- persistence -------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Save the fitted router to ``path``; read it back with :func:`metarouter_econml.load`.

        The file is a router file as the two-model routers' (a zip archive of a JSON header
        with a SHA-256 digest and a payload in skops' safe format, which loads without running
        code from the file). It holds the parameters, the fitted attributes (``coverage_`` and
        ``router_model_scores_`` as exact tables), the router model, and of the bias estimators
        only what ``estimate_bias`` uses: for the linear learners ("lasso", "ridge",
        "linear") the intercept and coefficients of EconML's final stage, which a loaded router
        evaluates as EconML does (a read-only stand-in in ``bias_estimator_`` and
        ``pair_bias_``). With two models, ``two_model_router_`` is saved as a
        :class:`MetaRouter` or :class:`PooledRouter` file would be, and checked in the same way
        on load. A loaded router's ``predict``, ``route``, ``cost_weight_for_budget`` and
        ``estimate_bias`` give bit-identical results under the same library versions. See the
        ``metarouter_econml._persist`` package docstring.

        Parameters
        ----------
        path : str or path-like
            File to write; its directory must exist. An existing file is replaced.

        Raises
        ------
        NotFittedError
            If the router is not fitted.
        ValueError
            If its bias estimator cannot be saved (``learner="forest"`` with a bias estimator;
            routers with ``structure="none"`` or two models save with any learner), or it holds
            a type that :func:`metarouter_econml.load` would not trust (e.g. a custom
            ``router_model``) or a router model of a type that a router file cannot hold.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from metarouter_econml import MultiMetaRouter, load
        >>> from metarouter_econml.datasets import make_multi_routing_data
        >>> data = make_multi_routing_data(n_queries=400, n_models=3, random_state=0)
        >>> split = data.split(n_test=100, n_gold=60, random_state=0)
        >>> router = MultiMetaRouter(random_state=0).fit(split.X_train, split.comparisons_train)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "router.mr"
        >>> router.save(path)
        >>> twin = load(path)
        >>> twin.models_
        ['m0', 'm1', 'm2']
        >>> twin.bias_estimator_
        SavedLinearBias(n_treatments=2, n_features=10)
        >>> X = split.X_test
        >>> bool(twin.predict(X).equals(router.predict(X)))
        True
        >>> bool(twin.estimate_bias(X).equals(router.estimate_bias(X)))
        True
        """
        self._check_fitted()
        check_params(self, _RULES)  # never write a router that could not route
        save_router(self, path)

    # -- routing ----------------------------------------------------------------------------------
    def _cost_vector(self, costs) -> np.ndarray:
        if not isinstance(costs, dict):
            try:
                costs = dict(costs)
            except (TypeError, ValueError):
                raise TypeError(
                    f"`costs` must be a mapping of model name to cost; got {type(costs).__name__}."
                ) from None
        missing = [name for name in self.models_ if name not in costs]
        if missing:
            raise ValueError(
                f"`costs` must give a cost for every model {self.models_}; missing {missing}."
            )
        values = np.array([Real().check(costs[name], f"costs[{name!r}]") for name in self.models_])
        return values

    def _decide(self, quality: np.ndarray, cost: np.ndarray, weight: float) -> np.ndarray:
        """Per query, the index of ``argmax_k quality_k - weight * cost_k``; ties: cheaper first."""
        order = np.lexsort((np.arange(cost.size), cost))  # by cost, then name order
        values = quality[:, order] - weight * cost[order]
        return order[np.argmax(values, axis=1)]

    def route(self, X, costs, cost_weight: float) -> np.ndarray:
        """The model to call per query: ``argmax_k quality_k(x) - cost_weight * cost_k``.

        Ties go to the cheaper model (then to the first in ``models_``).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)
        costs : mapping of str to float
            Cost of one call of each model (every model of ``models_``).
        cost_weight : float
            Price of one cost unit in gold-standard quality units.

        Returns
        -------
        ndarray of str (object), shape (n_queries,)
        """
        weight = check_cost_weight(cost_weight)
        cost = self._cost_vector(costs)
        quality = self.predict(X).to_numpy()
        return np.array(self.models_, dtype=object)[self._decide(quality, cost, weight)]

    def cost_weight_for_budget(self, X, costs, budget: float) -> float:
        """The smallest ``cost_weight`` whose routing of ``X`` has mean cost at most ``budget``.

        The mean cost of the routing falls as the weight grows; the weight is found by
        bisection to a relative precision of 1e-9 and the returned value meets the budget.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)
            Queries representative of the traffic.
        costs : mapping of str to float
        budget : float
            Allowed mean cost per query.

        Returns
        -------
        float
            0.0 when routing by quality alone already meets the budget.

        Raises
        ------
        ValueError
            If the budget is below the cost of the cheapest model, or ``X`` has no rows.
        """
        cost = self._cost_vector(costs)
        budget = Real().check(budget, "budget")
        quality = self.predict(X).to_numpy()
        if quality.shape[0] == 0:
            raise ValueError("`X` must have at least 1 row to calibrate a cost weight on; got 0.")
        if budget < cost.min():
            raise ValueError(
                f"`budget` must be at least the cheapest model's cost {cost.min():g}; got "
                f"{budget!r}."
            )

        def mean_cost(weight: float) -> float:
            return float(cost[self._decide(quality, cost, weight)].mean())

        if mean_cost(0.0) <= budget:
            return 0.0
        spread = float(quality.max() - quality.min())
        gaps = np.diff(np.unique(cost))
        high = (spread + 1.0) / float(gaps.min()) if gaps.size else 1.0
        while mean_cost(high) > budget:  # pragma: no cover - the bound routes all to the cheapest
            high *= 2.0
        low = 0.0
        for _ in range(200):
            if high - low <= 1e-9 * max(high, 1e-12):
                break
            middle = (low + high) / 2
            if mean_cost(middle) <= budget:
                high = middle
            else:
                low = middle
        return float(high)


def _index_of(X, n: int):
    """The row labels of a DataFrame ``X`` (kept in the outputs), else a range."""
    if isinstance(X, pd.DataFrame) and X.shape[0] == n:
        return X.index
    return pd.RangeIndex(n)
