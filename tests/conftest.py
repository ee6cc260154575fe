"""Shared test data and router lists.

Splits come from one cached factory, :func:`make_split`, so that a test file states only the
sizes it needs (``make_split(400, 6, n_test=100, n_gold=40)``) and files asking for the same data
share one draw. Data containers are frozen (read-only arrays), so sharing them is safe.
Test files import these names (``from conftest import ROUTERS, make_split``): the tests folder is
on the import path (pytest's default ``prepend`` import mode, no ``__init__.py``).
"""

from __future__ import annotations

import functools
import os

# The suite runs two pytest workers on two cores, and some tests fit LightGBM with two threads:
# OpenMP's default busy-waiting then makes each such fit several times slower (35 s against 7 s
# for one test, measured). Passive waiting changes speed only, never results (LightGBM runs with
# deterministic=True). It must be set before LightGBM's OpenMP runtime loads; subprocesses of
# the tests inherit it. On an idle machine passive waiting is the slower policy for two-thread
# fits (benchmarks/RESULTS.md §8a): a trade-off for the suite, not a setting for users.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from metarouter_econml import (
    GoldOnlyRouter,
    MeanShiftRouter,
    MetaRouter,
    PooledRouter,
    PreferenceOnlyRouter,
)
from metarouter_econml.datasets import make_routing_data

#: Every two-model router of the public API; the baselines first.
BASELINES = (GoldOnlyRouter, PreferenceOnlyRouter, PooledRouter, MeanShiftRouter)
ROUTERS = (*BASELINES, MetaRouter)


@functools.cache
def make_data(n_samples: int, n_features: int, *, seed: int = 0, **kwargs):
    """``make_routing_data`` cached by its arguments (the dataset is immutable)."""
    return make_routing_data(n_samples, n_features, random_state=seed, **kwargs)


@functools.cache
def make_split(
    n_samples: int,
    n_features: int,
    *,
    n_test: int,
    n_gold: int,
    seed: int = 0,
    split_seed: int | None = None,
    **kwargs,
):
    """A cached split of :func:`make_data`; ``split_seed`` defaults to ``seed``."""
    data = make_data(n_samples, n_features, seed=seed, **kwargs)
    split_seed = seed if split_seed is None else split_seed
    return data.split(n_test=n_test, n_gold=n_gold, random_state=split_seed)


def make_noise_judge(n_samples: int = 1500, n_gold: int = 300, *, seed: int = 0):
    """``(X, y, gold)`` where the PB labels are pure noise and 20% of the rows are gold.

    psi = tanh(x0) + 0.5 x1, GS labels psi + N(0, 0.2^2), PB labels 0.3 + N(0, 1): gold-only
    ranks the held-out GS rows better than any router that learns from the PB labels.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, 5))
    psi = np.tanh(X[:, 0]) + 0.5 * X[:, 1]
    gold = np.arange(n_samples) < n_gold
    gold_labels = psi + 0.2 * rng.standard_normal(n_samples)
    y = np.where(gold, gold_labels, 0.3 + rng.standard_normal(n_samples))
    return X, y, gold


def feature_layouts(split) -> dict:
    """The split's test features in the memory layouts a serving path must handle alike."""
    X = split.X_test.to_numpy()
    return {
        "float64": X,
        "float32": X.astype(np.float32),
        "fortran": np.asfortranarray(X),
        "strided": np.repeat(X, 2, axis=1)[:, ::2],
        "one row": X[:1],
    }
