"""Routing among many models: which bias structure, against which baselines (RESULTS.md §14).

Scenarios (known truth from ``make_multi_routing_data``, 5 models, 2,000 queries, 400 test
and 100 gold-standard queries per split):

- ``scarce_pairs``: one compared pair per query, so about 10 gold comparisons per pair;
- ``all_pairs``: every pair on every query (about 100 gold comparisons per pair);
- ``no_bias``: an unbiased judge (nothing to correct; a correction can only add noise);
- ``pandalm``: the real PandaLM comparisons (170 queries, 34 test, 34 gold; gpt-3.5-turbo as
  the judge, 10 principal components); pairwise accuracy only.

Every method of ``run_multi_protocol`` on the same splits (paired differences).

Run: ``.venv/bin/python benchmarks/multi_models.py --splits 20`` (writes
``benchmarks/results/multi/<scenario>.md`` and ``.csv``; ``--scenarios`` picks some).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from metarouter_econml.datasets import load_pandalm_routing, make_multi_routing_data
from metarouter_econml.evaluation import run_multi_protocol

OUT = Path(__file__).parent / "results" / "multi"


def scenarios():
    return {
        "scarce_pairs": (
            lambda: make_multi_routing_data(2000, 5, pairs_per_query=1, random_state=11),
            {"n_test": 400, "n_gold": 100},
        ),
        "all_pairs": (
            lambda: make_multi_routing_data(2000, 5, random_state=12),
            {"n_test": 400, "n_gold": 100},
        ),
        "no_bias": (
            lambda: make_multi_routing_data(
                2000, 5, pairs_per_query=1, bias="none", random_state=13
            ),
            {"n_test": 400, "n_gold": 100},
        ),
        "pandalm": (
            lambda: load_pandalm_routing(n_components=10, random_state=0),
            {"n_test": 34, "n_gold": 34},
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--scenarios", nargs="*", default=None)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    chosen = scenarios()
    for name in args.scenarios or list(chosen):
        make, sizes = chosen[name]
        data = make()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = run_multi_protocol(data, n_splits=args.splits, random_state=0, **sizes)
        seconds = time.perf_counter() - start
        result.scores.to_csv(OUT / f"{name}.csv", index=False)
        parts = [f"# {name} ({args.splits} splits, {seconds:.0f} s)", ""]
        metrics = (
            ["pairwise_accuracy"]
            if data.quality is None
            else ["aiq", "oracle_share", "pairwise_accuracy"]
        )
        for metric in metrics:
            parts += [result.to_markdown(metric), ""]
        if data.quality is not None:
            parts += [result.to_markdown("aiq", reference="pooled"), ""]
        (OUT / f"{name}.md").write_text("\n".join(parts))
        print("\n".join(parts), flush=True)


if __name__ == "__main__":
    main()
