"""Which preference-only queries to send for gold labelling next: scores and a randomised draw.

A strategy gives every candidate query a non-negative score; the batch is then *drawn*, not
taken from the top: each candidate's inclusion probability is a mixture of its share of the
scores and a uniform share (``uniform_share``), and a systematic probability-proportional-to-size
draw picks exactly ``n`` queries with exactly those probabilities. So every query keeps a known,
positive chance of becoming a gold row -- the propensity ``P(gold | x)`` is known by design and
bounded away from 0, and the router can use it (``MetaRouter.fit(..., gold_probability=...)``).
A top-``n`` rule would make ``P(gold | x)`` jump from 0 to 1 at a score threshold: a positivity
violation built in by the selection itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._estimation import cross_fitted_propensity, default_overlap_model, make_folds
from .._validation import (
    Int,
    Options,
    Real,
    check_cost_weight,
    check_features,
    check_gold_mask,
    check_gold_probability,
)

__all__ = [
    "STRATEGIES",
    "draw_gold_round",
    "inclusion_probability",
    "overlap_scores",
    "select_gold_queries",
    "selection_scores",
]

#: The selection strategies, in the order of the docs.
STRATEGIES = ("random", "bias", "decision", "overlap", "auto")

_N_THRESHOLDS = 25  # thresholds of the decision score without a cost weight (shares 20%..80%)
_LEVEL = 0.1  # the intervals behind the scores are 90% intervals (only their widths matter)


def _pool_array(router: Any, X_pool: Any) -> np.ndarray:
    """``X_pool`` checked against the router's features (names, order, count), as an array."""
    return check_features(router, X_pool, reset=False, allow_empty=True)


