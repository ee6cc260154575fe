"""Cost-quality frontiers of multi-model routers (metarouter_econml.evaluation._frontier).

The hand-computed example used throughout: 3 queries, models "small" (cost 1) and "large"
(cost 3).

    scores   small large      quality  small large
    query 0    0     2                   0    0.5
    query 1    1     2                   0    1
    query 2    2     1                   1    0

Query 0 switches to "small" at w = (2 - 0) / (3 - 1) = 1, query 1 at w = 1/2, query 2 is on
"small" from w = 0. Routings: (large, large, small) at w = 0: mean cost 7/3, quality 5/6;
(large, small, small) from 1/2: 5/3, 1/2; all small from 1: 1, 1/3. Hull: (1, 1/3) to
(7/3, 5/6) (the middle point is under the chord, whose height there is 7/12), flat to 3.
AIQ = (4/3 * (1/3 + 5/6) / 2 + 2/3 * 5/6) / 2 = 2/3. Fixed mix: (1, 1/3) and (3, 1/2), AIQ
5/12. Oracle: query 0 switches at 1/4, query 1 at 1/2: (7/3, 5/6), (5/3, 2/3), (1, 1/3),
AIQ = (2/3 * 1/2 + 2/3 * 3/4 + 2/3 * 5/6) / 2 = 25/36; oracle share (24 - 15) / (25 - 15) = 0.9.
"""

import dataclasses
import time

import matplotlib
import numpy as np
import pandas as pd
import pytest

from metarouter_econml import evaluation
from metarouter_econml.evaluation import (
    CostQualityCurve,
    _frontier,
    aiq,
    cost_quality_curve,
    fixed_mix_curve,
    oracle_curve,
    oracle_share,
    plot_frontier,
)

matplotlib.use("Agg")

COSTS = {"small": 1.0, "large": 3.0}


@pytest.fixture
def scores():
    return pd.DataFrame({"small": [0.0, 1.0, 2.0], "large": [2.0, 2.0, 1.0]})


@pytest.fixture
def quality():
    return pd.DataFrame({"small": [0.0, 0.0, 1.0], "large": [0.5, 1.0, 0.0]})


def _random_case(seed, n=60, k=4, tied_costs=False):
    rng = np.random.default_rng(seed)
    models = [f"m{j}" for j in range(k)]
    costs = np.sort(rng.uniform(0.5, 5.0, k))
    if tied_costs:
        costs[1] = costs[0]
        costs[-1] = costs[-2]
    level = np.log1p(costs)
    quality = pd.DataFrame(level + rng.normal(0.0, 0.5, (n, k)), columns=models)
    scores = pd.DataFrame(quality.to_numpy() + rng.normal(0.0, 0.5, (n, k)), columns=models)
    return scores, quality, dict(zip(models, costs, strict=True))


def _brute_force(scores, quality, costs, w):
    """Route each query at weight ``w`` directly: argmax, then cheapest, then first column."""
    s, q = scores.to_numpy(), quality[scores.columns].to_numpy()
    c = np.array([costs[m] for m in scores.columns])
    utility = s - w * c
    tied = utility == utility.max(axis=1, keepdims=True)
    tied_cost = np.where(tied, c, np.inf)
    choice = np.argmax(tied & (tied_cost == tied_cost.min(axis=1, keepdims=True)), axis=1)
    return c[choice].mean(), q[np.arange(len(q)), choice].mean()


