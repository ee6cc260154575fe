"""Multi-model routing data: the container, its split by query, the generator, PandaLM."""

from __future__ import annotations

import fnmatch
import socket
import time
from importlib import resources
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

import metarouter_econml.datasets as datasets
from metarouter_econml.datasets import (
    MultiRoutingDataset,
    MultiRoutingSplit,
    _pandalm,
    load_pandalm_routing,
    make_multi_routing_data,
)

PANDALM_MODELS = ("bloom-7b", "cerebras-gpt-6.7B", "llama-7b", "opt-7b", "pythia-6.9b")


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small matrices: BLAS threads only slow PCA down on a busy machine (10 s instead of 0.2)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def big() -> MultiRoutingDataset:
    """Many queries, all pairs of 4 models: for the statistical checks of the truth."""
    return make_multi_routing_data(n_queries=6000, n_models=4, random_state=3)


@pytest.fixture(scope="module")
def pandalm() -> MultiRoutingDataset:
    return load_pandalm_routing()


def _tiny(**changes):
    """A valid (X, comparisons) pair of 3 queries and 2 models, with ``changes`` to columns."""
    X = pd.DataFrame({"f": [0.0, 1.0, 2.0]})
    comparisons = pd.DataFrame(
        {
            "query": [0, 1, 2, 2],
            "model": ["a", "a", "b", "a"],
            "opponent": ["b", "b", "a", "b"],
            "label": [1.0, -1.0, 0.0, 0.5],
            "gold": [True, False, True, False],
        }
    )
    for name, value in changes.items():
        comparisons[name] = value
    return X, comparisons


def _make(X, comparisons, **kwargs):
    params = {"models": ("a", "b"), "costs": {"a": 1.0, "b": 2.0}, "kind": "pairwise"}
    params.update(kwargs)
    return MultiRoutingDataset(X, comparisons, **params)


def _pair_frame(data: MultiRoutingDataset, *, gold: bool) -> pd.DataFrame:
    rows = data.comparisons[data.comparisons["gold"] == gold]
    return rows.set_index(["query", "model", "opponent"])["label"]


# ------------------------------------------------------------------------------ public API


def test_public_names():
    for name in (
        "MultiRoutingDataset",
        "MultiRoutingSplit",
        "make_multi_routing_data",
        "load_pandalm_routing",
    ):
        assert name in datasets.__all__
        assert hasattr(datasets, name)


# ------------------------------------------------------------------------------ container


def test_container_copies_and_normalises():
    X, comparisons = _tiny()
    comparisons.index = [10, 11, 12, 13]
    comparisons["source"] = ["h", "j", "h", "j"]
    data = _make(X, comparisons)
    X.iloc[0, 0] = 99.0
    comparisons.loc[10, "label"] = 99.0
    assert data.X.iloc[0, 0] == 0.0
    assert data.comparisons["label"].iloc[0] == 1.0
    assert list(data.comparisons.index) == [0, 1, 2, 3]
    assert list(data.comparisons.columns) == [
        "query",
        "model",
        "opponent",
        "label",
        "gold",
        "source",
    ]
    assert data.comparisons["query"].dtype == np.int64
    assert data.comparisons["label"].dtype == np.float64
    assert data.models == ("a", "b") and data.costs == {"a": 1.0, "b": 2.0}
    assert len(data) == data.n_queries == 3 and data.feature_names == ["f"]
    summary = data.summary()
    assert summary.loc["a", "gold_labels"] == 2 and summary.loc["b", "preference_queries"] == 2


def test_container_pointwise_opponent_is_none():
    X, comparisons = _tiny(opponent=[np.nan] * 4)
    data = _make(X, comparisons, kind="pointwise")
    assert data.comparisons["opponent"].isna().all()
    assert data.comparisons["opponent"].tolist() == [None] * 4


