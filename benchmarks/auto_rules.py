"""Which rule should ``learner="auto"`` choose by? (issue 11, item 2)

``auto`` refits each of its candidates (the default ``"r"``, ``"dr"``, gold-only, mean-shift,
pooling) without each fold of the GS rows and compares their held-out predictions on those rows
(``metarouter_econml._routers._auto.held_out_predictions``). This script records, per battery
scenario (``benchmarks/battery.py``) and split (``run_protocol``'s seeds):

* every candidate's held-out prediction on every GS row, with its rescaled label and fold
  (``<out>_gold.csv``), and
* every candidate's efficiency-gain AUC on the test rows when fitted on all training rows, as
  ``auto`` would refit it, normalised as ``run_protocol`` does (``<out>_test.csv``),

and then scores choice rules offline, on the same splits: each rule picks a candidate per split
from the held-out GS rows only, and is credited with that candidate's test AUC. Rules:

* ``mse_1se``: the library's rule before this script (lowest held-out squared error, leaving
  the default only when the paired difference is below minus one standard error);
* ``mse_bonf``: the same with a one-sided 5% margin shared by the 4 challengers (z = 2.24);
* ``gain_1se`` / ``gain_bonf``: the held-out efficiency gain on the GS rows instead of the
  squared error (``held_out_gain_terms``: within each fold, the GS rows ranked by the
  candidate's prediction), a ranking criterion, linear in the labels and so unbiased for the
  true-gain version on those rows; paired per-row terms give its standard error. ``gain_bonf``
  is the rule ``auto`` adopted from this comparison.

    python benchmarks/auto_rules.py --scenarios all --splits 6 --n-jobs 2
    python benchmarks/auto_rules.py --analyse-only          # re-score the saved predictions
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import battery
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.utils import check_random_state

from metarouter_econml import MetaRouter
from metarouter_econml._estimation import keep_reference_unless_beaten, paired_losses
from metarouter_econml._estimation._scaling import gold_scale_factor
from metarouter_econml._routers._auto import (
    AUTO_BASELINES,
    AUTO_LEARNERS,
    AUTO_MARGIN,
    AUTO_REFERENCE,
    _candidate,
    held_out_gain_terms,
    held_out_predictions,
)
from metarouter_econml._validation import random_seed
from metarouter_econml.evaluation import efficiency_gain_curve

CANDIDATES = AUTO_LEARNERS + AUTO_BASELINES


def _one_split(scenario, data, split_id: int, split_seed: int):
    split = data.split(n_test=scenario.n_test, n_gold=scenario.n_gold, random_state=split_seed)
    X = np.asarray(split.X_train, dtype=np.float64)
    y = np.asarray(split.y_train, dtype=np.float64)
    gold = np.asarray(split.gold_train, dtype=bool)
    router = MetaRouter(random_state=split_seed)
    seed = random_seed(router.random_state)  # what MetaRouter.fit draws
    scale = gold_scale_factor(y[gold], y[~gold], router.gold_scale)
    y_pb = np.where(gold, y * scale, y)
    gold_idx, predictions, fold = held_out_predictions(router, X, y_pb, gold, seed)
    normalizer = float(np.mean(data.gold_gain)) * scenario.n_test  # run_protocol's default
    gold_rows = pd.DataFrame(
        {"split": split_id, "row": gold_idx, "fold": fold, "label": y_pb[gold_idx]}
        | {f"pred_{name}": pred for name, pred in predictions.items()}
    )
    test_rows = []
    for name in CANDIDATES:
        start = time.perf_counter()
        model = _candidate(router, name, seed).fit(X, y_pb, gold=gold)
        predicted = model.predict(np.asarray(split.X_test, dtype=np.float64))
        auc = efficiency_gain_curve(split.gain_test, predicted, normalizer=normalizer).auc
        test_rows.append(
            {
                "split": split_id,
                "candidate": name,
                "auc": auc,
                "seconds": time.perf_counter() - start,
            }
        )
    return gold_rows, pd.DataFrame(test_rows)


def collect(scenarios, n_splits: int, n_jobs: int, out: Path) -> None:
    """Held-out GS predictions and test AUCs of every candidate, per scenario and split."""
    seeds = [int(s) for s in check_random_state(0).randint(np.iinfo(np.int32).max, size=n_splits)]
    tasks, names = [], []
    for scenario in scenarios:
        data = scenario.make(0)
        for split_id, split_seed in enumerate(seeds):
            tasks.append(delayed(_one_split)(scenario, data, split_id, split_seed))
            names.append(scenario.name)
    gold_frames, test_frames = [], []
    outputs = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    for name, (gold_rows, test_rows) in zip(names, outputs, strict=True):
        gold_frames.append(gold_rows.assign(scenario=name))
        test_frames.append(test_rows.assign(scenario=name))
        pd.concat(gold_frames).to_csv(f"{out}_gold.csv", index=False)
        pd.concat(test_frames).to_csv(f"{out}_test.csv", index=False)
        print(name, int(test_rows["split"].iloc[0]), flush=True)


# -- rules --------------------------------------------------------------------------------------
def _choose(terms: dict, reference: str, z: float, higher_is_better: bool) -> str:
    """Leave ``reference`` only for a candidate beating it by z paired SEs (the library's rule)."""
    table = paired_losses(terms, reference)
    return keep_reference_unless_beaten(
        table, reference, margin=z, score="loss", higher_is_better=higher_is_better
    )


RULES = {
    "mse_1se": ("mse", 1.0),
    "mse_bonf": ("mse", AUTO_MARGIN),
    "gain_1se": ("gain", 1.0),
    "gain_bonf": ("gain", AUTO_MARGIN),
}


def choices(gold_rows: pd.DataFrame) -> pd.DataFrame:
    """Each rule's chosen candidate per (scenario, split)."""
    rows = []
    for (scenario, split), group in gold_rows.groupby(["scenario", "split"], sort=False):
        label, fold = group["label"].to_numpy(), group["fold"].to_numpy()
        criteria = {
            "mse": {c: (group[f"pred_{c}"].to_numpy() - label) ** 2 for c in CANDIDATES},
            "gain": {
                c: held_out_gain_terms(label, group[f"pred_{c}"].to_numpy(), fold)
                for c in CANDIDATES
            },
        }
        row = {"scenario": scenario, "split": split}
        for rule, (criterion, z) in RULES.items():
            row[rule] = _choose(criteria[criterion], AUTO_REFERENCE, z, criterion == "gain")
        rows.append(row)
    return pd.DataFrame(rows)


def _paired(picked: pd.Series, default: pd.Series) -> str:
    """``picked - default`` over the splits: "same", or its mean with battery's t-interval."""
    if np.allclose(picked - default, 0):
        return "same"
    mean, low, high = battery._paired(pd.DataFrame({"a": picked, "b": default}), "a", "b")
    return f"{mean:+.3f}" if np.isnan(low) else f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def analyse(gold_rows: pd.DataFrame, test_rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per scenario: each candidate's and each rule's mean test AUC, rule - default paired."""
    auc = test_rows.pivot_table(index=["scenario", "split"], columns="candidate", values="auc")
    chosen = choices(gold_rows).set_index(["scenario", "split"])
    summary, departures = [], []
    for scenario in dict.fromkeys(chosen.index.get_level_values(0)):
        a, c = auc.loc[scenario], chosen.loc[scenario]
        row = {"scenario": scenario, "splits": len(c)}
        row |= {name: round(a[name].mean(), 3) for name in CANDIDATES}
        dep = {"scenario": scenario}
        for rule in RULES:
            picked = pd.Series([a.loc[s, c.loc[s, rule]] for s in c.index], index=c.index)
            row[rule] = round(picked.mean(), 3)
            row[f"{rule} − default"] = _paired(picked, a.loc[c.index, AUTO_REFERENCE])
            counts = c[rule][c[rule] != AUTO_REFERENCE].value_counts()
            dep[rule] = ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"
        summary.append(row)
        departures.append(dep)
    return pd.DataFrame(summary), pd.DataFrame(departures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=["all"])
    parser.add_argument("--splits", type=int, default=6)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=battery.RESULTS_DIR / "auto_rules")
    parser.add_argument("--analyse-only", action="store_true")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.analyse_only:
        collect(battery._select_scenarios(args.scenarios), args.splits, args.n_jobs, args.out)
    gold_rows = pd.read_csv(f"{args.out}_gold.csv")
    test_rows = pd.read_csv(f"{args.out}_test.csv")
    summary, departures = analyse(gold_rows, test_rows)
    text = (
        summary.to_markdown(index=False)
        + "\n\nDepartures from the default (candidate: splits):\n\n"
        + departures.to_markdown(index=False)
        + "\n"
    )
    Path(f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