# -- hand-computed cases ---------------------------------------------------------------------------
def test_hand_computed_curve(scores, quality):
    curve = cost_quality_curve(scores, quality, COSTS)
    np.testing.assert_array_equal(curve.cost_weights, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(curve.cost, [7 / 3, 5 / 3, 1.0], rtol=1e-14)
    np.testing.assert_allclose(curve.quality, [5 / 6, 1 / 2, 1 / 3], rtol=1e-14)
    np.testing.assert_allclose(curve.hull, [[1.0, 1 / 3], [7 / 3, 5 / 6]], rtol=1e-14)
    assert curve.cost_range == (1.0, 3.0)
    assert curve.aiq == pytest.approx(2 / 3, rel=1e-14)
    assert curve.n_points == 3


def test_quality_at_budget_follows_the_hull(scores, quality):
    curve = cost_quality_curve(scores, quality, COSTS)
    assert curve.quality_at_budget(1.0) == pytest.approx(1 / 3)
    assert curve.quality_at_budget(5 / 3) == pytest.approx(7 / 12)  # above the routing's 1/2
    assert curve.quality_at_budget(7 / 3) == pytest.approx(5 / 6)
    assert curve.quality_at_budget(3.0) == pytest.approx(5 / 6)  # flat: budget underspent
    assert np.isnan(curve.quality_at_budget(0.99))  # no routing is that cheap
    assert curve.quality_at_budget(1.0 - 1e-13) == pytest.approx(1 / 3)  # rounding tolerated


def test_hand_computed_fixed_mix(quality):
    mix = fixed_mix_curve(quality, COSTS)
    np.testing.assert_allclose(mix.cost, [1.0, 3.0])
    np.testing.assert_allclose(mix.quality, [1 / 3, 1 / 2])
    assert mix.models == ("small", "large")
    assert mix.cost_weights is None
    assert mix.aiq == pytest.approx(5 / 12, rel=1e-14)
    assert mix.quality_at_budget(2.0) == pytest.approx(5 / 12)  # half-half random routing
    assert list(mix.to_frame().columns) == ["cost", "quality", "model"]


def test_hand_computed_oracle_and_share(scores, quality):
    oracle = oracle_curve(quality, COSTS)
    np.testing.assert_array_equal(oracle.cost_weights, [0.0, 0.25, 0.5])
    np.testing.assert_allclose(oracle.quality, [5 / 6, 2 / 3, 1 / 3], rtol=1e-14)
    assert oracle.hull.shape == (3, 2)  # concave: every routing is a vertex
    assert oracle.aiq == pytest.approx(25 / 36, rel=1e-14)
    router = cost_quality_curve(scores, quality, COSTS)
    mix = fixed_mix_curve(quality, COSTS)
    assert oracle_share(router.aiq, mix.aiq, oracle.aiq) == pytest.approx(0.9, rel=1e-12)
    assert oracle_share(router, mix, oracle) == pytest.approx(0.9, rel=1e-12)  # curves accepted
    assert oracle_share(oracle, mix, oracle) == pytest.approx(1.0)
    assert oracle_share(mix, mix, oracle) == 0.0


def test_constant_scores_route_everything_to_the_cheapest_model(scores, quality):
    constant = pd.DataFrame(np.ones(scores.shape), columns=scores.columns)
    curve = cost_quality_curve(constant, quality, COSTS)
    # Ties at w = 0 go to the cheaper model: one routing, "small" everywhere.
    np.testing.assert_array_equal(curve.cost_weights, [0.0])
    np.testing.assert_allclose(curve.cost, [1.0])
    np.testing.assert_allclose(curve.quality, [1 / 3])
    assert curve.aiq == pytest.approx(1 / 3)  # flat at the cheapest model over [1, 3]
    mix, oracle = fixed_mix_curve(quality, COSTS), oracle_curve(quality, COSTS)
    # (12/36 - 15/36) / (25/36 - 15/36): below the fixed mix, which may also buy "large".
    assert oracle_share(curve, mix, oracle) == pytest.approx(-0.3, rel=1e-12)


def test_aiq_by_hand_with_both_ends_extended():
    # H = 1 on [1, 2] (flat left of the cheapest point), 1 -> 2 on [2, 3], 2 on [3, 4].
    assert aiq([2.0, 3.0], [1.0, 2.0], cost_range=(1.0, 4.0)) == pytest.approx(1.5)
    assert aiq([2.0, 3.0], [1.0, 2.0]) == pytest.approx(1.5)  # default range: the points'
    assert aiq([2.0, 3.0], [1.0, 2.0], cost_range=(2.5, 2.5)) == pytest.approx(1.5)  # H(2.5)
    assert aiq([4.0], [0.7]) == pytest.approx(0.7)  # one point, zero-width range


def test_hull_is_non_decreasing_and_drops_dominated_points():
    # (2, 0) and (3, 0.5) are dominated by (1, 1): a bigger budget may be underspent.
    assert aiq([1.0, 2.0, 3.0], [1.0, 0.0, 0.5]) == pytest.approx(1.0)
    curve = CostQualityCurve(cost=[1.0, 1.0, 2.0, 2.0, 4.0], quality=[0.0, 0.5, 0.5, 1.0, 1.0])
    # Among equal costs the best point; among equal qualities the cheapest.
    np.testing.assert_array_equal(curve.hull, [[1.0, 0.5], [2.0, 1.0]])
    assert curve.aiq == pytest.approx((0.75 + 2.0) / 3)


def test_cost_weights_grid_and_the_tie_at_a_crossing(scores, quality):
    # At w = 1/2 exactly query 1's two lines tie: the cheaper model wins.
    curve = cost_quality_curve(scores, quality, COSTS, cost_weights=[0.25, 0.5, 0.75, 1.0, 2.0])
    np.testing.assert_allclose(curve.cost, [7 / 3, 5 / 3, 5 / 3, 1.0, 1.0])
    np.testing.assert_array_equal(curve.cost_weights, [0.25, 0.5, 0.75, 1.0, 2.0])
    # The AIQ over a grid is that of the grid's points (here the same hull).
    assert curve.aiq == pytest.approx(2 / 3)


def test_ties_go_to_the_cheaper_model_then_the_earlier_column():
    quality = pd.DataFrame({"b": [0.7], "a": [0.2], "c": [0.9]})
    costs = {"a": 1.0, "b": 1.0, "c": 2.0}
    equal = pd.DataFrame({"b": [1.0], "a": [1.0], "c": [1.0]})
    assert cost_quality_curve(equal, quality, costs).quality.tolist() == [0.7]  # b: 1st column
    swapped = equal[["a", "b", "c"]]
    assert cost_quality_curve(swapped, quality, costs).quality.tolist() == [0.2]  # now a
    # "c" leads at w = 0; "a" and "b" cross it together at w = 1 and tie for ever after.
    lead = pd.DataFrame({"b": [0.0], "a": [0.0], "c": [1.0]})
    curve = cost_quality_curve(lead, quality, costs)
    np.testing.assert_array_equal(curve.cost_weights, [0.0, 1.0])
    np.testing.assert_allclose(curve.quality, [0.9, 0.7])


def test_queries_already_on_the_cheapest_model_add_no_point():
    scores = pd.DataFrame({"small": [5.0, 5.0], "large": [1.0, 0.0]})
    quality = pd.DataFrame({"small": [0.1, 0.2], "large": [0.3, 0.4]})
    curve = cost_quality_curve(scores, quality, COSTS)
    np.testing.assert_array_equal(curve.cost_weights, [0.0])
    np.testing.assert_allclose(curve.quality, [0.15])


# -- properties on random data ---------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("tied_costs", [False, True])
def test_sweep_agrees_with_brute_force(seed, tied_costs):
    scores, quality, costs = _random_case(seed, tied_costs=tied_costs)
    curve = cost_quality_curve(scores, quality, costs)
    w = curve.cost_weights
    assert w[0] == 0.0 and np.all(np.diff(w) > 0)
    assert np.all(np.diff(curve.cost) < 0)  # each change moves a query to a cheaper model
    # Inside each interval between breakpoints, and beyond the last, the direct routing is
    # the curve's point; at w = 0 too.
    probes = np.r_[0.0, (w[:-1] + w[1:]) / 2, w[-1] * 2 + 1.0]
    points = np.r_[0, np.arange(w.size - 1), w.size - 1]
    for probe, j in zip(probes, points, strict=True):
        cost, qual = _brute_force(scores, quality, costs, probe)
        assert cost == pytest.approx(curve.cost[j], rel=1e-12)
        assert qual == pytest.approx(curve.quality[j], rel=1e-12, abs=1e-12)
    # Every distinct routing of a dense grid is one of the curve's points.
    grid = np.linspace(0.0, w[-1] * 1.5, 2001)
    dense = cost_quality_curve(scores, quality, costs, cost_weights=grid)
    brute = np.array([_brute_force(scores, quality, costs, g) for g in grid])
    np.testing.assert_allclose(dense.cost, brute[:, 0], rtol=1e-12)
    np.testing.assert_allclose(dense.quality, brute[:, 1], rtol=1e-12, atol=1e-12)
    index = np.searchsorted(w, grid, side="right") - 1
    np.testing.assert_allclose(dense.cost, curve.cost[index], rtol=1e-12)


def test_adding_a_constant_per_query_changes_no_decision():
    rng = np.random.default_rng(3)
    models = ["a", "b", "c", "d"]
    costs = {"a": 1.0, "b": 2.0, "c": 2.0, "d": 5.0}
    # Dyadic scores and integer shifts: the arithmetic is exact, so the curves are identical.
    scores = pd.DataFrame(rng.integers(-32, 32, (80, 4)) / 8, columns=models)
    quality = pd.DataFrame(rng.normal(size=(80, 4)), columns=models)
    shift = rng.integers(-100, 100, 80).astype(float)
    base = cost_quality_curve(scores, quality, costs)
    moved = cost_quality_curve(scores.add(shift, axis=0), quality, costs)
    np.testing.assert_array_equal(moved.cost_weights, base.cost_weights)
    np.testing.assert_array_equal(moved.cost, base.cost)
    np.testing.assert_array_equal(moved.quality, base.quality)
    # Continuous scores and shifts: equal up to rounding of the breakpoints.
    scores, quality, costs = _random_case(4, n=300)
    shift = rng.normal(0.0, 10.0, 300)
    base = cost_quality_curve(scores, quality, costs)
    moved = cost_quality_curve(scores.add(shift, axis=0), quality, costs)
    assert moved.aiq == pytest.approx(base.aiq, rel=1e-9)
    np.testing.assert_allclose(moved.cost_weights, base.cost_weights, rtol=1e-9)


@pytest.mark.parametrize("seed", [0, 5])
def test_oracle_dominates_routers_and_the_fixed_mix(seed):
    scores, quality, costs = _random_case(seed, n=200, k=5)
    oracle = oracle_curve(quality, costs)
    mix = fixed_mix_curve(quality, costs)
    router = cost_quality_curve(scores, quality, costs)
    budgets = np.linspace(min(costs.values()), max(costs.values()), 101)
    for budget in budgets:
        best = oracle.quality_at_budget(budget)
        assert best >= mix.quality_at_budget(budget) - 1e-12
        assert best >= router.quality_at_budget(budget) - 1e-12
    assert oracle.aiq > mix.aiq
    assert oracle.aiq >= router.aiq
    assert np.all(np.diff(oracle.cost_weights) > 0)
    share = oracle_share(router, mix, oracle)
    assert 0.0 < share < 1.0  # a noisy but informative router
    # The oracle's curve is concave: its slopes increase as the cost weight grows.
    slopes = np.diff(oracle.quality) / np.diff(oracle.cost)
    assert np.all(np.diff(slopes) >= -1e-9)


def test_scores_constant_across_queries_trace_the_fixed_mix():
    scores, quality, costs = _random_case(6, n=200, k=5)
    means = pd.DataFrame(
        np.tile(quality.mean().to_numpy(), (len(quality), 1)), columns=quality.columns
    )
    router = cost_quality_curve(means, quality, costs)
    mix = fixed_mix_curve(quality, costs)
    # Each routing sends every query to one model: the points are single models of the hull.
    np.testing.assert_allclose(router.hull, mix.hull, rtol=1e-12)
    assert router.aiq == pytest.approx(mix.aiq, rel=1e-12)
    share = oracle_share(router, mix, oracle_curve(quality, costs))
    assert share == pytest.approx(0.0, abs=1e-9)


def test_quality_columns_are_matched_by_name():
    scores, quality, costs = _random_case(7)
    base = cost_quality_curve(scores, quality, costs)
    reordered = cost_quality_curve(scores, quality[quality.columns[::-1]], costs)
    np.testing.assert_array_equal(reordered.quality, base.quality)
    extra = {**costs, "unused": 100.0}  # extra keys are ignored, also in the AIQ's range
    assert cost_quality_curve(scores, quality, extra).aiq == base.aiq


def test_inputs_are_not_modified(scores, quality):
    originals = scores.copy(), quality.copy(), dict(COSTS)
    cost_quality_curve(scores, quality, COSTS)
    fixed_mix_curve(quality, COSTS)
    oracle_curve(quality, COSTS)
    pd.testing.assert_frame_equal(scores, originals[0])
    pd.testing.assert_frame_equal(quality, originals[1])
    assert COSTS == originals[2]


def _upper_hull_by_definition(x, y):
    """Vertices of the upper hull, by definition: no chord over the point passes on or above it."""
    vertices = [0]
    for i in range(1, x.size - 1):
        a, b = np.meshgrid(np.arange(i), np.arange(i + 1, x.size), indexing="ij")
        cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a])
        if not (cross <= 0).any():  # strictly above every chord over it
            vertices.append(i)
    return np.array([*vertices, x.size - 1])


