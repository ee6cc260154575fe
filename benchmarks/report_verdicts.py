"""How often ``diagnose(...).ok`` raises a false alarm on clean data, and detects known problems.

Three kinds of data, each over ``--seeds`` seeds, from ``make_routing_data`` (the package's
default generator unless ``--generator`` says otherwise), ``--n-queries`` training rows of which
``--n-gold`` are gold-standard rows:

- ``clean``: gold rows drawn at random. Every check should pass (``report.ok`` True); a False
  is a false alarm.
- ``positivity``: gold rows only where ``pc1 < 0`` (``split(..., gold_from=...)``): half of the
  queries have no gold rows like them. ``report.ok`` should be False (detected).
- ``leak``: gold rows drawn at random, but the router's CATE estimator does not take its
  estimate from the gold flags it is given. Its final stage is boosting *continued* from the
  final model of an honest router fitted earlier on the same rows with the real flags
  (``--leak warm``: that model plus ``--leak-rounds`` shallow trees fitted on what is left; a
  warm start such as reusing a tuned model), or that earlier model frozen (``--leak frozen``:
  scikit-learn's ``FrozenEstimator``, which every refit keeps as it is). Either way a refit
  with permuted gold flags keeps most of the earlier estimate, so the placebo refuter should
  fail and ``report.ok`` should be False (detected). DoWhy's placebo tests the *mean* bias: a
  leak whose mean is within a standard error of zero cannot be told from no bias by it (the
  ``|estimate| / tolerance`` column shows how large the means are). The placebo's per-row test
  (``PLACEBO_SLOPE_TOLERANCE`` in ``_refute.py``) sees the leak in the heterogeneity instead:
  the per-row bias of a placebo refit reproduces the original one (``median placebo row
  slope``; about 0 for an honest estimator).

Routers are ``MetaRouter(learner="r")`` with light nuisance models (``--router light``:
LightGBM outcome model of 40 trees, a fixed logistic propensity model, the default ridge final
stage) so that the runs fit in the time budget; ``--router default`` uses the package's
default models. OverRule is off unless ``--overrule`` (it is descriptive and never enters
``report.ok``); figures are off.

Writes one row per run to ``<out>/runs_<tag>.csv`` and the rates to ``<out>/rates_<tag>.md``
(with the command line), and prints the rates. ``old rule rate`` is the same rate under the
verdict rule before the hardening (a refuter failed whenever DoWhy's p <= 0.05), and ``mean-only
rule rate`` the rate under the current rule without the placebo's per-row test (the rule of
``afe0e93``), both computed from the same refits.

    python benchmarks/report_verdicts.py --seeds 0-19
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
from lightgbm import LGBMRegressor
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from metarouter_econml import MetaRouter
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.diagnostics import DEFAULT_N_SIMULATIONS, REFUTERS, diagnose

SCENARIOS = ("clean", "positivity", "leak")
GENERATORS = {
    # the package's default generator: heterogeneous bias, noisy gold labels, PB scale 2
    "default": {},
    # a constant bias of 0.1 and less noise, on one scale (the diagnostics tests' data)
    "constant": {
        "bias": "constant",
        "gold_noise": 0.3,
        "preference_noise": 0.3,
        "preference_scale": 1.0,
    },
}
OUT = Path(__file__).resolve().parent / "results" / "report_verdicts"


def _light_lgbm(seed: int, n_estimators: int = 40) -> LGBMRegressor:
    return LGBMRegressor(
        n_estimators=n_estimators,
        num_leaves=7,
        min_child_samples=20,
        n_jobs=1,
        random_state=seed,
        verbose=-1,
    )


class WarmStartRegressor(RegressorMixin, BaseEstimator):
    """A model fitted earlier (``prior``, kept frozen) plus a few trees fitted on the rest.

    ``fit`` fits ``rounds`` shallow LightGBM trees (learning rate 0.05, starting from 0, not
    from the residuals' mean) to ``y - prior.predict(X)``; ``predict`` adds them to the prior's
    prediction. With few rounds the prediction stays close to the prior, whatever ``y`` is: 10
    rounds move it by at most about 40 % (``1 - 0.95**10``) of the way to ``y``.
    """

    def __init__(self, prior=None, rounds: int = 10):
        self.prior = prior
        self.rounds = rounds

    def fit(self, X, y, sample_weight=None):
        residual = np.asarray(y, dtype=np.float64) - self.prior.predict(X)
        self.model_ = LGBMRegressor(
            n_estimators=self.rounds,
            learning_rate=0.05,
            num_leaves=4,
            min_child_samples=20,
            n_jobs=1,
            random_state=0,
            verbose=-1,
            boost_from_average=False,
        ).fit(X, residual, sample_weight=sample_weight)
        return self

    def predict(self, X):
        return self.prior.predict(X) + self.model_.predict(X)


def _router(kind: str, seed: int, learner="r") -> MetaRouter:
    if kind == "default":
        return MetaRouter(learner=learner, random_state=seed)
    models = {}
    if isinstance(learner, str):
        models = {
            "model_y": _light_lgbm(seed),
            "model_t": LogisticRegression(C=0.1, max_iter=1000),
        }
    return MetaRouter(learner=learner, router_model=_light_lgbm(seed), random_state=seed, **models)


def _leaky_router(kind: str, leak: str, rounds: int, split, seed: int) -> MetaRouter:
    """A router whose final stage starts from an honest fit on the same rows (see the module)."""
    from econml.dml import NonParamDML

    honest = _router(kind, seed).fit(split.X_train, split.y_train, gold=split.gold_train)
    fitted = honest.cate_estimator_
    prior = FrozenEstimator(fitted.model_final_)
    final = prior if leak == "frozen" else WarmStartRegressor(prior=prior, rounds=rounds)
    estimator = NonParamDML(
        model_y=clone(fitted.model_y),
        model_t=clone(fitted.model_t),
        model_final=final,
        discrete_treatment=True,
        cv=fitted.cv,
        random_state=fitted.random_state,
    )
    return _router(kind, seed, learner=estimator)


def _parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        if "-" in part:
            first, last = part.split("-")
            seeds += range(int(first), int(last) + 1)
        else:
            seeds.append(int(part))
    return seeds


def _run(args, scenario: str, seed: int) -> dict:
    data = make_routing_data(
        n_samples=args.n_queries + 100,
        n_features=args.n_features,
        random_state=seed,
        **GENERATORS[args.generator],
    )
    gold_from = data.X["pc1"] < 0 if scenario == "positivity" else None
    split = data.split(n_test=100, n_gold=args.n_gold, random_state=seed, gold_from=gold_from)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if scenario == "leak":
            router = _leaky_router(args.router, args.leak, args.leak_rounds, split, seed)
        else:
            router = _router(args.router, seed)
        router.fit(split.X_train, split.y_train, gold=split.gold_train)
        fit_seconds = time.perf_counter() - start
        report = diagnose(
            router,
            split.X_train,
            split.y_train,
            gold=split.gold_train,
            refuters=args.refuters,
            n_simulations=args.n_simulations,
            overrule=args.overrule,
            figures=False,
            random_state=seed,
        )
    r = report.refutations
    old_alarm = False  # the rule before the hardening: any refuter with DoWhy's p <= 0.05 fails
    mean_alarm = False  # the current rule without the placebo's per-row test
    if r is not None:
        for t in r.table.itertuples():
            sims = r.simulations[t.refuter]
            tested = 0.0 if t.refuter == "placebo" else r.estimate
            if np.isnan(t.p_value):
                rejects = bool(sims.size) and not np.allclose(sims, tested)
            else:
                rejects = t.p_value <= 0.05
            old_alarm |= rejects
            if t.refuter == "placebo" and t.verdict != "skipped":
                mean_alarm |= rejects and abs(t.shift) > t.tolerance
            else:
                mean_alarm |= t.verdict == "fail"
    row = {
        "scenario": scenario,
        "seed": seed,
        "ok": report.ok,
        "overlap_ok": report.overlap.ok,
        "refutations_ok": r is None or r.ok,
        "old_rule_ok": report.overlap.ok and not old_alarm,
        "mean_rule_ok": report.overlap.ok and not mean_alarm,
        "failed": "; ".join(report.failed_checks),
        "extreme_share": report.overlap.extreme_share,
        "estimate": np.nan if r is None else r.estimate,
        "standard_error": np.nan if r is None else r.standard_error,
        "tolerance": np.nan if r is None else r.tolerance,
        "fit_seconds": fit_seconds,
        "diagnose_seconds": report.seconds["total"],
    }
    if r is not None:
        for t in r.table.itertuples():
            row[f"{t.refuter}_verdict"] = t.verdict
            row[f"{t.refuter}_shift"] = t.shift
            row[f"{t.refuter}_p"] = t.p_value
            if t.refuter == "placebo":
                row["placebo_row_slope"] = t.row_slope
                row["placebo_row_slope_se"] = t.row_slope_se
                row["placebo_row_p"] = t.row_slope_p
    return row


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rates(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario: the rate that matters, its Wilson interval, per-check shares."""
    out = []
    for scenario, group in frame.groupby("scenario", sort=False):
        n = len(group)
        alarms = int((~group["ok"]).sum())
        low, high = _wilson(alarms, n)
        what = "false-alarm rate" if scenario == "clean" else "detection rate"
        row = {
            "scenario": scenario,
            "measure": what,
            "rate": alarms / n,
            "95% CI": f"[{low:.2f}, {high:.2f}]",
            "runs": n,
            "old rule rate": float((~group["old_rule_ok"]).mean()),
            "mean-only rule rate": float((~group["mean_rule_ok"]).mean()),
            "overlap failed": int((~group["overlap_ok"]).sum()),
            "refutation failed": int((~group["refutations_ok"]).sum()),
        }
        for name in REFUTERS:
            column = f"{name}_verdict"
            if column in group:
                row[f"{name} fail"] = int((group[column] == "fail").sum())
        if "placebo_row_slope" in group and group["placebo_row_slope"].notna().any():
            row["median placebo row slope"] = round(float(group["placebo_row_slope"].median()), 2)
        if group["tolerance"].notna().any():
            ratio = (group["estimate"].abs() / group["tolerance"]).median()
            row["median |estimate| / tolerance"] = round(float(ratio), 2)
        row["median s per run"] = round(
            float((group["fit_seconds"] + group["diagnose_seconds"]).median()), 1
        )
        out.append(row)
    return pd.DataFrame(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-19", help="e.g. 0-19 or 100-104,110")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--n-queries", type=int, default=2500, help="training rows")
    parser.add_argument("--n-features", type=int, default=10)
    parser.add_argument("--n-gold", type=int, default=150)
    parser.add_argument("--n-simulations", type=int, default=DEFAULT_N_SIMULATIONS)
    parser.add_argument("--refuters", nargs="+", choices=REFUTERS, default=list(REFUTERS))
    parser.add_argument("--generator", choices=sorted(GENERATORS), default="default")
    parser.add_argument("--router", choices=("light", "default"), default="light")
    parser.add_argument("--leak", choices=("warm", "frozen"), default="warm")
    parser.add_argument("--leak-rounds", type=int, default=10)
    parser.add_argument("--overrule", action="store_true", help="run OverRule too")
    parser.add_argument("--tag", default=None, help="suffix of the output files")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    seeds = _parse_seeds(args.seeds)
    command = "python benchmarks/report_verdicts.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    tag = args.tag or f"{args.generator}_{args.router}_{args.seeds.replace(',', '_')}"
    args.out.mkdir(parents=True, exist_ok=True)
    runs = args.out / f"runs_{tag}.csv"
    rows = []
    for scenario in args.scenarios:
        for seed in seeds:
            row = _run(args, scenario, seed)
            rows.append(row)
            print(
                f"{scenario} seed {seed}: ok={row['ok']} failed=[{row['failed']}] "
                f"({row['fit_seconds'] + row['diagnose_seconds']:.0f} s)",
                flush=True,
            )
            pd.DataFrame(rows).to_csv(runs, index=False)
    table = rates(pd.DataFrame(rows))
    settings = (
        f"{args.n_queries} queries x {args.n_features} features, {args.n_gold} gold rows, "
        f"generator {args.generator!r}, router {args.router!r}, refuters "
        f"{', '.join(args.refuters)} x {args.n_simulations} simulations, OverRule "
        f"{'on' if args.overrule else 'off'}, leak {args.leak!r}"
        + (f" ({args.leak_rounds} rounds)" if args.leak == "warm" else "")
        + f", seeds {args.seeds}"
    )
    text = f"`{command}`\n\n{settings}\n\n{table.to_markdown(index=False)}\n"
    (args.out / f"rates_{tag}.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
