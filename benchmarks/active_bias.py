"""Does an actively chosen gold set bias Delta_hat? Known against estimated P(gold | x).

On generators where random gold rows give an unbiased bias estimate, draw ``--rounds`` batches of
``--batch`` gold labels by ``--strategy`` (after ``--n-initial`` random ones) and compare the mean
error of ``estimate_bias`` on test queries against the truth at the population's gold scale
factor ``c = sd(PB labels) / sd(GS labels)`` of the whole dataset: ``c * psi - 2 * (psi - delta)``.
Three arms per seed: random selection; active selection fitted with the design's probabilities
(``gold_probability``); active selection fitted without them (cross-fitted propensity, unweighted
variance matching). Also reports ``scale_ / c``.

    python benchmarks/active_bias.py --seeds 6 --bias heterogeneous constant
"""

from __future__ import annotations

import argparse
import shlex
import sys
import warnings

import numpy as np
import pandas as pd

from metarouter_econml import MetaRouter
from metarouter_econml.active import draw_gold_round
from metarouter_econml.datasets import make_routing_data

ARMS = ("random", "active_known", "active_estimated")


def run(bias: str, seed: int, args) -> list[dict]:
    data = make_routing_data(n_samples=args.n_samples, n_features=10, bias=bias, random_state=seed)
    c = np.std(data.preference_label, ddof=1) / np.std(data.gold_gain, ddof=1)
    truth = c * data.psi - 2.0 * (data.psi - data.delta)
    split = data.split(n_test=500, n_gold=args.n_initial, random_state=seed)
    rows = []
    for arm in ARMS:
        rng = np.random.RandomState(seed)
        gold = split.gold_train.copy()
        chance = None  # the initial gold rows are a uniform draw
        strategy = "random" if arm == "random" else args.strategy
        for round_ in range(args.rounds + 1):
            y = np.where(gold, split.gold_gain_train, split.preference_label_train)
            router = MetaRouter(n_bootstrap=args.n_bootstrap, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                known = chance if arm == "active_known" else None
                router.fit(split.X_train, y, gold=gold, gold_probability=known)
            if round_ == args.rounds:
                break
            picked, chance = draw_gold_round(
                router,
                split.X_train,
                gold,
                args.batch,
                strategy,
                gold_probability=chance,
                random_state=rng,
            )
            gold[picked] = True
        error = router.estimate_bias(split.X_test) - truth[split.test_index]
        rows.append(
            {
                "bias": bias,
                "seed": seed,
                "arm": arm,
                "mean_error": float(error.mean()),
                "rmse": float(np.sqrt(np.mean(error**2))),
                "scale_ratio": router.scale_ / c,
            }
        )
        print(rows[-1], flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bias", nargs="*", default=["heterogeneous", "constant"])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--strategy", default="bias")
    parser.add_argument("--n-samples", type=int, default=2500)
    parser.add_argument("--n-initial", type=int, default=60)
    parser.add_argument("--batch", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--n-bootstrap", type=int, default=10)
    parser.add_argument("--out", default="benchmarks/results/active/bias.md")
    args = parser.parse_args()
    rows = [
        row for bias in args.bias for seed in range(args.seeds) for row in run(bias, seed, args)
    ]
    table = pd.DataFrame(rows)
    summary = table.groupby(["bias", "arm"], sort=False).agg(
        mean_error=("mean_error", "mean"),
        se=("mean_error", lambda v: np.std(v, ddof=1) / np.sqrt(len(v))),
        rmse=("rmse", "mean"),
        scale_ratio=("scale_ratio", "mean"),
    )
    text = f"`{shlex.join(['python', *sys.argv])}`\n\n{summary.to_markdown()}\n"
    with open(args.out, "w") as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
