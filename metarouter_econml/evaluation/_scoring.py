"""A scikit-learn scorer for routers that scores on the gold-standard rows only.

A router is fitted on pooled rows, ``y`` holding the gold-standard (GS) label on GS rows and the
preference-based (PB) label elsewhere; ``predict`` returns the estimated GS gain ``psi_hat``.
Scoring a held-out fold against all of its ``y`` (e.g. ``scoring="r2"``) would compare GS-scale
predictions with a mix of GS labels and biased PB labels on another scale. The scorer made by
:func:`make_gold_scorer` keeps the held-out GS rows only, and asks for the ``gold`` mask through
scikit-learn's metadata routing, so it works in ``cross_val_score``, ``cross_validate`` and
``GridSearchCV``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.utils.metadata_routing import MetadataRequest

from .._validation import Options, Real, check_aligned, check_gold_mask, check_labels, nullable
from ._curves import _check_ratios, efficiency_gain_curve

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["GOLD_SCORER_METRICS", "make_gold_scorer"]

#: Metrics of :func:`make_gold_scorer`; every one is "greater is better".
GOLD_SCORER_METRICS: tuple[str, ...] = (
    "r2",
    "neg_mean_squared_error",
    "spearman",
    "efficiency_gain",
)

_METRIC = Options(GOLD_SCORER_METRICS)
_MEAN_GAIN = nullable(Real(0, low_open=True))

#: Fewest GS rows a fold must hold to be scored (a correlation or an R^2 needs two).
_MIN_GOLD = 2


def make_gold_scorer(
    metric: str = "r2",
    *,
    ratios: ArrayLike | None = None,
    mean_gain: float | None = None,
) -> _GoldScorer:
    """Make a scorer that scores a router on the gold-standard rows of a fold only.

    The scorer is called as ``scorer(router, X, y, gold=gold)``, like any scikit-learn scorer
    plus the ``gold`` mask of the rows being scored. It keeps the rows with ``gold`` True,
    compares ``router.predict`` on them (the gold scale) with their ``y`` (the raw GS labels)
    and ignores the preference-based rows, whose labels are biased and on another scale.
    Every metric is "greater is better", as scikit-learn's model selection expects.

    Parameters
    ----------
    metric : {"r2", "neg_mean_squared_error", "spearman", "efficiency_gain"}, default="r2"
        - ``"r2"``: R^2 of the predictions against the GS labels;
        - ``"neg_mean_squared_error"``: minus their mean squared error;
        - ``"spearman"``: Spearman's rank correlation of predictions and GS labels (NaN, with
          scipy's warning, when the predictions are constant): routing only needs the ranking;
        - ``"efficiency_gain"``: the AUC of
          :func:`~metarouter_econml.evaluation.efficiency_gain_curve` on the fold's GS rows,
          the mean efficiency gain over ``ratios`` (the paper's metric).
    ratios : array-like, optional
        Only with ``metric="efficiency_gain"``: shares of the scored rows sent to the primary,
        strictly increasing in [0, 1]; the paper's 61 points in [0.2, 0.8] by default.
    mean_gain : float, optional
        Only with ``metric="efficiency_gain"``: the mean GS gain per query the efficiency gain
        is expressed in; the curve is divided by ``mean_gain * n_scored``, ``n_scored`` the
        number of GS rows scored. Pass the mean GS label of the whole data set (e.g.
        ``float(np.mean(y[gold]))``) for the library's convention, the paper's scale. None
        (default) divides by ``n_scored`` alone: the gain per scored query in GS-label units,
        which ranks candidates exactly as any fixed ``mean_gain`` does and, unlike each
        fold's own total gain, stays defined on a small fold whose gains sum to <= 0.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, gold=None) -> float``. It requests ``gold`` for scoring under
        metadata routing by default; ``scorer.set_score_request(gold="is_gold")`` renames the
        metadata it reads.

    Raises
    ------
    TypeError
        If ``metric`` is not a str or ``mean_gain`` not a real number.
    ValueError
        If ``metric`` is unknown, ``ratios`` or ``mean_gain`` are given with a metric other than
        ``"efficiency_gain"``, ``ratios`` are not strictly increasing in [0, 1], or
        ``mean_gain`` is not > 0.

    See Also
    --------
    run_protocol : Many random splits with a GS-labelled test set each.

    Notes
    -----
    **In cross-validation.** scikit-learn hands metadata such as ``gold`` to a scorer only
    under metadata routing. Enable it and pass the mask in ``params``; the library's routers
    request ``gold`` for ``fit`` by default (a router of your own may need
    ``set_fit_request(gold=True)``)::

        with sklearn.config_context(enable_metadata_routing=True):
            cross_val_score(MetaRouter(random_state=0), X, y, params={"gold": gold},
                            scoring=make_gold_scorer("spearman"))

    With ``metric="r2"`` the score is the routers' own ``score`` (R^2 on the gold rows).
    ``GridSearchCV(router, grid, scoring=make_gold_scorer()).fit(X, y, gold=gold)`` works
    the same way. Every test fold must hold at least 2 GS rows: with few GS rows use a
    splitter stratified on ``gold`` (``StratifiedKFold`` splitting on ``y=gold``, passing its
    ``split(X, gold)`` as ``cv``), or folds whose test rows are GS rows, as in the paper's
    protocol. Failed scores become NaN with a warning under scikit-learn's default
    ``error_score=np.nan``; pass ``error_score="raise"`` to see the error.

    **Without metadata routing**, ``cross_val_score(..., params={"gold": gold})`` passes
    ``gold`` to ``fit`` only, never to a scorer, so no scorer can tell GS rows from PB rows
    there (this one then fails with a ``TypeError`` that says so). Call the scorer in your own
    loop over the folds instead: ``scorer(router.fit(X[train], y[train], gold=gold[train]),
    X[test], y[test], gold=gold[test])``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn import config_context
    >>> from sklearn.model_selection import StratifiedKFold, cross_val_score
    >>> from metarouter_econml import PooledRouter
    >>> from metarouter_econml.datasets import make_routing_data
    >>> from metarouter_econml.evaluation import make_gold_scorer
    >>> data = make_routing_data(600, 6, random_state=0)
    >>> gold = np.arange(600) % 5 == 0  # 120 gold-standard rows
    >>> y = np.where(gold, data.gold_gain, data.preference_label)
    >>> folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(data.X, gold))
    >>> scorer = make_gold_scorer("spearman")
    >>> scorer
    make_gold_scorer(metric='spearman')
    >>> with config_context(enable_metadata_routing=True):
    ...     scores = cross_val_score(PooledRouter(random_state=0), data.X, y, cv=folds,
    ...                              params={"gold": gold}, scoring=scorer)
    >>> scores.shape
    (3,)

    Called directly, no routing is involved. Preference labels do not count:

    >>> router = PooledRouter(random_state=0).fit(data.X, y, gold=gold)
    >>> score = scorer(router, data.X, y, gold=gold)
    >>> scorer(router, data.X, np.where(gold, y, 1e6), gold=gold) == score
    True
    """
    metric = _METRIC.check(metric, "metric")
    if metric != "efficiency_gain":
        options = {"ratios": ratios, "mean_gain": mean_gain}
        given = [name for name, value in options.items() if value is not None]
        if given:
            raise ValueError(
                f"`{given[0]}` applies to metric='efficiency_gain' only; got metric={metric!r}."
            )
        rho = None
    else:
        rho = _check_ratios(ratios)
    return _GoldScorer(metric, rho, _MEAN_GAIN.check(mean_gain, "mean_gain"))


def _take_rows(X: Any, rows: np.ndarray) -> Any:
    """Rows ``rows`` (positions) of a DataFrame, an array, a sparse matrix or a list."""
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    if hasattr(X, "shape"):
        return X[rows]
    return np.asarray(X)[rows]


class _GoldScorer:
    """The scorer returned by :func:`make_gold_scorer` (see there).

    It is a metadata consumer for scikit-learn: :meth:`get_metadata_routing` says that its
    ``score`` method (the call) requests ``gold``, under the alias set with
    :meth:`set_score_request`.
    """

    def __init__(self, metric: str, ratios: np.ndarray | None, mean_gain: float | None):
        self._metric = metric
        self._ratios = ratios
        self._mean_gain = mean_gain
        self._gold_alias: bool | str = True

    def __call__(self, estimator: Any, X: Any, y: Any, gold: Any = None) -> float:
        """Score ``estimator`` on the rows of ``X`` where ``gold`` is True.

        Parameters
        ----------
        estimator : fitted router
            Anything with ``predict(X)`` returning the GS-scale gain.
        X : array-like or DataFrame of shape (n_samples, n_features)
            Rows to score; only the GS rows are predicted.
        y : array-like of shape (n_samples,)
            Labels of the rows: GS labels on GS rows (PB labels elsewhere are ignored).
        gold : array-like of bool, shape (n_samples,)
            True for the GS rows. Required.

        Returns
        -------
        float
            The metric on the GS rows (greater is better).

        Raises
        ------
        TypeError
            If ``gold`` is missing (as under ``cross_val_score`` without metadata routing) or
            not a boolean mask, or ``y`` is not numeric.
        ValueError
            If ``gold`` marks fewer than 2 rows, or the lengths of ``X``, ``y`` and ``gold``
            differ, or the predictions are not finite.
        """
        if gold is None:
            raise TypeError(
                "`gold` is required: a boolean mask with True for the gold-standard rows to "
                "score on. cross_val_score and GridSearchCV pass it to a scorer only under "
                "metadata routing: sklearn.set_config(enable_metadata_routing=True) (or "
                "sklearn.config_context) and params={'gold': gold} (GridSearchCV: "
                "fit(X, y, gold=gold))."
            )
        n_rows = X.shape[0] if hasattr(X, "shape") else len(X)
        y_arr = check_labels(y, n_rows=n_rows)
        gold_arr = check_gold_mask(gold, n_rows=n_rows, min_each=0)
        check_aligned(X, y, "y")
        check_aligned(X, gold, "gold")
        n_gold = int(gold_arr.sum())
        if n_gold < _MIN_GOLD:
            raise ValueError(
                f"`gold` must mark at least {_MIN_GOLD} gold-standard rows to score on; got "
                f"{n_gold}. With few gold-standard rows, split folds stratified on `gold`."
            )
        rows = np.flatnonzero(gold_arr)
        predicted = np.asarray(estimator.predict(_take_rows(X, rows)), dtype=np.float64)
        if predicted.shape != (n_gold,):
            raise ValueError(
                f"`estimator.predict` must return one value per gold-standard row, shape "
                f"({n_gold},); got shape {predicted.shape}."
            )
        if not np.all(np.isfinite(predicted)):
            raise ValueError(
                "`estimator.predict` must return finite values; got "
                f"{int(np.count_nonzero(~np.isfinite(predicted)))} NaN or infinite."
            )
        return self._score(y_arr[rows], predicted)

    def _score(self, labels: np.ndarray, predicted: np.ndarray) -> float:
        if self._metric == "r2":
            return float(r2_score(labels, predicted))
        if self._metric == "neg_mean_squared_error":
            return -float(mean_squared_error(labels, predicted))
        if self._metric == "spearman":
            return float(stats.spearmanr(predicted, labels)[0])
        scale = 1.0 if self._mean_gain is None else self._mean_gain
        curve = efficiency_gain_curve(
            labels, predicted, ratios=self._ratios, normalizer=scale * labels.size
        )
        return curve.auc

    # -- scikit-learn's metadata routing ----------------------------------------------------------
    def set_score_request(self, *, gold: bool | str = True) -> _GoldScorer:
        """Set the name of the metadata that holds the gold mask (metadata routing).

        Parameters
        ----------
        gold : True or str, default=True
            True reads the metadata ``gold``; a string reads the metadata of that name
            instead (e.g. ``"is_gold"`` for ``params={"is_gold": mask}``). The scorer cannot
            work without the mask, so it cannot be unrequested.

        Returns
        -------
        self
        """
        if gold is not True and not (isinstance(gold, str) and gold.isidentifier()):
            raise ValueError(
                f"`gold` must be True or the name of the metadata holding the mask; got {gold!r}."
            )
        self._gold_alias = gold
        return self

    def get_metadata_routing(self) -> MetadataRequest:
        """Metadata the scorer requests: ``gold`` for ``score`` (scikit-learn's protocol)."""
        request = MetadataRequest(owner=type(self).__name__)
        request.score.add_request(param="gold", alias=self._gold_alias)
        return request

    def __repr__(self) -> str:
        args = [f"metric={self._metric!r}"]
        if self._metric == "efficiency_gain":
            if self._ratios is not None and not np.array_equal(self._ratios, _check_ratios(None)):
                args.append(f"ratios={self._ratios.tolist()!r}")
            if self._mean_gain is not None:
                args.append(f"mean_gain={self._mean_gain!r}")
        return f"make_gold_scorer({', '.join(args)})"