def test_hull_scan_finds_exactly_the_vertices_of_the_upper_hull():
    rng = np.random.default_rng(8)
    x = np.unique(rng.uniform(0, 1, 200))
    cases = [
        rng.normal(size=x.size),  # mostly interior points
        np.sqrt(x),  # concave: every point a vertex
        np.r_[np.sqrt(x[:-1]) * 1e-3, 10.0],  # a spike at the end
    ]
    for y in cases:
        np.testing.assert_array_equal(_frontier._upper_chain(x, y), _upper_hull_by_definition(x, y))
    grid = np.arange(50) / 8.0  # exact in binary: collinear points are exactly collinear
    np.testing.assert_array_equal(_frontier._upper_chain(grid, 2 * grid + 1), [0, 49])


def test_large_input_is_fast():
    rng = np.random.default_rng(9)
    n, k = 100_000, 10
    models = [f"m{j}" for j in range(k)]
    costs = dict(zip(models, np.linspace(0.1, 10.0, k), strict=True))
    quality = pd.DataFrame(np.log1p(list(costs.values())) + rng.normal(size=(n, k)), columns=models)
    scores = quality + rng.normal(size=(n, k))
    start = time.perf_counter()
    curve = cost_quality_curve(scores, quality, costs)
    oracle = oracle_curve(quality, costs)
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0  # about 0.5 s on one core; a loose guard against quadratic blow-ups
    assert curve.n_points > n and oracle.aiq > curve.aiq


