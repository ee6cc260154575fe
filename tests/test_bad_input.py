"""Bad-input catalogue: what the routers do with malformed, degenerate or hostile input.

This file is the one place where the whole catalogue is visible (some cases repeat checks of
``tests/test_router.py`` and ``tests/test_data.py`` so that it is complete here). Every case gets
either

* an error whose message names the argument (`X`, `y`, `gold`, `cost_weight`, ...) and the
  offending value, count or column, raised by this package (not from deep inside numpy,
  scikit-learn, EconML or LightGBM: ``_assert_raised_by_us`` checks the last traceback frame), or
* a warning that says what happened and what to do, after which the predictions are finite, or
* a documented answer when the input is legitimate (e.g. constant labels with
  ``gold_scale="none"`` give a flat psi; an empty batch routes nothing).

Inputs are never modified, read-only arrays work, and DataFrame column names reach the errors.
The adapters of ``metarouter_econml._validation`` also get property-based tests (hypothesis).
"""

import copy
import importlib.util
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import BASELINES, ROUTERS, make_split
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import BaseEstimator

import metarouter_econml
from metarouter_econml import (
    GoldOnlyRouter,
    MeanShiftRouter,
    MetaRouter,
    PooledRouter,
    PreferenceOnlyRouter,
)
from metarouter_econml._estimation import gold_scale_factor
from metarouter_econml._validation import check_features, check_gold_mask, check_labels

PACKAGE_DIR = Path(metarouter_econml.__file__).resolve().parent
# derandomize: the same examples on every run, so CI is deterministic (and no example database)
FAST_HYPOTHESIS = settings(max_examples=50, deadline=None, derandomize=True, database=None)
NO_FEATURE_NAMES = (
    "X does not have valid feature names, but MetaRouter was fitted with feature names"
)

N_TRAIN, N_GOLD, N_TEST = 300, 40, 100  # 260 preference-based (PB) rows; features pc1..pc6


@pytest.fixture(scope="module")
def split():
    return make_split(N_TRAIN + N_TEST, 6, n_test=N_TEST, n_gold=N_GOLD)  # 6: the minimum


@pytest.fixture(scope="module")
def fitted(split):
    """A MetaRouter fitted on the DataFrame split, shared by the predict-time cases."""
    return MetaRouter(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)


@pytest.fixture(scope="module")
def fitted_trim(split):
    return MetaRouter(overlap="trim", random_state=0).fit(
        split.X_train, split.y_train, gold=split.gold_train
    )


def _assert_raised_by_us(excinfo):
    """The exception comes from this package's own checks, not from inside a dependency."""
    origin = Path(str(excinfo.traceback[-1].path)).resolve()
    assert PACKAGE_DIR in origin.parents, f"raised from {origin}"


