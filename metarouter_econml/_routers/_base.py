"""The router base class: fitting, prediction on the gold scale, cost-aware routing, saving.

Every router learns ``psi_hat(x)``, the expected gold-standard (GS) quality gain of the primary
model over the alternative, from pooled GS and preference-based (PB) rows; subclasses define only
the training rows and labels of the final regressor (``_training_set``). Predictions are reported
on the GS scale, so ``route`` compares them with the cost of the primary model in GS units.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import RegressorTags

from .._estimation import (
    GOLD_SCALES,
    default_router_model,
    gold_scale_factor,
    validated_router_model,
)
from .._persist import save_router
from .._validation import (
    AnyOf,
    Estimator,
    NJobs,
    Options,
    Real,
    Seed,
    check_aligned,
    check_cost_weight,
    check_features,
    check_gold_mask,
    check_gold_probability,
    check_labels,
    check_n_jobs,
    check_params,
    nullable,
    random_seed,
)
from ._serving import serving_models

__all__ = ["BaseRouter"]

_MIN_ROWS = 4  # two rows of each source
_MIN_VALIDATION_ROWS = 10  # fewer training rows: the default router model is not validated
_BASE_RULES = {
    "router_model": nullable(Estimator(("fit", "predict"), kind="a regressor")),
    "gold_scale": AnyOf((Options(GOLD_SCALES), Real(0, low_open=True))),
    "cost_primary": Real(),
    "cost_alternative": Real(),
    "n_jobs": NJobs(),
    "random_state": Seed(),
}


class BaseRouter(BaseEstimator):
    """Shared fitting, prediction and routing; subclasses define the training labels.

    Routers are regressors of ``psi`` (tags say so: ``estimator_type="regressor"``, ``y``
    required). Their :meth:`score` is the R^2 on the gold-standard rows only, on the gold scale
    (a score against every ``y`` would mix two label scales). ``fit`` and ``score`` request
    ``gold`` by default under scikit-learn's metadata routing, so ``cross_val_score(router, X,
    y, params={"gold": gold})`` and ``GridSearchCV`` pass the mask on without
    ``set_fit_request``/``set_score_request``.
    """

    # Metadata routing: `gold` is not optional, so it is requested by default.
    __metadata_request__fit = {"gold": True}
    __metadata_request__score = {"gold": True}

    def __init__(
        self,
        *,
        router_model=None,
        gold_scale="variance",
        cost_primary: float = 1.0,
        cost_alternative: float = 0.0,
        n_jobs: int | None = None,
        random_state=None,
    ):
        self.router_model = router_model
        self.gold_scale = gold_scale
        self.cost_primary = cost_primary
        self.cost_alternative = cost_alternative
        self.n_jobs = n_jobs
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
        return self._fit(X, y, gold)

    def _fit(self, X, y, gold, gold_probability=None):
        """``fit``, with the known gold probabilities of an active design (MetaRouter only)."""
        params = check_params(self, self._parameter_rules())
        X_arr = check_features(self, X, reset=True)
        if X_arr.shape[0] < _MIN_ROWS:
            raise ValueError(
                f"`X` must have at least {_MIN_ROWS} rows (2 gold-standard and 2 "
                f"preference-based); got n_samples = {X_arr.shape[0]}."
            )
        y_arr = check_labels(y, n_rows=X_arr.shape[0])
        gold_arr = check_gold_mask(gold, n_rows=X_arr.shape[0])
        check_aligned(X, y, "y")
        check_aligned(X, gold, "gold")
        weights = {}
        if gold_probability is not None:
            probability = check_gold_probability(gold_probability, gold_arr)
            check_aligned(X, gold_probability, "gold_probability")
            params["gold_probability"] = probability
            # Horvitz-Thompson weights: each source's rows stand for the whole population
            weights = {
                "gold_weight": 1.0 / probability[gold_arr],
                "preference_weight": 1.0 / (1.0 - probability[~gold_arr]),
            }
        self.scale_ = gold_scale_factor(
            y_arr[gold_arr], y_arr[~gold_arr], self.gold_scale, **weights
        )
        y_pb = np.where(gold_arr, y_arr * self.scale_, y_arr)
        self.n_gold_ = int(gold_arr.sum())
        self.n_preference_ = int((~gold_arr).sum())
        seed = random_seed(self.random_state)
        rows, target = self._training_set(X_arr, y_pb, gold_arr, seed, params)
        self.router_model_, self.router_model_scores_ = self._fit_router_model(
            X_arr[rows], target, seed
        )
        self._fit_uncertainty(X_arr, y_pb, gold_arr, seed, params)
        return self

    def _fit_uncertainty(self, X, y_pb, gold, seed, params) -> None:
        """Fit what the router's intervals need, after the router model (none by default)."""

    def _fit_router_model(self, X, target, seed):
        """The fitted router model and, for the default, the scores of its validated choice."""
        if self.router_model is not None:
            return clone(self.router_model).fit(X, target), None
        if X.shape[0] < _MIN_VALIDATION_ROWS:
            return default_router_model(seed, self._n_threads()).fit(X, target), None
        return validated_router_model(X, target, random_state=seed, n_jobs=self._n_threads())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        tags.target_tags.required = True
        tags.regressor_tags = RegressorTags()
        return tags

    @classmethod
    def _parameter_rules(cls) -> dict:
        """The rule of every constructor parameter, checked once at the top of ``fit``."""
        return dict(_BASE_RULES)

    def _training_set(self, X, y_pb, gold, seed, params):  # pragma: no cover - abstract
        """Rows and labels (PB scale) the router model is trained on."""
        raise NotImplementedError

    def _check_fitted(self) -> None:
        """scikit-learn's ``check_is_fitted(self, "router_model_")``, cheap enough per query."""
        if "router_model_" not in self.__dict__:
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def _n_threads(self) -> int:
        """Validated ``n_jobs`` for the default LightGBM models: None means 1."""
        n_jobs = check_n_jobs(self.n_jobs)
        return 1 if n_jobs is None else n_jobs

    def _cost_gap(self) -> float:
        """``cost_primary - cost_alternative``, with both costs checked where they are used."""
        primary = Real().check(self.cost_primary, "cost_primary")
        alternative = Real().check(self.cost_alternative, "cost_alternative")
        return primary - alternative

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
            Empty for an empty batch (0 rows with the columns seen at fit).
        """
        self._check_fitted()
        X_arr = check_features(self, X, reset=False, allow_empty=True)
        if X_arr.shape[0] == 0:  # an empty serving batch
            return np.empty(0)
        psi = serving_models(self).psi(X_arr)  # the model's own predictor, no wrapper overhead
        return np.asarray(psi, dtype=np.float64) / self.scale_

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
            True where the query goes to the primary model; empty for an empty batch.
        """
        weight = check_cost_weight(cost_weight)
        return self.predict(X) > weight * self._cost_gap()

    def score(self, X, y, *, gold) -> float:
        """R^2 of ``predict(X)`` against the gold-standard labels of ``y`` (gold rows only).

        Preference-based rows are ignored: their labels are on another scale and biased. The
        gold labels are used as given (the gold scale, as ``predict`` returns).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Labels; only those of gold rows are read.
        gold : array-like of bool, shape (n_samples,)
            True for gold-standard rows; at least 2 are needed.

        Returns
        -------
        float
            The coefficient of determination on the gold rows.
        """
        from sklearn.metrics import r2_score

        predictions = self.predict(X)
        y_arr = check_labels(y, n_rows=predictions.shape[0])
        gold_arr = check_gold_mask(gold, n_rows=predictions.shape[0], min_each=0)
        if gold_arr.sum() < 2:
            raise ValueError(
                "`gold` must mark at least 2 gold-standard rows to score on; got "
                f"{int(gold_arr.sum())}."
            )
        return float(r2_score(y_arr[gold_arr], predictions[gold_arr]))

    def threshold_for_ratio(self, X, ratio: float) -> float:
        """The ``cost_weight`` at which ``route`` sends ``floor(ratio * n)`` queries to the primary.

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

        Raises
        ------
        ValueError
            If ``X`` has no rows: there is no traffic to calibrate on.
        """
        ratio = Real(0, 1).check(ratio, "ratio")
        cost_gap = self._cost_gap()
        if not cost_gap > 0:
            raise ValueError(
                "`threshold_for_ratio` needs `cost_primary` > `cost_alternative`; got "
                f"{self.cost_primary!r} and {self.cost_alternative!r}."
            )
        predictions = self.predict(X)
        n = predictions.size
        if n == 0:
            raise ValueError("`X` must have at least 1 row to calibrate a threshold on; got 0.")
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
                    f"Predictions tie at the cut-off for ratio={ratio}: the returned weight sends "
                    f"{sent} "
                    f"of {n} queries instead of {k}.",
                    UserWarning,
                    stacklevel=2,
                )
        return float(threshold / cost_gap)

    # -- persistence -------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Save the fitted router to ``path``; read it back with :func:`metarouter_econml.load`.

        The file is a zip archive with a JSON header (format, library versions, SHA-256 digest)
        and a payload in skops' safe format, which loads without running code from the file. It
        holds the router model, the fitted attributes and, for a :class:`MetaRouter`, the final
        CATE model only (not the nuisance models). See the ``metarouter_econml._persist``
        package docstring.

        Parameters
        ----------
        path : str or path-like
            File to write; its directory must exist. An existing file is replaced.

        Raises
        ------
        NotFittedError
            If the router is not fitted.
        ValueError
            If the router holds a type that :func:`metarouter_econml.load` would not trust (e.g.
            a custom ``router_model``), or a CATE estimator whose final model cannot be saved.
        """
        check_params(self, self._parameter_rules())  # never write a router that could not route
        save_router(self, path)