@pytest.mark.parametrize(
    ("changes", "kwargs", "error", "match"),
    [
        (
            {"query": [0, 1, 2, 3]},
            {},
            ValueError,
            r"`comparisons\['query'\]` must be row "
            r"positions of `X` \(0 to 2\); got 1 outside, e.g. 3",
        ),
        (
            {"query": [0.0, 1.0, 2.0, 2.0]},
            {},
            TypeError,
            r"`comparisons\['query'\]` must hold "
            r"integer row positions of `X`; got dtype float64",
        ),
        (
            {"model": ["a", "c", "b", "a"]},
            {},
            ValueError,
            r"`comparisons\['model'\]` must hold "
            r"names from `models` \['a', 'b'\]; got 1 other value\(s\), e.g. 'c'",
        ),
        (
            {"opponent": ["b", None, "a", "b"]},
            {},
            ValueError,
            r"must name an `opponent` on "
            r"every row when kind='pairwise'; got 1 row\(s\) without one",
        ),
        (
            {"opponent": ["a", "b", "a", "b"]},
            {},
            ValueError,
            r"two different models on a "
            r"pairwise row; got 1 row\(s\) with model == opponent, e.g. 'a'",
        ),
        (
            {},
            {"kind": "pointwise"},
            ValueError,
            r"must have no `opponent` .* when "
            r"kind='pointwise'; got 4 row\(s\) with one",
        ),
        (
            {"label": [1.0, np.nan, 0.0, 1.0]},
            {},
            ValueError,
            r"`comparisons\['label'\]` must "
            r"be finite; got 1 NaN or infinite value\(s\)",
        ),
        (
            {"label": ["1", "2", "0", "1"]},
            {},
            TypeError,
            r"`comparisons\['label'\]` must be "
            r"numeric; got dtype",
        ),
        (
            {"gold": [1, 0, 1, 0]},
            {},
            TypeError,
            r"`comparisons\['gold'\]` must be boolean .*; "
            r"got dtype int64",
        ),
        (
            {},
            {"kind": "ranked"},
            ValueError,
            r"`kind` must be one of \['pairwise', "
            r"'pointwise'\]; got 'ranked'",
        ),
        (
            {},
            {"models": ("a",)},
            ValueError,
            r"`models` must name at least 2 models; got "
            r"\['a'\]",
        ),
        (
            {},
            {"models": ("a", "a")},
            ValueError,
            r"`models` must be unique; got duplicates "
            r"\['a'\]",
        ),
        (
            {},
            {"models": "ab"},
            TypeError,
            r"`models` must be a sequence of model names \(str\); "
            r"got str 'ab'",
        ),
        (
            {},
            {"costs": {"a": 1.0}},
            ValueError,
            r"`costs` must give one cost per model .* got "
            r"missing \['b'\] and unknown \[\]",
        ),
        (
            {},
            {"costs": {"a": 1.0, "b": -2.0}},
            ValueError,
            r"`costs\['b'\]` must be a finite "
            r"number >= 0; got -2.0",
        ),
        (
            {},
            {"costs": [1.0, 2.0]},
            TypeError,
            r"`costs` must be a mapping from model name to "
            r"cost; got list",
        ),
        (
            {},
            {"quality": pd.DataFrame({"a": [0.0] * 3})},
            ValueError,
            r"`quality` must have one "
            r"column per model of `models` \['a', 'b'\]; got columns \['a'\]",
        ),
        (
            {},
            {"bias": pd.DataFrame({"a": [0.0] * 2, "b": [0.0] * 2})},
            ValueError,
            r"`bias` "
            r"must have one row per row of `X`; got 2 rows for 3",
        ),
        (
            {},
            {"quality": np.zeros((3, 2))},
            TypeError,
            r"`quality` must be a pandas DataFrame "
            r"or None; got ndarray",
        ),
    ],
)
def test_container_bad_input(changes, kwargs, error, match):
    X, comparisons = _tiny(**changes)
    with pytest.raises(error, match=match):
        _make(X, comparisons, **kwargs)


def test_container_bad_frames():
    X, comparisons = _tiny()
    with pytest.raises(TypeError, match=r"`comparisons` must be a pandas DataFrame .* got dict"):
        _make(X, comparisons.to_dict())
    with pytest.raises(
        ValueError,
        match=r"`comparisons` must have the columns .* missing "
        r"\['gold'\]",
    ):
        _make(X, comparisons.drop(columns="gold"))
    with pytest.raises(TypeError, match=r"`X` must be a pandas DataFrame; got ndarray"):
        _make(X.to_numpy(), comparisons)


def test_truth_frames_reordered_to_models():
    X, comparisons = _tiny()
    quality = pd.DataFrame({"b": [1.0, 2.0, 3.0], "a": [0.0, 0.0, 0.0]}, index=[5, 6, 7])
    data = _make(X, comparisons, quality=quality)
    assert list(data.quality.columns) == ["a", "b"]
    assert data.quality["b"].tolist() == [1.0, 2.0, 3.0]
    assert data.quality.index.equals(data.X.index)


# ------------------------------------------------------------------------------ generator


