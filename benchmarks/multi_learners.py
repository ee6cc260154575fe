"""Which EconML learner estimates the shared multi-model bias best (RESULTS.md §14a).

``MultiMetaRouter(structure="shared")`` with each learner, against pooling, on the same splits
of three generator scenarios (5 models, 2,000 queries, 400 test and 100 gold queries):
``scarce_pairs`` (one pair per query: ~10 gold comparisons per pair), ``all_pairs`` (every
pair on every query) and ``no_bias`` (an unbiased judge). Score: AIQ of the cost-quality
frontier on the test queries; paired differences against pooling with 95% t-intervals.

Run: ``.venv/bin/python benchmarks/multi_learners.py --splits 10``
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from metarouter_econml import MultiMetaRouter
from metarouter_econml.datasets import make_multi_routing_data
from metarouter_econml.evaluation import cost_quality_curve

LEARNERS = ("lasso", "ridge", "linear", "forest")
SCENARIOS = {
    "scarce_pairs": {"pairs_per_query": 1, "random_state": 11},
    "all_pairs": {"random_state": 12},
    "no_bias": {"pairs_per_query": 1, "bias": "none", "random_state": 13},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    args = parser.parse_args()
    rows = []
    seconds = {name: 0.0 for name in (*LEARNERS, "pooled")}
    for scenario, options in SCENARIOS.items():
        data = make_multi_routing_data(2000, 5, **options)
        for s in range(args.splits):
            split = data.split(n_test=400, n_gold=100, random_state=s)
            X_train = split.X_train.to_numpy()
            X_test = split.X_test.to_numpy()
            quality = split.quality_test.reset_index(drop=True)
            routers = {name: MultiMetaRouter(learner=name, random_state=s) for name in LEARNERS}
            routers["pooled"] = MultiMetaRouter(structure="none", random_state=s)
            for name, router in routers.items():
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    router.fit(X_train, split.comparisons_train)
                seconds[name] += time.perf_counter() - start
                predictions = router.predict(X_test).reset_index(drop=True)
                aiq = cost_quality_curve(predictions, quality, split.costs).aiq
                rows.append((scenario, s, name, aiq))
    table = pd.DataFrame(rows, columns=["scenario", "split", "method", "aiq"])
    lines = []
    for scenario, group in table.groupby("scenario", sort=False):
        wide = group.pivot(index="split", columns="method", values="aiq")
        n = wide.shape[0]
        t = stats.t.ppf(0.975, n - 1)
        cells = []
        for name in (*LEARNERS, "pooled"):
            diff = wide[name] - wide["pooled"]
            half = t * diff.std(ddof=1) / np.sqrt(n)
            cells.append(f"{wide[name].mean():.3f} ({diff.mean():+.3f} ± {half:.3f})")
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    total = sum(seconds.values())
    print(f"{args.splits} splits per scenario; cells: mean AIQ (paired difference vs pooled ± 95%)")
    print("| scenario | " + " | ".join((*LEARNERS, "pooled")) + " |")
    print("|:--|" + "--:|" * (len(LEARNERS) + 1))
    print("\n".join(lines))
    ratio = {name: seconds[name] / seconds["pooled"] for name in seconds}
    print(
        "fit time relative to pooled (same run): "
        + ", ".join(f"{name} {value:.1f}x" for name, value in ratio.items())
        + f" (total {total:.0f} s)"
    )


if __name__ == "__main__":
    main()
