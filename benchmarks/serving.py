"""Serving speed of ``route``: single-query latency and batch throughput of a fitted router.

    python benchmarks/serving.py --repeats 2000 --batch 100000

The default router (``MetaRouter(random_state=0)``) is fitted at the paper's sizes (4,500 training
rows x 50 features, 100 gold rows) with ``n_jobs=1`` and ``n_jobs=2``; the two fit the same trees
(checked below), so the comparison is of prediction threads only. Then the same with a lighter
``router_model`` (150 trees instead of 300). Batch throughput is the median
over ``--batch-repeats`` calls of ``route`` on ``--batch`` queries.
"""

from __future__ import annotations

import argparse
import time
import warnings
from functools import partial

import numpy as np
import pandas as pd

from metarouter_econml import MetaRouter
from metarouter_econml._estimation import lightgbm_regressor  # the default router's factory
from metarouter_econml.datasets import make_routing_data


def _light_router_model(n_jobs):
    """The default router's LightGBM settings with half the trees at twice the learning rate."""
    return lightgbm_regressor(0, n_estimators=150, learning_rate=0.06, n_jobs=n_jobs)


def _median_seconds(call, repeats):
    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return np.array(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--batch-repeats", type=int, default=7)
    args = parser.parse_args()
    data = make_routing_data(5000, 50, random_state=0)
    split = data.split(n_test=500, n_gold=100, random_state=0)
    rng = np.random.default_rng(0)
    batch64 = rng.normal(size=(args.batch, 50)) / np.sqrt(np.arange(1, 51))
    inputs = {
        "numpy float64": batch64,
        "numpy float32": batch64.astype(np.float32),
        "DataFrame float64": pd.DataFrame(batch64, columns=split.X_test.columns),
    }
    rows, reference = [], None
    # (n_jobs, router_model): the default LightGBM router (300 trees), then a lighter one with
    # 150 trees at twice the learning rate (quality cost: benchmarks/RESULTS.md section 6)
    configs = [(1, "default"), (2, "default"), (1, "150 trees"), (2, "150 trees")]
    for n_jobs, model_name in configs:
        routers = {}
        for with_names in (False, True):  # route DataFrames with the router fitted on one
            X_fit = split.X_train if with_names else split.X_train.to_numpy()
            model = None if model_name == "default" else _light_router_model(n_jobs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                router = MetaRouter(random_state=0, n_jobs=n_jobs, router_model=model)
                routers[with_names] = router.fit(X_fit, split.y_train, gold=split.gold_train)
        weight = routers[True].threshold_for_ratio(split.X_test, 0.4)
        decisions = routers[True].route(inputs["DataFrame float64"], weight)
        if model_name == "default":
            if reference is None:
                reference = decisions
            assert np.array_equal(decisions, reference), "n_jobs changed the decisions"
        assert np.array_equal(routers[False].route(batch64, weight), decisions)
        for kind, queries in inputs.items():
            router = routers[isinstance(queries, pd.DataFrame)]
            one = queries.iloc[:1] if isinstance(queries, pd.DataFrame) else queries[:1]
            single = _median_seconds(partial(router.route, one, weight), args.repeats) * 1e3
            whole = _median_seconds(partial(router.route, queries, weight), args.batch_repeats)
            rows.append(
                {
                    "router_model": model_name,
                    "n_jobs": n_jobs,
                    "input": kind,
                    "single p50 (ms)": np.median(single),
                    "single p99 (ms)": np.quantile(single, 0.99),
                    f"batch {args.batch:,} (s)": np.median(whole),
                    "decisions/s": args.batch / np.median(whole),
                }
            )
    print(
        f"MetaRouter(random_state=0, n_jobs=..., router_model=...); {args.repeats} single queries"
    )
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=",.3f"))


if __name__ == "__main__":
    main()
