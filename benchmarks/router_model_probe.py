"""Does a deep random-forest router model route better than the validated default? (issue 11)

Runs the battery's scenarios (``benchmarks/battery.py``) with the default ``MetaRouter`` and
``PooledRouter`` (router model chosen by held-out squared error between 300 boosted trees and a
shallow LightGBM forest) against the same routers with a deep LightGBM forest forced as the
router model (200 trees, up to 1,023 leaves of at least 5 rows, 63% row subsamples, a third of
the features per split), a scikit-learn random-forest pooled router and the all-gold oracle.
Same splits for every method (``run_protocol``'s seeds), so differences are paired.

    python benchmarks/router_model_probe.py --scenarios all --splits 4
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import battery
import pandas as pd

from metarouter_econml import MetaRouter, PooledRouter
from metarouter_econml._estimation import router_model_candidates


def deep_forest():
    """The default's forest candidate grown deep: up to 1,023 leaves instead of 63."""
    return router_model_candidates(0)["forest"].set_params(num_leaves=1023)


METHODS = {
    "default": lambda: MetaRouter(),
    "meta_deep": lambda: MetaRouter(router_model=deep_forest()),
    "pooled": lambda: PooledRouter(),
    "pooled_deep": lambda: PooledRouter(router_model=deep_forest()),
    "pooled_rf": battery.METHODS["pooled_rf"],
    "gold_only": battery.METHODS["gold_only"],
    "all_gold": battery.METHODS["all_gold"],
}


def _paired(auc: pd.DataFrame, a: str, b: str) -> str:
    mean, low, high = battery._paired(auc, a, b)
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def table(metrics: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for name, group in metrics.groupby("scenario", sort=False):
        auc = group.pivot(index="split", columns="method", values="auc")
        row = {"scenario": name, **{m: round(auc[m].mean(), 3) for m in METHODS if m in auc}}
        row["meta_deep − default"] = _paired(auc, "meta_deep", "default")
        row["pooled_deep − pooled"] = _paired(auc, "pooled_deep", "pooled")
        row["meta_deep − pooled_deep"] = _paired(auc, "meta_deep", "pooled_deep")
        rows.append(row)
    return pd.DataFrame(rows)


def run(methods: dict, scenarios: list[str], n_splits: int, out: Path) -> pd.DataFrame:
    """Every method on the same splits of each scenario; the metrics, also written to ``out``."""
    frames = []
    for scenario in battery._select_scenarios(scenarios):
        start = time.perf_counter()
        result = battery.run_scenario(
            scenario, methods, n_splits=n_splits, n_jobs=1, seed=0, data_seed=0
        )
        frames.append(result.metrics.assign(scenario=scenario.name))
        print(scenario.name, f"{time.perf_counter() - start:.0f} s", flush=True)
        pd.concat(frames).to_csv(out, index=False)
    return pd.concat(frames)


def parse_args(description: str, default_out: str) -> argparse.Namespace:
    """The probes' command line: ``--scenarios``, ``--splits``, ``--out``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scenarios", nargs="+", default=["all"])
    parser.add_argument("--splits", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path(default_out))
    return parser.parse_args()


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], "benchmarks/results/router_model_probe.csv")
    metrics = run(METHODS, args.scenarios, args.splits, args.out)
    print(table(metrics).to_markdown(index=False))


if __name__ == "__main__":
    main()