# -- the result object -----------------------------------------------------------------------------
def test_curve_is_frozen_and_read_only(scores, quality):
    curve = cost_quality_curve(scores, quality, COSTS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        curve.aiq = 1.0  # type: ignore[misc]
    for array in (curve.cost, curve.quality, curve.cost_weights, curve.hull):
        assert not array.flags.writeable
    summary = curve.summary()
    assert summary.shape == (1, 9)
    assert summary.loc[0, "aiq"] == pytest.approx(2 / 3)
    assert summary.loc[0, "n_hull_vertices"] == 2
    table = curve.to_frame()
    assert list(table.columns) == ["cost_weight", "cost", "quality"]
    assert str(curve) == (
        "CostQualityCurve: 3 routings, mean cost 1-2.333 (AIQ over 1-3), aiq=0.6667, "
        "best quality 0.8333"
    )


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"cost": [1.0, 2.0], "quality": [1.0]}, ValueError, "same length; got 2 and 1"),
        ({"cost": [], "quality": []}, ValueError, "`cost` must be a non-empty 1-D array"),
        ({"cost": [np.nan], "quality": [1.0]}, ValueError, "`cost` must be finite"),
        ({"cost": [1.0], "quality": [1.0], "cost_range": (2.0, 1.0)}, ValueError, "low <= high"),
        ({"cost": [1.0], "quality": [1.0], "cost_weights": [0.0, 1.0]}, ValueError, "one value"),
        ({"cost": [1.0], "quality": [1.0], "models": ("a", "b")}, ValueError, "name every point"),
    ],
)
def test_curve_rejects_bad_fields(arguments, error, match):
    with pytest.raises(error, match=match):
        CostQualityCurve(**arguments)


