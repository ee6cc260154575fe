"""Serving speed of ``route`` against the raw model it wraps, as ratios measured in one run.

    python benchmarks/serving.py --repeats 3000 --batch 100000

The default router (``MetaRouter(random_state=0)``) is fitted at the paper's sizes (4,500
training rows x 50 features, 100 gold rows) with ``n_jobs`` 1, 2 and -1 (all cores); the fitted
trees are the same (checked). Its router model is LightGBM boosted trees or, when validation
keeps them, their average with a LightGBM forest (a scikit-learn ``VotingRegressor``); the
"booster" below is then the average of the parts' boosters, taken as ``VotingRegressor``
takes it (checked to give the router's predictions). For each, in the same process and
interleaved call by call (so machine load affects both sides alike):

* single query: p50 of ``router.route(one_query, w)`` (numpy and DataFrame input), of the
  scikit-learn wrapper ``router.router_model_.predict`` and of the trees themselves,
  ``booster.predict(one_query, num_threads=...)`` (for each part of an average);
* batch: median over ``--batch-repeats`` calls on ``--batch`` queries of ``route`` and of the
  booster(s) at the same thread count.

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
from sklearn.ensemble import VotingRegressor

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


def _trees(model, n_jobs: int):
    """``X -> model.predict(X)`` by the boosters alone, and their thread count.

    ``model`` is an ``LGBMRegressor`` or a ``VotingRegressor`` of them (the mean of the parts'
    predictions, with scikit-learn's operations).
    """
    parts = model.estimators_ if isinstance(model, VotingRegressor) else [model]
    threads = parts[0]._process_n_jobs(n_jobs)  # what LightGBM runs with
    boosters = [part.booster_ for part in parts]
    if not isinstance(model, VotingRegressor):
        return partial(boosters[0].predict, num_threads=threads), threads

    def average(X):
        return np.average(
            np.asarray([booster.predict(X, num_threads=threads) for booster in boosters]).T,
            axis=1,
        )

    return average, threads


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
        model = plain.router_model_
        booster, threads = _trees(model, n_jobs)
        assert np.array_equal(booster(batch) / plain.scale_, plain.predict(batch))
        one, one_frame = batch[:1], frame.iloc[:1]
        single = _interleaved(
            {
                "route numpy": partial(plain.route, one, weight),
                "route DataFrame": partial(named.route, one_frame, weight),
                "wrapper": partial(model.predict, one),
                "booster": partial(booster, one),
            },
            args.repeats,
        )
        whole = _interleaved(
            {
                "route": partial(plain.route, batch, weight),
                "booster": partial(booster, batch),
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
                "wrapper p50 ms": p50["wrapper"] * 1e3,
                "booster p50 ms": p50["booster"] * 1e3,
                "single ratio route/booster (numpy)": p50["route numpy"] / p50["booster"],
                "single ratio (DataFrame)": p50["route DataFrame"] / p50["booster"],
                "route decisions/s": args.batch / per_batch["route"],
                "booster rows/s": args.batch / per_batch["booster"],
                "batch throughput ratio": per_batch["booster"] / per_batch["route"],
            }
        )
    print(
        f"MetaRouter(random_state=0, n_jobs=...), router model {_describe(model)}; "
        f"{args.repeats} interleaved single calls, "
        f"batch of {args.batch:,} x {args.batch_repeats}; cores: {os.cpu_count()}; "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=",.3f"))


def _describe(model) -> str:
    parts = model.estimators_ if isinstance(model, VotingRegressor) else [model]
    trees = " + ".join(
        f"{part.boosting_type} {part.booster_.current_iteration()} trees" for part in parts
    )
    return f"{type(model).__name__} ({trees})"


if __name__ == "__main__":
    main()
