"""Refutation of the Meta-Router's bias estimate with DoWhy's refuters.

The Meta-Router estimates the bias ``Delta(x)`` of preference labels as the CATE of the evaluation
source (``T = 1`` for gold-standard rows). :func:`refute_bias` refits the router's EconML
estimator through DoWhy (see ``_dowhy_bridge.py``) and runs DoWhy's refuters on the mean bias;
the placebo is also tested row by row (whether permuted gold flags reproduce the original per-row
bias), from refits of the library's own with the placebo's permutations. The rule that turns a
refuter's refits into a verdict is stated once, in the Notes of :func:`refute_bias` (constants
:data:`ALPHA`, :data:`RELATIVE_TOLERANCE`, :data:`SE_MULTIPLIER`, :data:`PLACEBO_SE_MULTIPLIER`,
:data:`PLACEBO_SLOPE_TOLERANCE`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral
from types import MappingProxyType, SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._routers import MetaRouter
from .._validation import (
    Int,
    Real,
    Seed,
    check_aligned,
    check_features,
    check_gold_mask,
    check_labels,
    check_params,
    head,
    random_seed,
)
from . import _dowhy_bridge

__all__ = [
    "ALPHA",
    "MIN_SIMULATIONS",
    "PLACEBO_SE_MULTIPLIER",
    "PLACEBO_SLOPE_TOLERANCE",
    "REFUTERS",
    "RELATIVE_TOLERANCE",
    "SE_MULTIPLIER",
    "RefutationResult",
    "refute_bias",
    "verdict_rule",
]

#: Refuters :func:`refute_bias` can run, in the order their seeds are drawn.
REFUTERS = ("placebo", "random_common_cause", "data_subset", "bootstrap")

#: Significance level of DoWhy's test in every verdict (its ``is_statistically_significant``).
ALPHA = 0.05

#: A refuter fails only if its refits move the mean bias by more than this share of
#: ``|estimate|`` ...
RELATIVE_TOLERANCE = 0.10

#: ... and by more than this many standard errors of the estimate (see :func:`refute_bias`).
SE_MULTIPLIER = 1.0

#: The placebo's tolerance around zero, in standard errors (its own test is reliable, see
#: :func:`refute_bias`, so half a standard error is the scale of "collapsed to zero").
PLACEBO_SE_MULTIPLIER = 0.5

#: The placebo's per-row test fails when its refits reproduce more than this share of the
#: original per-row bias (the mean slope of a refit's per-row bias on the original one, see
#: :func:`refute_bias`) and a one-sided t-test of zero slope rejects at :data:`ALPHA`.
PLACEBO_SLOPE_TOLERANCE = 0.2

#: Below this many simulations a verdict is marked as indicative: the spread of the refuted
#: estimates, on which DoWhy's p-value rests, is then known to worse than +-24 %.
MIN_SIMULATIONS = 10

_TABLE_COLUMNS = [
    "refuter",
    "dowhy_method",
    "original",
    "refuted",
    "refuted_sd",
    "refuted_min",
    "refuted_max",
    "shift",
    "tolerance",
    "p_value",
    "n_simulations",
    "seconds",
    "verdict",
    "note",
    "row_slope",
    "row_slope_se",
    "row_slope_p",
]

_WHAT = {
    "placebo": "Permuting the gold flags (a placebo treatment)",
    "random_common_cause": "Adding a random covariate as a common cause",
    "data_subset": "Refitting on random subsets of {fraction:.0%} of the rows",
    "bootstrap": "Refitting on bootstrap resamples of the rows",
}


def verdict_rule(
    tolerance: float | None = None,
    placebo_tolerance: float | None = None,
    standard_error: float | None = None,
) -> str:
    """The verdict rule of the refuters in one sentence (the report shows this text).

    Parameters
    ----------
    tolerance, placebo_tolerance, standard_error : float, optional
        The values of one refutation, written into the sentence when given.

    Returns
    -------
    str
    """
    values = placebo_values = ""
    if tolerance is not None:
        values = f" (here {tolerance:.3g})"
    if placebo_tolerance is not None:
        placebo_values = f" (here {placebo_tolerance:.3g})"
    se = "" if standard_error is None else f" The standard error is {standard_error:.3g}."
    return (
        "A refuter fails when the mean of its refits differs from the value it tests by more "
        f"than its tolerance and DoWhy's test rejects that value (p <= {ALPHA}); otherwise it "
        "passes, and it is skipped when it cannot run on the data. The perturbation refuters "
        "(random common cause, data subsets, bootstrap) test the original estimate with the "
        f"tolerance max({RELATIVE_TOLERANCE:.0%} of |estimate|, {SE_MULTIPLIER:g} standard "
        f"error of the estimate){values}; the placebo tests zero with the tolerance "
        f"max({RELATIVE_TOLERANCE:.0%} of |estimate|, {PLACEBO_SE_MULTIPLIER:g} standard error)"
        f"{placebo_values}. The placebo also fails, row by row, when its refits reproduce the "
        "original per-row bias: with the slope of a refit's per-row bias on the original "
        "per-row bias over the rows used, cov / max(variance of the original, standard error "
        "squared) (1: the heterogeneity reproduced in full, 0: not at all), when the mean slope "
        f"over the refits exceeds {PLACEBO_SLOPE_TOLERANCE:g} and a one-sided t-test of zero "
        f"slope over the refits rejects (p <= {ALPHA}).{se}"
    )


@dataclass(frozen=True, eq=False)
class RefutationResult:
    """Outcome of :func:`refute_bias`: one row per refuter, with a verdict in plain words.

    All estimates are mean biases on the preference (PB) scale, i.e. means of
    ``Delta_hat(x) = E[Y | gold, x] - E[Y | preference, x]`` with gold labels rescaled by the
    router's ``scale_``.

    Attributes
    ----------
    table : DataFrame
        One row per refuter with columns ``refuter``, ``dowhy_method``, ``original`` (DoWhy's
        estimate on the data), ``refuted`` (mean of the refuted estimates over the simulations),
        ``refuted_sd``, ``refuted_min``, ``refuted_max`` (their spread; DoWhy 0.14 reports no
        interval for these refuters), ``shift`` (``refuted`` minus the value tested: 0 for the
        placebo, ``original`` for the others), ``tolerance`` (the largest harmless ``|shift|``),
        ``p_value`` (DoWhy's), ``n_simulations`` (requested), ``seconds``, ``verdict``
        (``"pass"``, ``"fail"`` or ``"skipped"``: the refuter could not run on these data) and
        ``note`` (the verdict in words, with the number of refits), then the placebo's per-row
        test: ``row_slope`` (mean over its refits of the slope of the placebo per-row bias on
        the original per-row bias: the share of the original heterogeneity the placebo
        reproduces), ``row_slope_se`` (its standard error over the refits) and ``row_slope_p``
        (one-sided t-test of zero slope); NaN for the other refuters and when the per-row test
        could not run.
    estimate : float
        DoWhy's estimate: the mean bias over the rows used (``target_units="ate"``): all rows, or
        those inside the overlap region for a router fitted with ``overlap="trim"``.
    estimate_preference : float
        The mean bias over the preference rows used: the average correction debiasing adds.
    router_estimate : float
        Mean of ``router.estimate_bias(X)`` over the rows used; equals ``estimate`` when ``X``
        are the rows the router was fitted on.
    learner : str
        The router's learner (``learner_``).
    n_samples, n_gold : int
        Rows used, and how many of them are gold-standard rows.
    n_outside_overlap : int
        Preference rows left out because the router (``overlap="trim"``) fitted its estimator only
        inside the overlap region; 0 otherwise.
    standard_error : float
        Standard error of the mean bias used as its scale by the verdicts: the two-sample
        standard error ``sqrt(var(y_gold) / n_gold + var(y_pref) / n_pref)`` of the labels on
        the preference scale, over the rows used (see :func:`refute_bias`).
    tolerance : float
        Tolerance of the perturbation refuters:
        ``max(RELATIVE_TOLERANCE * |estimate|, SE_MULTIPLIER * standard_error)``.
    placebo_tolerance : float
        Tolerance of the placebo around zero:
        ``max(RELATIVE_TOLERANCE * |estimate|, PLACEBO_SE_MULTIPLIER * standard_error)``.
    reproduces_router : bool
        Whether DoWhy's refit reproduced the router's own estimate (``estimate ==
        router_estimate`` on the training rows). False when other rows were given, or when the
        router's seed is unknown (a loaded router fitted with ``random_state=None``): the
        refutation then tests the router's estimator configuration, not the fitted router.
    simulations : mapping of str to ndarray
        The refuted estimate of every simulation, per refuter (those completed before a
        skipped refuter stopped).
    dowhy_results : mapping of str to dict
        DoWhy's ``refutation_result`` per refuter (``p_value``, ``is_statistically_significant``).
    row_slopes : ndarray or None
        The placebo's per-row slope of every refit (see ``row_slope``); None when the placebo
        was not run or its per-row test could not run.
    feature_names : mapping of str to str
        The column names DoWhy saw (``x0``, ...) mapped to the user's feature names.
    alpha : float
        Significance level of the verdicts.
    """

    table: pd.DataFrame
    estimate: float
    estimate_preference: float
    router_estimate: float
    learner: str
    n_samples: int
    n_gold: int
    n_outside_overlap: int
    standard_error: float
    tolerance: float
    placebo_tolerance: float
    reproduces_router: bool
    simulations: Mapping[str, np.ndarray] = field(repr=False)
    dowhy_results: Mapping[str, dict] = field(repr=False)
    feature_names: Mapping[str, str] = field(repr=False)
    alpha: float = ALPHA
    row_slopes: np.ndarray | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when no refuter failed (a skipped refuter does not count)."""
        return not bool((self.table["verdict"] == "fail").any())

    def summary(self) -> pd.DataFrame:
        """Return a copy of the table indexed by refuter."""
        return self.table.set_index("refuter")

    def __str__(self) -> str:
        lines = [
            f"Refutation of the bias estimate (learner {self.learner!r}, {self.n_samples} rows, "
            f"{self.n_gold} gold; preference scale)"
        ]
        if self.n_outside_overlap:
            lines.append(
                f"{self.n_outside_overlap} preference rows outside the overlap region left out "
                "(the router fitted its estimator without them)"
            )
        lines.append(
            f"mean bias: {self.estimate:.4g} over the rows used (router's own: "
            f"{self.router_estimate:.4g}), {self.estimate_preference:.4g} over their PB rows"
        )
        lines.append(verdict_rule(self.tolerance, self.placebo_tolerance, self.standard_error))
        header = "\n".join(lines)
        columns = ["refuter", "original", "refuted", "refuted_sd", "shift", "p_value"]
        shown = self.table[columns + ["row_slope", "n_simulations", "seconds", "verdict"]]
        notes = "\n".join(f"- {row.refuter}: {row.note}" for row in self.table.itertuples())
        verdicts = self.table["verdict"]
        failed = self.table.loc[verdicts == "fail", "refuter"].tolist()
        skipped = self.table.loc[verdicts == "skipped", "refuter"].tolist()
        if failed:
            status = f"{len(failed)} of {len(self.table)} refuters failed: {', '.join(failed)}."
        else:
            status = f"No refuter failed ({(verdicts == 'pass').sum()} passed)."
        if skipped:
            status += f" Skipped (could not run on these data): {', '.join(skipped)}."
        body = shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")
        return f"{header}\n{body}\n{notes}\n{status}"


def refute_bias(
    router,
    X,
    y,
    gold,
    *,
    refuters=REFUTERS,
    n_simulations: int = 20,
    subset_fraction: float = 0.8,
    random_state=None,
) -> RefutationResult:
    """Refute the Meta-Router's bias with DoWhy's placebo, common-cause and resampling tests.

    The router's EconML estimator configuration (same learner, models, folds and seed) is refitted
    through DoWhy on ``(X, y, gold)``; its mean bias is the *original* estimate, equal to the mean
    of ``router.estimate_bias(X)`` on the rows the router was fitted on. Each refuter then changes
    the data ``n_simulations`` times and refits the whole estimator each time. For a router fitted
    with ``overlap="trim"`` only the rows its estimator saw are used (GS rows and PB rows inside
    the overlap region).

    Parameters
    ----------
    router : MetaRouter
        A fitted Meta-Router whose bias was estimated by an EconML learner
        (``cate_estimator_`` is not None).
    X : array-like or DataFrame of shape (n_samples, n_features)
        The training features, with the columns the router was fitted on.
    y : array-like of shape (n_samples,)
        The training labels: GS gains on gold rows, PB labels elsewhere (the GS rows are
        multiplied by ``router.scale_``, as in ``fit``).
    gold : array-like of bool, shape (n_samples,)
        True for gold-standard rows.
    refuters : sequence of {"placebo", "random_common_cause", "data_subset", "bootstrap"}
        Which refuters to run, in this order (a single name may be given as a string).

        - ``"placebo"``: DoWhy's ``placebo_treatment_refuter`` with ``placebo_type="permute"``:
          the gold flags are shuffled across rows, so the estimated bias should collapse to zero,
          and it should not reproduce the original per-row bias. DoWhy keeps only each refit's
          mean, so for the per-row test the estimator is refitted ``n_simulations`` more times
          with the same permutations (drawn from the placebo's seed as DoWhy draws them).
        - ``"random_common_cause"``: ``random_common_cause`` adds an independent normal column as
          a common cause (EconML's ``W``); the estimate should not move.
        - ``"data_subset"``: ``data_subset_refuter`` refits on random subsets of
          ``subset_fraction`` of the rows.
        - ``"bootstrap"``: ``bootstrap_refuter`` refits on resamples with replacement (with
          ``required_variables=False``: DoWhy's optional measurement noise on the covariates is
          drawn from numpy's global generator and could not be seeded).
    n_simulations : int, default=20
        Refits per refuter, at least 2. Every simulation refits the whole estimator, so the cost
        grows linearly with it (the placebo refits twice per simulation, see ``"placebo"``; the
        ``seconds`` column reports the time of each refuter). The refuted estimates' spread, on
        which DoWhy's p-value rests, is estimated more precisely with more simulations; below
        100 DoWhy uses a normal approximation (see Notes).
    subset_fraction : float in (0, 1), default=0.8
        Share of rows kept by ``"data_subset"``.
    random_state : int, RandomState or None, default=None
        Seeds the refuters: one ``numpy.random.RandomState`` is derived per refuter (in the fixed
        order of :data:`REFUTERS`, so a refuter's draws do not depend on which others run) and
        passed to DoWhy with ``n_jobs=1``. The same seed gives the same table (except
        ``seconds``). The estimator itself keeps the router's seed.

    Returns
    -------
    RefutationResult

    Raises
    ------
    TypeError
        If ``router`` is not a :class:`~metarouter_econml.MetaRouter`.
    sklearn.exceptions.NotFittedError
        If ``router`` is not fitted.
    ValueError
        If the router has no CATE estimator (e.g. ``learner="auto"`` fell back to a baseline),
        a refuter name is unknown or repeated, or ``n_simulations``/``subset_fraction`` are out
        of range (``TypeError`` when they are not numbers), or the inputs do not match the
        router's features or each other.

    Notes
    -----
    **The verdict rule** (the one place it is defined; :func:`verdict_rule` states it in a
    sentence). Each refuter tests one value against its refits: 0 for ``"placebo"`` (with
    permuted gold flags there is no bias to find), the original estimate for the others (the
    perturbation should not move it). With ``shift`` the mean of the refits minus that value, a
    refuter **fails** when both

    1. the shift matters: ``|shift|`` exceeds the refuter's tolerance,

       - ``max(RELATIVE_TOLERANCE * |estimate|, SE_MULTIPLIER * standard_error)`` (10 % of
         the estimate, 1 standard error) for the perturbation refuters
         (``"random_common_cause"``, ``"data_subset"``, ``"bootstrap"``),
       - ``max(RELATIVE_TOLERANCE * |estimate|, PLACEBO_SE_MULTIPLIER * standard_error)``
         (half a standard error) for ``"placebo"``; and

    2. DoWhy's test rejects the tested value: ``p <= ALPHA`` (0.05). When all refits are equal
       (zero spread) DoWhy's p-value is undefined and the test rejects when they differ from
       the tested value.

    Otherwise it **passes**; it is **skipped** (verdict ``"skipped"``, the reason in ``note``)
    when it cannot run on the data, e.g. resamples of very few gold rows that leave a
    cross-fitting fold without any (EconML's "crossfit folds contain training splits that don't
    contain all treatments"). Skipped refuters do not make :attr:`RefutationResult.ok` False.

    Why both conditions. DoWhy's p-value places the tested value within the spread of the
    refits, and that spread can be tiny: adding a random common cause barely changes a smooth
    final model, so 10 refits with sd 0.0007 reject a 2 % move of the estimate (p = 0.004).
    Such a move is far below the estimate's own sampling error and does not matter; the
    tolerance says how large a move must be to matter. Conversely a large move within a wide
    spread of refits is not significant. The placebo estimate must collapse to within its
    tolerance of zero. Its tolerance is smaller because its own test is reliable: with permuted
    flags each refit's estimate varies by about the estimate's sampling error, so DoWhy rejects
    zero only when the placebo refits sit far from it compared with that error (an honest
    estimator almost never does so); the tolerance only keeps a placebo that has collapsed to
    practically zero, with a tiny spread, from failing. A rule relative to the estimate alone
    (``|placebo| < k |estimate|``) would fail whenever the true bias is zero; the
    standard-error term keeps the tolerance away from zero. The three constants were chosen on
    simulations (``benchmarks/report_verdicts.py``, seeds 100 and up) other than those whose
    rates are reported.

    **The placebo, row by row.** The mean test cannot see a leak whose mean is near zero: an
    estimator whose final stage was fitted in advance (or warm-started from such a fit) keeps
    its heterogeneous per-row bias under permuted flags while the mean stays within a standard
    error of zero. So the placebo is also tested on the per-row bias. For each placebo refit
    ``s``, ``b_s`` is the least-squares slope of its per-row bias ``tau_s(x_i)`` on the
    original per-row bias ``tau(x_i)`` over the rows used, with a floor on the denominator,
    ``b_s = cov(tau_s, tau) / max(var(tau), standard_error**2)``: the share of the original
    heterogeneity the refit reproduces (1: all of it, as a frozen final stage does). Under
    permuted flags an honest estimator's per-row bias carries no trace of the original one, so
    the slopes scatter around 0 with a spread the refits estimate. The floor keeps a
    practically constant original (per-row variation far below the standard error of the mean,
    e.g. a regularised final model on a constant bias) from turning any noise into a large
    slope: heterogeneity below one standard error counts on the scale of one standard error.
    The placebo also **fails** when both

    1. the share matters: the mean slope ``b = mean(b_s)`` exceeds
       ``PLACEBO_SLOPE_TOLERANCE`` (0.2: a fifth of the original heterogeneity), and
    2. a one-sided t-test of zero slope rejects: ``p <= ALPHA`` with ``t = b / (sd(b_s) /
       sqrt(n))`` on ``n - 1`` degrees of freedom (equal slopes: rejects when they are not 0).

    The per-row test does not run (the placebo's verdict then rests on the mean test, and its
    note says why) when the original per-row bias is constant (a constant final model: there is
    no heterogeneity to reproduce) or when a per-row refit fails on the permuted data. The
    slopes are in ``row_slope`` (their mean), ``row_slope_se``, ``row_slope_p`` and
    :attr:`RefutationResult.row_slopes`. The per-row refits are the library's own (DoWhy keeps
    only each refit's mean): the router's estimator rebuilt with its seed and fitted through the
    same DoWhy bridge on the permutations the placebo refuter draws from its generator, so
    their means equal DoWhy's placebo estimates for a deterministic estimator. The tolerance was
    chosen, like the constants above, on seeds other than those whose rates are reported
    (``benchmarks/report_verdicts.py --seeds 100-119``, placebo only): honest estimators' mean
    slopes lay within +-0.07, those of the warm-started leak between 0.17 and 0.62 on the
    default generator (where its mean bias is mostly within the placebo's tolerance).

    **Standard error.** The scale of the estimate is the two-sample standard error of the mean
    bias, ``sqrt(var(y_gold) / n_gold + var(y_pref) / n_pref)`` of the labels on the preference
    scale over the rows used: what the mean bias's error would be without covariate
    adjustment. It needs no refit and does not depend on which refuters run. Adjusting for the
    features usually makes the estimator's error somewhat smaller, so the tolerance leans
    towards passing small moves. The standard error of the per-row bias values is not used: the
    values are strongly correlated estimates (a constant final model gives them all one value
    and a standard error of 0).

    **Simulations.** The note of every verdict says how many refits it rests on. With fewer than
    :data:`MIN_SIMULATIONS` refits the spread behind DoWhy's p-value is known to worse than
    +-24 % (relative standard error about ``1 / sqrt(2 (n - 1))``), and the note marks the
    verdict as indicative. Below 100 simulations DoWhy fits a normal distribution to the refits
    and reports the one-tailed probability beyond the tested value (from 100 on, a two-sided
    percentile test).

    A placebo pass does not say the original bias is real: the note says whether the original
    estimate lies outside the placebo spread (more than 2 of their standard deviations from
    their mean).

    Examples
    --------
    >>> from metarouter_econml import MetaRouter
    >>> from metarouter_econml.datasets import make_routing_data
    >>> from metarouter_econml.diagnostics import refute_bias
    >>> split = make_routing_data(700, 6, bias="constant", random_state=0).split(
    ...     n_test=100, n_gold=100, random_state=0)
    >>> router = MetaRouter(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)
    >>> result = refute_bias(router, split.X_train, split.y_train, split.gold_train,
    ...                      refuters="placebo", n_simulations=2, random_state=0)
    >>> print(result.table["refuter"].tolist(), result.table["n_simulations"].tolist())
    ['placebo'] [2]
    """
    check_router(router, _WHY_REFUTE)
    _check_estimator(router)
    names = check_refuters(refuters, allow_empty=False)
    params = check_refutation_params(n_simulations, subset_fraction, random_state)
    X_arr = check_features(router, X, reset=False)
    n = X_arr.shape[0]
    y_arr = check_labels(y, n_rows=n)
    gold_arr = check_gold_mask(gold, n_rows=n)
    check_aligned(X, y, "y")
    check_aligned(X, gold, "gold")
    bias = np.asarray(router.estimate_bias(X), dtype=np.float64)
    return refutations(router, X, X_arr, y_arr, gold_arr, bias=bias, refuters=names, **params)


def refutations(
    router: MetaRouter,
    X,
    X_arr: np.ndarray,
    y: np.ndarray,
    gold: np.ndarray,
    *,
    bias: np.ndarray,
    refuters: tuple[str, ...],
    n_simulations: int,
    subset_fraction: float,
    random_state,
) -> RefutationResult:
    """:func:`refute_bias` on validated inputs (see there).

    ``X`` is the caller's feature matrix, handed only to the router's own methods; ``X_arr`` is
    its validated array, ``bias`` the router's ``estimate_bias`` on those rows.
    """
    n_gold = int(gold.sum())
    mismatch = (n_gold, gold.size - n_gold) != (router.n_gold_, router.n_preference_)
    if mismatch:
        warnings.warn(
            f"The router was fitted on {router.n_gold_} gold and {router.n_preference_} preference "
            f"rows; got {n_gold} and {gold.size - n_gold}. Refuting its estimator "
            "configuration on these rows: the original estimate will differ from the router's own. "
            "Pass the training data to refute the fitted router.",
            UserWarning,
            stacklevel=3,
        )
    y_pb = np.where(gold, y * router.scale_, y)
    rows = _rows_the_estimator_saw(router, X, gold, training=not mismatch)
    X_arr, y_pb, gold = X_arr[rows], y_pb[rows], gold[rows]
    X_arr = router._cate_features(X_arr)  # what the router's CATE estimator saw
    n_gold = int(gold.sum())

    rng = check_random_state(random_state)
    draws = rng.randint(np.iinfo(np.int32).max, size=len(REFUTERS))
    seeds = dict(zip(REFUTERS, draws, strict=True))

    estimator, seed_known = _unfitted_cate_estimator(router, n_gold, int(gold.size) - n_gold)
    fit = _dowhy_bridge.fit_dowhy(X_arr, y_pb, gold, estimator)
    original = fit.value
    router_estimate = float(np.mean(bias[rows]))
    reproduces = not mismatch and bool(np.isclose(original, router_estimate, rtol=1e-9, atol=1e-12))
    if not mismatch and not reproduces:
        why = (
            "the router's seed is unknown (a loaded router fitted with random_state=None or a "
            "RandomState)"
            if not seed_known
            else "the router's estimator could not be rebuilt exactly"
        )
        warnings.warn(
            f"DoWhy's refit of the router's estimator gives a mean bias of {original:.4g}, not "
            f"the router's own {router_estimate:.4g}: {why}. The refutation tests the "
            "router's estimator configuration, not the fitted router.",
            UserWarning,
            stacklevel=3,
        )
    se = _standard_error(y_pb, gold)
    tolerance = max(RELATIVE_TOLERANCE * abs(original), SE_MULTIPLIER * se)
    placebo_tolerance = max(RELATIVE_TOLERANCE * abs(original), PLACEBO_SE_MULTIPLIER * se)
    table_rows: list[dict] = []
    simulations: dict[str, np.ndarray] = {}
    dowhy_results: dict[str, dict] = {}
    row_slopes = None
    for name in refuters:
        start = time.perf_counter()
        try:
            refutation, sims = _dowhy_bridge.refute(
                fit,
                name,
                n_simulations=n_simulations,
                random_state=np.random.RandomState(seeds[name]),
                subset_fraction=subset_fraction,
            )
        except _dowhy_bridge.RefuterCannotRun as exc:
            sims = exc.completed
            row = _skipped_row(name, original, n_simulations, exc, n_gold, subset_fraction)
            dowhy_results[name] = {}
        else:
            p_value = _p_value(refutation)
            tested = 0.0 if name == "placebo" else original
            tol = placebo_tolerance if name == "placebo" else tolerance
            rowwise = None
            if name == "placebo":
                rowwise = _placebo_rowwise(
                    router, X_arr, y_pb, gold, fit.cate, sims, seed=seeds[name], scale=se
                )
                row_slopes = rowwise.slopes
            verdict, note = _verdict(
                name, original, sims, p_value, subset_fraction, tolerance=tol, rowwise=rowwise
            )
            row = {
                "refuter": name,
                "dowhy_method": _dowhy_bridge.REFUTER_METHODS[name],
                "original": original,
                "refuted": float(np.mean(sims)),
                "refuted_sd": float(np.std(sims)),
                "refuted_min": float(np.min(sims)),
                "refuted_max": float(np.max(sims)),
                "shift": float(np.mean(sims)) - tested,
                "tolerance": tol,
                "p_value": p_value,
                "n_simulations": n_simulations,
                "verdict": verdict,
                "note": note,
            }
            if rowwise is not None:
                row.update(
                    row_slope=rowwise.slope, row_slope_se=rowwise.se, row_slope_p=rowwise.p_value
                )
            dowhy_results[name] = _plain_result(refutation)
        row["seconds"] = time.perf_counter() - start
        table_rows.append(row)
        sims.setflags(write=False)
        simulations[name] = sims

    user_names = getattr(router, "feature_names_in_", None)
    if user_names is None:
        user_names = fit.effect_modifiers
    mapping = dict(zip(fit.effect_modifiers, (str(n) for n in user_names), strict=True))
    return RefutationResult(
        table=pd.DataFrame.from_records(table_rows, columns=_TABLE_COLUMNS),
        estimate=original,
        estimate_preference=float(np.mean(fit.cate[~gold])),
        router_estimate=router_estimate,
        learner=str(router.learner_),
        n_samples=int(X_arr.shape[0]),
        n_gold=n_gold,
        n_outside_overlap=int(rows.size - rows.sum()),
        standard_error=se,
        tolerance=tolerance,
        placebo_tolerance=placebo_tolerance,
        reproduces_router=reproduces,
        simulations=MappingProxyType(simulations),
        dowhy_results=MappingProxyType(dowhy_results),
        feature_names=MappingProxyType(mapping),
        row_slopes=row_slopes,
    )


def _standard_error(y_pb: np.ndarray, gold: np.ndarray) -> float:
    """Two-sample standard error of the mean bias: ``sqrt(var_gold / n_gold + var_pref / n_pref)``.

    Labels on the preference scale; sample variances (``ddof=1``; a source with one row adds 0).
    """
    total = 0.0
    for rows in (gold, ~gold):
        values = y_pb[rows]
        if values.size > 1:
            total += float(np.var(values, ddof=1)) / values.size
    return float(np.sqrt(total))


def _skipped_row(
    name: str, original: float, n_simulations: int, exc, n_gold: int, fraction: float
) -> dict:
    """The table row of a refuter that could not run on the data."""
    cause = exc.cause
    done = exc.completed.size
    note = (
        f"Skipped: {_WHAT[name].format(fraction=fraction).lower()} could not run on "
        f"these data ({type(cause).__name__}: {' '.join(str(cause).split())}), after "
        f"{done} of {n_simulations} refits."
    )
    if "don't contain all treatments" in str(cause):
        note += (
            f" EconML needs gold and preference rows in every cross-fitting fold; with "
            f"{n_gold} gold rows a resample can leave a fold without any. More gold rows "
            "let this refuter run."
        )
    nan = float("nan")
    return {
        "refuter": name,
        "dowhy_method": _dowhy_bridge.REFUTER_METHODS[name],
        "original": original,
        "refuted": nan,
        "refuted_sd": nan,
        "refuted_min": nan,
        "refuted_max": nan,
        "shift": nan,
        "tolerance": nan,
        "p_value": nan,
        "n_simulations": n_simulations,
        "verdict": "skipped",
        "note": note,
    }


# -- validation ----------------------------------------------------------------------------------
_WHY_REFUTE = "refutation needs its CATE estimator of the bias"

_RULES = {
    "n_simulations": Int(
        low=2, what="refits per refuter: DoWhy's test needs the spread of the refuted estimates"
    ),
    "subset_fraction": Real(0, 1, low_open=True, high_open=True),
    "random_state": Seed(),
}


def check_refutation_params(n_simulations, subset_fraction, random_state) -> dict:
    """Validate ``n_simulations``, ``subset_fraction`` and ``random_state``; return them by name."""
    values = SimpleNamespace(
        n_simulations=n_simulations, subset_fraction=subset_fraction, random_state=random_state
    )
    return check_params(values, _RULES)


def check_refuters(refuters, *, allow_empty: bool) -> tuple[str, ...]:
    """The refuter names as a tuple: a name or a sequence of distinct names from :data:`REFUTERS`.

    With ``allow_empty``, None and an empty sequence give ``()`` (no refutation).
    """
    if refuters is None and allow_empty:
        return ()
    if isinstance(refuters, str):
        refuters = (refuters,)
    try:
        names = tuple(refuters)
    except TypeError:
        kind = type(refuters).__name__
        message = f"`refuters` must be a sequence of names from {REFUTERS}; got {kind}."
        raise TypeError(message) from None
    if not names:
        if allow_empty:
            return ()
        raise ValueError(f"`refuters` must name at least one of {REFUTERS}; got an empty sequence.")
    unknown = [name for name in names if not (isinstance(name, str) and name in REFUTERS)]
    if unknown:
        raise ValueError(f"`refuters` must be names from {REFUTERS}; got unknown {head(unknown)}.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"`refuters` must not repeat a name; got {head(repeated)} more than once.")
    return names


def check_router(router, why: str) -> None:
    """Refuse anything but a fitted :class:`~metarouter_econml.MetaRouter`; ``why`` says why."""
    if not isinstance(router, MetaRouter):
        raise TypeError(
            f"`router` must be a fitted MetaRouter; got {type(router).__name__}: {why}."
        )
    check_is_fitted(router, "router_model_")


def _check_estimator(router: MetaRouter) -> None:
    """Refuse a router without a CATE estimator (``learner="auto"`` fell back to a baseline)."""
    if router.cate_estimator_ is None:
        reason = ""
        if isinstance(router.learner, str) and router.learner == "auto":
            reason = (
                f' learner="auto" fell back to the baseline {router.learner_!r}: '
                f"{router.auto_reason_} Refit with an explicit CATE learner (e.g. "
                'learner="r") to refute its estimate.'
            )
        raise ValueError(
            "`router` has no CATE estimator (`cate_estimator_` is None; learner_ is "
            f"{router.learner_!r}): refutation needs a bias estimated by an EconML learner.{reason}"
        )


def _rows_the_estimator_saw(router: MetaRouter, X, gold: np.ndarray, *, training: bool):
    """Rows to refit on: all of them, or those inside the overlap region for ``overlap="trim"``.

    A trimmed router fitted its CATE estimator on the GS rows and the PB rows inside the overlap
    region only (``overlap_mask_``, known for the training rows); for other rows the region is
    read from ``router.in_overlap``.
    """
    mask = getattr(router, "overlap_mask_", None)
    if mask is None:
        return np.ones(gold.shape[0], dtype=bool)
    if training:
        return np.asarray(mask, dtype=bool).copy()
    return np.asarray(router.in_overlap(X), dtype=bool) | gold


# -- estimation ----------------------------------------------------------------------------------
def _unfitted_cate_estimator(router: MetaRouter, n_gold: int, n_preference: int):
    """Rebuild the router's EconML estimator, unfitted: same learner, models, folds and seed.

    The recipe is the router's own (``MetaRouter._unfitted_cate``). The seed is read back from
    the fitted estimator (``random_state``), so this works whatever ``router.random_state`` was
    (an int, a RandomState already advanced, or None). A loaded router (``metarouter_econml.
    load``) keeps only the final CATE model, whose stand-in has no seed: the seed is then the
    one ``fit`` drew from an int ``router.random_state`` (:func:`random_seed`). A user-supplied
    EconML estimator is deep-copied from the unfitted ``router.learner`` (its own seed is kept).

    Returns the estimator and whether its seed is the router's (False: seed 0 was used).
    """
    learner = router.learner if not isinstance(router.learner, str) else router.learner_
    fitted_seed = getattr(router.cate_estimator_, "random_state", None)
    given = router.random_state
    if isinstance(fitted_seed, Integral):
        seed, known = int(fitted_seed), True
    elif isinstance(given, Integral) and not isinstance(given, bool):
        seed, known = random_seed(int(given)), True
    else:
        seed, known = 0, False
    if not isinstance(router.learner, str):
        known = True  # deep-copied: the estimator carries its own seed
    estimator, _ = router._unfitted_cate(learner, n_gold, n_preference, seed)
    return estimator, known


# -- the placebo, row by row ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Rowwise:
    """The placebo's per-row test (rule in :func:`refute_bias`): slopes, verdict and a sentence."""

    slopes: np.ndarray | None
    slope: float
    se: float
    p_value: float
    failed: bool
    sentence: str


def _placebo_rowwise(
    router: MetaRouter,
    X: np.ndarray,
    y_pb: np.ndarray,
    gold: np.ndarray,
    cate: np.ndarray,
    placebo_means: np.ndarray,
    *,
    seed: int,
    scale: float,
) -> _Rowwise:
    """Refit on the placebo's permutations and test whether the per-row bias is reproduced.

    The permutations are drawn as DoWhy's ``placebo_treatment_refuter`` draws them
    (``placebo_type="permute"``, ``n_jobs=1``): one ``choice(n, n, replace=False)`` per simulation
    from a ``RandomState`` with the placebo's seed. ``placebo_means`` are DoWhy's placebo
    estimates; the sentence says when these refits' means differ from them. ``scale`` is the
    standard error of the mean bias: the slope's denominator is at least its square.
    """
    nan = float("nan")
    n_sims = int(placebo_means.size)
    centred = cate - cate.mean()
    if float(np.ptp(cate)) <= 1e-12 * max(1.0, float(np.max(np.abs(cate)))):
        sentence = (
            "Per row: not tested, the original per-row bias is constant (no heterogeneity to "
            "reproduce)."
        )
        return _Rowwise(None, nan, nan, nan, False, sentence)
    rng = np.random.RandomState(seed)
    n, n_gold = gold.size, int(gold.sum())
    denominator = max(float(centred @ centred), n * scale**2)
    slopes = np.empty(n_sims)
    means = np.empty(n_sims)
    for s in range(n_sims):
        permuted = gold[rng.choice(n, size=n, replace=False)]
        estimator, _ = _unfitted_cate_estimator(router, n_gold, n - n_gold)
        try:
            refit = _dowhy_bridge.fit_dowhy(X, y_pb, permuted, estimator)
        except _dowhy_bridge.DATA_ERRORS as exc:
            sentence = (
                f"Per row: not tested, refit {s + 1} on permuted flags could not run "
                f"({type(exc).__name__}: {' '.join(str(exc).split())})."
            )
            return _Rowwise(None, nan, nan, nan, False, sentence)
        placebo = refit.cate
        means[s] = refit.value
        slopes[s] = float(centred @ (placebo - placebo.mean())) / denominator
    slopes.setflags(write=False)
    slope, failed, p_value, se, evidence = _slope_test(slopes)
    sentence = (
        f"Per row: the placebo refits reproduce a share {slope:.3g} of the original per-row "
        f"bias (mean slope over {n_sims} refits, standard error {se:.2g}), "
        f"{'above' if slope > PLACEBO_SLOPE_TOLERANCE else 'within'} the tolerance "
        f"{PLACEBO_SLOPE_TOLERANCE:g}; {evidence}."
    )
    if not np.allclose(means, placebo_means, rtol=1e-6, atol=1e-9):
        sentence += (
            " (These refits' mean biases differ from DoWhy's placebo refits: the estimator "
            "does not repeat itself given its seed.)"
        )
    return _Rowwise(slopes, slope, se, p_value, failed, sentence)


def _slope_test(slopes: np.ndarray) -> tuple[float, bool, float, float, str]:
    """The per-row rule on the slopes: ``(mean, failed, p_value, standard error, evidence)``."""
    n = slopes.size
    slope = float(np.mean(slopes))
    se = float(np.std(slopes, ddof=1)) / np.sqrt(n) if n > 1 else 0.0
    if se > 0:
        p_value = float(stats.t.sf(slope / se, df=n - 1))
        rejects = p_value <= ALPHA
        evidence = f"one-sided t-test of zero slope p = {p_value:.3g}" + (
            " (rejects)" if rejects else ""
        )
    else:
        p_value = float("nan")
        rejects = not bool(np.allclose(slopes, 0.0, atol=1e-12))
        evidence = "the slopes do not vary, so the t-test is undefined; they " + (
            "differ from 0" if rejects else "equal 0"
        )
    return slope, bool(rejects and slope > PLACEBO_SLOPE_TOLERANCE), p_value, se, evidence


# -- verdicts ------------------------------------------------------------------------------------
def _p_value(refutation) -> float:
    result = getattr(refutation, "refutation_result", None)
    if not result or result.get("p_value") is None:
        return float("nan")
    return float(result["p_value"])


def _plain_result(refutation) -> dict:
    result = getattr(refutation, "refutation_result", None) or {}
    plain = {}
    for key, value in result.items():
        plain[key] = value.item() if isinstance(value, np.generic) else value
    return plain


def _verdict(
    name: str,
    original: float,
    sims: np.ndarray,
    p_value: float,
    fraction: float,
    *,
    tolerance: float,
    rowwise: _Rowwise | None = None,
):
    """Return ``("pass" | "fail", note)`` for one refuter; the rule is in :func:`refute_bias`.

    ``rowwise`` is the placebo's per-row test (:func:`_placebo_rowwise`); the placebo fails when
    its mean test or its per-row test fails.
    """
    mean, sd, n = float(np.mean(sims)), float(np.std(sims)), int(sims.size)
    tested = 0.0 if name == "placebo" else original
    shift = mean - tested
    material = abs(shift) > tolerance
    what = _WHAT[name].format(fraction=fraction)
    refits = f"{n} refit{'s' if n != 1 else ''}"
    if np.isnan(p_value):
        rejects = not bool(np.allclose(sims, tested, rtol=1e-9, atol=1e-12))
        evidence = (
            "the refits do not vary, so DoWhy's p-value is undefined; they "
            + ("differ from" if rejects else "equal")
            + f" {tested:.4g}"
        )
    else:
        rejects = p_value <= ALPHA
        evidence = f"DoWhy's p = {p_value:.3g}" + (" (rejects)" if rejects else "")
    size = f"{'beyond' if material else 'within'} the tolerance"
    failed = material and rejects
    if name == "placebo":
        head_ = (
            f"{refits}: {what} gave a mean bias of {mean:.4g} (sd {sd:.3g}), {size} of zero; "
            f"{evidence}."
        )
        row_failed = rowwise is not None and rowwise.failed
        if rowwise is not None:
            head_ += " " + rowwise.sentence
        if failed or row_failed:
            found = "finds a bias" if failed else "reproduces the original per-row bias"
            note = (
                f"{head_} The estimator {found} even when the gold flags are random, so "
                "its estimate comes from something other than the source of the labels "
                "(leakage, a final stage fitted in advance, overfitting, or too few gold rows)."
            )
            failed = True
        elif sd > 0 and abs(original - mean) > 2 * sd:
            note = (
                f"{head_} The original estimate lies outside the placebo spread, as a real bias "
                "should."
            )
        else:
            note = (
                f"{head_} The original estimate is itself within 2 sd of the placebo estimates: "
                "this bias is not distinguishable from what shuffled gold flags produce."
            )
    else:
        head_ = (
            f"{refits}: {what} moved the mean bias to {mean:.4g} (by {shift:+.3g}, sd "
            f"{sd:.3g}), {size}; {evidence}."
        )
        if failed:
            note = (
                f"{head_} The bias estimate is sensitive to this perturbation: treat it with "
                "caution (more gold rows help)."
            )
        elif rejects:
            note = f"{head_} The move is significant but too small to matter."
        else:
            note = head_
    if n < MIN_SIMULATIONS:
        note += (
            f" Only {n} refits: the spread behind the p-value is known to about "
            f"+-{100 / np.sqrt(2 * max(n - 1, 1)):.0f} %, so this verdict is indicative; pass "
            f"n_simulations >= {MIN_SIMULATIONS} for a firm one."
        )
    return ("fail" if failed else "pass"), note
