"""Bootstrap replicates behind the Meta-Router's intervals (private).

What is resampled, and what is not. Each replicate draws the training rows with replacement
*within each source* (as many gold-standard (GS) and preference-based (PB) rows as the data
have), then refits the last two stages on them:

1. the final CATE stage, on EconML's cached out-of-fold nuisances of the drawn rows (the
   R-loss problem ``Y_res / T_res`` weighted by ``T_res ** 2`` for the R-learner, the doubly
   robust pseudo-outcome for the DR-learner; ``_estimation.cached_pseudo_outcomes``)
   -- or, for the baselines ``learner="auto"`` can choose, the mean shift of the drawn rows;
2. the router model (the fitted one's configuration, ``clone(router_model_)``) on the drawn
   rows, the PB rows debiased with that replicate's bias.

The nuisance models (outcome and propensity) are held fixed: the R- and DR-losses are Neyman
orthogonal, so first-order errors of the nuisances do not move the final stage, and refitting
them B times would multiply the fit time by B. The gold scale factor ``c`` is held fixed too:
``psi_hat`` does not depend on it to first order (the bias correction absorbs a different ``c``),
only ``Delta_hat``'s scale does. The replicates therefore measure the sampling noise of the bias
function and of the router fitted on the debiased labels -- not the noise of one label, and not
the approximation bias of a final stage that cannot represent the truth (a linear stage for a
curved bias), which no resampling can see. ``benchmarks/RESULTS.md`` reports the coverage that
results on generators with a known truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm
from sklearn.base import clone

__all__ = ["FinalStageProblem", "Replicates", "fit_replicates", "normal_interval"]


@dataclass(frozen=True)
class FinalStageProblem:
    """The final CATE stage's regression problem, read from EconML's cache before its release.

    ``features`` are what the final stage sees (rows in the order EconML was fitted on),
    ``target`` and ``weight`` the pseudo-outcome and its weight, ``weighted`` whether the final
    model takes the weight (the R-learner) or not (the DR-learner, weight 1), ``model`` the
    unfitted final model that was chosen.
    """

    features: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    weighted: bool
    model: object


@dataclass(frozen=True)
class Replicates:
    """``B`` bootstrap replicates of the bias and of the router model.

    ``bias_models`` (fitted final-stage models, evaluated on the CATE features) or ``shifts``
    (one constant bias per replicate, for the baselines) -- exactly one is set; ``router_models``
    are the refitted router models (features as given).
    """

    router_models: list
    bias_models: list | None = None
    shifts: np.ndarray | None = None

    @property
    def n_bootstrap(self) -> int:
        return len(self.router_models)

    def bias(self, Z: np.ndarray) -> np.ndarray:
        """Replicated ``Delta_hat`` on the PB scale, shape ``(B, n)``."""
        if self.shifts is not None:
            return np.repeat(self.shifts[:, None], Z.shape[0], axis=1)
        assert self.bias_models is not None  # exactly one of the two is set
        return np.stack([np.ravel(model.predict(Z)) for model in self.bias_models])

    def psi(self, X: np.ndarray) -> np.ndarray:
        """Replicated router predictions on the PB scale, shape ``(B, n)``."""
        return np.stack([np.ravel(model.predict(X)) for model in self.router_models])


def resample_within_sources(gold: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row positions drawn with replacement, as many GS and PB rows as ``gold`` has."""
    gold_rows = np.flatnonzero(gold)
    preference_rows = np.flatnonzero(~gold)
    return np.concatenate(
        [
            rng.choice(gold_rows, size=gold_rows.size, replace=True),
            rng.choice(preference_rows, size=preference_rows.size, replace=True),
        ]
    )


def fit_replicates(
    n_bootstrap: int,
    *,
    X: np.ndarray,
    Z: np.ndarray,
    y_pb: np.ndarray,
    gold: np.ndarray,
    router_model,
    problem: FinalStageProblem | None,
    baseline: str | None,
    seed: int,
) -> Replicates:
    """Refit the final stage (or the baseline's shift) and the router model ``n_bootstrap`` times.

    Exactly one of ``problem`` (a CATE learner) and ``baseline`` (``"mean_shift"``,
    ``"gold_only"`` or ``"pooled"``) is given. ``Z`` are the CATE features of the rows of ``X``;
    ``y_pb`` the labels on the PB scale (GS labels rescaled). The rows must be those EconML saw.
    """
    rng = np.random.default_rng(seed)
    router_models, bias_models, shifts = [], [], []
    preference = ~gold
    for _ in range(n_bootstrap):
        rows = resample_within_sources(gold, rng)
        target = y_pb.copy()
        if problem is not None:
            model = clone(problem.model)
            if problem.weighted:
                model.fit(
                    problem.features[rows], problem.target[rows], sample_weight=problem.weight[rows]
                )
            else:
                model.fit(problem.features[rows], problem.target[rows])
            bias_models.append(model)
            target[preference] += np.ravel(model.predict(Z[preference]))
        else:
            drawn = gold[rows]
            shift = 0.0
            if baseline != "pooled":
                shift = float(y_pb[rows[drawn]].mean() - y_pb[rows[~drawn]].mean())
            shifts.append(shift)
            target[preference] += shift
            if baseline == "gold_only":
                rows = rows[drawn]
        router_models.append(clone(router_model).fit(X[rows], target[rows]))
    if problem is not None:
        return Replicates(router_models, bias_models=bias_models)
    return Replicates(router_models, shifts=np.asarray(shifts))


def normal_interval(
    point: np.ndarray, replicates: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """``point -/+ z_{1 - alpha/2} * sd``, the standard deviation taken over the replicates."""
    spread = np.std(replicates, axis=0, ddof=1) * norm.ppf(1 - alpha / 2)
    return point - spread, point + spread