def _finite_predictions(router, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. missing feature names
        psi = router.predict(X)
    assert psi.shape == (len(X),)
    assert np.all(np.isfinite(psi))
    return psi


# ------------------------------------------------------------------------------------------------
# Fit-time catalogue: (id, build, error, regex). `build(X, y, gold)` gets copies of the training
# DataFrame (pc1..pc6), labels and mask and returns the bad (X, y, gold). Every regex names the
# argument and the offending value, count or column.
# ------------------------------------------------------------------------------------------------
def _set(X, column, rows, value):
    X = X.copy()
    X.loc[X.index[rows], column] = value
    return X


def _gold_count(gold, n):
    mask = np.zeros_like(gold)
    mask[:n] = True
    return mask


def _text_array(X):
    values = X.to_numpy().astype(object)
    values[:, 2] = "high"
    return values


def _ragged(X):
    rows = X.to_numpy().tolist()
    rows[0] = rows[0][:-1]
    return rows


def _nullable_gold_with_na(gold):
    mask = pd.array(gold, dtype="boolean")
    mask[4] = pd.NA
    return mask


FIT_CASES = [
    # non-finite values: counted, columns named (DataFrame names, 0-based indices for arrays)
    (
        "nan_in_X",
        lambda X, y, g: (_set(X, "pc2", [3, 5, 7], np.nan), y, g),
        ValueError,
        r"^`X` must be finite; got 3 NaN or infinite values in columns \['pc2'\]",
    ),
    (
        "inf_in_X",
        lambda X, y, g: (_set(X, "pc4", [0], np.inf), y, g),
        ValueError,
        r"^`X` must be finite; got 1 NaN or infinite values in columns \['pc4'\]",
    ),
    (
        "nan_and_inf_in_ndarray",
        lambda X, y, g: (_set(X, "pc3", [1], -np.inf).assign(pc6=np.nan).to_numpy(), y, g),
        ValueError,
        rf"^`X` must be finite; got {N_TRAIN + 1} NaN or infinite values in columns \[2, 5\]",
    ),
    (
        "missing_in_nullable_column",
        lambda X, y, g: (
            X.astype("Float64").assign(pc3=lambda f: f["pc3"].mask(np.arange(len(f)) < 2)),
            y,
            g,
        ),
        ValueError,
        r"^`X` must be finite; got 2 NaN or infinite values in columns \['pc3'\]",
    ),
    # pandas labels whose index does not match X's: matching by position would misalign them
    (
        "y_series_index_not_X_index",
        lambda X, y, g: (X, pd.Series(y, index=X.index[::-1]), g),
        ValueError,
        rf"^`y` and `X` have different indexes \({N_TRAIN} of {N_TRAIN} positions differ; first at "
        r"position 0: `X` has \d+, `y` has \d+\).*`y.loc\[X.index\]`",
    ),
    (
        "gold_series_index_shifted",
        lambda X, y, g: (X, y, pd.Series(g, index=X.index + 1)),
        ValueError,
        r"^`gold` and `X` have different indexes .*`gold.loc\[X.index\]`",
    ),
    (
        "nan_in_y",
        lambda X, y, g: (X, np.where(np.arange(N_TRAIN) < 2, np.nan, y), g),
        ValueError,
        r"^`y` must be finite; got 2 NaN or infinite labels",
    ),
    (
        "inf_in_y",
        lambda X, y, g: (X, np.r_[y[:-1], -np.inf], g),
        ValueError,
        r"^`y` must be finite; got 1 NaN or infinite labels",
    ),
    # lengths
    (
        "X_y_length_mismatch",
        lambda X, y, g: (X, y[:-1], g),
        ValueError,
        rf"`X` and `y` must have the same number of rows; got {N_TRAIN} and {N_TRAIN - 1}",
    ),
    (
        "X_gold_length_mismatch",
        lambda X, y, g: (X, y, np.r_[g, False]),
        ValueError,
        rf"`X` and `gold` must have the same number of rows; got {N_TRAIN} and {N_TRAIN + 1}",
    ),
    # too few rows of either source
    (
        "zero_gold_rows",
        lambda X, y, g: (X, y, np.zeros_like(g)),
        ValueError,
        r"^`gold` must mark at least 2 gold-standard rows; got 0",
    ),
    (
        "one_gold_row",
        lambda X, y, g: (X, y, _gold_count(g, 1)),
        ValueError,
        r"^`gold` must mark at least 2 gold-standard rows; got 1",
    ),
    (
        "every_row_gold",
        lambda X, y, g: (X, y, np.ones_like(g)),
        ValueError,
        r"^`gold` must leave at least 2 preference-based rows \(False\); got 0",
    ),
    (
        "one_preference_row",
        lambda X, y, g: (X, y, ~_gold_count(g, 1)),
        ValueError,
        r"^`gold` must leave at least 2 preference-based rows \(False\); got 1",
    ),
    # constant labels: the default variance scale cannot match a zero spread (see below for "none")
    (
        "constant_labels",
        lambda X, y, g: (X, np.ones_like(y), g),
        ValueError,
        rf"^`gold_scale='variance'` needs gold labels that vary; all {N_GOLD} gold labels "
        r"equal 1\.0",
    ),
    (
        "constant_gold_labels",
        lambda X, y, g: (X, np.where(g, 0.5, y), g),
        ValueError,
        rf"^`gold_scale='variance'` needs gold labels that vary; all {N_GOLD} gold labels "
        r"equal 0\.5",
    ),
    (
        "constant_preference_labels",
        lambda X, y, g: (X, np.where(g, y, -1.0), g),
        ValueError,
        rf"^`gold_scale='variance'` needs preference labels that vary; all {N_TRAIN - N_GOLD} "
        r"preference labels equal -1\.0",
    ),
    (
        "labels_overflow_the_scale",
        lambda X, y, g: (X, np.where(g, y * 1e307, y), g),
        ValueError,
        r"^`gold_scale='variance'` gave the scale factor 0\.0, which is not a finite positive",
    ),
    # gold masks that are not clean booleans are refused, not guessed at
    (
        "gold_int_0_1",
        lambda X, y, g: (X, y, g.astype(int)),
        TypeError,
        r"^`gold` must be a boolean mask .*got dtype int64\. If 1 marks gold rows, pass "
        r"`gold == 1`",
    ),
    (
        "gold_float",
        lambda X, y, g: (X, y, g.astype(float)),
        TypeError,
        r"^`gold` must be a boolean mask .*got dtype float64",
    ),
    (
        "gold_strings",
        lambda X, y, g: (X, y, np.where(g, "True", "False")),
        TypeError,
        r"^`gold` must be a boolean mask .*got dtype <U5",
    ),
    (
        "gold_string_series",
        lambda X, y, g: (X, y, pd.Series(np.where(g, "True", "False"))),
        TypeError,
        r"^`gold` must be a boolean mask .*got dtype (str|object)",
    ),
    (
        "gold_object_bools",
        lambda X, y, g: (X, y, g.astype(object)),
        TypeError,
        r"^`gold` must be a boolean mask .*got dtype object",
    ),
    (
        "gold_nullable_with_NA",
        lambda X, y, g: (X, y, pd.Series(_nullable_gold_with_na(g))),
        ValueError,
        r"^`gold` must not contain missing values; got 1",
    ),
    (
        "gold_boolean_array_with_NA",
        lambda X, y, g: (X, y, _nullable_gold_with_na(g)),
        ValueError,
        r"^`gold` must not contain missing values; got 1",
    ),
    (
        "gold_2d",
        lambda X, y, g: (X, y, g[:, None]),
        ValueError,
        rf"^`gold` must be a 1-D boolean mask; got an array of shape \({N_TRAIN}, 1\)",
    ),
    (
        "gold_scalar",
        lambda X, y, g: (X, y, True),
        ValueError,
        r"^`gold` must be a 1-D boolean mask; got an array of shape \(\)",
    ),
    # non-numeric features
    (
        "X_all_strings",
        lambda X, y, g: (X.astype(str), y, g),
        TypeError,
        r"^`X` must contain only numeric features; "
        r"columns \['pc1', 'pc2', 'pc3', 'pc4', 'pc5', 'pc6'\] "
        r"are not numeric",
    ),
    (
        "X_text_column",
        lambda X, y, g: (X.assign(prompt="Solve 2 + 2"), y, g),
        TypeError,
        r"^`X` must contain only numeric features; columns \['prompt'\] are not numeric "
        r"\(dtypes \['(str|object)'\]\)",
    ),
    (
        "X_categorical_column",
        lambda X, y, g: (X.assign(pc1=pd.Categorical(np.arange(N_TRAIN) % 3)), y, g),
        TypeError,
        r"columns \['pc1'\] are not numeric \(dtypes \['category'\]\)",
    ),
    (
        "X_bool_column",
        lambda X, y, g: (X.assign(is_gold=g), y, g),
        TypeError,
        r"columns \['is_gold'\] are not numeric \(dtypes \['bool'\]\).*cast boolean flags",
    ),
    (
        "X_string_ndarray",
        lambda X, y, g: (X.to_numpy().astype(str), y, g),
        TypeError,
        r"^`X` must contain only numeric features; columns \[0, 1, 2, 3, 4, 5\] \(0-based\)",
    ),
    (
        "X_object_ndarray_with_text",
        lambda X, y, g: (_text_array(X), y, g),
        TypeError,
        r"^`X` must contain only numeric features; columns \[2\] \(0-based\) of the object array",
    ),
    (
        "X_complex",
        lambda X, y, g: (X.to_numpy() + 1j, y, g),
        ValueError,  # a value problem, as in scikit-learn (its estimator checks test it)
        r"^`X` must be real\. Complex data not supported: columns \[0, 1, 2, 3, 4, 5\] "
        r"\(0-based\) of the complex128",
    ),
    # column names
    (
        "X_duplicated_columns",
        lambda X, y, g: (X.set_axis(["pc1", "pc2", "pc1", "pc4", "pc5", "pc6"], axis=1), y, g),
        ValueError,
        r"^`X` has duplicated column names \['pc1'\]",
    ),
    # (mixed string/int column labels are names like any other: see
    # test_non_string_column_labels_are_matched_by_name)
    # shapes
    (
        "X_1d",
        lambda X, y, g: (X["pc1"].to_numpy(), y, g),
        ValueError,
        r"^`X` must be a 2-D array of shape \(n_samples, n_features\); "
        rf"got a 1-D array of shape \({N_TRAIN},\)",
    ),
    (
        "X_series",
        lambda X, y, g: (X["pc1"], y, g),
        ValueError,
        rf"^`X` must be a 2-D array or DataFrame .*got a Series of length {N_TRAIN}\. Pass one "
        r"query as `X\.to_frame\(\)\.T`",
    ),
    (
        "X_3d",
        lambda X, y, g: (X.to_numpy()[:, :, None], y, g),
        ValueError,
        rf"^`X` must be a 2-D array .*got a 3-D array of shape \({N_TRAIN}, 6, 1\)",
    ),
    (
        "X_scalar",
        lambda X, y, g: (3.0, y, g),
        ValueError,
        r"^`X` must be a 2-D array .*got a 0-D array of shape \(\)",
    ),
    (
        "X_ragged_lists",
        lambda X, y, g: (_ragged(X), y, g),
        ValueError,
        r"^`X` must be a 2-D array of shape \(n_samples, n_features\): .*inhomogeneous shape",
    ),
    (
        "X_no_rows",
        lambda X, y, g: (X.iloc[:0], y[:0], g[:0]),
        ValueError,
        r"^`X` must have at least 1 row; got 0 \(shape \(0, 6\)\)",
    ),
    (
        "X_no_columns",
        lambda X, y, g: (X.iloc[:, :0], y, g),
        ValueError,
        rf"^`X` must have at least 1 column; got 0 feature\(s\) \(shape=\({N_TRAIN}, 0\)\)",
    ),
    (
        "X_sparse",
        lambda X, y, g: (sp.csr_matrix(X.to_numpy()), y, g),
        TypeError,
        r"^`X` is not a valid feature matrix: Sparse data was passed",
    ),
    # labels
    (
        "y_2_columns",
        lambda X, y, g: (X, np.c_[y, y], g),
        ValueError,
        rf"^`y` must be a 1-D array of labels: .*shape \({N_TRAIN}, 2\)",
    ),
    (
        "y_scalar",
        lambda X, y, g: (X, 1.0, g),
        ValueError,
        r"^`y` must be a 1-D array of labels: .*got scalar",
    ),
    (
        "y_strings",
        lambda X, y, g: (X, y.astype(str), g),
        TypeError,
        r"^`y` must be numeric labels; got dtype <U",
    ),
    (
        "y_string_series",
        lambda X, y, g: (X, pd.Series(y.astype(str)), g),
        TypeError,
        r"^`y` must be numeric labels; got dtype object",
    ),
    (
        "y_bool",
        lambda X, y, g: (X, y > 0, g),
        TypeError,
        r"^`y` must be numeric labels; got dtype bool",
    ),
    (
        "y_complex",
        lambda X, y, g: (X, y + 1j, g),
        ValueError,
        r"^`y` must be real labels\. Complex data not supported: got dtype complex128",
    ),
]


@pytest.mark.parametrize("cls", ROUTERS)
@pytest.mark.parametrize(
    ("build", "error", "match"),
    [pytest.param(build, error, match, id=case_id) for case_id, build, error, match in FIT_CASES],
)
def test_fit_refuses_bad_input(split, cls, build, error, match):
    X, y, gold = build(split.X_train.copy(), split.y_train.copy(), split.gold_train.copy())
    router = cls(random_state=0)
    with pytest.raises(error, match=match) as excinfo:
        router.fit(X, y, gold=gold)
    _assert_raised_by_us(excinfo)
    assert not hasattr(router, "router_model_")


@pytest.mark.parametrize("cls", ROUTERS)
def test_constant_labels_with_no_rescaling_give_a_flat_psi(split, cls):
    # Constant labels are legitimate with gold_scale="none" (no spread is needed): nothing can be
    # learnt, so every router must predict the constant itself, a flat psi, not an error.
    router = cls(gold_scale="none", random_state=0).fit(
        split.X_train, np.full(N_TRAIN, 0.25), gold=split.gold_train
    )
    np.testing.assert_allclose(_finite_predictions(router, split.X_test), 0.25, atol=1e-9)


@pytest.mark.parametrize("cls", ROUTERS)
@pytest.mark.parametrize("source", ["gold", "preference"])
def test_constant_labels_of_one_source_fit_with_no_rescaling(split, cls, source):
    # With gold_scale="none" one constant source is a legitimate input (e.g. a judge that always
    # says "tie"); only the variance scale needs both sources to vary (refused in the catalogue).
    constant = split.gold_train if source == "gold" else ~split.gold_train
    y = np.where(constant, 0.5, split.y_train)
    router = cls(gold_scale="none", random_state=0).fit(split.X_train, y, gold=split.gold_train)
    psi = _finite_predictions(router, split.X_test)
    if cls is GoldOnlyRouter and source == "gold":
        np.testing.assert_allclose(psi, 0.5)  # trained on the constant GS labels only
    if cls is PreferenceOnlyRouter and source == "preference":
        np.testing.assert_allclose(psi, 0.5)


# Inputs that must work, and give the same router as the plain ndarray / bool-mask version.
WORKS = [
    ("X_list_of_lists", lambda X, y, g: (X.tolist(), y, g)),
    ("X_object_array_of_floats", lambda X, y, g: (X.astype(object), y, g)),
    ("X_fortran_order", lambda X, y, g: (np.asfortranarray(X), y, g)),
    ("y_column_vector", lambda X, y, g: (X, y[:, None], g)),
    ("y_list", lambda X, y, g: (X, y.tolist(), g)),
    ("y_series_other_index", lambda X, y, g: (X, pd.Series(y, index=np.arange(N_TRAIN) + 1000), g)),
    ("y_int", lambda X, y, g: (X, np.round(4 * y).astype(int), g)),
    ("gold_list", lambda X, y, g: (X, y, g.tolist())),
    ("gold_series", lambda X, y, g: (X, y, pd.Series(g))),
    ("gold_nullable_boolean", lambda X, y, g: (X, y, pd.Series(g, dtype="boolean"))),
    ("gold_boolean_array", lambda X, y, g: (X, y, pd.array(g, dtype="boolean"))),
    ("gold_pyarrow_bool", lambda X, y, g: (X, y, pd.Series(g, dtype="bool[pyarrow]"))),
]


_NO_PYARROW = pytest.mark.skipif(
    importlib.util.find_spec("pyarrow") is None, reason="pandas needs pyarrow for bool[pyarrow]"
)


@pytest.mark.parametrize(
    ("build"),
    [
        pytest.param(build, id=case_id, marks=_NO_PYARROW if "pyarrow" in case_id else ())
        for case_id, build in WORKS
    ],
)
def test_equivalent_inputs_give_the_same_router(split, build):
    # All routers share this validation; PooledRouter is the quickest to compare.
    X, y, gold = split.X_train.to_numpy(), split.y_train, split.gold_train
    X_bad, y_bad, gold_bad = build(X.copy(), y.copy(), gold.copy())
    if isinstance(y_bad, np.ndarray) and y_bad.dtype.kind == "i":
        y = y_bad.astype(float)  # the reference sees the same (rounded) labels
    reference = PooledRouter(random_state=0).fit(X, y, gold=gold).predict(split.X_test.to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either
        router = PooledRouter(random_state=0).fit(X_bad, y_bad, gold=gold_bad)
        np.testing.assert_array_equal(router.predict(split.X_test.to_numpy()), reference)


def test_equivalent_inputs_give_the_same_meta_router(split):
    X, y, gold = split.X_train.to_numpy(), split.y_train, split.gold_train
    X_test = split.X_test.to_numpy()
    reference = MetaRouter(random_state=0).fit(X, y, gold=gold)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        router = MetaRouter(random_state=0).fit(
            X.tolist(), y[:, None], gold=pd.Series(gold, dtype="boolean")
        )
    np.testing.assert_array_equal(router.predict(X_test.tolist()), reference.predict(X_test))
    np.testing.assert_array_equal(router.estimate_bias(X_test), reference.estimate_bias(X_test))


def test_float32_features_work(split):
    X = split.X_train.astype(np.float32)
    router = MetaRouter(random_state=0).fit(X, split.y_train, gold=split.gold_train)
    _finite_predictions(router, split.X_test.astype(np.float32))
    _finite_predictions(router, split.X_test)  # float64 at predict is fine too


# ------------------------------------------------------------------------------------------------
# Few gold-standard rows, extreme imbalance, no overlap
# ------------------------------------------------------------------------------------------------
def test_two_gold_rows_fit_every_router_with_warnings_for_the_meta_router(split):
    gold = _gold_count(split.gold_train, 2)
    for cls in BASELINES:  # the minimum is accepted; the baselines have no bias to estimate
        _finite_predictions(
            cls(random_state=0).fit(split.X_train, split.y_train, gold=gold), split.X_test
        )
    with pytest.warns(UserWarning) as record:
        router = MetaRouter(random_state=0).fit(split.X_train, split.y_train, gold=gold)
    messages = [str(w.message) for w in record]
    assert any("Only 2 gold-standard rows in `gold` (fewer than 20)" in m for m in messages), (
        messages
    )
    assert any(
        "Only 2 gold-standard rows for cv=3 folds" in m and "using 2 folds" in m for m in messages
    )
    _finite_predictions(router, split.X_test)
    assert np.all(np.isfinite(router.estimate_bias(split.X_test)))


@pytest.mark.parametrize("n_gold", [2, 3])
def test_auto_learner_needs_four_gold_rows(split, n_gold):
    # Each candidate is refitted without a held-out fold of GS rows; with fewer than 4 a refit
    # would see 1 gold row and fail with a message about a mask the user never passed.
    gold = _gold_count(split.gold_train, n_gold)
    with pytest.warns(UserWarning, match=rf"Only {n_gold} gold-standard rows in `gold`"):
        with pytest.raises(
            ValueError, match=rf"^`learner='auto'` .*at least 4 of them in `gold`; got {n_gold}\."
        ) as excinfo:
            MetaRouter(learner="auto", random_state=0).fit(split.X_train, split.y_train, gold=gold)
    _assert_raised_by_us(excinfo)


def test_extreme_imbalance_five_gold_rows_among_100000():
    rng = np.random.default_rng(0)
    n = 100_005
    X = rng.normal(size=(n, 5))
    y = X[:, 0] + rng.normal(size=n)
    gold = np.zeros(n, dtype=bool)
    gold[rng.choice(n, 5, replace=False)] = True
    X_test = X[:200]
    for cls in (GoldOnlyRouter, MeanShiftRouter):
        _finite_predictions(cls(random_state=0).fit(X, y, gold=gold), X_test)
    # cv=3 does not reduce the folds for 5 GS rows: the few-gold warning says it instead
    with pytest.warns(
        UserWarning,
        match=r"Only 5 gold-standard rows in `gold` \(fewer than 20\).*noisy.*MeanShiftRouter",
    ):
        router = MetaRouter(random_state=0).fit(X, y, gold=gold)
    _finite_predictions(router, X_test)
    assert np.all(np.isfinite(router.estimate_bias(X_test)))


@pytest.fixture(scope="module")
def separated():
    """GS rows all at x0 < -1.5, PB rows all at x0 > 1.5: no overlap at all."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_TRAIN, 5))
    gold = np.arange(N_TRAIN) < 60
    X[gold, 0] = -1.5 - np.abs(X[gold, 0])
    X[~gold, 0] = 1.5 + np.abs(X[~gold, 0])
    y = X[:, 1] + rng.normal(size=N_TRAIN)
    return X, y, gold


def test_no_overlap_the_meta_router_warns(separated):
    X, y, gold = separated
    # the logistic propensity separates the sources: most rows are extreme
    with pytest.warns(
        UserWarning,
        match=rf"(\d+) of {N_TRAIN} rows \([\d.]+%\) have extreme cross-fitted propensities.*"
        r"Collect gold labels on those queries, or restrict the router to the overlap region",
    ) as record:
        router = MetaRouter(random_state=0).fit(X, y, gold=gold)
    extreme = [re.match(rf"(\d+) of {N_TRAIN} rows", str(w.message)) for w in record.list]
    assert max(int(m.group(1)) for m in extreme if m) > N_TRAIN // 2
    _finite_predictions(router, X)


def test_no_overlap_the_truncated_router_refuses(separated):
    X, y, gold = separated
    with pytest.raises(
        ValueError,
        match=r"^`overlap_threshold` leaves 0 preference-based rows inside the overlap region.*"
        r"at least 3 \(one per fold\).*the two sources do not overlap",
    ) as excinfo:
        MetaRouter(overlap="trim", random_state=0).fit(X, y, gold=gold)
    _assert_raised_by_us(excinfo)


@pytest.mark.parametrize("cls", BASELINES)
def test_no_overlap_the_baselines_fit(separated, cls):
    # The baselines estimate no bias conditional on x, so they need no overlap and do not warn.
    X, y, gold = separated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        router = cls(random_state=0).fit(X, y, gold=gold)
    _finite_predictions(router, X)


# ------------------------------------------------------------------------------------------------
# Predict-time catalogue, for every method that takes queries
# ------------------------------------------------------------------------------------------------
METHODS = {
    "predict": lambda router, trim, X: router.predict(X),
    "route": lambda router, trim, X: router.route(X, cost_weight=0.1),
    "estimate_bias": lambda router, trim, X: router.estimate_bias(X),
    "threshold_for_ratio": lambda router, trim, X: router.threshold_for_ratio(X, 0.5),
    "in_overlap": lambda router, trim, X: trim.in_overlap(X),
}

# (id, build(X_test) -> bad X, error, regex, warning regex or None)
PREDICT_CASES = [
    (
        "nan_in_X",
        lambda X: _set(X, "pc2", [0, 1], np.nan),
        ValueError,
        r"^`X` must be finite; got 2 NaN or infinite values in columns \['pc2'\]",
        None,
    ),
    (
        "inf_in_two_columns",
        lambda X: X.assign(pc5=np.inf, pc1=-np.inf),
        ValueError,
        rf"^`X` must be finite; got {2 * N_TEST} NaN or infinite values "
        r"in columns \['pc1', 'pc5'\]",
        None,
    ),
    (
        "missing_column",
        lambda X: X.drop(columns="pc3"),
        ValueError,
        r"(?s)^`X` must have the columns seen at fit: .*missing:\n- pc3",
        None,
    ),
    (
        "extra_column",
        lambda X: X.assign(pc7=0.0),
        ValueError,
        r"(?s)^`X` must have the columns seen at fit: .*unseen at fit time:\n- pc7",
        None,
    ),
    (
        "renamed_column",
        lambda X: X.rename(columns={"pc4": "PC4"}),
        ValueError,
        r"(?s)^`X` must have the columns seen at fit: "
        r".*unseen at fit time:\n- PC4\n.*missing:\n- pc4",
        None,
    ),
    # sklearn raises too, but without naming the columns; we name the misplaced ones
    (
        "columns_in_another_order",
        lambda X: X[["pc2", "pc1", "pc3", "pc4", "pc5", "pc6"]],
        ValueError,
        r"^`X` has the feature names seen at fit in a different order; "
        r"columns \['pc2', 'pc1'\] are "
        r"out of place.*X\[router\.feature_names_in_\]",
        None,
    ),
    (
        "columns_reversed",
        lambda X: X[X.columns[::-1]],
        ValueError,
        r"^`X` has the feature names seen at fit in a different order; "
        r"columns \['pc6', 'pc5', 'pc4', "
        r"'pc3', 'pc2', 'pc1'\]",
        None,
    ),
    (
        "duplicated_columns",
        lambda X: X.set_axis(["pc1", "pc1", "pc3", "pc4", "pc5", "pc6"], axis=1),
        ValueError,
        r"^`X` has duplicated column names \['pc1'\]",
        None,
    ),
    (
        "text_column",
        lambda X: X.assign(pc2="abc"),
        TypeError,
        r"^`X` must contain only numeric features; columns \['pc2'\] are not numeric",
        None,
    ),
    (
        "fewer_features_ndarray",
        lambda X: X.to_numpy()[:, :5],
        ValueError,
        r"^`X` must have the columns seen at fit: X has 5 features, but MetaRouter is expecting 6",
        NO_FEATURE_NAMES,
    ),
    (
        "more_features_ndarray",
        lambda X: np.c_[X.to_numpy(), X.to_numpy()[:, :1]],
        ValueError,
        r"^`X` must have the columns seen at fit: X has 7 features, but MetaRouter is expecting 6",
        NO_FEATURE_NAMES,
    ),
    (
        "one_query_1d",
        lambda X: X.to_numpy()[0],
        ValueError,
        r"^`X` must be a 2-D array .*got a 1-D array of shape \(6,\)\. "
        r"Reshape your data: pass one query as `X\.reshape\(1, -1\)`",
        None,
    ),
    (
        "X_3d",
        lambda X: X.to_numpy()[None],
        ValueError,
        rf"^`X` must be a 2-D array .*got a 3-D array of shape \(1, {N_TEST}, 6\)",
        None,
    ),
    ("X_scalar", lambda X: 0.5, ValueError, r"^`X` must be a 2-D array .*got a 0-D array", None),
    (
        "empty_with_a_missing_column",
        lambda X: X.iloc[:0, :5],
        ValueError,
        r"(?s)^`X` must have the columns seen at fit: .*missing:\n- pc6",
        None,
    ),
    (
        "empty_with_no_columns",
        lambda X: np.empty((0, 0)),
        ValueError,
        r"^`X` must have at least 1 column; got 0 feature\(s\) \(shape=\(0, 0\)\)",
        None,
    ),
]


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize(
    ("build", "error", "match", "warns"),
    [pytest.param(*case[1:], id=case[0]) for case in PREDICT_CASES],
)
def test_predict_time_refuses_bad_input(
    fitted, fitted_trim, split, method, build, error, match, warns
):
    X = build(split.X_test.copy())
    with pytest.raises(error, match=match) as excinfo:
        if warns is None:
            METHODS[method](fitted, fitted_trim, X)
        else:
            with pytest.warns(UserWarning, match=warns):
                METHODS[method](fitted, fitted_trim, X)
    _assert_raised_by_us(excinfo)


@pytest.mark.parametrize("method", list(METHODS))
def test_dataframe_at_fit_ndarray_at_predict_warns_and_agrees(fitted, fitted_trim, split, method):
    # Acceptable (scikit-learn's convention): the columns are matched by position, with a warning
    # that the names could not be checked.
    expected = METHODS[method](fitted, fitted_trim, split.X_test)
    with pytest.warns(UserWarning, match=NO_FEATURE_NAMES):
        got = METHODS[method](fitted, fitted_trim, split.X_test.to_numpy())
    np.testing.assert_array_equal(got, expected)


def test_ndarray_at_fit_dataframe_at_predict_warns_and_agrees(split):
    router = PooledRouter(random_state=0).fit(
        split.X_train.to_numpy(), split.y_train, gold=split.gold_train
    )
    expected = router.predict(split.X_test.to_numpy())
    with pytest.warns(
        UserWarning, match="X has feature names, but PooledRouter was fitted without feature names"
    ):
        np.testing.assert_array_equal(router.predict(split.X_test), expected)


@pytest.mark.parametrize("as_array", [False, True], ids=["dataframe", "ndarray"])
def test_an_empty_batch_routes_nothing(fitted, fitted_trim, split, as_array):
    # A serving batch can be empty: predict, route, estimate_bias and in_overlap return empty
    # arrays (the columns are still checked); threshold_for_ratio has nothing to calibrate on.
    empty = split.X_test.iloc[:0]
    if as_array:
        empty = empty.to_numpy()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", NO_FEATURE_NAMES, UserWarning)
        psi = fitted.predict(empty)
        routed = fitted.route(empty, cost_weight=0.1)
        bias = fitted.estimate_bias(empty)
        inside = fitted_trim.in_overlap(empty)
        with pytest.raises(
            ValueError, match=r"^`X` must have at least 1 row to calibrate a threshold on; got 0"
        ) as excinfo:
            fitted.threshold_for_ratio(empty, 0.5)
    _assert_raised_by_us(excinfo)
    assert psi.shape == bias.shape == routed.shape == inside.shape == (0,)
    assert psi.dtype == bias.dtype == np.float64
    assert routed.dtype == inside.dtype == bool


@pytest.mark.parametrize("cls", BASELINES)
def test_an_empty_batch_routes_nothing_for_the_baselines(split, cls):
    router = cls(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)
    assert router.predict(split.X_test.iloc[:0]).shape == (0,)
    assert router.route(split.X_test.iloc[:0], 0.1).dtype == bool


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda r, X: r.route(X, cost_weight="0.1"),
            TypeError,
            r"^`cost_weight` must be a real number; got str '0\.1'",
        ),
        (
            lambda r, X: r.route(X, cost_weight=None),
            TypeError,
            r"^`cost_weight` must be a real number; got NoneType None",
        ),
        (
            lambda r, X: r.route(X, cost_weight=np.array([0.1])),
            TypeError,
            r"^`cost_weight` must be a real number; got ndarray",
        ),
        (
            lambda r, X: r.route(X, cost_weight=True),
            TypeError,
            r"^`cost_weight` must be a real number; got bool True",
        ),
        (
            lambda r, X: r.route(X, cost_weight=np.nan),
            ValueError,
            r"^`cost_weight` must be a finite number; got nan",
        ),
        (
            lambda r, X: r.route(X, cost_weight=-np.inf),
            ValueError,
            r"^`cost_weight` must be a finite number; got -inf",
        ),
        (
            lambda r, X: r.threshold_for_ratio(X, np.nan),
            ValueError,
            r"^`ratio` must be a number in \[0, 1\]; got nan",
        ),
        (
            lambda r, X: r.threshold_for_ratio(X, "half"),
            TypeError,
            r"^`ratio` must be a real number; got str 'half'",
        ),
        (
            lambda r, X: r.threshold_for_ratio(X, -0.1),
            ValueError,
            r"^`ratio` must be a number in \[0, 1\]; got -0\.1",
        ),
    ],
    ids=["str", "None", "array", "bool", "nan", "-inf", "ratio_nan", "ratio_str", "ratio_negative"],
)
def test_bad_routing_arguments(fitted, split, call, error, match):
    with pytest.raises(error, match=match) as excinfo:
        call(fitted, split.X_test)
    _assert_raised_by_us(excinfo)


def test_numpy_scalars_are_valid_cost_weights(fitted, split):
    expected = fitted.route(split.X_test, 0.1)
    np.testing.assert_array_equal(fitted.route(split.X_test, np.float64(0.1)), expected)
    assert fitted.route(split.X_test, np.int64(0)).dtype == bool


# ------------------------------------------------------------------------------------------------
# Inputs are never modified; read-only inputs work
# ------------------------------------------------------------------------------------------------
def _strided(values):
    """A non-contiguous view holding ``values`` (every other element of a larger buffer)."""
    values = np.asarray(values)
    doubled = np.repeat(values, 2, axis=-1 if values.ndim > 1 else 0)
    return doubled[..., ::2]


INPUT_KINDS = {
    "dataframe_and_series": lambda s: (
        s.X_train,
        pd.Series(s.y_train, index=s.X_train.index, name="y"),
        pd.Series(s.gold_train, index=s.X_train.index, name="gold"),
        s.X_test,
    ),
    # np.array: writeable copies (the dataset's own arrays are read-only, tested separately)
    "ndarray": lambda s: tuple(np.array(a) for a in (s.X_train, s.y_train, s.gold_train, s.X_test)),
    "float32": lambda s: (
        np.array(s.X_train, dtype=np.float32),
        s.y_train.astype(np.float32),
        np.array(s.gold_train),
        np.array(s.X_test, dtype=np.float32),
    ),
    "float32_dataframe": lambda s: (
        s.X_train.astype(np.float32),
        np.array(s.y_train),
        np.array(s.gold_train),
        s.X_test.astype(np.float32),
    ),
    "non_contiguous": lambda s: (
        _strided(s.X_train.to_numpy()),
        _strided(s.y_train),
        _strided(s.gold_train),
        _strided(s.X_test.to_numpy()),
    ),
    "fortran_order": lambda s: (
        np.array(s.X_train, order="F"),
        np.array(s.y_train),
        np.array(s.gold_train),
        np.array(s.X_test, order="F"),
    ),
}


def _assert_unchanged(before, after):
    assert type(before) is type(after)
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(after, before, check_exact=True)
        assert list(after.columns) == list(before.columns)
    elif isinstance(before, pd.Series):
        pd.testing.assert_series_equal(after, before, check_exact=True)
    else:
        np.testing.assert_array_equal(after, before)
        assert after.dtype == before.dtype
        assert after.flags.writeable


@pytest.mark.parametrize("cls", [PooledRouter, MetaRouter])
@pytest.mark.parametrize("kind", list(INPUT_KINDS))
def test_inputs_are_never_modified(split, cls, kind):
    inputs = INPUT_KINDS[kind](split)
    if kind == "non_contiguous":
        assert not inputs[0].flags.c_contiguous and not inputs[1].flags.contiguous
    snapshot = copy.deepcopy(inputs)
    X, y, gold, X_test = inputs
    router = cls(random_state=0).fit(X, y, gold=gold)
    _finite_predictions(router, X_test)
    router.route(X_test, cost_weight=0.1)
    router.threshold_for_ratio(X_test, 0.3)
    if cls is MetaRouter:
        assert np.all(np.isfinite(router.estimate_bias(X_test)))
    for before, after in zip(snapshot, inputs, strict=True):
        _assert_unchanged(before, after)


@pytest.mark.parametrize(
    "params", [{"learner": "r"}, {"learner": "dr"}, {"overlap": "trim"}], ids=["r", "dr", "trim"]
)
def test_read_only_arrays_work(split, params):
    X, y, gold, X_test = (
        np.array(a)
        for a in (
            split.X_train.to_numpy(),
            split.y_train,
            split.gold_train,
            split.X_test.to_numpy(),
        )
    )
    for array in (X, y, gold, X_test):
        array.flags.writeable = False
    router = MetaRouter(random_state=0, **params).fit(X, y, gold=gold)
    _finite_predictions(router, X_test)
    assert np.all(np.isfinite(router.estimate_bias(X_test)))
    router.threshold_for_ratio(X_test, 0.5)
    if params.get("overlap") == "trim":
        assert router.in_overlap(X_test).dtype == bool
    assert not X.flags.writeable and not y.flags.writeable and not gold.flags.writeable


# ------------------------------------------------------------------------------------------------
# Column names reach the errors
# ------------------------------------------------------------------------------------------------
class _Estimator(BaseEstimator):
    """Stand-in for a router: check_features records n_features_in_ and feature_names_in_ on it."""


def test_dataframe_column_names_are_kept_and_named(split, fitted):
    assert list(fitted.feature_names_in_) == list(split.X_train.columns)
    frame = pd.DataFrame({"length": [1.0, np.nan, 3.0], "ok": 1.0, "score": [np.inf, 0.0, -np.inf]})
    with pytest.raises(
        ValueError, match=r"got 3 NaN or infinite values in columns \['length', 'score'\]"
    ):
        check_features(_Estimator(), frame, reset=True)
    with pytest.raises(ValueError, match=r"got 3 NaN or infinite values in columns \[0, 2\]\."):
        check_features(_Estimator(), frame.to_numpy(), reset=True)


def test_long_lists_of_columns_are_cut(split):
    X = split.X_train.iloc[:5, :1].to_numpy().repeat(15, axis=1)
    X[0] = np.nan
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(15)])
    with pytest.raises(ValueError, match=r"in columns \['f0', .*'f9'\] and 5 more\."):
        check_features(_Estimator(), frame, reset=True)


def test_column_order_is_checked_only_against_fitted_names(split):
    estimator = _Estimator()
    check_features(estimator, split.X_train.to_numpy(), reset=True)  # no names recorded
    with pytest.warns(UserWarning, match="X has feature names"):
        out = check_features(estimator, split.X_test[split.X_test.columns[::-1]], reset=False)
    np.testing.assert_array_equal(out, split.X_test.to_numpy()[:, ::-1])


# ------------------------------------------------------------------------------------------------
# Property-based tests of the adapters (metarouter_econml._data)
# ------------------------------------------------------------------------------------------------
any_floats = st.floats(allow_nan=True, allow_infinity=True)
finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@FAST_HYPOTHESIS
@given(y=hnp.arrays(np.float64, st.integers(0, 30), elements=any_floats))
def test_check_labels_returns_a_finite_copy_or_names_y(y):
    before = y.copy()
    try:
        out = check_labels(y, n_rows=y.shape[0])
    except ValueError as exc:
        assert str(exc).startswith("`y`")
        assert y.size == 0 or not np.all(np.isfinite(y))
    else:
        assert out.dtype == np.float64 and out.shape == y.shape
        assert np.all(np.isfinite(out))
        np.testing.assert_array_equal(out, y)
        assert not np.shares_memory(out, y)
        np.testing.assert_array_equal(check_labels(y[:, None], n_rows=y.shape[0]), out)
    np.testing.assert_array_equal(y, before)


@FAST_HYPOTHESIS
@given(
    y=hnp.arrays(
        hnp.floating_dtypes() | hnp.integer_dtypes() | hnp.unsigned_integer_dtypes(),
        st.integers(1, 20),
    )
)
def test_check_labels_accepts_every_real_dtype(y):
    try:
        out = check_labels(y, n_rows=y.shape[0])
    except ValueError as exc:
        assert str(exc).startswith("`y` must be finite")
        assert not np.all(np.isfinite(y))
    else:
        np.testing.assert_array_equal(out, y.astype(np.float64))


@FAST_HYPOTHESIS
@given(
    y=hnp.arrays(np.float64, st.integers(1, 20), elements=finite_floats), n_rows=st.integers(0, 25)
)
def test_check_labels_names_both_lengths(y, n_rows):
    assume(n_rows != y.size)
    with pytest.raises(
        ValueError,
        match=rf"^`X` and `y` must have the same number of rows; got {n_rows} and {y.size}\.",
    ):
        check_labels(y, n_rows=n_rows)


@FAST_HYPOTHESIS
@given(mask=hnp.arrays(np.bool_, st.integers(0, 30)))
def test_check_gold_mask_returns_a_copy_or_names_the_short_source(mask):
    n_gold = int(mask.sum())
    n_pref = mask.size - n_gold
    try:
        out = check_gold_mask(mask, n_rows=mask.size)
    except ValueError as exc:
        assert n_gold < 2 or n_pref < 2  # raises exactly when a source has fewer than 2 rows
        assert str(exc).startswith("`gold`")
        assert f"got {n_gold if n_gold < 2 else n_pref}." in str(exc)
    else:
        assert n_gold >= 2 and n_pref >= 2
        assert out.dtype == np.bool_
        np.testing.assert_array_equal(out, mask)
        assert not np.shares_memory(out, mask)


@FAST_HYPOTHESIS
@given(
    mask=hnp.arrays(
        hnp.integer_dtypes() | hnp.unsigned_integer_dtypes(),
        st.integers(1, 30),
        elements=st.integers(0, 1),
    )
)
def test_check_gold_mask_refuses_integer_masks(mask):
    with pytest.raises(
        TypeError,
        match=rf"^`gold` must be a boolean mask .*got dtype {re.escape(str(mask.dtype))}\.",
    ):
        check_gold_mask(mask, n_rows=mask.size)


def _spread_enough(values):
    """Avoid catastrophic cancellation: a spread well above the rounding of the largest value."""
    return float(np.std(values, ddof=1)) > 1e-6 * (1.0 + float(np.max(np.abs(values))))


@FAST_HYPOTHESIS
@given(
    gold=hnp.arrays(np.float64, st.integers(2, 30), elements=finite_floats),
    pref=hnp.arrays(np.float64, st.integers(2, 30), elements=finite_floats),
    k=st.floats(min_value=1e-3, max_value=1e3),
)
def test_variance_scale_is_the_sd_ratio_and_scale_equivariant(gold, pref, k):
    assume(_spread_enough(gold) and _spread_enough(pref))
    c = gold_scale_factor(gold, pref, "variance")
    assert c == pytest.approx(np.std(pref, ddof=1) / np.std(gold, ddof=1), rel=1e-12)
    assert gold_scale_factor(gold, k * pref, "variance") == pytest.approx(k * c, rel=1e-9)
    assert gold_scale_factor(k * gold, pref, "variance") == pytest.approx(c / k, rel=1e-9)


@FAST_HYPOTHESIS
@given(
    gold=hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(-1e3, 1e3)),
    c=st.floats(min_value=1e-3, max_value=1e3),
)
def test_wasserstein_scale_recovers_a_known_factor(gold, c):
    assume(np.max(np.abs(gold)) > 1e-3)
    assert gold_scale_factor(gold, c * gold, "wasserstein") == pytest.approx(c, rel=1e-9)


@FAST_HYPOTHESIS
@given(
    gold=hnp.arrays(
        np.float64, st.integers(2, 20), elements=st.floats(allow_nan=False, allow_infinity=False)
    ),
    pref=hnp.arrays(
        np.float64, st.integers(2, 20), elements=st.floats(allow_nan=False, allow_infinity=False)
    ),
    method=st.sampled_from(["variance", "wasserstein"]),
)
def test_gold_scale_factor_is_finite_and_positive_or_names_gold_scale(gold, pref, method):
    # over the whole float64 range (overflowing spreads included): never 0, inf or NaN
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # and no numpy overflow warning either
        try:
            c = gold_scale_factor(gold, pref, method)
        except ValueError as exc:
            assert str(exc).startswith(f"`gold_scale={method!r}`")
        else:
            assert np.isfinite(c) and c > 0


@FAST_HYPOTHESIS
@given(
    X=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=8),
        elements=any_floats,
    ),
    as_frame=st.booleans(),
)
def test_check_features_returns_the_values_or_names_the_nonfinite_columns(X, as_frame):
    data = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])]) if as_frame else X
    snapshot = copy.deepcopy(data)
    bad = np.flatnonzero(~np.all(np.isfinite(X), axis=0)).tolist()
    names = [f"f{j}" for j in bad] if as_frame else bad
    try:
        out = check_features(_Estimator(), data, reset=True)
    except ValueError as exc:
        assert bad
        n_bad = int(np.sum(~np.isfinite(X)))
        assert str(exc).startswith(
            f"`X` must be finite; got {n_bad} NaN or infinite values in columns {names!r}."
        )
    else:
        assert not bad
        np.testing.assert_array_equal(out, X)
    _assert_unchanged(snapshot, data)


# ------------------------------------------------------------------------------------------------
# Column labels that are not strings are still names: a reordered frame is refused, not misread
# ------------------------------------------------------------------------------------------------
LABELLINGS = {
    "int": lambda n: list(range(n)),
    "numpy_int": lambda n: list(np.arange(n, dtype=np.int64)),
    "float": lambda n: [float(j) + 0.5 for j in range(n)],
    "multiindex": lambda n: pd.MultiIndex.from_tuples([("pc", j) for j in range(n)]),
    "mixed": lambda n: ["a", *range(1, n)],
}


@pytest.mark.parametrize("labelling", sorted(LABELLINGS))
@pytest.mark.parametrize("cls", [PooledRouter, MetaRouter])
def test_non_string_column_labels_are_matched_by_name(split, cls, labelling):
    n_features = split.X_train.shape[1]
    labels = LABELLINGS[labelling](n_features)
    X_train = pd.DataFrame(split.X_train.to_numpy(), columns=labels)
    X_test = pd.DataFrame(split.X_test.to_numpy(), columns=labels)
    router = cls(random_state=0).fit(X_train, split.y_train, gold=split.gold_train)
    reference = cls(random_state=0).fit(
        split.X_train.to_numpy(), split.y_train, gold=split.gold_train
    )
    np.testing.assert_array_equal(router.predict(X_test), reference.predict(X_test.to_numpy()))
    reordered = X_test[X_test.columns[[1, 0, *range(2, n_features)]]]
    with pytest.raises(
        ValueError, match=r"^`X` has the feature names seen at fit in a different order"
    ) as excinfo:
        router.predict(reordered)
    _assert_raised_by_us(excinfo)


def test_sparse_dataframe_columns_are_densified(split):
    dense = PooledRouter(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)
    sparse_X = split.X_train.astype(pd.SparseDtype("float64", 0.0))
    sparse = PooledRouter(random_state=0).fit(sparse_X, split.y_train, gold=split.gold_train)
    X_test = split.X_test.astype(pd.SparseDtype("float64", 0.0))
    np.testing.assert_array_equal(sparse.predict(X_test), dense.predict(split.X_test))
    assert isinstance(sparse_X.dtypes.iloc[0], pd.SparseDtype)  # the input is not modified


def test_one_query_as_a_series_gets_a_pandas_hint(split, fitted):
    with pytest.raises(
        ValueError, match=r"got a Series of length 6\. Pass one query as `X\.to_frame\(\)\.T`"
    ) as excinfo:
        fitted.predict(split.X_test.iloc[0])
    _assert_raised_by_us(excinfo)
    one = split.X_test.iloc[0].to_frame().T
    np.testing.assert_array_equal(fitted.predict(one), fitted.predict(split.X_test.iloc[:1]))