def test_quality_at_budget_rejects_non_numbers(scores, quality):
    curve = cost_quality_curve(scores, quality, COSTS)
    with pytest.raises(TypeError, match="`budget` must be a real number; got str '1'"):
        curve.quality_at_budget("1")
    with pytest.raises(ValueError, match="`budget` must be a finite number; got inf"):
        curve.quality_at_budget(float("inf"))


# -- bad input -------------------------------------------------------------------------------------
def _bad(scores, quality, case):
    """Arguments of cost_quality_curve for one bad-input case."""
    costs = dict(COSTS)
    weights = None
    if case == "scores_array":
        scores = scores.to_numpy()
    elif case == "quality_columns":
        quality = quality.rename(columns={"large": "huge"})
    elif case == "rows":
        quality = quality.iloc[:2]
    elif case == "index":
        quality = quality.set_axis([0, 1, 5])
    elif case == "nan":
        scores = scores.copy()
        scores.iloc[1, 0] = np.nan
    elif case == "strings":
        scores = scores.astype({"small": str})
    elif case == "bools":
        scores = scores.astype({"small": bool})
    elif case == "empty":
        scores, quality = scores.iloc[:0], quality.iloc[:0]
    elif case == "duplicated":
        scores = scores.set_axis(["small", "small"], axis=1)
    elif case == "costs_list":
        costs = [1.0, 3.0]
    elif case == "cost_missing":
        costs = {"small": 1.0}
    elif case == "cost_negative":
        costs["large"] = -1.0
    elif case == "cost_nan":
        costs["large"] = float("nan")
    elif case == "cost_string":
        costs["large"] = "3"
    elif case == "weights_negative":
        weights = [-1.0, 0.0]
    elif case == "weights_unsorted":
        weights = [0.0, 2.0, 1.0]
    elif case == "weights_nan":
        weights = [0.0, np.nan]
    return scores, quality, costs, weights


