"""Does ``n_jobs=2`` speed up a default fit, and how does OpenMP's wait policy change that?

Times default ``MetaRouter`` fits with ``n_jobs=1`` and ``n_jobs=2`` (threads of the LightGBM
models), interleaved in one process, at a small and at the paper's size. OpenMP reads
``OMP_WAIT_POLICY`` once, when LightGBM loads, so compare policies by running the script
twice (the policy in force is printed):

    python benchmarks/threads.py
    OMP_WAIT_POLICY=PASSIVE python benchmarks/threads.py
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import pandas as pd

from metarouter_econml import MetaRouter
from metarouter_econml.datasets import make_routing_data

SIZES = {"small": (1200, 6), "paper": (5000, 50)}


def _seconds(split, n_jobs: int) -> float:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MetaRouter(n_jobs=n_jobs, random_state=0).fit(
            split.X_train, split.y_train, gold=split.gold_train
        )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    policy = os.environ.get("OMP_WAIT_POLICY", "(unset: OpenMP's default)")
    rows = []
    for name, (n_samples, n_features) in SIZES.items():
        split = make_routing_data(n_samples, n_features, random_state=4).split(
            n_test=200, n_gold=80, random_state=4
        )
        _seconds(split, 1)  # warm-up
        times: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.repeats):
            for n_jobs in (1, 2):
                times[n_jobs].append(_seconds(split, n_jobs))
        one, two = (pd.Series(times[k]).median() for k in (1, 2))
        rows.append(
            {
                "OMP_WAIT_POLICY": policy,
                "data": f"{name} ({n_samples - 200:,} training rows x {n_features})",
                "n_jobs=1 (s)": round(one, 2),
                "n_jobs=2 (s)": round(two, 2),
                "ratio": round(two / one, 2),
            }
        )
    print(pd.DataFrame(rows).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