@pytest.mark.parametrize(
    ("kwargs", "n_labels"),
    [
        ({}, 300 * 10 * 2),
        ({"kind": "pointwise"}, 300 * 5 * 2),
        ({"pairs_per_query": 3}, 300 * 3 * 2),
        ({"n_models": 2}, 300 * 1 * 2),
    ],
)
def test_generator_shapes(kwargs, n_labels):
    data = make_multi_routing_data(n_queries=300, n_features=8, random_state=0, **kwargs)
    n_models = kwargs.get("n_models", 5)
    assert data.X.shape == (300, 8)
    assert data.feature_names == [f"pc{j}" for j in range(1, 9)]
    assert data.models == tuple(f"m{k}" for k in range(n_models))
    assert len(data.comparisons) == n_labels
    assert data.quality.shape == data.bias.shape == (300, n_models)
    assert list(data.quality.columns) == list(data.models)
    assert data.kind == kwargs.get("kind", "pairwise")
    assert data.comparisons["gold"].sum() == n_labels // 2
    assert set(data.comparisons["source"]) == {"gold", "judge"}
    per_query = data.comparisons.groupby("query").size()
    assert (per_query == n_labels // 300).all()


def test_generator_names_sort_in_model_order():
    data = make_multi_routing_data(n_queries=20, n_models=12, pairs_per_query=2, random_state=0)
    assert data.models[:3] == ("m00", "m01", "m02")
    assert list(data.models) == sorted(data.models)


def test_generator_pairs_per_query_draws_distinct_pairs():
    data = make_multi_routing_data(n_queries=400, n_models=5, pairs_per_query=3, random_state=1)
    gold = data.comparisons[data.comparisons["gold"]]
    pairs = gold["model"] + "-" + gold["opponent"]
    assert (pairs.groupby(gold["query"]).nunique() == 3).all()
    assert pairs.nunique() == 10  # every pair is used by some query
    assert (gold["model"] < gold["opponent"]).all()  # oriented as models order
    # the same (query, pair) has one GS and one PB row
    keys = data.comparisons.groupby(["query", "model", "opponent"])["gold"].agg(["sum", "size"])
    assert (keys["sum"] == 1).all() and (keys["size"] == 2).all()


def test_generator_all_pairs_equals_none():
    full = make_multi_routing_data(n_queries=50, n_models=4, random_state=2)
    same = make_multi_routing_data(n_queries=50, n_models=4, pairs_per_query=6, random_state=2)
    pd.testing.assert_frame_equal(full.comparisons, same.comparisons)


def test_generator_determinism():
    first = make_multi_routing_data(n_queries=200, random_state=7, pairs_per_query=4)
    second = make_multi_routing_data(n_queries=200, random_state=7, pairs_per_query=4)
    other = make_multi_routing_data(n_queries=200, random_state=8, pairs_per_query=4)
    pd.testing.assert_frame_equal(first.X, second.X)
    pd.testing.assert_frame_equal(first.comparisons, second.comparisons)
    pd.testing.assert_frame_equal(first.quality, second.quality)
    pd.testing.assert_frame_equal(first.bias, second.bias)
    assert first.description == second.description
    assert not np.allclose(first.comparisons["label"], other.comparisons["label"])


def test_generator_truth_pairwise(big):
    """Per pair: E[GS] = psi_i - psi_j, E[PB - a*GS] = b_i - b_j, and the scales differ."""
    a = big.metadata["preference_scale"]
    assert a == 2.0
    gold, pref = _pair_frame(big, gold=True), _pair_frame(big, gold=False)
    quality, bias = big.quality.to_numpy(), big.bias.to_numpy()
    n = len(big)
    for i, j in combinations(range(len(big.models)), 2):
        key = (slice(None), big.models[i], big.models[j])
        g, p = gold.loc[key].to_numpy(), pref.loc[key].to_numpy()
        assert g.size == p.size == n
        psi_diff = quality[:, i] - quality[:, j]
        b_diff = bias[:, i] - bias[:, j]
        # gold_noise = 0.5; preference noise 1.0 plus a * gold noise: sd sqrt(1 + 4 * 0.25)
        assert abs(np.mean(g - psi_diff)) < 4 * 0.5 / np.sqrt(n)
        assert abs(np.mean(p - a * g) - np.mean(b_diff)) < 4 * np.sqrt(2.0) / np.sqrt(n)
        assert abs(np.mean(g) - np.mean(psi_diff)) < 4 * 0.5 / np.sqrt(n)
        # least squares of PB on (psi diff, b diff) recovers (a, 1)
        coef, *_ = np.linalg.lstsq(np.column_stack([psi_diff, b_diff]), p, rcond=None)
        np.testing.assert_allclose(coef, [a, 1.0], atol=0.08)
    # the naive difference PB - GS is not the bias: the scales must be matched
    all_g, all_p = gold.to_numpy(), pref.to_numpy()
    assert np.corrcoef(all_p, all_g)[0, 1] > 0.3
    assert np.std(all_p) / np.std(all_g) > 1.3


def test_generator_truth_pointwise_and_noise_parameters():
    data = make_multi_routing_data(
        n_queries=4000,
        n_models=3,
        kind="pointwise",
        gold_noise=0.2,
        preference_noise=0.3,
        preference_scale=0.5,
        random_state=5,
    )
    table = data.comparisons
    for k, model in enumerate(data.models):
        rows = table[table["model"] == model]
        g = rows.loc[rows["gold"], "label"].to_numpy()
        p = rows.loc[~rows["gold"], "label"].to_numpy()
        psi, b = data.quality[model].to_numpy(), data.bias[model].to_numpy()
        assert np.std(g - psi) == pytest.approx(0.2, rel=0.05)
        assert np.std(p - 0.5 * psi - b) == pytest.approx(0.3, rel=0.05)
        assert abs(np.mean(g - psi)) < 4 * 0.2 / np.sqrt(4000)
        assert k == data.models.index(model)
    noisy = make_multi_routing_data(
        n_queries=4000, n_models=3, kind="pointwise", gold_noise=1.5, random_state=5
    )
    rows = noisy.comparisons[noisy.comparisons["gold"]]
    residual = rows["label"].to_numpy() - noisy.quality.to_numpy().ravel()
    assert np.std(residual) == pytest.approx(1.5, rel=0.05)


def test_generator_exact_without_noise():
    data = make_multi_routing_data(
        n_queries=40,
        n_models=3,
        gold_noise=0.0,
        preference_noise=0.0,
        preference_scale=3.0,
        random_state=0,
    )
    gold, pref = _pair_frame(data, gold=True), _pair_frame(data, gold=False)
    q, b = data.quality, data.bias
    expected_gold = q["m0"] - q["m2"]
    np.testing.assert_allclose(gold.loc[(slice(None), "m0", "m2")], expected_gold)
    np.testing.assert_allclose(
        pref.loc[(slice(None), "m0", "m2")], 3.0 * expected_gold + b["m0"] - b["m2"]
    )


def test_generator_truth_formulas_and_costs(big):
    """Documented formulas of psi and b; costs increase with the mean quality."""
    scales = 1.0 / np.sqrt(np.arange(1, big.n_features + 1))
    z = big.X.to_numpy() / scales
    n_models = len(big.models)
    t = np.arange(n_models) / (n_models - 1)
    theta = 2 * np.pi * np.arange(n_models) / n_models
    for k, model in enumerate(big.models):
        psi = (
            0.5 * t[k]
            + 0.5 * np.tanh(1.5 * (np.cos(theta[k]) * z[:, 0] + np.sin(theta[k]) * z[:, 1]))
            + 0.2 * np.cos(theta[k]) * z[:, 2] * (z[:, 3] > 0)
        )
        b = (
            0.4 * (1 - 2 * t[k])
            + 0.6 * np.cos(theta[k]) * np.tanh(2 * z[:, 4])
            + 0.3 * np.sin(theta[k]) * (z[:, 5] > 0)
        )
        np.testing.assert_allclose(big.quality[model], psi)
        np.testing.assert_allclose(big.bias[model], b)
    mean_quality = big.quality.mean().to_numpy()
    costs = np.array([big.costs[m] for m in big.models])
    assert (np.diff(mean_quality) > 0).all() and (np.diff(costs) > 0).all()
    np.testing.assert_allclose(costs, 16.0 ** (t - 1))
    # routing matters: the best model changes across queries, and the judge's pick differs
    best = big.quality.to_numpy().argmax(axis=1)
    assert np.bincount(best, minlength=n_models).max() < 0.6 * len(big)
    judge = (2.0 * big.quality + big.bias).to_numpy().argmax(axis=1)
    assert (judge != best).mean() > 0.3


@pytest.mark.parametrize(("bias", "expected_std"), [("none", 0.0), ("constant", 0.0)])
def test_generator_simple_biases(bias, expected_std):
    data = make_multi_routing_data(n_queries=50, n_models=3, bias=bias, random_state=0)
    assert data.bias.std().max() == pytest.approx(expected_std, abs=1e-12)
    if bias == "none":
        assert (data.bias.to_numpy() == 0).all()
    else:
        np.testing.assert_allclose(data.bias.iloc[0], [0.4, 0.0, -0.4], atol=1e-12)


def test_generator_few_gold_models():
    kwargs = {"n_queries": 2000, "n_models": 4, "random_state": 4}
    full = make_multi_routing_data(**kwargs)
    few = make_multi_routing_data(few_gold_models=["m3", 0], few_gold_fraction=0.05, **kwargs)
    summary, full_summary = few.summary(), full.summary()
    for model in ("m0", "m3"):
        n_full = full_summary.loc[model, "gold_labels"]
        assert 0 < summary.loc[model, "gold_labels"] < 0.1 * n_full
        assert summary.loc[model, "preference_labels"] == n_full
    # the pair (m1, m2) keeps every GS row; labels are those of the full data (no label changes)
    assert summary.loc["m1", "gold_labels"] < full_summary.loc["m1", "gold_labels"]
    merged = few.comparisons.merge(
        full.comparisons, on=["query", "model", "opponent", "gold"], suffixes=("", "_full")
    )
    assert len(merged) == len(few.comparisons)
    np.testing.assert_array_equal(merged["label"], merged["label_full"])
    gold = few.comparisons[few.comparisons["gold"]]
    m1m2 = gold[(gold["model"] == "m1") & (gold["opponent"] == "m2")]
    assert len(m1m2) == 2000
    assert few.metadata["few_gold_models"] == ("m0", "m3")
    # few gold rows for those models in a split's training set too
    split = few.split(200, 400, random_state=0)
    train_gold = split.comparisons_train[split.comparisons_train["gold"]]
    involving = (train_gold["model"] == "m3") | (train_gold["opponent"] == "m3")
    assert 0 <= involving.sum() < 0.1 * 400 * 3
    kept = make_multi_routing_data(few_gold_models="m1", few_gold_fraction=1.0, **kwargs)
    pd.testing.assert_frame_equal(kept.comparisons, full.comparisons)


def test_generator_is_fast():
    start = time.perf_counter()
    make_multi_routing_data(n_queries=2000, n_models=5, random_state=0)
    make_multi_routing_data(n_queries=2000, n_models=5, kind="pointwise", random_state=0)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_queries": 5}, ValueError, r"`n_queries` must be an int >= 10; got 5"),
        ({"n_queries": 100.0}, TypeError, r"`n_queries` must be an int; got float 100.0"),
        ({"n_models": 1}, ValueError, r"`n_models` must be an int between 2 and 20; got 1"),
        ({"n_features": 5}, ValueError, r"`n_features` must be an int >= 6; got 5"),
        (
            {"kind": "votes"},
            ValueError,
            r"`kind` must be one of \['pairwise', 'pointwise'\]; "
            r"got 'votes'",
        ),
        (
            {"bias": "random"},
            ValueError,
            r"`bias` must be one of \['shared', 'constant', "
            r"'none'\]; got 'random'",
        ),
        (
            {"pairs_per_query": 11},
            ValueError,
            r"`pairs_per_query` must be an int between 1 and "
            r"10 \(the number of pairs\); got 11",
        ),
        (
            {"pairs_per_query": 0},
            ValueError,
            r"`pairs_per_query` must be an int between 1 and "
            r"10",
        ),
        (
            {"pairs_per_query": 2, "kind": "pointwise"},
            ValueError,
            r"`pairs_per_query` must be "
            r"None when kind='pointwise' .*; got 2",
        ),
        (
            {"gold_noise": -0.1},
            ValueError,
            r"`gold_noise` must be a finite number >= 0; got "
            r"-0.1",
        ),
        (
            {"preference_noise": float("nan")},
            ValueError,
            r"`preference_noise` must be a finite "
            r"number >= 0; got nan",
        ),
        (
            {"preference_scale": 0.0},
            ValueError,
            r"`preference_scale` must be a finite number > "
            r"0; got 0.0",
        ),
        (
            {"few_gold_fraction": 1.5},
            ValueError,
            r"`few_gold_fraction` must be a number in "
            r"\[0, 1\]; got 1.5",
        ),
        (
            {"few_gold_models": ["m9"]},
            ValueError,
            r"`few_gold_models` must name models of "
            r"\['m0', .*\]; got unknown name 'm9'",
        ),
        (
            {"few_gold_models": [7]},
            ValueError,
            r"`few_gold_models` must hold model indices "
            r"between 0 and 4; got 7",
        ),
        (
            {"few_gold_models": [1.5]},
            TypeError,
            r"`few_gold_models` must hold model names "
            r"\(str\) or indices \(int\); got float 1.5",
        ),
        (
            {"few_gold_models": 2.0},
            TypeError,
            r"`few_gold_models` must be a model name, an "
            r"index or a sequence of them; got float 2.0",
        ),
    ],
)
def test_generator_bad_input(kwargs, error, match):
    params = {"n_queries": 50, "random_state": 0}
    params.update(kwargs)
    with pytest.raises(error, match=match):
        make_multi_routing_data(**params)