@pytest.mark.parametrize(
    ("case", "error", "match"),
    [
        ("scores_array", TypeError, "`scores` must be a pandas DataFrame .* got ndarray"),
        ("quality_columns", ValueError, r"`quality` lacks \['large'\] and has extra \['huge'\]"),
        ("rows", ValueError, "same number of rows .* got 3 and 2"),
        ("index", ValueError, "same index .* first differ at position 2: 2 and 5"),
        ("nan", ValueError, r"`scores` must be finite; got 1 NaN .* columns \['small'\]"),
        ("strings", TypeError, r"`scores` must hold numbers; columns \['small'\]"),
        ("bools", TypeError, r"`scores` must hold numbers; columns \['small'\]"),
        ("empty", ValueError, r"`scores` must have at least 1 row .* shape \(0, 2\)"),
        ("duplicated", ValueError, r"`scores` has duplicated column names \['small'\]"),
        ("costs_list", TypeError, "`costs` must be a mapping .* got list"),
        ("cost_missing", ValueError, r"cost of every model .* missing \['large'\]"),
        ("cost_negative", ValueError, r"`costs\['large'\]` must be a finite number >= 0; got -1"),
        ("cost_nan", ValueError, r"`costs\['large'\]` must be a finite number >= 0; got nan"),
        ("cost_string", TypeError, r"`costs\['large'\]` must be a real number; got str"),
        ("weights_negative", ValueError, "`cost_weights` must be >= 0 .* got -1.0"),
        ("weights_unsorted", ValueError, "strictly increasing; got 2.0 followed by 1.0"),
        ("weights_nan", ValueError, "`cost_weights` must be finite"),
    ],
)
def test_bad_input(scores, quality, case, error, match):
    s, q, costs, weights = _bad(scores, quality, case)
    with pytest.raises(error, match=match):
        cost_quality_curve(s, q, costs, cost_weights=weights)


def test_fixed_mix_and_oracle_check_their_input(quality):
    with pytest.raises(TypeError, match="`quality` must be a pandas DataFrame"):
        fixed_mix_curve(quality.to_numpy(), COSTS)
    with pytest.raises(ValueError, match=r"missing \['large'\]"):
        fixed_mix_curve(quality, {"small": 1.0})
    with pytest.raises(ValueError, match=r"`scores` must be finite"):
        oracle_curve(quality.replace(0.5, np.inf), COSTS)


