"""How often each router's validated router model is the forest rather than the boosted trees.

Every router with ``router_model=None`` chooses its router model between boosted trees (the
reference) and a LightGBM random forest (``_selection.select_router_model``). This script runs the
paper's protocol on the battery's scenarios (``benchmarks/battery.py``) and records, per split and
router, whether the forest was chosen, and the router's fit time. The saved CSV was made at commit
``cd96877``, before §13l's change of the large-data choice (then: both candidates scored on one
25% hold-out).

    python benchmarks/router_choice_rate.py --splits 5 --n-jobs 2

Writes ``benchmarks/results/router_choice_rate.csv`` (one row per scenario, split and method) and
prints the share of fits that chose the forest, per scenario and method (``RESULTS.md`` §13k).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import battery  # noqa: E402

from metarouter_econml.evaluation import run_protocol  # noqa: E402

METHODS = ["meta_r", "meta_dr", "pooled", "mean_shift", "preference_only", "gold_only", "all_gold"]
OUT = Path(__file__).resolve().parent / "results" / "router_choice_rate.csv"


def forest_chosen(router, split, predicted) -> float:
    """1.0 when the router chose the forest, 0.0 the boosted trees, NaN when it did not choose."""
    scores = getattr(router, "router_model_scores_", None)
    if scores is None:
        return float("nan")
    return float(scores.loc["forest", "chosen"])


def training_rows(router, split, predicted) -> float:
    """Rows of the split's training set (gold-only fits its router model on the GS rows alone)."""
    return float(len(split.y_train))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=["all"])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    frames = []
    for scenario in battery._select_scenarios(args.scenarios):
        result = run_protocol(
            scenario.make(0),
            methods=METHODS,
            n_test=scenario.n_test,
            n_gold=scenario.n_gold,
            n_splits=args.splits,
            n_jobs=args.n_jobs,
            random_state=args.seed,
            extra_metrics={"forest_chosen": forest_chosen, "training_rows": training_rows},
            verbose=0,
        )
        metrics = result.metrics[
            ["split", "seed", "method", "auc", "fit_seconds", "forest_chosen", "training_rows"]
        ]
        frames.append(metrics.assign(scenario=scenario.name))
        print(scenario.name, file=sys.stderr, flush=True)
    table = pd.concat(frames, ignore_index=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT, index=False)
    share = table.pivot_table(
        index="scenario", columns="method", values="forest_chosen", aggfunc="mean"
    )
    print(share[METHODS].to_markdown(floatfmt=".2f"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
