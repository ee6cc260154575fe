"""Serving speed of ``route`` against the raw model it wraps, as ratios measured in one run.

    python benchmarks/serving.py --repeats 3000 --batch 100000

The default router (``MetaRouter(random_state=0)``, LightGBM router model with 300 trees) is
fitted at the paper's sizes (4,500 training rows x 50 features, 100 gold rows) with
``n_jobs`` 1, 2 and -1 (all cores); the fitted trees are the same (checked). For each, in the
same process and interleaved call by call (so machine load affects both sides alike):

* single query: p50 of ``router.route(one_query, w)`` (numpy and DataFrame input), of LightGBM's
  scikit-learn wrapper ``router.router_model_.predict`` and of the trees themselves,
  ``router.router_model_.booster_.predict(one_query, num_threads=...)``;
* batch: median over ``--batch-repeats`` calls on ``--batch`` queries of ``route`` and of the
  booster at the same thread count.

Targets (issue 13): single-query ``route`` p50 <= 2x the booster's; batch throughput >= 0.9x the
booster's at the same thread count.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from functools import partial

import numpy as np
import pandas as pd

from metarouter_econml import MetaRouter
from metarouter_econml.datasets import make_routing_data


def _interleaved(calls: dict, repeats: int) -> dict:
    """Seconds of each call, the calls alternating (after one warm-up each)."""
    for call in calls.values():
        call()
    times: dict = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: np.array(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--batch-repeats", type=int, default=7)
    args = parser.parse_args()
    data = make_routing_data(5000, 50, random_state=0)
    split = data.split(n_test=500, n_gold=100, random_state=0)
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(args.batch, 50)) / np.sqrt(np.arange(1, 51))
    frame = pd.DataFrame(batch, columns=split.X_test.columns)
    rows, reference = [], None
    for n_jobs in (1, 2, -1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            named = MetaRouter(random_state=0, n_jobs=n_jobs)
            named.fit(split.X_train, split.y_train, gold=split.gold_train)
            plain = MetaRouter(random_state=0, n_jobs=n_jobs)
            plain.fit(split.X_train.to_numpy(), split.y_train, gold=split.gold_train)
        weight = named.threshold_for_ratio(split.X_test, 0.4)
        decisions = named.route(frame, weight)
        reference = decisions if reference is None else reference
        assert np.array_equal(decisions, reference), "n_jobs changed the decisions"
        assert np.array_equal(plain.route(batch, weight), decisions)
        booster = plain.router_model_.booster_
        threads = plain.router_model_._process_n_jobs(n_jobs)  # what LightGBM runs with
        one, one_frame = batch[:1], frame.iloc[:1]
        single = _interleaved(
            {
                "route numpy": partial(plain.route, one, weight),
                "route DataFrame": partial(named.route, one_frame, weight),
                "LightGBM wrapper": partial(plain.router_model_.predict, one),
                "booster": partial(booster.predict, one, num_threads=threads),
            },
            args.repeats,
        )
        whole = _interleaved(
            {
                "route": partial(plain.route, batch, weight),
                "booster": partial(booster.predict, batch, num_threads=threads),
            },
            args.batch_repeats,
        )
        p50 = {name: float(np.median(t)) for name, t in single.items()}
        per_batch = {name: float(np.median(t)) for name, t in whole.items()}
        rows.append(
            {
                "n_jobs": f"{n_jobs} ({threads} threads)",
                "route p50 ms (numpy)": p50["route numpy"] * 1e3,
                "route p50 ms (DataFrame)": p50["route DataFrame"] * 1e3,
                "wrapper p50 ms": p50["LightGBM wrapper"] * 1e3,
                "booster p50 ms": p50["booster"] * 1e3,
                "single ratio route/booster (numpy)": p50["route numpy"] / p50["booster"],
                "single ratio (DataFrame)": p50["route DataFrame"] / p50["booster"],
                "route decisions/s": args.batch / per_batch["route"],
                "booster rows/s": args.batch / per_batch["booster"],
                "batch throughput ratio": per_batch["booster"] / per_batch["route"],
            }
        )
    print(
        f"MetaRouter(random_state=0, n_jobs=...); {args.repeats} interleaved single calls, "
        f"batch of {args.batch:,} x {args.batch_repeats}; cores: {os.cpu_count()}; "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=",.3f"))


if __name__ == "__main__":
    main()
