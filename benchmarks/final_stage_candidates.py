"""Each final-stage candidate of the default R-learner, fixed, against the validated choice.

Why the final stage is chosen by the lowest cross-validated R-loss and not by the one-standard-error
rule (RESULTS.md §13a): the routers below differ only in ``model_final`` (the router model is held
fixed at 300 boosted trees so that only the final stage moves), on ``make_routing_data(5000, 50,
bias=...)`` with the paper's split sizes.

    python benchmarks/final_stage_candidates.py --bias heterogeneous --splits 5
"""

from __future__ import annotations

import argparse
import time
import warnings

from metarouter_econml import MetaRouter, PooledRouter
from metarouter_econml._estimation import final_stage_candidates, lightgbm_regressor
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.evaluation import run_protocol


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bias", default="heterogeneous")
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--n-gold", type=int, default=100)
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    data = make_routing_data(5000, 50, bias=args.bias, random_state=0)
    fixed = lightgbm_regressor(0, n_estimators=300, learning_rate=0.03)
    candidates = final_stage_candidates("r", 4500, args.n_gold, 0)
    methods = {"r (validated final stage)": MetaRouter(router_model=fixed)}
    for name, model in candidates.items():
        methods[f"r, final stage {name}"] = MetaRouter(model_final=model, router_model=fixed)
    methods["pooled"] = PooledRouter(router_model=fixed)
    methods["all_gold"] = "all_gold"
    start = time.time()
    result = run_protocol(
        data,
        methods=methods,
        n_splits=args.splits,
        n_gold=args.n_gold,
        n_jobs=args.n_jobs,
        random_state=0,
        verbose=0,
    )
    wide = result.metrics.pivot(index="split", columns="method", values="auc")
    gap = wide["all_gold"].mean() - wide["pooled"].mean()
    table = wide.mean().to_frame("mean AUC")
    table["closure"] = (table["mean AUC"] - wide["pooled"].mean()) / gap
    print(f"bias={args.bias}, {args.splits} splits, {time.time() - start:.0f} s")
    print(table.sort_values("mean AUC", ascending=False).to_markdown(floatfmt=".3f"))


if __name__ == "__main__":
    main()
