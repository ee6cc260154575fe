"""scikit-learn's estimator checks on every router, and the conventions they imply.

The checks call ``fit(X, y)`` without ``gold``; the wrappers below supply a fixed mask (every
third row is gold-standard) so that everything else about the estimator contract is exercised:
cloning, ``get_params``/``set_params``, pickling, determinism, no mutation of the input,
``n_features_in_``, error messages for degenerate input. Expected failures are listed with the
reason each is a deliberate choice, not a bug (``EXPECTED_FAILURES``).
"""

import numpy as np
import pytest
import sklearn
from conftest import ROUTERS, make_split
from sklearn.base import clone, is_regressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.utils.estimator_checks import parametrize_with_checks

from metarouter_econml import (
    GoldOnlyRouter,
    MeanShiftRouter,
    MetaRouter,
    PooledRouter,
    PreferenceOnlyRouter,
)


def _every_third_row(X) -> np.ndarray:
    n_rows = X.shape[0] if hasattr(X, "shape") else np.asarray(X).shape[0]  # sparse or array-like
    return np.arange(n_rows) % 3 == 0


# Module-level subclasses (so that they pickle); `fit` and `score` supply `gold` when not given.
class _GoldFit:
    def fit(self, X, y, gold=None):
        return super().fit(X, y, gold=_every_third_row(X) if gold is None else gold)

    def score(self, X, y, gold=None):
        return super().score(X, y, gold=_every_third_row(X) if gold is None else gold)


class GoldOnlyWithMask(_GoldFit, GoldOnlyRouter):
    pass


class PreferenceOnlyWithMask(_GoldFit, PreferenceOnlyRouter):
    pass


class PooledWithMask(_GoldFit, PooledRouter):
    pass


class MeanShiftWithMask(_GoldFit, MeanShiftRouter):
    pass


class MetaWithMask(_GoldFit, MetaRouter):
    pass


WRAPPED = [
    GoldOnlyWithMask,
    PreferenceOnlyWithMask,
    PooledWithMask,
    MeanShiftWithMask,
    MetaWithMask,
]

#: Checks that fail on purpose, with the reason (the same for every router).
EXPECTED_FAILURES = {
    "check_fit_score_takes_y": (
        "the check's labels are constant on the gold rows, and gold_scale='variance' (the "
        "default) refuses to rescale constant labels instead of dividing by zero"
    ),
    "check_fit2d_1feature": (
        "same cause: constant gold labels with gold_scale='variance' are refused with a message "
        "that says so (and how to pass gold_scale='none')"
    ),
    "check_supervised_y_2d": (
        "same cause: the check's integer labels are constant on the gold rows of its 10-row "
        "data, and gold_scale='variance' refuses them"
    ),
    "check_dtype_object": (
        "labels of arbitrary Python objects are refused with '`y` must be numeric labels; got "
        "dtype object' (a TypeError naming y); the check wants the classifier phrase 'Unknown "
        "label type' in the message"
    ),
}


def _expected_failures(estimator):
    return EXPECTED_FAILURES


@parametrize_with_checks(
    [cls(random_state=0) for cls in WRAPPED],
    expected_failed_checks=_expected_failures,
    xfail_strict=True,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("cls", ROUTERS)
def test_routers_are_regressors_that_require_y(cls):
    router = cls()
    tags = router.__sklearn_tags__()
    assert is_regressor(router)
    assert tags.target_tags.required


def test_score_reads_gold_rows_only():
    split = make_split(400, 6, n_test=100, n_gold=60)
    router = PooledRouter(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)
    X, y, gold = split.X_test, split.gain_test, np.arange(len(split.X_test)) % 2 == 0
    corrupted = np.where(gold, y, 1e6)  # preference rows' labels must not matter
    assert router.score(X, corrupted, gold=gold) == router.score(X, y, gold=gold)
    from sklearn.metrics import r2_score

    assert router.score(X, y, gold=gold) == pytest.approx(
        r2_score(y[gold], router.predict(X)[gold])
    )
    with pytest.raises(
        ValueError, match=r"^`gold` must mark at least 2 gold-standard rows to score on; got 1"
    ):
        router.score(X, y, gold=np.arange(len(X)) == 0)


@pytest.mark.parametrize("cls", ROUTERS)
def test_gold_reaches_fit_through_metadata_routing(cls):
    split = make_split(400, 6, n_test=100, n_gold=60)
    X = split.X_train.to_numpy()
    router = cls(random_state=0)
    if cls is MetaRouter:  # keep the check fast
        router.set_params(cv=2, model_final=Ridge())
    folds = KFold(3, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = cross_val_predict(
            router, X, split.y_train, cv=folds, params={"gold": split.gold_train}
        )
    by_hand = np.empty(X.shape[0])
    for train, test in folds.split(X):
        fitted = clone(router).fit(X[train], split.y_train[train], gold=split.gold_train[train])
        by_hand[test] = fitted.predict(X[test])
    np.testing.assert_array_equal(routed, by_hand)


def test_complex_features_and_labels_are_value_errors():
    split = make_split(400, 6, n_test=100, n_gold=60)
    X, y, gold = split.X_train.to_numpy(), split.y_train, split.gold_train
    with pytest.raises(
        ValueError,
        match=r"^`X` must be real. Complex data not supported: columns \[0, 1, 2, 3, 4, 5\]",
    ):
        PooledRouter().fit(X + 1j, y, gold=gold)
    with pytest.raises(
        ValueError,
        match=r"^`y` must be real labels. Complex data not supported: got dtype complex128",
    ):
        PooledRouter().fit(X, list(y + 1j), gold=gold)


def test_ragged_labels_get_a_message_naming_y():
    split = make_split(400, 6, n_test=100, n_gold=60)
    ragged = [[1.0], [1.0, 2.0]] + [[0.0]] * (split.X_train.shape[0] - 2)
    with pytest.raises(ValueError, match=r"^`y` must be a 1-D array of labels"):
        PooledRouter().fit(split.X_train, ragged, gold=split.gold_train)
