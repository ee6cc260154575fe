"""Fit time of each router at the paper's sizes (4,500 training rows x 50 features, 100 GS rows).

The reference is the cost of one learner in the paper's released script: four scikit-learn random
forests (a propensity and an outcome forest of 100 trees, a final CATE forest and a router forest of
200 trees) fitted on the same rows, with scikit-learn's default single job.

    python benchmarks/fit_time.py --repeats 3
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from metarouter_econml import (
    GoldOnlyRouter,
    MeanShiftRouter,
    MetaRouter,
    PooledRouter,
    PreferenceOnlyRouter,
)
from metarouter_econml.datasets import make_routing_data


def paper_code_reference(X, y, t):
    """Four forests shaped like the paper script's R-learner (timing only; not its logic)."""
    RandomForestRegressor(100, random_state=0).fit(X, t)
    RandomForestRegressor(100, random_state=0).fit(X, y)
    RandomForestRegressor(200, random_state=0).fit(X, y)
    RandomForestRegressor(200, random_state=0).fit(X, y)


METHODS = {
    "MetaRouter() [default: r, validated final stage and router model]": lambda: MetaRouter(
        random_state=0
    ),
    "MetaRouter(learner='dr')": lambda: MetaRouter(learner="dr", random_state=0),
    "MetaRouter(learner='causal_forest')": lambda: MetaRouter(
        learner="causal_forest", random_state=0
    ),
    "MetaRouter(learner='forest_dr')": lambda: MetaRouter(learner="forest_dr", random_state=0),
    "MetaRouter(learner='auto')": lambda: MetaRouter(learner="auto", random_state=0),
    "PooledRouter": lambda: PooledRouter(random_state=0),
    "MeanShiftRouter": lambda: MeanShiftRouter(random_state=0),
    "GoldOnlyRouter": lambda: GoldOnlyRouter(random_state=0),
    "PreferenceOnlyRouter": lambda: PreferenceOnlyRouter(random_state=0),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    args = parser.parse_args()
    split = make_routing_data(5000, 50, random_state=0).split(
        n_test=500, n_gold=100, random_state=0
    )
    X, y, gold = split.X_train, split.y_train, split.gold_train
    rows = []
    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        paper_code_reference(X.to_numpy(), y, gold.astype(float))
        timings.append(time.perf_counter() - start)
    rows.append(
        {
            "method": "paper script, one learner (4 random forests)",
            "median_seconds": np.median(timings),
        }
    )
    for name in args.methods:
        timings = []
        for _ in range(args.repeats):
            router = METHODS[name]()
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                router.fit(X, y, gold=gold)
            timings.append(time.perf_counter() - start)
        rows.append({"method": name, "median_seconds": np.median(timings)})
    table = pd.DataFrame(rows)
    # a ratio measured in the same run travels between machines; seconds do not
    table["ratio_to_paper_script"] = table["median_seconds"] / table["median_seconds"].iloc[0]
    print(f"4,500 training rows x 50 features, 100 GS rows; median of {args.repeats} fits")
    print(table.to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
