"""Serving speed of ``route``: single-query latency and batch throughput of a fitted router.

    python benchmarks/serving.py --repeats 200 --batch 100000
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from metarouter_econml import MetaRouter
from metarouter_econml.datasets import make_routing_data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args()
    data = make_routing_data(5000, 50, random_state=0)
    split = data.split(n_test=500, n_gold=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        router = MetaRouter(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)
    weight = router.threshold_for_ratio(split.X_test, 0.4)
    rows = []
    for kind, query in (
        ("numpy (1, 50)", split.X_test.to_numpy()[:1]),
        ("DataFrame (1, 50)", split.X_test.iloc[:1]),
    ):
        router.route(query, weight)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            router.route(query, weight)
            times.append(time.perf_counter() - start)
        times = np.array(times) * 1e3
        rows.append({"input": kind, "p50_ms": np.median(times), "p99_ms": np.quantile(times, 0.99)})
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(args.batch, 50)) / np.sqrt(np.arange(1, 51))
    router.route(batch[:1000], weight)
    start = time.perf_counter()
    router.route(batch, weight)
    seconds = time.perf_counter() - start
    print(f"MetaRouter(learner='r') default router_model; {args.repeats} single-query calls")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f"))
    print(f"\nbatch of {args.batch:,} queries (numpy): {seconds:.3f} s = {args.batch / seconds:,.0f} decisions/s")


if __name__ == "__main__":
    main()
