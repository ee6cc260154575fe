"""What the folds of the router model's cross-validation cost (``_selection.ROUTER_CV_FOLDS``).

Up to ``ROUTER_CV_ROWS`` training rows every router chooses its model by K-fold
cross-validation of two candidates, then refits the winner. This times default ``MetaRouter``
and ``PooledRouter`` fits at several sizes with K = 5 and K = 3, interleaved in one process
(the module constant is switched between fits), and reports the median fit seconds and their
ratio, so the ratio, not the seconds, is what carries to other machines.

    python benchmarks/router_cv_time.py --sizes 400 1000 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

from metarouter_econml import MetaRouter, PooledRouter
from metarouter_econml._estimation import _selection
from metarouter_econml.datasets import make_routing_data

ROUTERS = {"MetaRouter()": MetaRouter, "PooledRouter()": PooledRouter}


def time_fit(router_class, split, folds: int) -> float:
    """Seconds of one default fit with ``folds``-fold router-model validation."""
    saved = _selection.ROUTER_CV_FOLDS
    _selection.ROUTER_CV_FOLDS = folds
    try:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            router_class(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)
        return time.perf_counter() - start
    finally:
        _selection.ROUTER_CV_FOLDS = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[400, 1000, 2000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, nargs=2, default=[5, 3], metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    before, after = args.folds
    rows = []
    for n_train in args.sizes:
        n_gold = max(30, n_train // 20)
        data = make_routing_data(n_train + 200, 20, random_state=0)
        split = data.split(n_test=200, n_gold=n_gold, random_state=0)
        for name, router_class in ROUTERS.items():
            time_fit(router_class, split, after)  # warm-up
            seconds: dict[int, list[float]] = {before: [], after: []}
            for _ in range(args.repeats):
                for folds in (before, after):
                    seconds[folds].append(time_fit(router_class, split, folds))
            median = {folds: pd.Series(values).median() for folds, values in seconds.items()}
            rows.append(
                {
                    "training rows": n_train,
                    "GS rows": n_gold,
                    "router": name,
                    f"{before} folds (s)": round(median[before], 2),
                    f"{after} folds (s)": round(median[after], 2),
                    "ratio": round(median[after] / median[before], 2),
                }
            )
    print(pd.DataFrame(rows).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
