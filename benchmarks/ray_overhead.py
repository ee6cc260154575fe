"""What Ray costs on one small machine: a default fit and a short protocol, with and without Ray.

    python benchmarks/ray_overhead.py --num-cpus 2 --splits 6

Starts a local Ray instance (``ray.init(num_cpus=...)``, not timed), then times, at the paper's
sizes (5,000 rows x 50 features, 100 gold rows), one ``MetaRouter`` fit with ``use_ray`` False and
True, and ``run_protocol`` over ``--splits`` splits with ``n_jobs=num_cpus`` and with
``use_ray=True``. Checks that the results agree exactly.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import ray

from metarouter_econml import MetaRouter
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.evaluation import run_protocol


def _timed(call):
    start = time.perf_counter()
    value = call()
    return value, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--splits", type=int, default=6)
    args = parser.parse_args()
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    data = make_routing_data(5000, 50, random_state=0)
    split = data.split(n_test=500, n_gold=100, random_state=0)
    rows = []
    fitted = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MetaRouter(random_state=0, use_ray=True).fit(
            split.X_train, split.y_train, gold=split.gold_train
        )  # warm-up
        for use_ray in (False, True):
            router = MetaRouter(random_state=0, use_ray=use_ray)
            fitted[use_ray], seconds = _timed(
                lambda: router.fit(split.X_train, split.y_train, gold=split.gold_train)  # noqa: B023
            )
            rows.append(
                {"job": "MetaRouter.fit (paper's sizes)", "ray": use_ray, "seconds": seconds}
            )
    assert np.array_equal(fitted[False].predict(split.X_test), fitted[True].predict(split.X_test))
    protocol = {
        "methods": ["meta_r", "pooled"],
        "n_splits": args.splits,
        "random_state": 0,
        "verbose": 0,
    }
    local, seconds = _timed(lambda: run_protocol(data, n_jobs=args.num_cpus, **protocol))
    rows.append({"job": f"run_protocol, {args.splits} splits", "ray": False, "seconds": seconds})
    on_ray, seconds = _timed(lambda: run_protocol(data, use_ray=True, **protocol))
    rows.append({"job": f"run_protocol, {args.splits} splits", "ray": True, "seconds": seconds})
    pd.testing.assert_frame_equal(
        local.metrics.drop(columns="fit_seconds"), on_ray.metrics.drop(columns="fit_seconds")
    )
    print(
        f"local Ray instance with num_cpus={args.num_cpus}; results identical with and without Ray"
    )
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))
    ray.shutdown()


if __name__ == "__main__":
    main()
