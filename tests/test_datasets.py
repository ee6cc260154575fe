"""Tests of metarouter_econml.datasets: containers, split protocol, synthetic truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

import metarouter_econml.datasets as datasets
from metarouter_econml.datasets import RoutingDataset, RoutingSplit, make_routing_data


def _z(data: RoutingDataset) -> np.ndarray:
    """Standardised features, recomputed from the stored frame as documented."""
    scales = 1.0 / np.sqrt(np.arange(1, data.n_features + 1))
    return data.X.to_numpy() / scales


def _psi(z: np.ndarray) -> np.ndarray:
    return (
        0.15
        + 0.35 * np.tanh(1.5 * z[:, 0])
        + 0.25 * z[:, 1] * (z[:, 2] > 0)
        - 0.15 * (z[:, 3] > 1.0)
    )


def _delta(z: np.ndarray, bias: str) -> np.ndarray:
    n = z.shape[0]
    return {
        "heterogeneous": 0.05 + 0.15 * z[:, 0] - 0.25 * z[:, 4] + 0.15 * np.tanh(2 * z[:, 5]),
        "nonlinear": 0.05 + 0.35 * np.tanh(2 * z[:, 0]) * (z[:, 5] > 0) - 0.3 * (z[:, 4] > 0.5),
        "constant": np.full(n, 0.1),
        "regional": 0.05 + (0.15 * z[:, 0] - 0.4 * z[:, 4]) * (z[:, 5] < 0),
        "none": np.zeros(n),
    }[bias]


def _small_dataset(n: int = 20) -> RoutingDataset:
    X = pd.DataFrame({"a": np.arange(n, dtype=float), "b": np.ones(n)})
    return RoutingDataset(X, gold_gain=np.arange(n) / n, preference_label=-np.arange(n) / n)


def _assert_datasets_equal(left: RoutingDataset, right: RoutingDataset) -> None:
    pd.testing.assert_frame_equal(left.X, right.X)
    for field in ("gold_gain", "preference_label", "psi", "delta"):
        np.testing.assert_array_equal(getattr(left, field), getattr(right, field))
    assert left.description == right.description


# --------------------------------------------------------------------------- public API


def test_public_names():
    assert datasets.__all__ == [
        "MultiRoutingDataset",
        "MultiRoutingSplit",
        "RoutingDataset",
        "RoutingSplit",
        "load_gsm8k_routing",
        "load_gsm8k_texts",
        "load_pandalm_routing",
        "load_paper_csv",
        "make_multi_routing_data",
        "make_routing_data",
        "verbosity_judge",
    ]
    for name in datasets.__all__:
        assert hasattr(datasets, name)


# ------------------------------------------------------------------- make_routing_data


def test_shapes_names_and_metadata():
    data = make_routing_data(n_samples=300, n_features=12, random_state=0)
    assert len(data) == 300
    assert data.X.shape == (300, 12)
    assert data.n_features == 12
    assert data.feature_names == [f"pc{j}" for j in range(1, 13)]
    for field in ("gold_gain", "preference_label", "psi", "delta"):
        array = getattr(data, field)
        assert array.shape == (300,)
        assert array.dtype == np.float64
    assert data.name == "synthetic"
    for text in (
        "psi = 0.15 + 0.35*tanh(1.5*z0)",
        "0.15*z0 - 0.25*z4",
        "n_samples=300",
        "preference_scale=2.0",
        "gold_noise=0.8",
    ):
        assert text in data.description
    assert repr(data) == (
        "RoutingDataset(name='synthetic', n_samples=300, n_features=12, psi=known, delta=known)"
    )


def test_default_size_matches_paper():
    data = make_routing_data(random_state=0)
    assert data.X.shape == (5000, 50)


def test_same_seed_same_data_different_seed_different_data():
    first = make_routing_data(n_samples=200, n_features=8, random_state=3)
    second = make_routing_data(n_samples=200, n_features=8, random_state=3)
    _assert_datasets_equal(first, second)
    rng_based = make_routing_data(
        n_samples=200, n_features=8, random_state=np.random.RandomState(3)
    )
    _assert_datasets_equal(first, rng_based)
    other = make_routing_data(n_samples=200, n_features=8, random_state=4)
    assert not np.allclose(first.X.to_numpy(), other.X.to_numpy())
    assert not np.allclose(first.gold_gain, other.gold_gain)


def test_features_look_like_pca_scores():
    data = make_routing_data(n_samples=20000, n_features=10, random_state=0)
    X = data.X.to_numpy()
    expected_sd = 1.0 / np.sqrt(np.arange(1, 11))
    np.testing.assert_allclose(X.std(axis=0), expected_sd, rtol=0.03)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=0.02)
    assert np.all(np.diff(X.var(axis=0)) < 0)  # leading components carry most variance
    corr = np.corrcoef(X, rowvar=False)
    assert np.abs(corr - np.eye(10)).max() < 0.05


@pytest.mark.parametrize("bias", ["heterogeneous", "nonlinear", "constant", "regional", "none"])
def test_truth_relations_hold_exactly_without_noise(bias):
    data = make_routing_data(
        n_samples=500,
        n_features=7,
        bias=bias,
        gold_noise=0.0,
        preference_noise=0.0,
        preference_scale=1.7,
        random_state=1,
    )
    np.testing.assert_array_equal(data.gold_gain, data.psi)
    np.testing.assert_array_equal(data.preference_label, 1.7 * (data.psi - data.delta))


@pytest.mark.parametrize("bias", ["heterogeneous", "nonlinear", "constant", "regional", "none"])
def test_psi_and_delta_follow_documented_formulas(bias):
    data = make_routing_data(n_samples=2000, n_features=9, bias=bias, random_state=2)
    z = _z(data)
    np.testing.assert_allclose(data.psi, _psi(z), rtol=0, atol=1e-12)
    np.testing.assert_allclose(data.delta, _delta(z, bias), rtol=0, atol=1e-12)


def test_noise_residuals_have_requested_moments():
    data = make_routing_data(
        n_samples=50000,
        n_features=6,
        gold_noise=0.3,
        preference_noise=0.7,
        preference_scale=2.5,
        random_state=5,
    )
    gold_residual = data.gold_gain - data.psi
    preference_residual = data.preference_label / 2.5 - (data.psi - data.delta)
    assert abs(gold_residual.mean()) < 0.01
    assert gold_residual.std() == pytest.approx(0.3, rel=0.02)
    assert abs(preference_residual.mean()) < 0.02
    assert preference_residual.std() == pytest.approx(0.7, rel=0.02)
    assert abs(np.corrcoef(gold_residual, preference_residual)[0, 1]) < 0.02


def test_preference_labels_live_on_their_own_scale():
    small = make_routing_data(n_samples=3000, n_features=6, preference_scale=1.0, random_state=0)
    large = make_routing_data(n_samples=3000, n_features=6, preference_scale=4.0, random_state=0)
    np.testing.assert_allclose(large.preference_label, 4.0 * small.preference_label)
    np.testing.assert_array_equal(large.gold_gain, small.gold_gain)


def test_psi_mean_is_positive():
    data = make_routing_data(n_samples=20000, n_features=6, random_state=0)
    assert data.psi.mean() == pytest.approx(0.126, abs=0.01)


def test_heterogeneous_bias_changes_the_ranking():
    hetero = make_routing_data(n_samples=5000, bias="heterogeneous", random_state=0)
    none = make_routing_data(n_samples=5000, bias="none", random_state=0)
    assert hetero.delta.std() > 0.2
    rho_hetero = spearmanr(hetero.psi, hetero.psi - hetero.delta)[0]
    rho_none = spearmanr(none.psi, none.psi - none.delta)[0]
    assert rho_none == pytest.approx(1.0)
    # the judge's ranking of queries agrees only partly with the true one (0.54 here)
    assert rho_hetero < 0.65
    assert rho_hetero < rho_none - 0.3


def test_constant_and_none_bias_keep_the_ranking():
    for bias, value in (("constant", 0.1), ("none", 0.0)):
        data = make_routing_data(n_samples=300, n_features=6, bias=bias, random_state=0)
        np.testing.assert_array_equal(data.delta, np.full(300, value))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 9}, ValueError, r"`n_samples` must be an int >= 10; got 9\."),
        ({"n_features": 5}, ValueError, r"`n_features` must be an int >= 6; got 5\."),
        ({"n_samples": 100.0}, TypeError, r"`n_samples` must be an int; got float"),
        ({"n_features": True}, TypeError, r"`n_features` must be an int; got bool"),
        (
            {"bias": "random"},
            ValueError,
            r"`bias` must be one of \['heterogeneous', 'nonlinear', 'constant', 'regional', "
            r"'none'\]; "
            r"got 'random'\.",
        ),
        (
            {"gold_noise": -0.1},
            ValueError,
            r"`gold_noise` must be a finite number >= 0; got -0\.1\.",
        ),
        (
            {"preference_noise": np.inf},
            ValueError,
            r"`preference_noise` must be a finite number >= 0; got inf\.",
        ),
        (
            {"preference_scale": 0.0},
            ValueError,
            r"`preference_scale` must be a finite number > 0; got 0\.0\.",
        ),
        ({"preference_scale": "2"}, TypeError, r"`preference_scale` must be a real number"),
    ],
)
def test_make_routing_data_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_routing_data(**{"n_samples": 50, "n_features": 6, **kwargs})


# --------------------------------------------------------------------------- split


@pytest.fixture(scope="module")
def synthetic():
    return make_routing_data(n_samples=1000, n_features=10, random_state=0)


def test_split_sizes_disjoint_and_covering(synthetic):
    split = synthetic.split(n_test=200, n_gold=100, random_state=0)
    assert isinstance(split, RoutingSplit)
    assert split.X_train.shape == (800, 10)
    assert split.X_test.shape == (200, 10)
    assert split.n_gold == 100
    assert split.n_preference == 700
    assert split.gold_train.dtype == np.bool_
    assert split.gold_train.sum() == 100
    train, test = split.train_index, split.test_index
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(1000))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    assert repr(split) == "RoutingSplit(n_train=800, n_gold=100, n_preference=700, n_test=200)"


def test_split_labels_come_from_the_right_rows(synthetic):
    split = synthetic.split(n_test=200, n_gold=100, random_state=1)
    train, test, gold = split.train_index, split.test_index, split.gold_train
    pd.testing.assert_frame_equal(split.X_train, synthetic.X.iloc[train])
    pd.testing.assert_frame_equal(split.X_test, synthetic.X.iloc[test])
    np.testing.assert_array_equal(split.y_train[gold], synthetic.gold_gain[train][gold])
    np.testing.assert_array_equal(split.y_train[~gold], synthetic.preference_label[train][~gold])
    np.testing.assert_array_equal(split.gold_gain_train, synthetic.gold_gain[train])
    np.testing.assert_array_equal(split.preference_label_train, synthetic.preference_label[train])
    np.testing.assert_array_equal(split.gain_test, synthetic.gold_gain[test])
    np.testing.assert_array_equal(split.psi_test, synthetic.psi[test])


def test_split_is_a_function_of_the_seed(synthetic):
    first = synthetic.split(n_test=100, n_gold=50, random_state=7)
    second = synthetic.split(n_test=100, n_gold=50, random_state=7)
    for field in dataclasses.fields(RoutingSplit):
        left, right = getattr(first, field.name), getattr(second, field.name)
        if isinstance(left, pd.DataFrame):
            pd.testing.assert_frame_equal(left, right)
        else:
            np.testing.assert_array_equal(left, right)
    other = synthetic.split(n_test=100, n_gold=50, random_state=8)
    assert not np.array_equal(first.test_index, other.test_index)
    assert not np.array_equal(first.gold_train, other.gold_train)


def test_split_without_truth_has_no_psi_test():
    split = _small_dataset().split(n_test=5, n_gold=3, random_state=0)
    assert split.psi_test is None
    assert split.n_gold == 3 and split.n_preference == 12


def test_split_smallest_allowed():
    split = _small_dataset(10).split(n_test=6, n_gold=2, random_state=0)
    assert (split.n_gold, split.n_preference, len(split.X_test)) == (2, 2, 6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_test": 0, "n_gold": 5}, ValueError, r"`n_test` must be an int >= 1; got 0\."),
        ({"n_test": 5, "n_gold": 1}, ValueError, r"`n_gold` must be an int >= 2; got 1\."),
        ({"n_test": 5.0, "n_gold": 5}, TypeError, r"`n_test` must be an int; got float"),
        ({"n_test": 5, "n_gold": True}, TypeError, r"`n_gold` must be an int; got bool"),
        (
            {"n_test": 10, "n_gold": 9},
            ValueError,
            r"`n_test` \+ `n_gold` must leave at least 2 preference-based rows "
            r"\(n_test \+ n_gold \+ 2 <= 20 rows\); got n_test=10 and n_gold=9, which leave 1\.",
        ),
    ],
)
def test_split_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        _small_dataset(20).split(random_state=0, **kwargs)


def test_split_accepts_numpy_integers():
    split = _small_dataset(20).split(n_test=np.int64(5), n_gold=np.int32(4), random_state=0)
    assert split.n_gold == 4 and len(split.test_index) == 5


def test_split_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        _small_dataset().split(5, 3)  # type: ignore[misc]


# ------------------------------------------------------------------ RoutingDataset


def test_routing_dataset_basic_and_to_frame():
    data = make_routing_data(n_samples=50, n_features=6, random_state=0)
    frame = data.to_frame()
    assert frame.columns.tolist() == data.feature_names + [
        "gold_gain",
        "preference_label",
        "psi",
        "delta",
    ]
    np.testing.assert_array_equal(frame["psi"].to_numpy(), data.psi)
    frame.iloc[0, 0] = 123.0
    frame.loc[0, "gold_gain"] = 123.0
    assert data.X.iloc[0, 0] != 123.0
    assert data.gold_gain[0] != 123.0
    small = _small_dataset()
    assert small.to_frame().columns.tolist() == ["a", "b", "gold_gain", "preference_label"]
    assert repr(small) == (
        "RoutingDataset(name='routing', n_samples=20, n_features=2, psi=unknown, delta=unknown)"
    )


def test_routing_dataset_converts_labels_to_float64_copies():
    X = pd.DataFrame({"a": [1, 2, 3]})
    gold = [1, 0, 1]
    data = RoutingDataset(X, gold_gain=gold, preference_label=np.array([0.5, 0.5, 0.5]))
    assert data.gold_gain.dtype == np.float64
    assert data.X["a"].dtype == X["a"].dtype


X_OK = pd.DataFrame({"pc1": [0.0, 1.0, 2.0], "pc2": [1.0, 1.0, 1.0]})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"gold_gain": [1.0, 2.0]},
            ValueError,
            r"`gold_gain` must have one entry per row of `X`; got 2 entries for 3 rows\.",
        ),
        (
            {"preference_label": np.zeros(4)},
            ValueError,
            r"`preference_label` must have one entry per row of `X`; got 4 entries for 3 rows\.",
        ),
        ({"psi": np.zeros(2)}, ValueError, r"`psi` must have one entry per row of `X`"),
        (
            {"gold_gain": [1.0, np.nan, 2.0]},
            ValueError,
            r"`gold_gain` must be finite; got 1 NaN or infinite value\(s\)\.",
        ),
        ({"delta": [np.inf, 0.0, 0.0]}, ValueError, r"`delta` must be finite"),
        (
            {"preference_label": np.zeros((3, 1))},
            ValueError,
            r"`preference_label` must be one-dimensional; got an array of shape \(3, 1\)\.",
        ),
        ({"gold_gain": ["a", "b", "c"]}, TypeError, r"`gold_gain` must hold numbers"),
        ({"X": X_OK.to_numpy()}, TypeError, r"`X` must be a pandas DataFrame; got ndarray\."),
        (
            {"X": pd.DataFrame([[1.0, 2.0]] * 3, columns=["a", "a"])},
            ValueError,
            r"`X` must have unique column names; got duplicates \['a'\]\.",
        ),
        ({"X": pd.DataFrame([[1.0, 2.0]] * 3)}, TypeError, r"`X` must have string column names"),
        (
            {"X": X_OK.assign(pc2=[1.0, np.nan, 1.0])},
            ValueError,
            r"`X` must be finite; got 1 NaN or infinite value\(s\) in column\(s\) \['pc2'\]\.",
        ),
        (
            {"X": X_OK.assign(pc2=["x", "y", "z"])},
            TypeError,
            r"`X` must have numeric columns; got non-numeric column\(s\) \['pc2'\]\.",
        ),
        ({"X": X_OK.assign(psi=1.0)}, ValueError, r"`X` must not use the label column names"),
        ({"X": X_OK.iloc[:0]}, ValueError, r"`X` must have at least 1 row and 1 column"),
        ({"name": 3}, TypeError, r"`name` must be a str; got int\."),
    ],
)
def test_routing_dataset_validation(kwargs, error, match):
    arguments = {"X": X_OK, "gold_gain": [0.1, 0.2, 0.3], "preference_label": [1.0, 0.0, 1.0]}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        RoutingDataset(**arguments)


def test_inputs_are_not_mutated_and_not_shared():
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1, 2, 3, 4]}, index=[10, 11, 12, 13])
    gold = np.array([0.1, 0.2, 0.3, 0.4])
    preference = np.array([1.0, -1.0, 1.0, -1.0])
    psi = np.array([0.0, 0.1, 0.2, 0.3])
    X_before, gold_before = X.copy(deep=True), gold.copy()
    data = RoutingDataset(X, gold_gain=gold, preference_label=preference, psi=psi)
    pd.testing.assert_frame_equal(X, X_before)
    np.testing.assert_array_equal(gold, gold_before)
    assert gold.flags.writeable and psi.flags.writeable  # the user's arrays stay writeable
    # later changes to the inputs do not reach the dataset
    X.iloc[0, 0] = 99.0
    gold[0] = 99.0
    psi[0] = 99.0
    assert data.X.iloc[0, 0] == 0.0
    assert data.gold_gain[0] == 0.1
    assert data.psi[0] == 0.0
    assert data.X.index.tolist() == [10, 11, 12, 13]


def test_split_does_not_change_the_dataset(synthetic):
    X_before = synthetic.X.copy(deep=True)
    gold_before = synthetic.gold_gain.copy()
    split = synthetic.split(n_test=100, n_gold=50, random_state=0)
    split.X_train.iloc[0, 0] = 1e6
    pd.testing.assert_frame_equal(synthetic.X, X_before)
    np.testing.assert_array_equal(synthetic.gold_gain, gold_before)


def test_dataset_and_split_are_immutable(synthetic):
    with pytest.raises(dataclasses.FrozenInstanceError):
        synthetic.gold_gain = np.zeros(len(synthetic))  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        synthetic.name = "other"  # type: ignore[misc]
    for field in ("gold_gain", "preference_label", "psi", "delta"):
        array = getattr(synthetic, field)
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1.0
    split = synthetic.split(n_test=100, n_gold=50, random_state=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        split.y_train = np.zeros(3)  # type: ignore[misc]
    for field in (
        "y_train",
        "gold_train",
        "gain_test",
        "psi_test",
        "gold_gain_train",
        "preference_label_train",
        "train_index",
        "test_index",
    ):
        assert not getattr(split, field).flags.writeable, field


def test_routing_split_validates_lengths():
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0]})
    with pytest.raises(ValueError, match=r"`y_train` must have one entry per row of `X_train`"):
        RoutingSplit(
            X_train=X,
            y_train=np.zeros(2),
            gold_train=np.array([True, False, False]),
            X_test=X,
            gain_test=np.zeros(3),
            psi_test=None,
            gold_gain_train=np.zeros(3),
            preference_label_train=np.zeros(3),
            train_index=np.arange(3),
            test_index=np.arange(3),
        )
    with pytest.raises(TypeError, match=r"`gold_train` must be a boolean mask"):
        RoutingSplit(
            X_train=X,
            y_train=np.zeros(3),
            gold_train=np.array([1, 0, 0]),
            X_test=X,
            gain_test=np.zeros(3),
            psi_test=None,
            gold_gain_train=np.zeros(3),
            preference_label_train=np.zeros(3),
            train_index=np.arange(3),
            test_index=np.arange(3),
        )