def test_aiq_rejects_bad_input():
    with pytest.raises(ValueError, match="same length; got 2 and 1"):
        aiq([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="`quality` must be finite"):
        aiq([1.0], [np.nan])
    with pytest.raises(ValueError, match=r"low <= high; got \(3.0, 1.0\)"):
        aiq([1.0], [1.0], cost_range=(3.0, 1.0))
    with pytest.raises(TypeError, match="`cost_range` must be None or a pair"):
        aiq([1.0], [1.0], cost_range=2.0)
    with pytest.raises(ValueError, match=r"`cost_range\[1\]` must be a finite number"):
        aiq([1.0], [1.0], cost_range=(0.0, np.inf))


def test_oracle_share_rules():
    assert np.isnan(oracle_share(0.3, 0.5, 0.5))  # no gap to recover
    assert np.isnan(oracle_share(0.3, 0.5, 0.5 + 1e-12))  # within the tolerance
    assert oracle_share(0.3, 0.5, 0.6) == pytest.approx(-2.0)  # below the fixed mix
    with pytest.raises(ValueError, match="`oracle_aiq` must be >= `mix_aiq`.*got oracle_aiq=0.4"):
        oracle_share(0.3, 0.5, 0.4)
    with pytest.raises(TypeError, match="`mix_aiq` must be a real number; got str"):
        oracle_share(0.3, "0.5", 0.6)
    with pytest.raises(ValueError, match="`router_aiq` must be a finite number; got nan"):
        oracle_share(float("nan"), 0.5, 0.6)
    short = CostQualityCurve(cost=[1.0, 2.0], quality=[0.5, 0.6])
    long = CostQualityCurve(cost=[1.0, 2.0], quality=[0.5, 0.6], cost_range=(1.0, 3.0))
    with pytest.raises(ValueError, match="same cost range"):
        oracle_share(short, long, long)
    assert oracle_share(0.55, short, 0.6) == pytest.approx((0.55 - short.aiq) / (0.6 - short.aiq))


# -- plots and exports -----------------------------------------------------------------------------
def test_plots_return_axes(scores, quality):
    import matplotlib.pyplot as plt

    router = cost_quality_curve(scores, quality, COSTS)
    mix, oracle = fixed_mix_curve(quality, COSTS), oracle_curve(quality, COSTS)
    try:
        ax = router.plot(label="router")
        assert isinstance(ax, matplotlib.axes.Axes)
        hull_x, hull_y = ax.lines[0].get_data()
        np.testing.assert_allclose(hull_x, [1.0, 7 / 3, 3.0])  # extended flat to the range
        np.testing.assert_allclose(hull_y, [1 / 3, 5 / 6, 5 / 6])
        _, given = plt.subplots()
        ax = plot_frontier({"router": router}, given, fixed_mix=mix, oracle=oracle, points=True)
        assert ax is given
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["router (AIQ 0.667)", "oracle (AIQ 0.694)", "fixed mix (AIQ 0.417)"]
        assert {t.get_text() for t in ax.texts} == {"small", "large"}  # the single models
    finally:
        plt.close("all")


def test_plot_frontier_rejects_bad_input(scores, quality):
    router = cost_quality_curve(scores, quality, COSTS)
    with pytest.raises(TypeError, match="`curves` must be a mapping"):
        plot_frontier([router])
    with pytest.raises(TypeError, match=r"`curves\['r'\]` must be a CostQualityCurve; got float"):
        plot_frontier({"r": 0.5})
    with pytest.raises(TypeError, match="`fixed_mix` must be a CostQualityCurve"):
        plot_frontier({"r": router}, fixed_mix=0.5)
    with pytest.raises(ValueError, match="nothing to draw"):
        plot_frontier({})


def test_frontier_names_are_exported():
    names = {
        "CostQualityCurve",
        "aiq",
        "cost_quality_curve",
        "fixed_mix_curve",
        "oracle_curve",
        "oracle_share",
        "plot_frontier",
    }
    assert names <= set(evaluation.__all__)
    assert set(_frontier.__all__) == names
    for name in names:
        assert getattr(evaluation, name) is getattr(_frontier, name)