# ------------------------------------------------------------------------------ split


def _split_checks(data: MultiRoutingDataset, split: MultiRoutingSplit, n_test: int, n_gold: int):
    n = len(data)
    assert isinstance(split, MultiRoutingSplit)
    assert split.X_train.shape == (n - n_test, data.n_features)
    assert split.X_test.shape == (n_test, data.n_features)
    assert (np.diff(split.train_index) > 0).all() and (np.diff(split.test_index) > 0).all()
    assert not set(split.train_index) & set(split.test_index)
    assert set(split.train_index) | set(split.test_index) == set(range(n))
    assert split.n_gold == n_gold and split.n_preference == n - n_test - n_gold
    for frame, index in ((split.X_train, split.train_index), (split.X_test, split.test_index)):
        np.testing.assert_array_equal(frame.to_numpy(), data.X.to_numpy()[index])
        assert frame.index.equals(pd.RangeIndex(len(index), name="query"))

    train, test, oracle = (
        split.comparisons_train,
        split.comparisons_test,
        split.oracle_comparisons_train,
    )
    assert train["query"].between(0, len(split.X_train) - 1).all()
    assert test["query"].between(0, len(split.X_test) - 1).all()
    gold_queries = set(train.loc[train["gold"], "query"])
    pref_queries = set(train.loc[~train["gold"], "query"])
    assert not gold_queries & pref_queries  # disjoint query sets
    assert gold_queries <= set(np.flatnonzero(split.gold_train))
    assert pref_queries == set(np.flatnonzero(~split.gold_train))
    assert test["gold"].all() and oracle["gold"].all()
    assert set(oracle["query"]) == set(range(len(split.X_train)))

    # re-indexing: mapping `query` back through train_index/test_index gives dataset rows
    def back(frame, index):
        out = frame.copy()
        out["query"] = index[out["query"].to_numpy()]
        return out

    keys = [name for name in data.comparisons.columns if name != "label"]  # unique per row
    original = data.comparisons.fillna({"opponent": "-"})
    for frame, index, mask in (
        (train, split.train_index, None),
        (
            oracle,
            split.train_index,
            data.comparisons["gold"] & data.comparisons["query"].isin(split.train_index),
        ),
        (
            test,
            split.test_index,
            data.comparisons["gold"] & data.comparisons["query"].isin(split.test_index),
        ),
    ):
        mapped = back(frame, index).fillna({"opponent": "-"})
        merged = mapped.merge(original, on=keys, suffixes=("", "_data"))
        assert len(merged) == len(frame)
        np.testing.assert_array_equal(merged["label"], merged["label_data"])
        if mask is not None:
            assert len(frame) == int(mask.sum())
    n_gold_rows = data.comparisons["gold"] & data.comparisons["query"].isin(
        split.train_index[split.gold_train]
    )
    n_pref_rows = ~data.comparisons["gold"] & data.comparisons["query"].isin(
        split.train_index[~split.gold_train]
    )
    assert len(train) == int(n_gold_rows.sum() + n_pref_rows.sum())


