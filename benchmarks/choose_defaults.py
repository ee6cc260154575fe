"""Measure candidate default configurations of the Meta-Router against the baselines.

Each configuration is run through the paper's protocol (`run_protocol`) on the same random splits
(500 test rows, n_gold gold rows, the rest preference rows) of a synthetic data set with a known
truth; routing quality is the efficiency-gain AUC over primary-usage ratios 0.2-0.8 against the
test rows' GS gains, normalised by the library's convention (mean GS gain of the data x 500, the
paper's constant; `--normalizer split` divides by each split's own total test gain instead, the
scale of the tables recorded before this convention). Differences against pooling are paired by
split, with a normal 95% interval. Split seeds are drawn from `--seed` and every router gets its
split's seed as `random_state` (run_protocol's rules).

    python benchmarks/choose_defaults.py --splits 20 --bias heterogeneous
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV

from metarouter_econml import (
    GoldOnlyRouter,
    MeanShiftRouter,
    MetaRouter,
    PooledRouter,
    PreferenceOnlyRouter,
)
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.evaluation import run_protocol

ORACLE = "all_gold (oracle)"


def _lgbm_sized(n_estimators, learning_rate, seed=0):
    return LGBMRegressor(
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        num_leaves=15,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        n_jobs=1,
        random_state=seed,
        verbose=-1,
    )


def _lgbm(seed=0):
    return _lgbm_sized(300, 0.03, seed)


class _StandardizedRidge(RegressorMixin, BaseEstimator):
    """RidgeCV on weighted-standardised features, accepting sample_weight (for NonParamDML)."""

    def fit(self, X, y, sample_weight=None):
        w = np.ones(len(X)) if sample_weight is None else sample_weight
        self.mean_ = np.average(X, axis=0, weights=w)
        self.sd_ = np.sqrt(np.average((X - self.mean_) ** 2, axis=0, weights=w)) + 1e-12
        self.ridge_ = RidgeCV(alphas=np.logspace(-2, 5, 15)).fit(
            (X - self.mean_) / self.sd_, y, sample_weight=w
        )
        return self

    def predict(self, X):
        return self.ridge_.predict((X - self.mean_) / self.sd_)


#: Display name -> factory of the unfitted router. run_protocol replaces each router's own
#: `random_state` by its split's seed (nested models keep theirs).
CONFIGS = {
    "gold_only": lambda: GoldOnlyRouter(random_state=0),
    "preference_only": lambda: PreferenceOnlyRouter(random_state=0),
    "pooled": lambda: PooledRouter(random_state=0),
    "mean_shift": lambda: MeanShiftRouter(random_state=0),
    "r (default)": lambda: MetaRouter(learner="r", random_state=0),
    "dr (default)": lambda: MetaRouter(learner="dr", random_state=0),
    "r std-ridge": lambda: MetaRouter(
        learner="r", model_final=_StandardizedRidge(), random_state=0
    ),
    "dr std-ridge": lambda: MetaRouter(
        learner="dr", model_final=_StandardizedRidge(), random_state=0
    ),
    "dr boosted-final": lambda: MetaRouter(learner="dr", model_final=_lgbm(), random_state=0),
    "forest_dr": lambda: MetaRouter(learner="forest_dr", random_state=0),
    "r const-prop": lambda: MetaRouter(
        learner="r", model_t=DummyClassifier(strategy="prior"), random_state=0
    ),
    "r LR(C=1)": lambda: MetaRouter(
        learner="r", model_t=LogisticRegression(C=1.0, max_iter=2000), random_state=0
    ),
    "dr LR(C=1)": lambda: MetaRouter(
        learner="dr", model_propensity=LogisticRegression(C=1.0, max_iter=2000), random_state=0
    ),
    "r cv=3": lambda: MetaRouter(learner="r", cv=3, random_state=0),
    "dr cv=3": lambda: MetaRouter(learner="dr", cv=3, random_state=0),
    "dr const-prop": lambda: MetaRouter(
        learner="dr", model_propensity=DummyClassifier(strategy="prior"), random_state=0
    ),
    "r router=RF": lambda: MetaRouter(
        learner="r",
        router_model=RandomForestRegressor(
            200, min_samples_leaf=5, max_features=0.3, n_jobs=1, random_state=0
        ),
        random_state=0,
    ),
    "pooled router=RF": lambda: PooledRouter(
        router_model=RandomForestRegressor(
            200, min_samples_leaf=5, max_features=0.3, n_jobs=1, random_state=0
        ),
        random_state=0,
    ),
    "r router=HGB": lambda: MetaRouter(
        learner="r",
        router_model=HistGradientBoostingRegressor(
            learning_rate=0.05, max_iter=200, random_state=0
        ),
        random_state=0,
    ),
    "pooled router=HGB": lambda: PooledRouter(
        router_model=HistGradientBoostingRegressor(
            learning_rate=0.05, max_iter=200, random_state=0
        ),
        random_state=0,
    ),
    # a lighter router model: fewer, larger boosting steps predict faster (serving, RESULTS.md §6)
    "r router=LGBM150": lambda: MetaRouter(router_model=_lgbm_sized(150, 0.06), random_state=0),
    "r router=LGBM100": lambda: MetaRouter(router_model=_lgbm_sized(100, 0.09), random_state=0),
    "pooled router=LGBM150": lambda: PooledRouter(
        router_model=_lgbm_sized(150, 0.06), random_state=0
    ),
    "causal_forest": lambda: MetaRouter(learner="causal_forest", random_state=0),
    "auto": lambda: MetaRouter(learner="auto", random_state=0),
}


def summarise(frame: pd.DataFrame, reference: str = "pooled") -> pd.DataFrame:
    wide = frame.pivot(index="split", columns="method", values="auc")
    out = []
    for method in wide.columns:
        diff = wide[method] - wide[reference]
        n = diff.size
        se = diff.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        out.append(
            {
                "method": method,
                "mean_auc": wide[method].mean(),
                "se": wide[method].std(ddof=1) / np.sqrt(n),
                f"diff_vs_{reference}": diff.mean(),
                "ci95_low": diff.mean() - 1.96 * se,
                "ci95_high": diff.mean() + 1.96 * se,
                "fit_seconds": frame.loc[frame.method == method, "fit_seconds"].mean(),
            }
        )
    return pd.DataFrame(out).sort_values("mean_auc", ascending=False).reset_index(drop=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--bias", default="heterogeneous")
    parser.add_argument("--n-gold", type=int, default=100)
    parser.add_argument("--n-samples", type=int, default=5000)
    parser.add_argument("--n-features", type=int, default=50)
    parser.add_argument("--methods", nargs="*", default=list(CONFIGS))
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0, help="random_state of run_protocol")
    parser.add_argument(
        "--normalizer",
        choices=["paper", "split"],
        default="paper",
        help="AUC scale: the library's convention (paper) or each split's total test gain",
    )
    parser.add_argument(
        "--reference", default="pooled", help="method the paired differences are taken against"
    )
    args = parser.parse_args()
    data = make_routing_data(
        args.n_samples, args.n_features, bias=args.bias, random_state=args.data_seed
    )
    methods = {name: CONFIGS[name]() for name in args.methods}
    methods[ORACLE] = "all_gold"  # PooledRouter(gold_scale="none") on every training GS gain
    result = run_protocol(
        data,
        methods=methods,
        n_test=500,
        n_gold=args.n_gold,
        n_splits=args.splits,
        normalizer=None if args.normalizer == "paper" else "split",
        n_jobs=args.n_jobs,
        random_state=args.seed,
        verbose=0,
    )
    table = summarise(result.metrics, args.reference)
    print(
        f"bias={args.bias} n_gold={args.n_gold} splits={args.splits} n={args.n_samples} "
        f"d={args.n_features} normalizer={args.normalizer} seed={args.seed}"
    )
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
