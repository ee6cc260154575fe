"""The Meta-Router: debias preference labels with EconML's estimate of the judge's bias."""

from __future__ import annotations

import warnings

import numpy as np

from .._estimation import (
    LEARNERS,
    MODEL_PARAMS,
    FeatureScale,
    KnownPropensity,
    cached_pseudo_outcomes,
    cate_estimator_for,
    check_extreme_propensity,
    check_learner_models,
    default_overlap_model,
    estimate_overlap_region,
    final_stage_candidates,
    fit_cate_estimator,
    make_folds,
    out_of_fold_propensity,
    select_final_stage,
)
from .._ray import import_ray
from .._validation import (
    Bool,
    Estimator,
    Int,
    Options,
    Real,
    check_cost_weight,
    check_features,
    nullable,
)
from ._auto import AUTO_BASELINES, choose_learner
from ._base import BaseRouter
from ._baselines import mean_shift_labels
from ._intervals import FinalStageProblem, fit_replicates, normal_interval
from ._serving import serving_models

__all__ = ["MetaRouter"]


class _Learner:
    """The ``learner`` rule: a built-in learner's name, ``"auto"``, or an EconML estimator."""

    choices = (*LEARNERS, "auto")

    def check(self, value, name: str):
        if isinstance(value, str):
            return Options(self.choices).check(value, name)
        if not (callable(getattr(value, "fit", None)) and callable(getattr(value, "effect", None))):
            raise TypeError(
                f"`{name}` must be one of {list(self.choices)} or an EconML estimator with "
                f"`fit(Y, T, X=...)` and `effect(X)`; got {type(value).__name__}."
            )
        return value

    def describe(self) -> str:
        return f"one of {list(self.choices)} or an EconML estimator"


_NUISANCE = nullable(Estimator(("fit",), kind="an estimator"))
_META_RULES = {
    "learner": _Learner(),
    "model_y": _NUISANCE,
    "model_t": _NUISANCE,
    "model_propensity": _NUISANCE,
    "model_regression": _NUISANCE,
    "model_final": nullable(Estimator(("fit", "predict"), kind="a regressor")),
    "cv": Int(low=2, what="number of cross-fitting folds"),
    "min_propensity": Real(0, 0.5, low_open=True, high_open=True),
    "overlap": Options(("none", "trim")),
    "overlap_threshold": nullable(Real(0, low_open=True, what="a multiple of the gold base rate")),
    "overlap_fallback": Options(("pooled", "gold_only")),
    "model_overlap": nullable(Estimator(("fit", "predict_proba"), kind="a classifier")),
    "use_ray": Bool(),
    "n_bootstrap": nullable(Int(low=2, what="number of bootstrap replicates")),
}
_PROPENSITY_SLOT = {
    "r": "model_t",
    "causal_forest": "model_t",
    "dr": "model_propensity",
    "forest_dr": "model_propensity",
}
_BOOTSTRAPPED_LEARNERS = ("r", "dr")  # learners whose final stage the bootstrap refits
_ALPHA = Real(0, 1, low_open=True, high_open=True, what="one minus the interval's level")
_FEW_GOLD_ROWS = 20  # MetaRouter.fit warns below this many gold-standard rows
_VALIDATED_FINAL_STAGE = ("r", "dr")  # learners whose default final stage is chosen by CV


def _uncovered_warning_share(n_gold: int) -> float:
    """Share of uncovered PB rows above which ``fit`` warns (positivity), by gold count.

    With few gold rows the overlap classifier leaves cells without gold rows by chance, so a
    share that signals a gap with 100 gold rows is noise with 50; below 50 nothing is said
    (the few-gold warning covers it). Measured in ``benchmarks/RESULTS.md``.
    """
    if n_gold >= 100:
        return 0.05
    if n_gold >= 50:
        return 0.25
    return float("inf")


_OVERLAP_ATTRIBUTES = (
    "overlap_propensity_",
    "overlap_models_",
    "overlap_threshold_",
    "overlap_mask_",
    "overlap_share_",
    "n_preference_outside_",
    "preference_outside_share_",
)