@pytest.mark.parametrize("kind", ["pairwise", "pointwise"])
def test_split_protocol(kind):
    data = make_multi_routing_data(n_queries=120, n_models=4, kind=kind, random_state=0)
    before = data.comparisons.copy(deep=True)
    split = data.split(30, 10, random_state=0)
    _split_checks(data, split, 30, 10)
    pd.testing.assert_frame_equal(data.comparisons, before)  # the dataset is not changed
    expected = data.quality.iloc[split.test_index].reset_index(drop=True)
    np.testing.assert_array_equal(split.quality_test.to_numpy(), expected.to_numpy())
    assert list(split.quality_test.columns) == list(data.models)
    assert split.models == data.models and split.costs == data.costs and split.kind == kind
    assert split.train_index.flags.writeable is False
    assert repr(split) == (
        f"MultiRoutingSplit(kind={kind!r}, n_models=4, n_train=90, n_gold=10, "
        "n_preference=80, n_test=30)"
    )


def test_split_determinism():
    data = make_multi_routing_data(n_queries=100, n_models=3, random_state=0)
    first, second = data.split(20, 10, random_state=5), data.split(20, 10, random_state=5)
    other = data.split(20, 10, random_state=6)
    np.testing.assert_array_equal(first.test_index, second.test_index)
    np.testing.assert_array_equal(first.gold_train, second.gold_train)
    pd.testing.assert_frame_equal(first.comparisons_train, second.comparisons_train)
    assert not np.array_equal(first.test_index, other.test_index)


