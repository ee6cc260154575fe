"""The paper's protocol on the packaged GSM8K routing data (real GS gains, rule-based judge labels).

Two feature sets: the MiniLM prompt embedding reduced to 50 principal components, and the same plus
three cheap prompt features (log length, count of numbers, count of sentences).

    python benchmarks/gsm8k.py --splits 30 --n-jobs 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from matplotlib.figure import Figure

from metarouter_econml.datasets import load_gsm8k_routing
from metarouter_econml.evaluation import run_protocol

METHODS = [
    "meta_r",
    "meta_dr",
    "meta_auto",
    "pooled",
    "mean_shift",
    "preference_only",
    "gold_only",
    "all_gold",
    "random",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=30)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out", default="benchmarks")
    args = parser.parse_args()
    out = Path(args.out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "results").mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    for index, extra in enumerate((False, True)):
        data = load_gsm8k_routing(n_components=50, extra_features=extra, random_state=0)
        start = time.perf_counter()
        result = run_protocol(
            data,
            methods=METHODS,
            n_test=500,
            n_gold=100,
            n_splits=args.splits,
            n_jobs=args.n_jobs,
            random_state=0,
            verbose=0,
        )
        seconds = time.perf_counter() - start
        label = "50 PCs + prompt features" if extra else "50 PCs of the MiniLM prompt embedding"
        text = (
            f"## GSM8K, {label}\n\n500 test / 100 GS / 719 PB rows, {args.splits} splits, "
            f"{seconds:.0f} s wall time\n\n{result.to_markdown()}\n"
        )
        print(text)
        (out / "results" / f"gsm8k_{'extra' if extra else 'pcs'}.md").write_text(text)
        ax = figure.add_subplot(1, 2, index + 1)
        result.plot(ax=ax, methods=["meta_r", "meta_auto", "pooled", "gold_only", "all_gold"])
        ax.set_title(f"GSM8K: {label}", fontsize=10)
    figure.savefig(out / "figures" / "gsm8k.png", dpi=120)


if __name__ == "__main__":
    main()