class MetaRouter(BaseRouter):
    """Meta-Router: debias preference labels with a CATE estimate of the judge's bias, then route.

    The evaluation source is the treatment (``T = 1`` for gold-standard rows, ``0`` for
    preference-based rows) and the bias ``Delta(x) = E[Y | T=1, x] - E[Y | T=0, x]`` is its
    conditional average treatment effect, estimated by EconML with cross-fitting (Zhang, Xie,
    Yang, Wu, "Meta-Router", arXiv 2509.25535). ``fit``

    1. rescales GS labels onto the PB scale (``scale_``, see ``gold_scale``);
    2. fits the EconML estimator on the pooled rows (``cate_estimator_``);
    3. debiases PB labels ``y' = y + Delta_hat(x)`` and fits ``router_model`` on the GS rows
       plus the debiased PB rows;
    4. reports predictions on the GS scale for cost-aware routing.

    **Positivity and the truncated Meta-Router.** The bias is identified only where both
    sources label queries (``0 < P(gold | x) < 1``); elsewhere the CATE model extrapolates.
    With ``overlap="trim"``, ``fit`` first cross-fits ``P(gold | x)`` of every training row with
    ``model_overlap`` on the CATE's folds, keeps as the overlap region the rows with
    ``P(gold | x) >= overlap_threshold * base_rate`` (``base_rate = n_gold / n``), fits the CATE
    estimator on the GS rows plus the PB rows inside, debiases only those, and treats the PB
    rows outside by ``overlap_fallback``: ``"pooled"`` keeps their raw labels, ``"gold_only"``
    drops them. GS rows are always kept; ``in_overlap(X)`` says which new queries are inside.
    The region has its own classifier because the CATE's propensity model (a penalised logistic
    regression) is smooth by design and cannot drop to ~0 past the edge of the GS rows'
    support. Which fallback routes best depends on the judge where no GS label exists, which
    the data cannot tell; ``benchmarks/RESULTS.md`` compares them.

    Parameters
    ----------
    learner : {"r", "dr", "causal_forest", "forest_dr", "auto"} or EconML estimator, default="r"
        How Delta is estimated: ``"r"`` is the R-learner ``econml.dml.NonParamDML``, ``"dr"`` the
        DR-learner ``econml.dr.DRLearner``, ``"causal_forest"`` ``econml.dml.CausalForestDML``,
        ``"forest_dr"`` ``econml.dr.ForestDRLearner``. The built-in learners see standardised
        features (``cate_feature_mean_``, ``cate_feature_scale_``), so no estimate depends on
        the units the features are stored in. ``"auto"`` cross-validates, on the gold rows only,
        the default (``"r"``), ``"dr"``, gold-only, mean-shift and pooling, scores each by how
        well its held-out predictions rank the held-out GS rows (their efficiency gain, with
        the GS labels as gains), and keeps the default unless another candidate raises that
        gain by more than 2.24 standard errors of the paired difference, a one-sided 5% test
        shared by the four challengers (see ``auto_scores_`` and ``auto_reason_``): it differs
        from the default by also trusting the judge less (gold-only) or more (pooling, one
        shift) when the gold rows clearly say so, which at ~100 GS rows is rare (it kept the
        default in 64 of 66 battery splits, ``benchmarks/RESULTS.md`` §13h). An unfitted
        EconML estimator taking ``fit(Y, T, X=...)`` is used as given,
        on the features as given.
    gold_scale : {"variance", "wasserstein", "none"} or float, default="variance"
        ``"variance"``: ``c = sd(PB) / sd(GS)``; ``"wasserstein"``: the ``c`` minimising the
        2-Wasserstein distance between ``c * GS`` and ``PB``; ``"none"``: ``c = 1``; a float:
        that ``c``.
    model_y, model_t : estimators, default=None
        Outcome and propensity nuisance models of the R-learner family (EconML's names).
    model_propensity, model_regression : estimators, default=None
        Propensity and outcome (on ``[X, T]``) nuisance models of the DR-learner family.
    model_final : regressor, default=None
        Final CATE model of ``"r"`` and ``"dr"``; must accept ``sample_weight`` for ``"r"``.
        None means a validated choice: EconML fits the nuisances once and every candidate final
        stage (ridge, lasso and shallow boosted trees, on standardised features) is
        cross-validated on the cached out-of-fold nuisances with the learner's own loss (the
        R-loss for ``"r"``, the squared error on the doubly robust pseudo-outcome for
        ``"dr"``); the lowest wins and EconML refits only the final stage. The scores are kept
        in ``final_stage_scores_`` and shown by ``diagnose``.
    router_model : regressor, default=None
        Final regressor for ``psi``. None means a validated choice shared with the baselines:
        boosted trees, replaced by a random forest (both LightGBM) when the forest predicts the
        training labels better on held-out rows by more than one standard error; above 2,000
        rows the boosted trees choose their number by early stopping on a hold-out and give way
        to the forest when they do not beat the labels' mean there (see
        ``router_model_scores_``). Kept boosted trees are averaged with a small random forest
        (50 trees of 15 leaves; scikit-learn's ``VotingRegressor``), which ranks queries
        better on part of ``benchmarks/RESULTS.md``'s battery (§13n).
    cv : int, default=3
        Number of cross-fitting folds, stratified on the gold flag (why 3:
        ``benchmarks/RESULTS.md``). ``fit`` warns with fewer than 20 gold-standard rows (a noisy
        bias estimate) and uses fewer folds when there are fewer gold rows than ``cv``.
    min_propensity : float, default=0.01
        Propensity floor of the DR learners (inverse weights are capped at ``1 / min_propensity``).
    overlap : {"none", "trim"}, default="none"
        ``"none"``: debias every PB row (the paper's Meta-Router). ``"trim"``: estimate and apply
        the bias only inside the overlap region of the two sources (see above).
    overlap_threshold : float, default=None
        Only with ``overlap="trim"``. A row is inside the overlap region when its cross-fitted
        ``P(gold | x) >= overlap_threshold * base_rate``, where ``base_rate`` is the share of GS
        rows among the training rows. None means 0.1: 10x below the base rate, the bound of the
        extreme-propensity warning. Must be > 0; larger values trim more (1.0 keeps only rows
        at least as likely as average to be gold).
    overlap_fallback : {"pooled", "gold_only"}, default="pooled"
        Only with ``overlap="trim"``: what happens to PB rows outside the region. ``"pooled"``
        keeps them with their raw (uncorrected) labels: right when the judge is trusted where no
        GS label exists. ``"gold_only"`` drops them: safer when the judge may be biased there
        too, at the price of fewer training rows.
    model_overlap : classifier, default=None
        Only with ``overlap="trim"``: the model of ``P(gold | x)`` that defines the region (needs
        ``predict_proba``). None means shallow boosted trees (LightGBM, 100 trees of 7 leaves,
        at least 40 rows per leaf, no L2 penalty), which can drop to ~0 past the edge of the GS
        rows' support.
    cost_primary, cost_alternative : float, default=1.0, 0.0
        Per-query costs of the two models.
    n_jobs : int or None, default=None
        Threads of the default LightGBM models (outcome nuisances, ``router_model``,
        ``model_overlap``) when fitting and predicting; None means 1, -1 all cores. Results are
        the same for every value (LightGBM runs with ``deterministic=True`` and a fixed histogram
        layout): threads change speed only. Models you pass keep their own settings.
    use_ray : bool, default=False
        Run EconML's cross-fitting folds as Ray tasks (EconML's own ``use_ray``); needs the
        ``[ray]`` extra. EconML starts a local Ray instance when none is running; to use a cluster,
        call ``ray.init(address=...)`` before ``fit``. Only the CATE estimator's folds are
        distributed (not the candidate fits of ``learner="auto"`` nor ``model_overlap``). The same
        ``random_state`` gives the same router with and without Ray, which is for clusters:
        on one machine it adds start-up and transfer overhead.
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
        With ``overlap="trim"`` EconML saw only the GS and in-region rows: NaN elsewhere.
    propensity_summary_ : dict or None
        Base rate, range and counts of extreme propensities (of the rows EconML saw).
    uncovered_share_ : float or None
        Share of PB rows with no GS rows like them: cross-fitted P(gold | x) from the default
        overlap model (the one of ``overlap="trim"`` and the diagnostics) at least 10x below the
        gold base rate. ``fit`` warns when it is large, since the bias is extrapolated there:
        above 5% with 100 or more gold rows, above 25% with 50-99 (with fewer, chance gaps of
        the classifier look like violations, and nothing is said).
        None with ``overlap="trim"`` (which handles those rows itself) or a baseline fallback.

    The next attributes are set with ``overlap="trim"`` and a CATE learner, None otherwise.

    overlap_propensity_ : ndarray
        Cross-fitted P(gold | x) of every training row from ``model_overlap``.
    overlap_threshold_ : float
        The propensity cut applied, ``overlap_threshold * base_rate``.
    overlap_mask_ : ndarray of bool
        True for training rows inside the overlap region. GS rows count as inside (they are
        always kept, whatever their propensity).
    overlap_share_ : float
        Share of training rows inside the overlap region.
    n_preference_outside_ : int
        Number of PB rows outside the region (not debiased: raw with ``"pooled"``, dropped with
        ``"gold_only"``).
    preference_outside_share_ : float
        ``n_preference_outside_`` as a share of the PB rows.
    overlap_models_ : list of classifiers
        The fold models behind ``overlap_propensity_``; ``in_overlap`` averages their
        ``P(gold | x)`` on new queries.
    auto_scores_ : DataFrame or None
        With ``learner="auto"``: per candidate, the held-out GS efficiency gain (``gain``, the
        criterion), the held-out GS mean squared error (``mse``, for information), and the
        paired gain difference against the default (``diff_vs_default``, positive is better)
        with its standard error (``diff_se``), and ``chosen``.
    auto_reason_ : str or None
        With ``learner="auto"``: what was chosen and why, in words.
    final_stage_ : str or None
        The final CATE stage chosen (``"linear"``, ``"sparse"`` or ``"boosted"``); None when
        ``model_final`` was given, for the forest learners and baselines.
    final_stage_scores_ : DataFrame or None
        Per candidate final stage: the cross-validated loss ``loss``, its paired difference
        from the lowest ``diff`` with the standard error ``diff_se``, and ``chosen``.
    cate_feature_mean_, cate_feature_scale_ : ndarray of shape (n_features,) or None
        The standardisation the built-in learners see, ``(X - mean) / scale`` (rounded to
        float32 precision); None for an EconML estimator passed as ``learner`` or a baseline.
    router_model_ : regressor
        The fitted psi regressor (with ``router_model=None``: a LightGBM model, or the
        ``VotingRegressor`` averaging the boosted trees with the small forest).
    router_model_scores_ : DataFrame or None
        With ``router_model=None``: per candidate router model (``"boosted"``, ``"forest"``;
        above 2,000 rows also ``"mean"``, the constant prediction the boosted trees must beat),
        the held-out squared error (NaN for the forest above 2,000 rows: not scored), its paired
        difference against the boosted model (above 2,000 rows: against the mean) with the
        standard error, the number of trees and ``chosen``; None when ``router_model`` was
        given.

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
        overlap="none",
        overlap_threshold=None,
        overlap_fallback="pooled",
        model_overlap=None,
        n_bootstrap: int | None = None,
        cost_primary: float = 1.0,
        cost_alternative: float = 0.0,
        n_jobs: int | None = None,
        use_ray: bool = False,
        random_state=None,
    ) -> None:
        super().__init__(
            router_model=router_model,
            gold_scale=gold_scale,
            cost_primary=cost_primary,
            cost_alternative=cost_alternative,
            n_jobs=n_jobs,
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
        self.overlap = overlap
        self.overlap_threshold = overlap_threshold
        self.overlap_fallback = overlap_fallback
        self.model_overlap = model_overlap
        self.n_bootstrap = n_bootstrap
        self.use_ray = use_ray

    @classmethod
    def _parameter_rules(cls) -> dict:
        rules = super()._parameter_rules()
        rules.update(_META_RULES)
        return rules

    def fit(self, X, y, *, gold, gold_probability=None):
        """Fit the router on pooled gold-standard and preference-based rows.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Query features, e.g. embeddings reduced to principal components.
        y : array-like of shape (n_samples,)
            The label of each row: the GS quality gain on gold rows, the PB label elsewhere.
        gold : array-like of bool, shape (n_samples,)
            True for gold-standard rows, False for preference-based rows.
        gold_probability : array-like of shape (n_samples,), default=None
            Only when the gold rows were chosen by a randomised design (active labelling with
            :func:`metarouter_econml.active.select_gold_queries`): the probability, known by
            design, that each row was sent for gold labelling. The built-in learners then use
            it as the propensity ``P(gold | x)`` instead of estimating it (an active design makes
            ``P(gold | x)`` a function a fitted model would only approximate), and
            ``gold_scale="variance"`` weights each source by its inverse selection
            probabilities. None: the gold rows are a random sample, and the propensity is
            cross-fitted.

        Returns
        -------
        self
            The fitted router.
        """
        return self._fit(X, y, gold, gold_probability)

    def _given_models(self) -> dict:
        return {name: getattr(self, name) for name in MODEL_PARAMS}

    def _training_set(self, X, y_pb, gold, seed, params):
        self.auto_scores_ = None
        self.auto_reason_ = None
        self.final_stage_ = None
        self.final_stage_scores_ = None
        trim, relative_threshold = self._overlap_settings(params)
        learner = params["learner"]
        self._check_bootstrap(learner, trim, params["n_bootstrap"])
        if params.get("gold_probability") is not None:
            self._check_known_propensity(learner, trim)
        self._replicates = self._final_stage_problem = None
        if isinstance(learner, str) and learner != "auto":
            check_learner_models(learner, self._given_models())
        use_ray = self._check_use_ray(learner, params["use_ray"])
        n_gold = int(gold.sum())
        if n_gold < _FEW_GOLD_ROWS:
            auto = isinstance(learner, str) and learner == "auto"
            alternative = "" if auto else ", or let learner='auto' fall back to it"
            warnings.warn(
                f"Only {n_gold} gold-standard rows in `gold` (fewer than {_FEW_GOLD_ROWS}): the "
                "bias estimate and the gold scale factor rest on them and will be noisy. Collect "
                "more gold labels, or compare with MeanShiftRouter (one global shift)"
                f"{alternative}.",
                UserWarning,
                stacklevel=3,
            )
        if isinstance(learner, str) and learner == "auto":
            learner, self.auto_scores_, self.auto_reason_ = choose_learner(
                self, X, y_pb, gold, seed
            )
        self.learner_ = learner if isinstance(learner, str) else type(learner).__name__
        self.cate_estimator_ = None
        self.propensity_ = None
        self.propensity_summary_ = None
        self.uncovered_share_ = None
        self.cate_feature_mean_ = self.cate_feature_scale_ = None
        for name in _OVERLAP_ATTRIBUTES:
            setattr(self, name, None)
        if learner in AUTO_BASELINES:  # what "auto" chose when a baseline validated best
            if learner == "pooled":
                self.shift_, target = 0.0, y_pb
            else:
                self.shift_, target = mean_shift_labels(y_pb, gold)
            if learner == "gold_only":  # shift_ still says how far the judge is off on average
                return gold, y_pb[gold]
            return slice(None), target
        if isinstance(learner, str):  # built-in learners see standardised features
            scale = FeatureScale.fit(X)
            self.cate_feature_mean_, self.cate_feature_scale_ = scale.mean, scale.scale
        Z = self._cate_features(X)
        if not trim:
            if not getattr(self, "_skip_positivity_check", False):
                self.uncovered_share_ = self._check_positivity(X, gold, seed, params)
            self.cate_estimator_ = self._fit_cate(learner, Z, y_pb, gold, seed, params, use_ray)
            target = y_pb.copy()
            target[~gold] += np.ravel(self.cate_estimator_.effect(Z[~gold]))
            return slice(None), target
        inside = self._fit_overlap(X, gold, seed, relative_threshold, params)
        fit_rows = gold | inside
        self.cate_estimator_ = self._fit_cate(
            learner, Z[fit_rows], y_pb[fit_rows], gold[fit_rows], seed, params, use_ray
        )
        if self.propensity_ is not None:  # EconML's propensities exist only on the rows it saw
            propensity = np.full(X.shape[0], np.nan)
            propensity[fit_rows] = self.propensity_
            self.propensity_ = propensity
        debias = ~gold & inside
        target = y_pb.copy()
        target[debias] += np.ravel(self.cate_estimator_.effect(Z[debias]))
        if params["overlap_fallback"] == "gold_only":
            return fit_rows, target[fit_rows]
        return slice(None), target

    def _cate_features(self, X: np.ndarray) -> np.ndarray:
        """The features the CATE estimator sees: standardised for the built-in learners.

        ``(X - cate_feature_mean_) / cate_feature_scale_``; ``X`` itself for an EconML
        estimator passed as ``learner`` (and for routers saved before the standardisation).
        """
        scale = getattr(self, "cate_feature_scale_", None)
        if scale is None:
            return X
        return FeatureScale(self.cate_feature_mean_, scale).transform(X)

    def _overlap_settings(self, params) -> tuple[bool, float | None]:
        """Whether to trim and the relative threshold (None: default); refuse unused options."""
        if params["overlap"] == "none":
            given = {
                name: value
                for name, value in (
                    ("overlap_threshold", self.overlap_threshold),
                    (
                        "overlap_fallback",
                        None if self.overlap_fallback == "pooled" else self.overlap_fallback,
                    ),
                    ("model_overlap", self.model_overlap),
                )
                if value is not None
            }
            if given:
                raise ValueError(
                    f"{sorted(given)} are used only with overlap='trim'; got {given!r} with "
                    "overlap='none'. Remove them or set overlap='trim'."
                )
            return False, None
        return True, params["overlap_threshold"]

    def _check_positivity(self, X, gold, seed, params) -> float:
        """Share of PB rows with no GS rows like them; warn when it is large.

        The overlap model and region are those of ``overlap="trim"`` and of the diagnostics
        (cross-fitted P(gold | x) at least 10x below the gold base rate counts as uncovered).
        """
        folds = make_folds(params["cv"], int(gold.sum()), seed, int((~gold).sum()))
        model = default_overlap_model(seed, self._n_threads())
        try:
            region = estimate_overlap_region(model, X, gold, folds, None)
            uncovered = int(np.sum(~region.inside & ~gold))
            threshold = region.threshold
        except ValueError:  # (almost) no preference row resembles a gold row
            uncovered, threshold = int(np.sum(~gold)), float("nan")
        n_preference = int(np.sum(~gold))
        share = uncovered / n_preference
        if share > _uncovered_warning_share(int(gold.sum())):
            where = "" if np.isnan(threshold) else f" (cross-fitted P(gold | x) < {threshold:.3g})"
            warnings.warn(
                f"{uncovered} of {n_preference} preference-based rows ({share:.0%}) have no "
                f"gold-standard rows like them{where}, 10x below the gold base rate "
                f"{gold.mean():.3g}: the bias there is extrapolated, not estimated (positivity). "
                "See where with metarouter_econml.diagnostics.diagnose, collect gold labels "
                "there, or fit with overlap='trim'.",
                UserWarning,
                stacklevel=4,
            )
        return share

    def _fit_overlap(self, X, gold, seed, relative_threshold, params):
        """Cross-fit P(gold | x) on all rows before the CATE; record and return the overlap mask."""
        folds = make_folds(params["cv"], int(gold.sum()), seed, int((~gold).sum()))
        model = self.model_overlap
        if model is None:
            model = default_overlap_model(seed, self._n_threads())
        try:
            region = estimate_overlap_region(model, X, gold, folds, relative_threshold)
        except ValueError as exc:  # too few preference rows inside: say which knob to turn
            hint = (
                "At the default threshold no preference-based row resembles the gold-standard "
                "rows: the two sources do not overlap, so the bias cannot be estimated anywhere. "
                "Collect gold labels on queries like the preference-based ones."
                if self.overlap_threshold is None
                else f"Lower it (got {self.overlap_threshold!r})."
            )
            raise ValueError(f"`overlap_threshold` {exc} {hint}") from None
        self.overlap_propensity_ = region.propensity
        self.overlap_models_ = region.models
        self.overlap_threshold_ = region.threshold
        self.overlap_mask_ = region.inside | gold
        self.overlap_share_ = float(self.overlap_mask_.mean())
        self.n_preference_outside_ = int(np.sum(~self.overlap_mask_))
        self.preference_outside_share_ = self.n_preference_outside_ / int(np.sum(~gold))
        return region.inside

    def _validates_final_stage(self, learner) -> bool:
        """Whether the final CATE stage is chosen by cross-validation (no ``model_final`` given)."""
        return (
            isinstance(learner, str)
            and learner in _VALIDATED_FINAL_STAGE
            and (self.model_final is None)
        )

    def _final_stage_candidates(self, learner, n_gold: int, n_preference: int, seed: int):
        return final_stage_candidates(
            learner, n_gold + n_preference, n_gold, seed, self._n_threads()
        )

    def _unfitted_cate(
        self,
        learner,
        n_gold: int,
        n_preference: int,
        seed: int,
        use_ray=False,
        propensity=None,
    ):
        """Build the router's EconML estimator for ``learner``, unfitted, and its folds.

        With a validated final stage, the estimator starts from the simplest candidate; once
        the router is fitted, from the chosen one (so that a refit, e.g. a refuter's,
        reproduces the fitted router without choosing again). ``propensity`` (known gold
        probabilities) fills the learner's propensity slot.
        """
        models = self._given_models()
        if propensity is not None:
            models[_PROPENSITY_SLOT[learner]] = propensity
        if self._validates_final_stage(learner):
            candidates = self._final_stage_candidates(learner, n_gold, n_preference, seed)
            chosen = getattr(self, "final_stage_", None)
            models["model_final"] = candidates[chosen if chosen in candidates else "linear"]
        return cate_estimator_for(
            learner,
            models,
            cv=self.cv,
            n_gold=n_gold,
            n_preference=n_preference,
            min_propensity=float(self.min_propensity),
            random_state=seed,
            n_jobs=self._n_threads(),
            use_ray=use_ray,
        )

    def _fit_cate(self, learner, X, y_pb, gold, seed, params, use_ray):
        n_gold = int(gold.sum())
        n_preference = gold.size - n_gold
        known = params.get("gold_probability")
        estimator, folds = self._unfitted_cate(
            learner,
            n_gold,
            n_preference,
            seed,
            use_ray,
            propensity=None if known is None else KnownPropensity(X, known),
        )
        validate = self._validates_final_stage(learner)
        bootstrap = params["n_bootstrap"] is not None and learner in _BOOTSTRAPPED_LEARNERS
        fit_cate_estimator(estimator, y_pb, gold, X, cache_values=validate or bootstrap)
        if bootstrap:  # read before select_final_stage releases EconML's cache
            target, weight, _ = cached_pseudo_outcomes(estimator, learner)
            self._final_stage_problem = (X, target, weight, learner == "r")
            if not validate:
                estimator._cached_values = None
        if validate:
            scores = select_final_stage(
                estimator,
                learner,
                self._final_stage_candidates(learner, n_gold, n_preference, seed),
                n_splits=params["cv"],
                random_state=seed,
            )
            self.final_stage_scores_ = scores
            self.final_stage_ = str(scores.index[scores["chosen"]][0])
        if isinstance(learner, str):
            self.propensity_ = out_of_fold_propensity(estimator, X, gold, folds)
            if self.propensity_ is not None:
                self.propensity_summary_ = check_extreme_propensity(
                    self.propensity_, gold, min_propensity=params["min_propensity"]
                )
        return estimator

    def _check_use_ray(self, learner, use_ray: bool) -> bool:
        """With ``use_ray=True``, check that Ray applies and imports before EconML needs it."""
        if not use_ray:
            return False
        if not isinstance(learner, str):
            raise ValueError(
                "`use_ray=True` applies to the built-in learners; for an EconML estimator passed "
                f"as `learner` ({type(learner).__name__}), set `use_ray=True` on that estimator "
                "instead."
            )
        import_ray("MetaRouter(use_ray=True)")
        return True

    def _check_bootstrap(self, learner, trim: bool, n_bootstrap) -> None:
        """Refuse ``n_bootstrap`` where the bootstrap does not apply, before anything is fitted."""
        if n_bootstrap is None:
            return
        if not isinstance(learner, str) or learner not in (*_BOOTSTRAPPED_LEARNERS, "auto"):
            name = learner if isinstance(learner, str) else type(learner).__name__
            raise ValueError(
                f"`n_bootstrap` needs learner 'r', 'dr' or 'auto' (whose final stage the "
                f"bootstrap refits); got n_bootstrap={n_bootstrap!r} with learner={name!r}. "
                "Without n_bootstrap, estimate_bias_interval uses EconML's own intervals of "
                "the forest learners (bootstrap of little bags)."
            )
        if trim:
            raise ValueError(
                f"`n_bootstrap` is not supported with overlap='trim'; got "
                f"n_bootstrap={n_bootstrap!r}. Fit with overlap='none' for intervals."
            )

    def _check_known_propensity(self, learner, trim: bool) -> None:
        """Refuse ``gold_probability`` where the known propensity cannot be used."""
        name = learner if isinstance(learner, str) else type(learner).__name__
        if not isinstance(learner, str) or learner == "auto" or trim:
            raise ValueError(
                "`gold_probability` needs a built-in learner ('r', 'dr', 'causal_forest', "
                "'forest_dr') and overlap='none'; got learner="
                f"{name!r} and overlap={self.overlap!r}."
            )
        slot = _PROPENSITY_SLOT[learner]
        if getattr(self, slot) is not None:
            raise ValueError(
                f"`gold_probability` is the propensity of learner={learner!r}, which `{slot}` "
                f"also sets (got {type(getattr(self, slot)).__name__}); pass one of them."
            )

    def _fit_uncertainty(self, X, y_pb, gold, seed, params) -> None:
        """With ``n_bootstrap``: the bootstrap replicates behind the intervals (``_intervals``)."""
        n_bootstrap = params["n_bootstrap"]
        if n_bootstrap is None:
            return
        problem = None
        if self._final_stage_problem is not None:
            features, target, weight, weighted = self._final_stage_problem
            problem = FinalStageProblem(
                features, target, weight, weighted, self.cate_estimator_.model_final
            )
        self._final_stage_problem = None  # a copy of the training data: not kept
        self._replicates = fit_replicates(
            n_bootstrap,
            X=X,
            Z=self._cate_features(X),
            y_pb=y_pb,
            gold=gold,
            router_model=self.router_model_,
            problem=problem,
            baseline=None if problem is not None else self.learner_,
            seed=seed,
        )

    def _fitted_replicates(self, method: str):
        """The bootstrap replicates, or a ValueError saying why there are none."""
        replicates = getattr(self, "_replicates", None)
        if replicates is not None:
            return replicates
        if self.n_bootstrap is not None:
            raise ValueError(
                f"`{method}` needs the bootstrap replicates, which router files do not hold "
                f"(this router was loaded from a file with n_bootstrap={self.n_bootstrap!r}). "
                "Refit it to get intervals."
            )
        raise ValueError(
            f"`{method}` needs a router fitted with n_bootstrap set (e.g. 50); this one has "
            "n_bootstrap=None. Refit with MetaRouter(n_bootstrap=50, ...)."
        )

    def predict_interval(self, X, alpha: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Interval for the expected gold-standard gain ``psi(x)`` of each query (gold scale).

        A normal bootstrap interval, ``predict(X) -/+ z * sd``: ``sd`` is the standard deviation
        of the router's prediction over ``n_bootstrap`` replicates, each of which draws the
        training rows with replacement within each source, refits the final CATE stage on
        EconML's cached out-of-fold nuisances of the drawn rows, debiases the preference rows
        with that replicate's bias and refits the router model. So it propagates the
        uncertainty of the debiased labels into the router. It covers the mean gain ``psi(x)``
        (not one query's label) under the assumptions of the estimate: the nuisance models
        and the gold scale factor are held fixed (first-order errors of the nuisances do not
        move an orthogonal final stage), and a final stage or router model that cannot
        represent the truth is biased in ways no resampling sees. The coverage measured on
        generators with a known truth is in ``benchmarks/RESULTS.md``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)
        alpha : float in (0, 1), default=0.1
            One minus the level: 0.1 gives 90% intervals.

        Returns
        -------
        lower, upper : ndarray of shape (n_queries,)
            Empty for an empty batch.

        Raises
        ------
        ValueError
            If the router was fitted without ``n_bootstrap`` or loaded from a file (router
            files do not hold the replicates).

        Examples
        --------
        >>> from metarouter_econml import MetaRouter
        >>> from metarouter_econml.datasets import make_routing_data
        >>> data = make_routing_data(n_samples=800, n_features=6, random_state=0)
        >>> split = data.split(n_test=200, n_gold=80, random_state=0)
        >>> router = MetaRouter(n_bootstrap=10, random_state=0).fit(
        ...     split.X_train, split.y_train, gold=split.gold_train)
        >>> lower, upper = router.predict_interval(split.X_test, alpha=0.1)
        >>> bool((lower < router.predict(split.X_test)).all() and (upper > lower).all())
        True
        >>> careful = router.route(split.X_test, cost_weight=0.1, alpha=0.1)
        >>> bool(careful.sum() <= router.route(split.X_test, cost_weight=0.1).sum())
        True
        """
        self._check_fitted()
        alpha = _ALPHA.check(alpha, "alpha")
        replicates = self._fitted_replicates("predict_interval")
        X_arr = check_features(self, X, reset=False, allow_empty=True)
        if X_arr.shape[0] == 0:
            return np.empty(0), np.empty(0)
        point = np.asarray(serving_models(self).psi(X_arr), dtype=np.float64) / self.scale_
        return normal_interval(point, replicates.psi(X_arr) / self.scale_, alpha)

    def estimate_bias_interval(self, X, alpha: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Interval for the judge's bias ``Delta(x)`` of each query (preference scale).

        It covers the bias function ``Delta(x) = E[Y | gold, x] - E[Y | preference, x]``, not
        the difference of two labels. For ``"r"`` and ``"dr"`` (and ``"auto"``): the normal
        bootstrap interval of :meth:`predict_interval`'s replicates, ``estimate_bias(X) -/+
        z * sd``, which needs ``n_bootstrap``; when ``"auto"`` chose a baseline, the bootstrap
        of its constant shift (zero width for pooling, which assumes no bias). For
        ``"causal_forest"`` and ``"forest_dr"``: EconML's own ``effect_interval`` (the bootstrap
        of little bags of the forest), without ``n_bootstrap``. For an EconML estimator passed
        as ``learner``: its ``effect_interval``, if it was built with inference.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)
        alpha : float in (0, 1), default=0.1
            One minus the level: 0.1 gives 90% intervals.

        Returns
        -------
        lower, upper : ndarray of shape (n_queries,)
            Empty for an empty batch.

        Raises
        ------
        ValueError
            If no interval is available: ``"r"``/``"dr"`` fitted without ``n_bootstrap``, a
            router loaded from a file, or an estimator without inference.
        """
        self._check_fitted()
        alpha = _ALPHA.check(alpha, "alpha")
        use_econml = getattr(self, "_replicates", None) is None and (
            self.learner_ not in (*_BOOTSTRAPPED_LEARNERS, *AUTO_BASELINES)
        )
        if not use_econml:
            replicates = self._fitted_replicates("estimate_bias_interval")
        X_arr = check_features(self, X, reset=False, allow_empty=True)
        if X_arr.shape[0] == 0:
            return np.empty(0), np.empty(0)
        Z = self._cate_features(X_arr)
        if not use_econml:
            point = self._bias_of_features(Z)
            return normal_interval(point, replicates.bias(Z), alpha)
        try:
            lower, upper = self.cate_estimator_.effect_interval(Z, alpha=alpha)
        except Exception as exc:  # no inference: a stand-in loaded from a file, or none built
            raise ValueError(
                f"`estimate_bias_interval` needs EconML's inference on the fitted "
                f"{type(self.cate_estimator_).__name__} (learner_={self.learner_!r}), which "
                f"failed: {exc}. Routers loaded from a file keep no inference; refit, or use "
                "learner 'r' or 'dr' with n_bootstrap."
            ) from None
        return np.ravel(lower).astype(np.float64), np.ravel(upper).astype(np.float64)

    def route(self, X, cost_weight: float, alpha: float | None = None) -> np.ndarray:
        """Decide per query whether to call the primary model.

        The rule is ``psi_hat(x) > cost_weight * (cost_primary - cost_alternative)``. With
        ``alpha``, the conservative rule: the primary model is called only when the lower end
        of the ``1 - alpha`` interval of :meth:`predict_interval` exceeds the threshold, i.e.
        when the gain is above it with confidence about ``1 - alpha / 2`` (one-sided). It sends
        fewer queries to the primary model than the plain rule at the same weight; calibrate
        the weight with ``threshold_for_ratio`` for the plain rule only.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)
        cost_weight : float
            Price of one unit of cost in GS quality units (the paper's ``w``).
        alpha : float in (0, 1) or None, default=None
            None: the plain rule. A float needs a router fitted with ``n_bootstrap``.

        Returns
        -------
        ndarray of bool, shape (n_queries,)
            True where the query goes to the primary model; empty for an empty batch.
        """
        if alpha is None:
            return super().route(X, cost_weight)
        weight = check_cost_weight(cost_weight)
        lower, _ = self.predict_interval(X, alpha)
        return lower > weight * self._cost_gap()

    def estimate_bias(self, X) -> np.ndarray:
        """Estimated bias ``Delta_hat(x) = E[Y | gold, x] - E[Y | preference, x]`` on the PB scale.

        This is the correction added to preference labels before the router is trained. When
        ``learner="auto"`` fell back to mean-shift (or pooling) it is the constant shift (or 0).
        With ``overlap="trim"`` it is the CATE model's value everywhere, but it was applied only
        inside the overlap region: outside (see :meth:`in_overlap`) it is an extrapolation.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)

        Returns
        -------
        ndarray of shape (n_queries,)
            Empty for an empty batch.
        """
        self._check_fitted()
        X_arr = check_features(self, X, reset=False, allow_empty=True)
        if self.cate_estimator_ is None:
            return np.full(X_arr.shape[0], self.shift_)
        if X_arr.shape[0] == 0:  # an empty batch
            return np.empty(0)
        return self._bias_of_features(self._cate_features(X_arr))

    def _bias_of_features(self, Z: np.ndarray) -> np.ndarray:
        """``Delta_hat`` of rows already on the CATE features (``_cate_features``)."""
        if self.cate_estimator_ is None:
            return np.full(Z.shape[0], self.shift_)
        bias = serving_models(self).bias
        assert bias is not None  # a CATE estimator exists (checked above)
        return np.asarray(bias(Z), dtype=np.float64)

    def in_overlap(self, X) -> np.ndarray:
        """Whether each query falls inside the overlap region of the GS and PB sources.

        The propensity ``P(gold | x)`` of a new query is the mean of the fold models of
        ``model_overlap`` fitted during ``fit`` (``overlap_models_``, no refit on all rows, so
        ``in_overlap`` costs no extra fit); the query is inside when it is at least
        ``overlap_threshold_``. On training rows this is close to, but not the same as,
        ``overlap_mask_``, which used each row's out-of-fold model (and keeps every GS row).
        Queries outside are still routed by ``router_model_``, whose training there followed
        ``overlap_fallback`` (raw PB labels, or GS and in-region rows only).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_queries, n_features)

        Returns
        -------
        ndarray of bool, shape (n_queries,)
            Empty for an empty batch.

        Raises
        ------
        ValueError
            If the router was not fitted with ``overlap="trim"`` and a CATE learner (e.g.
            ``learner="auto"`` fell back to a baseline), so no overlap region was estimated.
        """
        self._check_fitted()
        if self.overlap_models_ is None:
            raise ValueError(
                "`in_overlap` needs a router fitted with overlap='trim' and a CATE learner; this "
                f"one has overlap={self.overlap!r} and learner_={self.learner_!r}."
            )
        X_arr = check_features(self, X, reset=False, allow_empty=True)
        if X_arr.shape[0] == 0:
            return np.zeros(0, dtype=bool)
        propensity = np.mean(
            [model.predict_proba(X_arr)[:, 1] for model in self.overlap_models_], axis=0
        )
        return propensity >= self.overlap_threshold_
