"""Coverage and width of the 90% intervals on generators with a known truth (issue 15).

For each scenario and seed: fit ``MetaRouter(n_bootstrap=B, gold_scale=2.0)`` (the generator's
preference scale, so the bias on the preference scale is exactly ``2 * delta``), then on the test
queries the share of true ``psi`` inside ``predict_interval`` and of true ``2 * delta`` inside
``estimate_bias_interval``, and the mean widths. Also: widths as gold rows grow, the fit-time
ratio of ``n_bootstrap`` to a plain fit (same run), and the time to select 50 of 100,000 pool
queries (``select_gold_queries``) next to one ``predict`` of the same pool.

    python benchmarks/intervals.py --seeds 5 --out benchmarks/results/intervals
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from metarouter_econml import MetaRouter
from metarouter_econml.active import select_gold_queries
from metarouter_econml.datasets import make_routing_data

# name -> (n_samples, n_features, n_gold, bias)
SCENARIOS = {
    "small_heterogeneous": (2000, 10, 200, "heterogeneous"),
    "small_nonlinear": (2000, 10, 200, "nonlinear"),
    "small_constant": (2000, 10, 200, "constant"),
    "small_none": (2000, 10, 200, "none"),
    "paper_heterogeneous": (5000, 50, 100, "heterogeneous"),
    "paper_nonlinear": (5000, 50, 100, "nonlinear"),
}
PB_SCALE = 2.0


def _fit(router, split):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return router.fit(split.X_train, split.y_train, gold=split.gold_train)


def coverage(scenarios, seeds, n_bootstrap, learners):
    rows = []
    for name in scenarios:
        n, d, n_gold, bias = SCENARIOS[name]
        for seed in range(seeds):
            data = make_routing_data(n_samples=n, n_features=d, bias=bias, random_state=seed)
            split = data.split(n_test=500, n_gold=n_gold, random_state=seed)
            delta = PB_SCALE * data.delta[split.test_index]
            for learner in learners:
                router = MetaRouter(
                    learner=learner, n_bootstrap=n_bootstrap, gold_scale=PB_SCALE, random_state=seed
                )
                _fit(router, split)
                lo, hi = router.predict_interval(split.X_test, alpha=0.1)
                blo, bhi = router.estimate_bias_interval(split.X_test, alpha=0.1)
                rows.append(
                    {
                        "scenario": name,
                        "learner": learner,
                        "seed": seed,
                        "final_stage": router.final_stage_,
                        "psi_coverage": np.mean((lo <= split.psi_test) & (split.psi_test <= hi)),
                        "psi_width": np.mean(hi - lo),
                        "delta_coverage": np.mean((blo <= delta) & (delta <= bhi)),
                        "delta_width": np.mean(bhi - blo),
                    }
                )
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def shrinkage(seeds, n_bootstrap):
    rows = []
    for seed in range(seeds):
        data = make_routing_data(n_samples=3000, n_features=10, random_state=seed)
        for n_gold in (50, 100, 200, 400, 800):
            split = data.split(n_test=500, n_gold=n_gold, random_state=seed)
            router = _fit(
                MetaRouter(n_bootstrap=n_bootstrap, gold_scale=PB_SCALE, random_state=seed), split
            )
            lo, hi = router.predict_interval(split.X_test)
            blo, bhi = router.estimate_bias_interval(split.X_test)
            delta = PB_SCALE * data.delta[split.test_index]
            rows.append(
                {
                    "seed": seed,
                    "n_gold": n_gold,
                    "psi_width": np.mean(hi - lo),
                    "delta_width": np.mean(bhi - blo),
                    "psi_coverage": np.mean((lo <= split.psi_test) & (split.psi_test <= hi)),
                    "delta_coverage": np.mean((blo <= delta) & (delta <= bhi)),
                }
            )
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def timings(n_bootstrap):
    data = make_routing_data(n_samples=5000, n_features=50, random_state=0)
    split = data.split(n_test=500, n_gold=100, random_state=0)
    _fit(MetaRouter(n_bootstrap=2, random_state=0), split)  # warm-up: imports, first calls
    start = time.perf_counter()
    _fit(MetaRouter(random_state=0), split)
    plain = time.perf_counter() - start
    start = time.perf_counter()
    router = _fit(MetaRouter(n_bootstrap=n_bootstrap, random_state=0), split)
    boot = time.perf_counter() - start
    pool = make_routing_data(n_samples=100_000, n_features=50, random_state=1).X
    start = time.perf_counter()
    router.predict(pool)
    predict = time.perf_counter() - start
    selects = {}
    gold_rows = split.X_train[split.gold_train]
    for strategy in ("random", "bias", "overlap", "auto"):
        start = time.perf_counter()
        select_gold_queries(router, pool, 50, strategy, X_gold=gold_rows, random_state=0)
        selects[strategy] = time.perf_counter() - start
    return {
        "plain_fit_s": plain,
        "bootstrap_fit_s": boot,
        "fit_ratio": boot / plain,
        "predict_100k_s": predict,
        **{f"select_{k}_100k_s": v for k, v in selects.items()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-bootstrap", type=int, default=30)
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--learners", nargs="*", default=["r", "dr"])
    parser.add_argument("--skip", nargs="*", default=[], choices=["coverage", "shrinkage", "time"])
    parser.add_argument("--out", default="benchmarks/results/intervals")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"`{shlex.join(['python', *sys.argv])}`", ""]
    if "coverage" not in args.skip:
        table = coverage(args.scenarios, args.seeds, args.n_bootstrap, args.learners)
        table.to_csv(out / "coverage.csv", index=False)
        summary = table.groupby(["scenario", "learner"], sort=False)[
            ["psi_coverage", "psi_width", "delta_coverage", "delta_width"]
        ].agg(["mean", "min"])
        lines += ["## Coverage at 90% nominal (mean and worst seed)", "", summary.to_markdown(), ""]
    if "shrinkage" not in args.skip:
        table = shrinkage(args.seeds, args.n_bootstrap)
        table.to_csv(out / "shrinkage.csv", index=False)
        lines += [
            "## Widths by gold rows (3,000 rows x 10 features, heterogeneous bias)",
            "",
            table.groupby("n_gold").mean(numeric_only=True).drop(columns="seed").to_markdown(),
            "",
        ]
    if "time" not in args.skip:
        result = timings(args.n_bootstrap)
        lines += ["## Timings (one run)", "", pd.Series(result).to_frame("value").to_markdown(), ""]
    parts = "_".join(p for p in ("coverage", "shrinkage", "time") if p not in args.skip)
    (out / f"summary_{parts}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
