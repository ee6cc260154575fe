"""Averaging the router model with a forest, and forest-like boosting: probes (issue 11, §13m).

Its results (§13m) were measured against the library at commit f7480ae, whose validated router
model was never averaged. Since §13n the library averages kept boosted trees with a small forest
itself, so the ``*_avg*`` methods run against today's library would average twice; check out
f7480ae (``git worktree add``) and put it first on ``PYTHONPATH`` to reproduce §13m.

Probes, not library changes. ``*_avg*`` methods: the default router model
(``validated_router_model``) averaged with a LightGBM random forest (the default's forest
candidate, with the changes of :data:`FORESTS`) whenever the validated choice is the boosted
trees (else the validated choice alone, as in the library). ``*_sgb*`` methods: the validated
choice with the boosted candidate randomised like a forest (:data:`BOOSTED`). The routers are
subclasses of ``MetaRouter`` / ``PooledRouter`` that override only how the router model is fitted,
so they get each split's seed like the default. Run with ``battery.py``'s command line, the
probe's methods added to ``battery.METHODS``; the splits are those of every battery run with
the same seeds, so results pair with earlier CSVs split by split:

    python benchmarks/router_model_average_probe.py --scenarios <the 11 of §13j> \
        --methods pooled pooled_avg pooled_avg63 --splits 20 --n-jobs 2 --tag avg_pooled
"""

from __future__ import annotations

import sys

import battery
import numpy as np

from metarouter_econml import MetaRouter, PooledRouter
from metarouter_econml._estimation import router_model_candidates
from metarouter_econml._estimation._selection import select_router_model, validated_router_model


class _Averaged:
    """Fitted models whose predictions are averaged."""

    def __init__(self, parts):
        self.parts = parts

    def predict(self, X):
        return np.mean([part.predict(X) for part in self.parts], axis=0)


def averaged_router_model(X, y, seed: int, n_jobs: int, forest_params: dict):
    """The validated router model; averaged with a forest (the default's forest candidate
    with ``forest_params`` changed) when boosting won."""
    model, table = validated_router_model(X, y, random_state=seed, n_jobs=n_jobs)
    if not bool(table.loc["boosted", "chosen"]):
        return model, table
    forest = router_model_candidates(seed, n_jobs)["forest"].set_params(**forest_params)
    return _Averaged([model, forest.fit(X, y)]), table


def _averaging(base, name: str, forest_params: dict):
    """``base`` (a router class) whose default router model is averaged with a forest."""

    class Averaging(base):
        def _fit_router_model(self, X, target, seed):
            return averaged_router_model(X, target, seed, self._n_threads(), forest_params)

    Averaging.__name__ = Averaging.__qualname__ = f"{base.__name__}{name}"
    return Averaging


#: suffix -> changes to the default's forest candidate (200 trees, 63 leaves, a third of the
#: features per split)
FORESTS = {
    "avg": {"num_leaves": 1023},
    "avg63": {},
    "avg100t": {"n_estimators": 100, "colsample_bytree": 0.33, "colsample_bynode": 1.0},
    "avg31": {"num_leaves": 31},
}
for suffix, params in FORESTS.items():
    battery.METHODS[f"meta_{suffix}"] = _averaging(MetaRouter, suffix, params)
    battery.METHODS[f"pooled_{suffix}"] = _averaging(PooledRouter, suffix, params)


def _stochastic(base, name: str, boosted_params: dict):
    """``base`` whose validated boosted candidate is randomised like a forest."""

    class Stochastic(base):
        def _fit_router_model(self, X, target, seed):
            candidates = router_model_candidates(seed, self._n_threads(), n_rows=X.shape[0])
            candidates["boosted"].set_params(**boosted_params)
            return select_router_model(candidates, X, target, random_state=seed)

    Stochastic.__name__ = Stochastic.__qualname__ = f"{base.__name__}{name}"
    return Stochastic


#: suffix -> changes to the default's boosted candidate
BOOSTED = {
    "sgb": {"subsample": 0.632, "subsample_freq": 1, "colsample_bynode": 0.33},
    "sgb_node": {"colsample_bynode": 0.33},
}
for suffix, params in BOOSTED.items():
    battery.METHODS[f"meta_{suffix}"] = _stochastic(MetaRouter, suffix, params)
    battery.METHODS[f"pooled_{suffix}"] = _stochastic(PooledRouter, suffix, params)

if __name__ == "__main__":
    sys.exit(battery.main())