def test_split_gold_models():
    data = make_multi_routing_data(n_queries=100, n_models=4, random_state=0)
    full = data.split(20, 15, random_state=2)
    limited = data.split(20, 15, random_state=2, gold_models=["m0", 1])
    gold = limited.comparisons_train[limited.comparisons_train["gold"]]
    assert set(zip(gold["model"], gold["opponent"], strict=True)) == {("m0", "m1")}
    assert len(gold) == 15
    pref_full = full.comparisons_train[~full.comparisons_train["gold"]]
    pref_limited = limited.comparisons_train[~limited.comparisons_train["gold"]]
    pd.testing.assert_frame_equal(
        pref_full.reset_index(drop=True), pref_limited.reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(full.oracle_comparisons_train, limited.oracle_comparisons_train)
    pd.testing.assert_frame_equal(full.comparisons_test, limited.comparisons_test)
    pointwise = make_multi_routing_data(n_queries=60, n_models=3, kind="pointwise", random_state=0)
    split = pointwise.split(10, 10, random_state=0, gold_models="m2")
    assert set(split.comparisons_train.loc[split.comparisons_train["gold"], "model"]) == {"m2"}


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((0, 5), {}, ValueError, r"`n_test` must be an int >= 1; got 0"),
        ((5, 1), {}, ValueError, r"`n_gold` must be an int >= 2; got 1"),
        ((5.0, 5), {}, TypeError, r"`n_test` must be an int; got float 5.0"),
        ((True, 5), {}, TypeError, r"`n_test` must be an int; got bool True"),
        (
            (40, 9),
            {},
            ValueError,
            r"`n_test` \+ `n_gold` must leave at least 2 "
            r"preference-based queries \(n_test \+ n_gold \+ 2 <= 50 queries\); got n_test=40 and "
            r"n_gold=9, which leave 1",
        ),
        (
            (5, 5),
            {"gold_models": ["m0"]},
            ValueError,
            r"`gold_models` must name at least 2 "
            r"model\(s\) on pairwise data; got \['m0'\]",
        ),
        (
            (5, 5),
            {"gold_models": ["zz"]},
            ValueError,
            r"`gold_models` must name models of "
            r"\['m0', 'm1', 'm2'\]; got unknown name 'zz'",
        ),
        (
            (5, 5),
            {"gold_models": [None]},
            TypeError,
            r"`gold_models` must hold model names "
            r"\(str\) or indices \(int\); got NoneType None",
        ),
    ],
)
def test_split_bad_input(args, kwargs, error, match):
    data = make_multi_routing_data(n_queries=50, n_models=3, random_state=0)
    with pytest.raises(error, match=match):
        data.split(*args, **kwargs)


