"""Fit time and peak memory of the default MetaRouter as the preference log grows.

The issue's target: 1,000,000 preference-based (PB) rows plus 10,000 gold-standard (GS) rows x 50
features fit in under 10 minutes and under 8 GiB peak memory on 2 cores. Run one size per
process so that the peak resident set size belongs to that size alone:

    /usr/bin/time -v python benchmarks/scale.py --n-preference 1000000 --dtype float32

Prints one JSON line (sizes, seconds per stage, ``ru_maxrss`` of the process) and, with
``--out``, appends it to a JSON-lines file. ``benchmarks/RESULTS.md`` section 7 collects them.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time

import numpy as np

from metarouter_econml import MetaRouter
from metarouter_econml.datasets import make_routing_data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-preference", type=int, default=1_000_000)
    parser.add_argument("--n-gold", type=int, default=10_000)
    parser.add_argument("--n-features", type=int, default=50)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument(
        "--n-jobs", type=int, default=None, help="MetaRouter(n_jobs=...); default: its default"
    )
    parser.add_argument("--learner", default="r")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="append the JSON line to this file")
    args = parser.parse_args()

    start = time.perf_counter()
    n_test = 10_000
    data = make_routing_data(
        args.n_preference + args.n_gold + n_test, args.n_features, random_state=args.seed
    )
    split = data.split(n_test=n_test, n_gold=args.n_gold, random_state=args.seed)
    X = np.ascontiguousarray(split.X_train.to_numpy(dtype=args.dtype))
    X_test = np.ascontiguousarray(split.X_test.to_numpy(dtype=args.dtype))
    y, gold = split.y_train, split.gold_train
    psi_test = split.psi_test
    del data, split
    data_seconds = time.perf_counter() - start

    params = {"learner": args.learner, "random_state": args.seed}
    if args.n_jobs is not None:
        params["n_jobs"] = args.n_jobs
    router = MetaRouter(**params)
    start = time.perf_counter()
    router.fit(X, y, gold=gold)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    psi_hat = router.predict(X_test)
    predict_seconds = time.perf_counter() - start

    record = {
        "n_preference": args.n_preference,
        "n_gold": args.n_gold,
        "n_features": args.n_features,
        "dtype": args.dtype,
        "params": params,
        "data_seconds": round(data_seconds, 2),
        "fit_seconds": round(fit_seconds, 2),
        "predict_10k_seconds": round(predict_seconds, 3),
        "corr_psi_hat_psi": round(float(np.corrcoef(psi_hat, psi_test)[0, 1]), 4),
        # Linux reports ru_maxrss in KiB
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "python": platform.python_version(),
    }
    line = json.dumps(record)
    print(line)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


if __name__ == "__main__":
    main()
