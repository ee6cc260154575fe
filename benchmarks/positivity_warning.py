"""How often MetaRouter.fit's positivity warning fires on clean data, and on a violation.

For each size and gold count, over ``--seeds`` seeds: gold rows drawn at random (clean: the
warning should stay silent) and gold rows only where ``pc1 < 0`` (a violation: half the queries
have no gold rows like them; the warning should fire). Records ``uncovered_share_`` and whether
the warning fired, and the extra fit time of the check (the overlap model's cross-fit) as a
ratio to a fit without it, measured in the same run.

    python benchmarks/positivity_warning.py --seeds 10
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from metarouter_econml import MetaRouter
from metarouter_econml.datasets import make_routing_data

SETTINGS = [(2000, 6, 30), (2000, 6, 50), (2000, 6, 100), (4500, 50, 50), (4500, 50, 100)]


def _fit(split, *, check=True):
    router = MetaRouter(random_state=0)
    router._skip_positivity_check = not check
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        router.fit(split.X_train, split.y_train, gold=split.gold_train)
        seconds = time.perf_counter() - start
    fired = any("no gold-standard rows like them" in str(w.message) for w in caught)
    return router, fired, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    rows = []
    for n_train, n_features, n_gold in SETTINGS:
        data = make_routing_data(n_train + 500, n_features, random_state=0)
        for seed in range(args.seeds):
            for case, gold_from in (("clean", None), ("violation", data.X["pc1"] < 0)):
                kwargs = {} if gold_from is None else {"gold_from": gold_from}
                split = data.split(n_test=500, n_gold=n_gold, random_state=seed, **kwargs)
                router, fired, seconds = _fit(split)
                _, _, plain = _fit(split, check=False) if seed == 0 else (None, None, np.nan)
                rows.append(
                    {
                        "rows x features": f"{n_train} x {n_features}",
                        "n_gold": n_gold,
                        "case": case,
                        "uncovered_share": router.uncovered_share_,
                        "warned": fired,
                        "time_ratio": seconds / plain if seed == 0 else np.nan,
                    }
                )
    frame = pd.DataFrame(rows)
    table = frame.groupby(["rows x features", "n_gold", "case"], sort=False).agg(
        warned=("warned", "mean"),
        uncovered_min=("uncovered_share", "min"),
        uncovered_max=("uncovered_share", "max"),
        fit_time_ratio=("time_ratio", "mean"),
    )
    print(f"{args.seeds} seeds per row; warned = share of seeds in which fit warned")
    print(table.to_markdown(floatfmt=".3f"))


if __name__ == "__main__":
    main()