# ------------------------------------------------------------------------------ PandaLM


def test_pandalm_packaged_files_and_package_data():
    folder = resources.files("metarouter_econml.datasets") / "data"
    names = {entry.name for entry in folder.iterdir()}
    expected = {
        "pandalm_pairs.csv.gz",
        "pandalm_minilm_l6_v2_query_embeddings.npy",
        "LICENSE_pandalm",
        "PROVENANCE_pandalm.md",
    }
    assert expected <= names
    assert "Apache License" in (folder / "LICENSE_pandalm").read_text(encoding="utf-8")
    provenance = (folder / "PROVENANCE_pandalm.md").read_text(encoding="utf-8")
    for text in ("WeOpenML/PandaLM", "data/testset-v1.json", "Apache-2.0", "response1"):
        assert text in provenance
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.exists():  # a source checkout: the wheel's package data must take the files
        tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
        config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        patterns = config["tool"]["setuptools"]["package-data"]["metarouter_econml.datasets"]
        for name in expected:
            assert any(fnmatch.fnmatch(f"data/{name}", pattern) for pattern in patterns)


def test_pandalm_counts(pandalm):
    data = pandalm
    assert data.kind == "pairwise" and data.name == "pandalm"
    assert data.models == PANDALM_MODELS
    assert data.X.shape == (170, 384)
    assert data.feature_names[:2] == ["emb1", "emb2"]
    np.testing.assert_allclose(np.linalg.norm(data.X.to_numpy(), axis=1), 1.0, atol=1e-5)
    assert data.quality is None and data.bias is None
    table = data.comparisons
    assert table["comparison"].nunique() == 999
    assert table["query"].nunique() == 170
    gold = table[table["gold"]]
    assert len(gold) == 2997
    assert (gold.groupby("comparison").size() == 3).all()
    assert set(gold["source"]) == {"annotator1", "annotator2", "annotator3"}
    pref = table[~table["gold"]]
    assert len(pref) == 974 and set(pref["source"]) == {"gpt-3.5-turbo"}
    assert data.metadata["n_dropped"] == {"gpt-3.5-turbo": 25}
    assert "25 gpt-3.5-turbo verdict(s) dropped" in data.description
    assert set(table["label"]) == {-1.0, 0.0, 1.0}
    pairs = gold.drop_duplicates("comparison").groupby(["model", "opponent"]).size()
    assert len(pairs) == 10 and pairs.between(89, 111).all()
    assert set(data.costs) == set(PANDALM_MODELS)
    assert all(6.5 < cost < 7.5 for cost in data.costs.values())
    # a comparison's rows all sit on one query; queries are numbered by first appearance
    assert (table.groupby("comparison")["query"].nunique() == 1).all()
    first_seen = table.drop_duplicates("query").sort_values("comparison")["query"]
    assert first_seen.tolist() == list(range(170))
    per_query = gold.drop_duplicates("comparison").groupby("query").size()
    assert per_query.min() == 1 and per_query.max() == 10


