"""EconML estimators of a judge's bias among many models (private).

With comparisons of models ``i < j`` coded ``z`` (+1 for ``i``, -1 for ``j``, the reference
column dropped), the pooled labels follow the partially linear model

    Y = s * (z . theta(x)) + g(x, z) + noise,     s = 1 for gold-standard rows,

where ``g(x, z) = z . q(x)`` is the comparison's expected preference-scale label and
``theta_k(x)`` the gold-minus-preference shift of model ``k`` against the reference. So the
treatment columns are ``T = s * z`` and the controls ``W = z``: one multi-treatment DML
(EconML's ``LinearDML`` or ``CausalForestDML``, which accept several treatment columns) gives
all ``K - 1`` bias functions at once, and the bias on a pair ``(i, j)`` is
``theta_i(x) - theta_j(x)`` (the *shared* structure). Run on one pair's rows with its single
column it is the *independent* structure.

The propensity nuisance ``E[T | x, z] = z * P(s = 1 | x, z)`` is one classifier of the gold
flag times the coding (:class:`SourceTimesCoding`), instead of ``K - 1`` regressions of mostly
zero columns. Rows of one query (several annotators, several pairs) share a fold.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold

from .._compat import import_dowhy_quietly
from ._models import default_models

__all__ = ["MULTI_LEARNERS", "SourceTimesCoding", "build_multi_bias_estimator", "group_folds"]

#: Learners of the multi-model bias: EconML's DML classes that take several treatment columns.
MULTI_LEARNERS = ("lasso", "ridge", "linear", "forest")


class SourceTimesCoding(RegressorMixin, BaseEstimator):
    """``E[s * z | x, z] = z * P(s = 1 | x, z)``: the treatment nuisance of the multi-model DML.

    EconML fits ``model_t`` on ``[X, W]`` with target ``T = s * z``; here ``W = z`` are the last
    ``n_columns`` features, and the gold flag is ``s = 1`` where ``T`` is not zero (every
    comparison involves at least one non-reference model).

    Parameters
    ----------
    classifier : classifier
        Model of ``P(s = 1 | x, z)``; needs ``predict_proba``.
    n_columns : int
        Number of coding columns (``K - 1``), the last columns of the features.
    """

    def __init__(self, classifier=None, n_columns: int = 1) -> None:
        self.classifier = classifier
        self.n_columns = n_columns

    def fit(self, XW, T):
        T = np.reshape(np.asarray(T, dtype=np.float64), (np.shape(XW)[0], -1))
        gold = (np.abs(T).sum(axis=1) > 0).astype(np.int64)
        self.classifier_ = clone(self.classifier).fit(XW, gold)
        return self

    def predict(self, XW):
        XW = np.asarray(XW, dtype=np.float64)
        coding = XW[:, -self.n_columns :]
        return coding * self.classifier_.predict_proba(XW)[:, [1]]


def group_folds(cv: int, gold: np.ndarray, query: np.ndarray, random_state: int) -> list:
    """Cross-fitting folds stratified on the gold flag, with each query's rows in one fold.

    With fewer gold (or preference) queries than ``cv`` the number of folds drops to that
    count, with a warning.
    """
    n_splits = int(cv)
    for mask, source in ((gold, "gold-standard"), (~gold, "preference-based")):
        count = int(np.unique(query[mask]).size)
        if count < n_splits:
            warnings.warn(
                f"Only {count} {source} queries for cv={n_splits} folds; using "
                f"{max(count, 2)} folds. Collect more {source} labels for a stable bias "
                "estimate.",
                UserWarning,
                stacklevel=4,
            )
            n_splits = max(count, 2)
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    rows = np.zeros((gold.size, 1))
    return list(splitter.split(rows, gold.astype(np.int64), groups=query))


def build_multi_bias_estimator(
    learner: str, n_columns: int, *, folds: list, random_state: int, n_jobs: int = 1
):
    """The unfitted EconML estimator of ``theta(x)`` for ``n_columns`` treatment columns.

    Every learner's ``theta_k`` is a function of the standardised features; the final stage
    regresses the outcome residual on the treatment residuals times ``[1, x]``:

    - ``"lasso"``: ``econml.dml.DML`` with a cross-validated lasso final stage (3 shuffled
      folds): with ~10 gold comparisons per pair most interactions are noise, and the lasso
      keeps a per-model shift plus the few features the gold labels support;
    - ``"ridge"``: the same with ridge regression, its penalty chosen by generalised CV;
    - ``"linear"``: ``econml.dml.LinearDML``, unpenalised least squares (with analytic
      confidence intervals; it needs many gold labels per model);
    - ``"forest"``: ``econml.dml.CausalForestDML`` (200 trees).

    Nuisances: the default LightGBM outcome model of the two-model R-learner for
    ``E[Y | x, z]`` and a logistic regression (``C=1`` on standardised features) of
    ``P(gold | x, z)`` inside :class:`SourceTimesCoding`.
    """
    import_dowhy_quietly()
    models = default_models("r", random_state, n_jobs)
    # The two-model default searches the penalty of P(gold | x) (a rare, query-dependent
    # choice); here the coding columns join the features and one moderate penalty on
    # standardised features serves, at a twelfth of the cost of that search.
    classifier = LogisticRegression(C=1.0, max_iter=2000, random_state=random_state)
    common = {
        "model_y": models["model_y"],
        "model_t": SourceTimesCoding(classifier, n_columns),
        "discrete_treatment": False,
        "cv": folds,
        "random_state": random_state,
    }
    if learner in ("lasso", "ridge"):
        from econml.dml import DML
        from sklearn.linear_model import LassoCV, RidgeCV
        from sklearn.model_selection import KFold

        if learner == "lasso":
            final = LassoCV(
                fit_intercept=False,
                cv=KFold(3, shuffle=True, random_state=random_state),
                max_iter=5000,
            )
        else:
            final = RidgeCV(fit_intercept=False, alphas=np.logspace(-3, 4, 15))
        return DML(**common, model_final=final)
    if learner == "linear":
        from econml.dml import LinearDML

        return LinearDML(**common)
    if learner == "forest":
        from econml.dml import CausalForestDML

        return CausalForestDML(**common, n_estimators=200, n_jobs=1)
    raise ValueError(f"`learner` must be one of {list(MULTI_LEARNERS)}; got {learner!r}.")