def _decision_relevance(psi: np.ndarray, sd: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Mean over ``thresholds`` of P(the routing decision at that threshold is wrong).

    ``Phi(-|psi_hat - t| / sd)`` is the chance, under a normal approximation, that the true gain
    lies on the other side of ``t`` than the estimate: 1/2 on the threshold, small far from it.
    """
    sd = np.maximum(sd, 1e-12 * max(1.0, float(np.max(np.abs(psi)))))
    relevance = np.zeros_like(psi)
    for threshold in thresholds:
        relevance += norm.cdf(-np.abs(psi - threshold) / sd)
    return relevance / thresholds.size


def _thresholds(router: Any, psi: np.ndarray, cost_weight: float | None) -> np.ndarray:
    """The routing thresholds that matter: the cost weight's, or those of shares 20%-80%."""
    if cost_weight is not None:
        gap = float(router.cost_primary) - float(router.cost_alternative)
        return np.array([check_cost_weight(cost_weight) * gap])
    shares = np.linspace(0.2, 0.8, _N_THRESHOLDS)
    return np.quantile(psi, 1 - shares)


def overlap_scores(router: Any, X: np.ndarray, gold: np.ndarray, seed: int) -> np.ndarray:
    """``1 / P(gold | x)`` of every row of ``X``, cross-fitted with the shared overlap model.

    ``X`` holds the gold rows (``gold``) and the candidates; the classifier is the one of the
    positivity diagnostics and of ``overlap="trim"`` (``default_overlap_model``), cross-fitted
    on 3 folds stratified on ``gold``, so every row's probability comes from a model that did
    not see it. The propensity is estimated from the data even when the design's
    probabilities are known: they say how the rows were drawn, not where gold rows are thin.
    """
    folds = make_folds(3, int(gold.sum()), seed, int((~gold).sum()))
    n_jobs = getattr(router, "n_jobs", None)
    model = default_overlap_model(seed, 1 if n_jobs is None else n_jobs)
    propensity, _ = cross_fitted_propensity(model, X, gold, folds)
    return 1.0 / np.clip(propensity, 1e-6, 1.0)


def selection_scores(
    router: Any, X_pool: Any, strategy: str, *, cost_weight: float | None = None
) -> np.ndarray:
    """Non-negative score of every candidate query under ``strategy`` (higher: more useful).

    See :func:`select_gold_queries` for what each strategy scores; ``"overlap"`` needs the gold
    rows too and is scored by :func:`overlap_scores`.
    """
    strategy = Options(STRATEGIES).check(strategy, "strategy")
    return _scores(router, X_pool, strategy, cost_weight, candidates=None)


def _scores(
    router: Any,
    X: Any,
    strategy: str,
    cost_weight: float | None,
    candidates: np.ndarray | None,
) -> np.ndarray:
    """Scores of every row of ``X`` under ``strategy`` (not ``"overlap"``).

    Without a cost weight, the decision score's thresholds are the psi quantiles of the rows
    ``candidates`` (None: all rows).
    """
    n_rows = _pool_array(router, X).shape[0]
    if strategy == "random":
        return np.ones(n_rows)
    z = norm.ppf(1 - _LEVEL / 2)
    if strategy in ("bias", "auto"):
        lower, upper = router.estimate_bias_interval(X, alpha=_LEVEL)
        bias_sd = (upper - lower) / (2 * z)
        if strategy == "bias" or cost_weight is None:  # "auto" without a cost weight
            return bias_sd
    psi = router.predict(X)
    lower, upper = router.predict_interval(X, alpha=_LEVEL)
    reference = psi if candidates is None else psi[candidates]
    relevance = _decision_relevance(
        psi, (upper - lower) / (2 * z), _thresholds(router, reference, cost_weight)
    )
    if strategy == "decision":
        return relevance
    return bias_sd * relevance  # "auto" with a cost weight


def inclusion_probability(scores: np.ndarray, n: int, uniform_share: float) -> np.ndarray:
    """Inclusion probabilities summing to ``n``, proportional to the mixed scores, capped at 1.

    Each candidate gets ``n * ((1 - uniform_share) * score / sum(scores) + uniform_share / N)``;
    values above 1 are set to 1 and the rest rescaled to keep the sum ``n`` (repeated until
    none exceeds 1). Without any positive score the draw is uniform.
    """
    total = float(np.sum(scores))
    share = np.full(scores.size, 1.0 / scores.size)
    if total > 0 and np.isfinite(total):
        share = (1 - uniform_share) * scores / total + uniform_share * share
    probability = n * share
    capped = np.zeros(scores.size, dtype=bool)
    while np.any(probability > 1 + 1e-12):
        capped |= probability > 1
        free = ~capped
        probability[capped] = 1.0
        probability[free] = share[free] * (n - capped.sum()) / share[free].sum()
    return np.minimum(probability, 1.0)


def _systematic_draw(probability: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Positions drawn by systematic sampling in a random order: each with its probability."""
    order = rng.permutation(probability.size)
    cumulative = np.cumsum(probability[order])
    n = int(round(cumulative[-1]))
    cumulative *= n / cumulative[-1]  # exactly n: the last point lies below the last bound
    points = rng.uniform() + np.arange(n)
    picked = np.searchsorted(cumulative, points, side="right")
    return order[np.minimum(picked, probability.size - 1)]


def select_gold_queries(
    router: Any,
    X_pool: Any,
    n: int,
    strategy: str = "auto",
    *,
    X_gold: Any = None,
    cost_weight: float | None = None,
    uniform_share: float = 0.2,
    random_state: Any = None,
    return_probability: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Choose which preference-only queries to send for gold labelling next.

    Every candidate gets a score (below); ``n`` distinct queries are then drawn with inclusion
    probabilities that mix the scores with a uniform share, so that every query keeps a known,
    positive chance of selection (the propensity of the next fit is known by design; pass it
    as ``MetaRouter.fit(..., gold_probability=...)``, as :func:`run_active_protocol` does).

    Strategies (the intervals need ``MetaRouter(n_bootstrap=...)``):

    - ``"random"``: uniform, the baseline.
    - ``"bias"``: the width of the bias interval (:meth:`MetaRouter.estimate_bias_interval`):
      queries whose judge bias the router knows least.
    - ``"decision"``: the chance that the routing decision is wrong, ``Phi(-|psi_hat - t| /
      sd)`` with ``sd`` from :meth:`MetaRouter.predict_interval`: queries whose interval
      straddles the threshold ``t``. ``t`` is the threshold of ``cost_weight``; without one,
      the score is averaged over the thresholds that send 20% to 80% of the pool to the primary
      model (the range of the efficiency-gain metric).
    - ``"overlap"``: ``1 / P(gold | x)``, cross-fitted by the overlap classifier of the
      positivity diagnostics on the gold rows (``X_gold``) against the candidates: queries in
      regions where gold coverage is thin. Since the draw is proportional to the score over the
      candidates, a region is drawn in proportion to how many preference-only queries it holds
      times how thin its gold coverage is (the spirit of Causal-BALD: label where the missing
      gold outcome is most informative and queries are common).
    - ``"auto"``: the ``"bias"`` score; with a ``cost_weight``, times the ``"decision"`` score
      (an uncertain bias where that uncertainty could change the decision at that weight).
      Without a cost weight every share of traffic counts (the efficiency-gain metric) and the
      bias width alone did best of the strategies measured (``benchmarks/RESULTS.md`` §15).

    Parameters
    ----------
    router : MetaRouter
        A fitted router, with ``n_bootstrap`` for ``"bias"``, ``"decision"`` and ``"auto"`` (a
        forest learner's bias intervals need no ``n_bootstrap``; ``"decision"`` and ``"auto"``
        with a cost weight need ``predict_interval``, hence ``"r"`` or ``"dr"``).
    X_pool : array-like or DataFrame of shape (n_candidates, n_features)
        The queries that have only preference labels, with the columns the router was fitted on.
    X_gold : array-like or DataFrame of shape (n_gold, n_features), optional
        The queries that have gold labels; needed by ``"overlap"`` only.
    n : int
        How many to choose, 1 <= n <= n_candidates.
    strategy : {"random", "bias", "decision", "overlap", "auto"}, default="auto"
    cost_weight : float, optional
        The cost weight routing will use (strategies ``"decision"`` and ``"auto"``).
    uniform_share : float in (0, 1], default=0.2
        Share of the selection probability spread uniformly: every candidate has at least
        ``uniform_share * n / n_candidates`` chance. 1 means random selection.
    random_state : int, RandomState or None, default=None
        Seed of the draw; the same seed gives the same queries.
    return_probability : bool, default=False
        Also return every candidate's inclusion probability.

    Returns
    -------
    positions : ndarray of int, shape (n,)
        Positions in ``X_pool``, highest score first (for ``"random"``, in the order drawn).
    probability : ndarray of shape (n_candidates,)
        Only with ``return_probability``: the inclusion probability of every candidate (they
        sum to ``n``).

    Examples
    --------
    >>> from metarouter_econml import MetaRouter
    >>> from metarouter_econml.active import select_gold_queries
    >>> from metarouter_econml.datasets import make_routing_data
    >>> data = make_routing_data(n_samples=800, n_features=8, random_state=0)
    >>> split = data.split(n_test=200, n_gold=60, random_state=0)
    >>> router = MetaRouter(n_bootstrap=10, random_state=0).fit(
    ...     split.X_train, split.y_train, gold=split.gold_train)
    >>> pool = split.X_train[~split.gold_train]
    >>> picks = select_gold_queries(router, pool, n=5, strategy="bias", random_state=0)
    >>> picks.shape, len(set(picks.tolist()))
    ((5,), 5)
    """
    strategy = Options(STRATEGIES).check(strategy, "strategy")
    check_is_fitted(router, "router_model_")
    pool_rows = _pool_array(router, X_pool)
    n_candidates = pool_rows.shape[0]
    n = Int(low=1, high=max(1, n_candidates), what="number of queries to choose").check(n, "n")
    if n_candidates == 0:
        raise ValueError("`X_pool` must hold at least 1 candidate query; got 0 rows.")
    uniform_share = Real(0, 1, low_open=True).check(uniform_share, "uniform_share")
    if cost_weight is not None:
        check_cost_weight(cost_weight)
    rng = check_random_state(random_state)
    share = 1.0 if strategy == "random" else uniform_share
    if strategy == "overlap":
        if X_gold is None:
            raise ValueError(
                "strategy 'overlap' needs `X_gold`, the features of the queries that have gold "
                "labels: it compares where they lie with where the candidates lie."
            )
        gold_rows = check_features(router, X_gold, reset=False)
        rows = np.vstack([gold_rows, pool_rows])
        gold = np.r_[np.ones(gold_rows.shape[0], bool), np.zeros(n_candidates, bool)]
    else:
        rows, gold = X_pool, np.zeros(n_candidates, bool)
    picked, probability = _draw(router, rows, gold, strategy, n, share, cost_weight, rng)
    offset = gold.size - n_candidates  # the gold rows stacked before the candidates
    if return_probability:
        return picked - offset, probability[offset:]
    return picked - offset


def _draw(
    router: Any,
    X: Any,
    gold: np.ndarray,
    strategy: str,
    n: int,
    share: float,
    cost_weight: float | None,
    rng: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray]:
    """Score the rows of ``X``, draw ``n`` candidates (``~gold``): the one rule of both entries.

    Returns the drawn rows, highest score first (for ``"random"``, in the order drawn), and
    every row's chance of selection this round: candidates their inclusion probability; gold
    rows, drawn before, the probability the same rule would give them if they were still
    candidates (the design's counterfactual). The decision score's thresholds come from the
    candidates' gains, so a row's score does not depend on which other rows are already gold.
    """
    pool = np.flatnonzero(~gold)
    if strategy == "overlap":
        scores = overlap_scores(router, X, gold, int(rng.randint(0, 2**31 - 1)))
    else:
        scores = _scores(router, X, strategy, cost_weight, candidates=pool)
    probability = np.zeros(gold.size)
    probability[pool] = inclusion_probability(scores[pool], n, share)
    if gold.any():
        total = float(scores[pool].sum())
        if total > 0 and np.isfinite(total):
            share_gold = (1 - share) * scores[gold] / total + share / pool.size
        else:
            share_gold = np.full(int(gold.sum()), 1.0 / pool.size)
        probability[gold] = np.minimum(1.0, n * share_gold)
    picked = pool[_systematic_draw(probability[pool], rng)]
    if strategy != "random":
        picked = picked[np.argsort(-scores[picked], kind="stable")]
    return picked, probability


def draw_gold_round(
    router: Any,
    X: Any,
    gold: Any,
    n: int,
    strategy: str = "auto",
    *,
    gold_probability: Any = None,
    cost_weight: float | None = None,
    uniform_share: float = 0.2,
    random_state: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One round of active labelling on the training rows, with the design's probabilities.

    The same draw as :func:`select_gold_queries`, made on all training rows ``X`` (gold rows
    and candidates together), so that it can also say what to pass to ``fit`` afterwards: the
    probability that each row has been chosen for gold labelling by now,
    ``1 - (1 - previous) * (1 - q)``, where ``q`` is this round's chance of the row -- for a
    candidate its inclusion probability, for a row that is already gold the chance the same
    rule would have given it as a candidate (the design's counterfactual, which the propensity
    ``P(gold | x)`` needs too).

    Parameters
    ----------
    router : MetaRouter
        Fitted on ``X`` (see :func:`select_gold_queries` for what each strategy needs).
    X : array-like or DataFrame of shape (n_rows, n_features)
        Every training row.
    gold : array-like of bool, shape (n_rows,)
        True for the rows that already have gold labels.
    n : int
        How many candidates to choose.
    strategy : str, default="auto"
        As in :func:`select_gold_queries`.
    gold_probability : array-like of shape (n_rows,), optional
        The design's probabilities after the previous rounds. None means the gold rows so far
        are a uniform random sample: ``n_gold / n_rows`` for every row.
    cost_weight, uniform_share, random_state
        As in :func:`select_gold_queries`.

    Returns
    -------
    positions : ndarray of int, shape (n,)
        Rows of ``X`` (candidates only) to label next, highest score first (as
        :func:`select_gold_queries`; the decision score's thresholds come from the candidates).
    gold_probability : ndarray of shape (n_rows,)
        The probabilities to pass as ``fit(..., gold_probability=...)`` once their gold labels
        are in.

    Examples
    --------
    >>> import numpy as np
    >>> from metarouter_econml import MetaRouter
    >>> from metarouter_econml.active import draw_gold_round
    >>> from metarouter_econml.datasets import make_routing_data
    >>> data = make_routing_data(n_samples=800, n_features=6, random_state=0)
    >>> split = data.split(n_test=200, n_gold=60, random_state=0)
    >>> router = MetaRouter(n_bootstrap=8, random_state=0).fit(
    ...     split.X_train, split.y_train, gold=split.gold_train)
    >>> picks, p = draw_gold_round(router, split.X_train, split.gold_train, n=20, random_state=0)
    >>> bool(split.gold_train[picks].any()), round(float(p.sum()), 6) > 60
    (False, True)
    >>> gold = split.gold_train.copy()
    >>> gold[picks] = True  # once their gold labels are collected:
    >>> y = np.where(gold, data.gold_gain[split.train_index], split.y_train)
    >>> router = router.fit(split.X_train, y, gold=gold, gold_probability=p)
    """
    strategy = Options(STRATEGIES).check(strategy, "strategy")
    check_is_fitted(router, "router_model_")
    X_arr = check_features(router, X, reset=False)
    gold_arr = check_gold_mask(gold, n_rows=X_arr.shape[0], min_each=1)
    n_pool = int((~gold_arr).sum())
    n = Int(low=1, high=n_pool, what="number of queries to choose").check(n, "n")
    uniform_share = Real(0, 1, low_open=True).check(uniform_share, "uniform_share")
    if cost_weight is not None:
        check_cost_weight(cost_weight)
    if gold_probability is None:
        previous = np.full(gold_arr.size, gold_arr.mean())
    else:
        previous = check_gold_probability(gold_probability, gold_arr)
    rng = check_random_state(random_state)
    share = 1.0 if strategy == "random" else uniform_share
    source = X if strategy != "overlap" else X_arr
    picked, q = _draw(router, source, gold_arr, strategy, n, share, cost_weight, rng)
    return picked, 1 - (1 - previous) * (1 - q)