def test_pandalm_labels_follow_the_files(pandalm):
    raw = _pandalm._read_table()
    table = pandalm.comparisons
    votes = {"1": 1.0, "2": -1.0, "0": 0.0}
    for column in ("annotator1", "annotator2", "annotator3"):
        rows = table[table["source"] == column].set_index("comparison")
        np.testing.assert_array_equal(rows["label"], raw[column].map(votes))
        np.testing.assert_array_equal(rows["model"], raw["model_1"])
        np.testing.assert_array_equal(rows["opponent"], raw["model_2"])
    first = table[table["comparison"] == 0]  # all three humans: response2; gpt: response1
    assert first["label"].tolist() == [-1.0, -1.0, -1.0, 1.0]
    assert first[["model", "opponent"]].iloc[0].tolist() == ["bloom-7b", "llama-7b"]
    ties = raw["judge_gpt35"] == "Tie"
    gpt = table[table["source"] == "gpt-3.5-turbo"].set_index("comparison")["label"]
    assert (gpt.loc[np.flatnonzero(ties)] == 0).all() and ties.sum() == 38
    assert not set(np.flatnonzero(raw["judge_gpt35"] == "garbage")) & set(gpt.index)


def test_pandalm_judges():
    pandalm7b = load_pandalm_routing(judge="pandalm-7b")
    pref = pandalm7b.comparisons[~pandalm7b.comparisons["gold"]]
    assert len(pref) == 999 and set(pref["source"]) == {"pandalm-7b"}
    assert pandalm7b.metadata["n_dropped"] == {"pandalm-7b": 0}
    assert (pref["label"] == 0).sum() == 107
    both = load_pandalm_routing(judge="both")
    pref = both.comparisons[~both.comparisons["gold"]]
    assert len(pref) == 974 + 999
    assert both.metadata["n_dropped"] == {"gpt-3.5-turbo": 25, "pandalm-7b": 0}
    assert len(both.comparisons) == 2997 + 1973


def test_pandalm_pca_and_split():
    data = load_pandalm_routing(n_components=12, random_state=0)
    again = load_pandalm_routing(n_components=12, random_state=0)
    assert data.X.shape == (170, 12) and data.feature_names[0] == "pc1"
    pd.testing.assert_frame_equal(data.X, again.X)
    split = data.split(40, 30, random_state=1)
    _split_checks(data, split, 40, 30)
    assert split.quality_test is None
    test_comparisons = split.comparisons_test["comparison"].nunique()
    assert len(split.comparisons_test) == 3 * test_comparisons


def test_pandalm_needs_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("load_pandalm_routing tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    data = load_pandalm_routing(judge="both", n_components=5, random_state=0)
    assert data.X.shape == (170, 5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"judge": "gpt-4"},
            ValueError,
            r"`judge` must be one of \['gpt-3.5-turbo', "
            r"'pandalm-7b', 'both'\]; got 'gpt-4'",
        ),
        ({"judge": None}, TypeError, r"`judge` must be one of .*; got NoneType None"),
        (
            {"n_components": 171},
            ValueError,
            r"`n_components` must be between 1 and 170 \(the "
            r"number of distinct queries\); got 171",
        ),
        ({"n_components": 0}, ValueError, r"`n_components` must be between 1 and 170"),
        (
            {"n_components": 2.0},
            TypeError,
            r"`n_components` must be an int or None; got float "
            r"2.0",
        ),
        ({"n_components": True}, TypeError, r"`n_components` must be an int or None; got bool"),
    ],
)
def test_pandalm_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_pandalm_routing(**kwargs)


def test_pandalm_damaged_embeddings(monkeypatch, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((999, 384), dtype=np.float32))
    monkeypatch.setattr(_pandalm, "_EMBEDDINGS_NAME", "bad.npy")
    monkeypatch.setattr(_pandalm, "_data_file", lambda name: tmp_path / name)
    with pytest.raises(
        RuntimeError,
        match=r"bad.npy is damaged: expected shape \(170, 384\); "
        r"got \(999, 384\)",
    ):
        _pandalm._read_embeddings()
