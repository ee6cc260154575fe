"""The truncated Meta-Router under a positivity violation (GS labels on one kind of query only).

Data: ``make_routing_data(bias="regional")``, whose judge is biased only where ``pc6 < 0``
(``delta = 0.05 + (0.15*z0 - 0.4*z4)*(z5 < 0)``), split with ``gold_from=lambda X: X["pc6"] < 0``:
every GS row lies where the judge is biased, test rows cover all queries. On ``pc6 >= 0`` (the
uncovered region, about half the test queries) the bias is not identified; the default
Meta-Router's ridge extrapolates the correction it learnt on the GS side to queries the judge
labelled well.

Methods, fitted on the same splits (paired by split): the default Meta-Router on the violating
split and, as a reference, on the split with the same seed and no violation (the same test rows,
GS rows drawn at random); the truncated Meta-Router (``overlap="trim"``) with both fallbacks;
pooling; the all-gold oracle. Metrics: the efficiency-gain AUC over usage ratios 0.2-0.8 on all
test queries and on the uncovered ones (normalised by the data set's mean GS gain times the number
of queries scored, as the paper does), and Spearman's rank correlation of the predictions with the
true ``psi`` on the uncovered, covered and all test queries (noise-free, so less noisy).

``--bias heterogeneous`` runs the same violation on the generator's default bias, a global trend
that the default Meta-Router's ridge extrapolates correctly: the contrast case.

    python benchmarks/truncated_router.py --splits 10 --n-jobs 2
    python benchmarks/truncated_router.py --splits 10 --n-jobs 2 --bias heterogeneous
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats

from metarouter_econml import MetaRouter, PooledRouter
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.evaluation import efficiency_gain_curve

REFERENCE = "meta (default)"
METHODS = {
    "meta, random GS (reference)": lambda seed: MetaRouter(random_state=seed),
    REFERENCE: lambda seed: MetaRouter(random_state=seed),
    "meta trim, fallback pooled": lambda seed: MetaRouter(overlap="trim", random_state=seed),
    "meta trim, fallback gold_only": lambda seed: MetaRouter(
        overlap="trim", overlap_fallback="gold_only", random_state=seed
    ),
    "pooled": lambda seed: PooledRouter(random_state=seed),
    "all-gold (oracle)": lambda seed: PooledRouter(gold_scale="none", random_state=seed),
}
RATIOS = np.linspace(0.2, 0.8, 61)


def _covered(X):
    return X["pc6"] < 0


def run_split(data, seed, n_test, n_gold, mean_gain):
    warnings.simplefilter(
        "ignore"
    )  # this worker process only: extreme-propensity warnings are expected
    violating = data.split(n_test=n_test, n_gold=n_gold, random_state=seed, gold_from=_covered)
    random_gold = data.split(n_test=n_test, n_gold=n_gold, random_state=seed)
    assert np.array_equal(violating.test_index, random_gold.test_index)
    uncovered = ~_covered(violating.X_test).to_numpy()
    rows, curves = [], {}
    for name, make in METHODS.items():
        split = random_gold if name.startswith("meta, random GS") else violating
        labels = split.gold_gain_train if name.startswith("all-gold") else split.y_train
        router = make(seed)
        start = time.perf_counter()
        router.fit(split.X_train, labels, gold=split.gold_train)
        seconds = time.perf_counter() - start
        predicted = router.predict(split.X_test)
        curve = efficiency_gain_curve(
            split.gain_test, predicted, ratios=RATIOS, normalizer=mean_gain * n_test
        )
        curve_uncovered = efficiency_gain_curve(
            split.gain_test[uncovered],
            predicted[uncovered],
            ratios=RATIOS,
            normalizer=mean_gain * int(uncovered.sum()),
        )
        curves[name] = curve.gains
        row = {
            "split": seed,
            "method": name,
            "auc": curve.auc,
            "auc_uncovered": curve_uncovered.auc,
            "rho_uncovered": stats.spearmanr(predicted[uncovered], split.psi_test[uncovered])[0],
            "rho_covered": stats.spearmanr(predicted[~uncovered], split.psi_test[~uncovered])[0],
            "rho_all": stats.spearmanr(predicted, split.psi_test)[0],
            "fit_seconds": seconds,
        }
        if getattr(router, "overlap_mask_", None) is not None:
            pb = ~split.gold_train
            covered_train = _covered(split.X_train).to_numpy()
            row["pb_inside_covered"] = router.overlap_mask_[pb & covered_train].mean()
            row["pb_inside_uncovered"] = router.overlap_mask_[pb & ~covered_train].mean()
            row["test_uncovered_flagged_outside"] = (
                ~router.in_overlap(split.X_test)[uncovered]
            ).mean()
        rows.append(row)
    return rows, curves


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


def plot(frame, curves, path, n_splits):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 4.6), layout="constrained")
    ax_curve, ax_bar = figure.subplots(1, 2, width_ratios=[1.25, 1])
    colors = dict(zip(METHODS, ["0.55", "C3", "C0", "C9", "C1", "k"], strict=True))
    styles = {"meta, random GS (reference)": ":", "all-gold (oracle)": "--"}
    for name in METHODS:
        gains = np.vstack([split_curves[name] for split_curves in curves])
        ax_curve.plot(
            100 * RATIOS,
            gains.mean(axis=0),
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
    args = parser.parse_args()
    data = make_routing_data(args.n_samples, args.n_features, bias=args.bias, random_state=0)
    mean_gain = float(data.gold_gain.mean())
    start = time.perf_counter()
    results = Parallel(n_jobs=args.n_jobs)(
        delayed(run_split)(data, seed, args.n_test, args.n_gold, mean_gain)
        for seed in range(args.splits)
    )
    elapsed = time.perf_counter() - start
    frame = pd.DataFrame([row for rows, _ in results for row in rows])
    curves = [split_curves for _, split_curves in results]
    levels, diffs = summarise(frame)
    print(
        f"make_routing_data({args.n_samples}, {args.n_features}, bias={args.bias!r}, "
        "random_state=0); "
        f"split(n_test={args.n_test}, n_gold={args.n_gold}, gold_from=pc6 < 0); "
        f"{args.splits} splits "
        f"(seeds 0-{args.splits - 1}); {elapsed:.0f} s on {args.n_jobs} jobs\n"
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
    plot(frame, curves, Path(figure), args.splits)
    print(f"\nFigure: {figure}")


if __name__ == "__main__":
    main()
