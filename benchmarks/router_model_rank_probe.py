"""Choose the router model by held-out rank correlation instead of squared error? (issue 11)

A companion of ``router_model_probe.py``: the default ``MetaRouter`` / ``PooledRouter`` against the
same routers whose router model is chosen between the default's 300 boosted trees and that
script's deep LightGBM forest by the held-out Spearman correlation of the predictions with the
held-out training labels (5-fold for up to 2,000 rows, else a 25% hold-out, as the default's
validation). ``meta_rank``: the forest wins when its correlation is higher; ``meta_rank_se``:
higher by one bootstrap standard error (200 resamples of the held-out rows). Same splits as
``router_model_probe.py`` (its ``default`` column is bit-identical).

    python benchmarks/router_model_rank_probe.py --scenarios all --splits 4
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import router_model_probe
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.model_selection import KFold, ShuffleSplit, cross_val_predict

from metarouter_econml import MetaRouter, PooledRouter
from metarouter_econml._estimation import default_router_model


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-300))


def rank_select(X, y, seed: int, margin: float):
    """Fit the candidate with the higher held-out rank correlation (by ``margin`` SEs)."""
    candidates = {
        "boosted": default_router_model(seed, 1),
        "forest": router_model_probe.deep_forest(),
    }
    n = X.shape[0]
    if n <= 2000:
        held = np.arange(n)
        folds = KFold(max(2, min(5, n // 2)), shuffle=True, random_state=seed)
        predictions = {
            name: cross_val_predict(clone(model), X, y, cv=folds)
            for name, model in candidates.items()
        }
    else:
        train, held = next(ShuffleSplit(1, test_size=0.25, random_state=seed).split(X))
        predictions = {
            name: clone(model).fit(X[train], y[train]).predict(X[held])
            for name, model in candidates.items()
        }
    target = y[held]

    def gain(rows: np.ndarray) -> float:
        ranks = rankdata(target[rows])
        forest = _correlation(rankdata(predictions["forest"][rows]), ranks)
        return forest - _correlation(rankdata(predictions["boosted"][rows]), ranks)

    rng = np.random.default_rng(seed)
    spread = np.std([gain(rng.integers(0, target.size, target.size)) for _ in range(200)])
    diff = gain(np.arange(target.size))
    chosen = "forest" if diff > margin * spread else "boosted"
    scores = pd.DataFrame({"chosen": [chosen], "diff": [diff], "se": [spread]})
    return clone(candidates[chosen]).fit(X, y), scores


class MetaRank(MetaRouter):
    def _fit_router_model(self, X, target, seed):
        return rank_select(X, target, seed, 0.0)


class MetaRankSE(MetaRouter):
    def _fit_router_model(self, X, target, seed):
        return rank_select(X, target, seed, 1.0)


class PooledRank(PooledRouter):
    def _fit_router_model(self, X, target, seed):
        return rank_select(X, target, seed, 0.0)


METHODS = {
    "default": lambda: MetaRouter(),
    "meta_rank": lambda: MetaRank(),
    "meta_rank_se": lambda: MetaRankSE(),
    "pooled": lambda: PooledRouter(),
    "pooled_rank": lambda: PooledRank(),
}


def main() -> None:
    args = router_model_probe.parse_args(
        __doc__.splitlines()[0], "benchmarks/results/router_model_rank_probe.csv"
    )
    router_model_probe.run(METHODS, args.scenarios, args.splits, args.out)


if __name__ == "__main__":
    main()
