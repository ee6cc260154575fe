"""The truncated Meta-Router under a positivity violation (GS labels on one kind of query only).

Data: ``make_routing_data(bias="regional")``, whose judge is biased only where ``pc6 < 0``
(``delta = 0.05 + (0.15*z0 - 0.4*z4)*(z5 < 0)``), split with ``gold_from=lambda X: X["pc6"] < 0``:
every GS row lies where the judge is biased, test rows cover all queries. On ``pc6 >= 0`` (the
uncovered region, about half the test queries) the bias is not identified; the default
Meta-Router's ridge extrapolates the correction it learnt on the GS side to queries the judge
labelled well.

Methods, fitted on the same splits (paired by split) by two ``run_protocol`` calls with the same
``random_state``, hence the same split seeds and test rows: the default Meta-Router on the
violating split (``gold_from``) and, as a reference, on the split with the same seed and no
violation (GS rows drawn at random); the truncated Meta-Router (``overlap="trim"``) with both
fallbacks; pooling; the all-gold oracle. Metrics: the efficiency-gain AUC over usage ratios
0.2-0.8 on all test queries and on the uncovered ones (normalised by the data set's mean GS gain
times the number of queries scored, as the paper does), and Spearman's rank correlation of the
predictions with the true ``psi`` on the uncovered, covered and all test queries (noise-free, so
less noisy); all but the first come from ``run_protocol(extra_metrics=...)``.

``--bias heterogeneous`` runs the same violation on the generator's default bias, a global trend
that the default Meta-Router's ridge extrapolates correctly: the contrast case.

    python benchmarks/truncated_router.py --splits 10 --n-jobs 2
    python benchmarks/truncated_router.py --splits 10 --n-jobs 2 --bias heterogeneous
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from metarouter_econml import MetaRouter, PooledRouter
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.evaluation import efficiency_gain_curve, run_protocol

REFERENCE = "meta (default)"
RANDOM_GS = "meta, random GS (reference)"
#: Fitted on the violating split (GS rows only where pc6 < 0); the reference on the random split.
VIOLATING_METHODS = {
    REFERENCE: MetaRouter(),
    "meta trim, fallback pooled": MetaRouter(overlap="trim"),
    "meta trim, fallback gold_only": MetaRouter(overlap="trim", overlap_fallback="gold_only"),
    "pooled": PooledRouter(),
    "all-gold (oracle)": "all_gold",  # PooledRouter(gold_scale="none") on every GS gain
}
METHODS = [RANDOM_GS, *VIOLATING_METHODS]  # display order
RATIOS = np.linspace(0.2, 0.8, 61)


def _covered(X):
    return X["pc6"] < 0


# -- per-split metrics beyond run_protocol's AUC: metric(router, split, predicted) -> float --------


def _uncovered(split):
    return ~_covered(split.X_test).to_numpy()


def auc_uncovered(router, split, predicted, *, mean_gain):
    """AUC on the uncovered test queries, normalised by mean GS gain x their number."""
    mask = _uncovered(split)
    return efficiency_gain_curve(
        split.gain_test[mask],
        predicted[mask],
        ratios=RATIOS,
        normalizer=mean_gain * int(mask.sum()),
    ).auc


def rho(router, split, predicted, *, where):
    """Spearman correlation of the predictions with the true psi on some test queries."""
    uncovered = _uncovered(split)
    mask = {"uncovered": uncovered, "covered": ~uncovered, "all": np.ones_like(uncovered)}[where]
    return stats.spearmanr(predicted[mask], split.psi_test[mask])[0]


def overlap_share(router, split, predicted, *, what):
    """Overlap statistics of a truncated router (NaN for the others)."""
    if getattr(router, "overlap_mask_", None) is None:
        return np.nan
    if what == "test_uncovered_flagged_outside":
        return float((~router.in_overlap(split.X_test)[_uncovered(split)]).mean())
    covered_train = _covered(split.X_train).to_numpy()
    side = covered_train if what == "pb_inside_covered" else ~covered_train
    return float(router.overlap_mask_[~split.gold_train & side].mean())


def extra_metrics(mean_gain):
    return {
        "auc_uncovered": partial(auc_uncovered, mean_gain=mean_gain),
        "rho_uncovered": partial(rho, where="uncovered"),
        "rho_covered": partial(rho, where="covered"),
        "rho_all": partial(rho, where="all"),
        **{
            what: partial(overlap_share, what=what)
            for what in (
                "pb_inside_covered",
                "pb_inside_uncovered",
                "test_uncovered_flagged_outside",
            )
        },
    }


def _interval(values):
    values = np.asarray(values, dtype=float)
    n = values.size
    half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    return values.mean(), half


def summarise(frame):
    metrics = ["auc", "auc_uncovered", "rho_uncovered", "rho_covered", "rho_all"]
    levels, diffs = [], []
    for method in METHODS:
        part = frame[frame.method == method].set_index("split").sort_index()
        ref = frame[frame.method == REFERENCE].set_index("split").sort_index()
        level = {"method": method}
        for metric in metrics:
            mean, half = _interval(part[metric])
            level[metric] = f"{mean:.3f} ± {half:.3f}"
        level["fit s"] = f"{part['fit_seconds'].mean():.1f}"
        levels.append(level)
        if method == REFERENCE:
            continue
        diff = {"method": f"{method} − default"}
        for metric in ("auc", "auc_uncovered", "rho_uncovered", "rho_all"):
            delta = part[metric] - ref[metric]
            mean, half = _interval(delta)
            diff[metric] = (
                f"{mean:+.3f} [{mean - half:+.3f}, {mean + half:+.3f}] "
                f"({int((delta > 0).sum())}/{delta.size})"
            )
        diffs.append(diff)
    return pd.DataFrame(levels), pd.DataFrame(diffs)


def plot(frame, mean_curves, path, n_splits):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 4.6), layout="constrained")
    ax_curve, ax_bar = figure.subplots(1, 2, width_ratios=[1.25, 1])
    colors = dict(zip(METHODS, ["0.55", "C3", "C0", "C9", "C1", "k"], strict=True))
    styles = {RANDOM_GS: ":", "all-gold (oracle)": "--"}
    for name in METHODS:
        curve = mean_curves[mean_curves["method"] == name]
        ax_curve.plot(
            100 * curve["ratio"],
            curve["mean"],
            label=name,
            color=colors[name],
            linestyle=styles.get(name, "-"),
        )
    ax_curve.axhline(0.0, color="grey", linewidth=0.8)
    ax_curve.set_xlabel("queries sent to the primary model (% of test queries)")
    ax_curve.set_ylabel("efficiency gain over random routing\n(in units of mean GS gain × n_test)")
    ax_curve.set_title(f"All test queries: mean curve over {n_splits} splits")
    ax_curve.legend(fontsize=8, loc="lower center")
    means, halves = zip(
        *(_interval(frame.loc[frame.method == name, "rho_uncovered"]) for name in METHODS),
        strict=True,
    )
    positions = np.arange(len(METHODS))
    ax_bar.barh(positions, means, xerr=halves, color=[colors[name] for name in METHODS], capsize=3)
    ax_bar.set_yticks(positions, list(METHODS), fontsize=8)
    ax_bar.invert_yaxis()
    ax_bar.set_xlabel(
        "Spearman correlation of predictions with true psi\n(uncovered test queries, pc6 ≥ 0)"
    )
    ax_bar.set_title("Ranking where no GS label exists (mean, 95% CI)")
    ax_bar.set_xlim(0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=130)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--n-samples", type=int, default=5000)
    parser.add_argument("--n-features", type=int, default=50)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--n-gold", type=int, default=100)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--bias", default="regional", help="bias of make_routing_data")
    parser.add_argument(
        "--figure",
        default=None,
        help="PNG to write (default: figures/truncated_router.png, or ..._<bias>.png)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random_state of run_protocol")
    args = parser.parse_args()
    data = make_routing_data(args.n_samples, args.n_features, bias=args.bias, random_state=0)
    protocol = {
        "n_test": args.n_test,
        "n_gold": args.n_gold,
        "n_splits": args.splits,
        "ratios": RATIOS,  # normaliser: run_protocol's default, mean GS gain x n_test
        "extra_metrics": extra_metrics(float(data.gold_gain.mean())),
        "n_jobs": args.n_jobs,
        "random_state": args.seed,  # the same seeds, hence the same test rows, in both runs
        "verbose": 0,
    }
    start = time.perf_counter()
    violating = run_protocol(data, methods=VIOLATING_METHODS, gold_from=_covered, **protocol)
    random_gold = run_protocol(data, methods={RANDOM_GS: MetaRouter()}, **protocol)
    elapsed = time.perf_counter() - start
    seeds = violating.settings["seeds"]
    assert seeds == random_gold.settings["seeds"]
    for seed in seeds:
        test = data.split(n_test=args.n_test, n_gold=args.n_gold, random_state=seed).test_index
        gold_from = data.split(
            n_test=args.n_test, n_gold=args.n_gold, random_state=seed, gold_from=_covered
        )
        assert np.array_equal(test, gold_from.test_index)
    frame = pd.concat([random_gold.metrics, violating.metrics], ignore_index=True)
    mean_curves = pd.concat([random_gold.mean_curves(), violating.mean_curves()], ignore_index=True)
    levels, diffs = summarise(frame)
    print(
        f"make_routing_data({args.n_samples}, {args.n_features}, bias={args.bias!r}, "
        "random_state=0); "
        f"split(n_test={args.n_test}, n_gold={args.n_gold}, gold_from=pc6 < 0); "
        f"{args.splits} splits (run_protocol, random_state={args.seed}); "
        f"{elapsed:.0f} s on {args.n_jobs} jobs\n"
    )
    print(
        "Mean ± 95% CI half-width over splits (AUC: efficiency gain over ratios 0.2-0.8, "
        "normalised by mean GS gain × n queries; rho: Spearman with true psi):\n"
    )
    print(levels.to_markdown(index=False))
    print(
        "\nPaired differences against the default Meta-Router on the violating split: "
        "mean [95% CI] "
        "(splits where the method is better):\n"
    )
    print(diffs.to_markdown(index=False))
    trim = frame[frame.method == "meta trim, fallback pooled"]
    print(
        f"\nOverlap region (trim, default threshold base_rate/10): PB rows kept inside "
        f"{trim['pb_inside_covered'].mean():.1%} on the GS side (pc6 < 0), "
        f"{trim['pb_inside_uncovered'].mean():.1%} on the uncovered side; `in_overlap` flags "
        f"{trim['test_uncovered_flagged_outside'].mean():.1%} of the uncovered test queries "
        "as outside."
    )
    suffix = "" if args.bias == "regional" else f"_{args.bias}"
    figure = args.figure or Path(__file__).parent / "figures" / f"truncated_router{suffix}.png"
    plot(frame, mean_curves, Path(figure), args.splits)
    print(f"\nFigure: {figure}")


if __name__ == "__main__":
    main()
