"""RouteLLM metrics and the repeated-split evaluation protocol (``run_protocol``)."""

import dataclasses
import time
import warnings
from html.parser import HTMLParser

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import BaseEstimator

import metarouter_econml.evaluation as evaluation
from metarouter_econml import MetaRouter, PooledRouter
from metarouter_econml.datasets import RoutingDataset, make_routing_data
from metarouter_econml.evaluation import (
    PROTOCOL_METHODS,
    ProtocolResult,
    efficiency_gain_curve,
    routellm_metrics,
    run_protocol,
)
from metarouter_econml.evaluation._protocol import _DEFAULT_METHODS, _resolve_methods

matplotlib.use("Agg")

TINY = {"n_test": 150, "n_gold": 40}
METHODS = ["meta_r", "pooled", "gold_only", "all_gold", "random"]
FAST_METHODS = ["pooled", "all_gold", "random"]


# -- RouteLLM metrics ------------------------------------------------------------------------------


def test_routellm_hand_computed():
    # Ranked by prediction the true gains are 3, 0, 2, -1; total 4.
    # PGR at shares 0, .25, .5, .75, 1: 0, .75, .75, 1.25, 1.
    # Trapezoid: .25 * (.375 + .75 + 1 + 1.125) = .8125; CPT(.5) = .25; CPT(.8) = .75.
    metrics = routellm_metrics([3.0, -1.0, 2.0, 0.0], [0.8, -0.2, 0.4, 0.6])
    assert metrics == pytest.approx({"apgr": 0.8125, "cpt50": 0.25, "cpt80": 0.75})


def test_routellm_ties_are_split_by_expectation():
    # Predictions tie for the gains 1 and 2 (mean 1.5); total 7; shares 0, 1/3, 2/3, 1.
    # PGR = 0, 1.5/7, 3/7, 1.  APGR = (1/3) * (3/28 + 9/28 + 20/28) = 8/21.
    metrics = routellm_metrics([1.0, 2.0, 4.0], [0.5, 0.5, 0.1])
    assert metrics["apgr"] == pytest.approx(8 / 21)
    assert metrics["cpt50"] == 1.0
    assert metrics["cpt80"] == 1.0
    assert routellm_metrics([2.0, 4.0, 1.0], [0.5, 0.1, 0.5]) == metrics  # row order


def test_routellm_threshold_reached_exactly():
    # Equal gains: PGR(k) = k / 4, so PGR(2) = 0.5 exactly reaches the 50% threshold.
    metrics = routellm_metrics([1.0, 1.0, 1.0, 1.0], [4.0, 3.0, 2.0, 1.0])
    assert metrics == pytest.approx({"apgr": 0.5, "cpt50": 0.5, "cpt80": 1.0})
    # Thirds do not add up exactly in floating point; the tolerance keeps CPT(.8) at 0.8.
    metrics = routellm_metrics(np.full(10, 0.1), np.arange(10.0))
    assert metrics["cpt50"] == 0.5
    assert metrics["cpt80"] == 0.8


def test_apgr_is_efficiency_area_plus_half():
    rng = np.random.default_rng(0)
    true = rng.normal(0.3, 1.0, size=101)
    predicted = true + rng.normal(0.0, 1.0, size=101)
    grid = np.arange(102) / 101
    curve = efficiency_gain_curve(true, predicted, ratios=grid)
    assert routellm_metrics(true, predicted)["apgr"] == pytest.approx(curve.auc + 0.5)


def test_routellm_oracle_and_reversed():
    true = np.array([4.0, 3.0, 2.0, 1.0])
    best = routellm_metrics(true, true)
    worst = routellm_metrics(true, -true)
    assert best["apgr"] > 0.5 > worst["apgr"]
    # Cumulative shares of the total 10: best .4, .7, .9, 1; worst .1, .3, .6, 1.
    assert (best["cpt50"], best["cpt80"]) == (0.5, 0.75)
    assert (worst["cpt50"], worst["cpt80"]) == (0.75, 1.0)


@pytest.mark.parametrize(
    ("true", "predicted", "match"),
    [
        ([1.0, -1.0], [0.0, 1.0], "total true gain .* must be > 0; got 0.0"),
        ([1.0, 2.0, 3.0], [0.0, 1.0], "same length; got 3 and 2"),
        ([1.0, np.nan], [0.0, 1.0], "`true_gain` must be finite"),
        ([1.0], [0.0], "`true_gain` must contain at least 2 values"),
    ],
)
def test_routellm_bad_inputs(true, predicted, match):
    with pytest.raises(ValueError, match=match):
        routellm_metrics(true, predicted)


# -- protocol fixtures and helpers -----------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    return make_routing_data(600, 6, random_state=0)


@pytest.fixture(scope="module")
def result(data):
    return run_protocol(data, methods=METHODS, n_splits=3, random_state=0, verbose=0, **TINY)


@pytest.fixture(scope="module")
def fast(data):
    return run_protocol(data, methods=FAST_METHODS, n_splits=3, random_state=1, verbose=0, **TINY)


def html_table_cells(page):
    """Rows of the first HTML table in ``page``, as lists of cell texts (header first)."""

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self.rows[-1].append(self.cell)
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    parser = Cells()
    parser.feed(page)
    return parser.rows


def without_timing(frame):
    return frame.drop(columns=["fit_seconds"])


class FeatureRouter:
    """A user router (no scikit-learn base): predicts the first feature minus an offset."""

    def __init__(self, offset=0.0):
        self.offset = offset

    def fit(self, X, y, *, gold):
        self.fitted_ = True
        return self

    def predict(self, X):
        return np.asarray(X)[:, 0] - self.offset


class NoisyRouter(BaseEstimator):
    """A scikit-learn-style user router whose predictions depend on ``random_state`` only."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y, *, gold):
        self.n_ = len(y)
        return self

    def predict(self, X):
        return np.random.default_rng(self.random_state).normal(size=len(X))


class WarningRouter(FeatureRouter):
    def fit(self, X, y, *, gold):
        warnings.warn(f"only {int(np.sum(gold))} gold rows", UserWarning, stacklevel=2)
        return super().fit(X, y, gold=gold)


class WrongLengthRouter(FeatureRouter):
    def predict(self, X):
        return np.zeros(3)


# -- protocol: structure and reproducibility -------------------------------------------------------


def test_tables_have_the_documented_layout(data, result):
    assert isinstance(result, ProtocolResult)
    assert list(result.curves.columns) == ["split", "method", "ratio", "gain"]
    assert list(result.metrics.columns) == [
        "split",
        "seed",
        "method",
        "auc",
        "peak",
        "peak_ratio",
        "apgr",
        "cpt50",
        "cpt80",
        "fit_seconds",
        "n_warnings",
    ]
    assert result.methods == METHODS
    assert result.n_splits == 3
    assert len(result.metrics) == 3 * len(METHODS)
    assert (result.curves.groupby(["split", "method"]).size() == 61).all()
    np.testing.assert_allclose(
        np.sort(result.curves["ratio"].unique()), np.linspace(0.2, 0.8, 61), atol=1e-12
    )
    assert (result.metrics["fit_seconds"] >= 0).all()
    settings = result.settings
    assert (settings["n_test"], settings["n_gold"], settings["n_splits"]) == (150, 40, 3)
    assert settings["dataset"] == "synthetic" and settings["n_samples"] == 600
    assert settings["methods"] == METHODS and settings["oracle_methods"] == ["all_gold"]
    assert settings["random_state"] == 0
    # The paper's normaliser: mean gold gain of the whole dataset times the test size.
    assert settings["normalizer"] == pytest.approx(np.mean(data.gold_gain) * 150)
    assert settings["seeds"] == result.metrics.groupby("split")["seed"].first().tolist()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.curves = None


def test_same_seed_same_frames_for_any_n_jobs(data, fast):
    again = run_protocol(data, methods=FAST_METHODS, n_splits=3, random_state=1, verbose=0, **TINY)
    parallel = run_protocol(
        data, methods=FAST_METHODS, n_splits=3, random_state=1, n_jobs=2, verbose=0, **TINY
    )
    for other in (again, parallel):
        pd.testing.assert_frame_equal(fast.curves, other.curves)
        pd.testing.assert_frame_equal(without_timing(fast.metrics), without_timing(other.metrics))
        assert other.settings["seeds"] == fast.settings["seeds"]
    different = run_protocol(
        data, methods=["random"], n_splits=3, random_state=2, verbose=0, **TINY
    )
    assert different.settings["seeds"] != fast.settings["seeds"]


def test_seeds_come_from_random_state_and_extend_with_n_splits(data, fast):
    seeds = np.random.RandomState(1).randint(np.iinfo(np.int32).max, size=3).tolist()
    assert fast.settings["seeds"] == seeds
    shorter = run_protocol(
        data, methods=FAST_METHODS, n_splits=2, random_state=1, verbose=0, **TINY
    )
    pd.testing.assert_frame_equal(shorter.curves, fast.curves[fast.curves["split"] < 2])


def test_one_split_is_reproducible_from_its_seed_alone(data, result):
    s = 1
    seed = result.settings["seeds"][s]
    split = data.split(random_state=seed, **TINY)
    routers = {
        "meta_r": (MetaRouter(learner="r", random_state=seed), split.y_train),
        "pooled": (PooledRouter(random_state=seed), split.y_train),
        "all_gold": (PooledRouter(gold_scale="none", random_state=seed), split.gold_gain_train),
    }
    for name, (router, y) in routers.items():
        router.fit(split.X_train, y, gold=split.gold_train)
        predicted = router.predict(split.X_test)
        curve = efficiency_gain_curve(
            split.gain_test, predicted, normalizer=result.settings["normalizer"]
        )
        rows = result.curves[(result.curves["split"] == s) & (result.curves["method"] == name)]
        np.testing.assert_array_equal(rows["gain"].to_numpy(), curve.gains, err_msg=name)
        row = result.metrics[(result.metrics["split"] == s) & (result.metrics["method"] == name)]
        assert row["auc"].item() == curve.auc
        assert row["apgr"].item() == routellm_metrics(split.gain_test, predicted)["apgr"]


def test_oracle_beats_random_and_gold_only_is_weak(result):
    auc = result.metrics.groupby("method")["auc"].mean()
    assert auc["all_gold"] > auc["random"] + 0.3
    assert auc["all_gold"] > auc["gold_only"]
    apgr = result.metrics.groupby("method")["apgr"].mean()
    assert apgr["all_gold"] > apgr["random"]


def test_random_routing_averages_near_zero(data):
    random = run_protocol(data, methods=["random"], n_splits=40, random_state=0, verbose=0, **TINY)
    auc = random.metrics["auc"]
    se = auc.std(ddof=1) / np.sqrt(auc.size)
    assert abs(auc.mean()) < 3 * se
    assert abs(auc.mean()) < 0.2
    assert auc.std() > 0.05  # the predictions differ from split to split
    # APGR divides by each split's total test gain: heavy-tailed on 150 test rows (a total
    # near 0 gives huge values), so check its median.
    assert abs(random.metrics["apgr"].median() - 0.5) < 0.1


def test_default_methods_leave_out_meta_auto():
    assert "meta_auto" in PROTOCOL_METHODS
    assert list(_resolve_methods(None)) == list(_DEFAULT_METHODS)
    assert set(PROTOCOL_METHODS) - set(_DEFAULT_METHODS) == {"meta_auto"}
    resolved = _resolve_methods(["all_gold", "meta_auto"])
    assert resolved["all_gold"].labels == "gold"
    assert resolved["meta_auto"].router.get_params()["learner"] == "auto"


# -- summary, curves, plot, text -------------------------------------------------------------------


def test_summary_columns_and_values(result):
    summary = result.summary()
    assert list(summary.columns) == [
        "method",
        "n_splits",
        "auc",
        "auc_se",
        "auc_low",
        "auc_high",
        "peak",
        "peak_ratio",
        "apgr",
        "cpt50",
        "cpt80",
        "diff_auc",
        "diff_low",
        "diff_high",
        "fit_seconds",
    ]
    assert summary["method"].tolist() == METHODS
    assert (summary["n_splits"] == 3).all()
    auc = result.metrics.pivot(index="split", columns="method", values="auc")
    for row in summary.itertuples(index=False):
        values = auc[row.method].to_numpy()
        assert row.auc == pytest.approx(values.mean())
        assert row.auc_se == pytest.approx(values.std(ddof=1) / np.sqrt(3))
        assert row.auc_low == pytest.approx(np.quantile(values, 0.025))
        assert row.auc_high == pytest.approx(np.quantile(values, 0.975))
        # The paired difference is the mean of the per-split differences, with a t-interval.
        diffs = values - auc["pooled"].to_numpy()
        assert row.diff_auc == pytest.approx(diffs.mean())
        half = stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / np.sqrt(3)
        assert row.diff_low == pytest.approx(diffs.mean() - half)
        assert row.diff_high == pytest.approx(diffs.mean() + half)
        assert row.apgr == pytest.approx(
            result.metrics.query("method == @row.method")["apgr"].mean()
        )
    pooled = summary.set_index("method").loc["pooled"]
    assert (pooled["diff_auc"], pooled["diff_low"], pooled["diff_high"]) == (0, 0, 0)


def test_summary_peak_is_of_the_mean_curve(result):
    summary = result.summary().set_index("method")
    mean = result.curves.groupby(["method", "ratio"])["gain"].mean()
    for name in METHODS:
        curve = mean.loc[name]
        assert summary.loc[name, "peak"] == pytest.approx(curve.max())
        assert summary.loc[name, "peak_ratio"] == pytest.approx(curve.idxmax())


def test_summary_reference_and_level(result):
    other = result.summary(reference="random", level=0.5)
    auc = result.metrics.pivot(index="split", columns="method", values="auc")
    diffs = auc["all_gold"] - auc["random"]
    row = other.set_index("method").loc["all_gold"]
    assert row["diff_auc"] == pytest.approx(diffs.mean())
    assert row["auc_low"] == pytest.approx(np.quantile(auc["all_gold"], 0.25))
    assert result.summary(reference=None)["diff_auc"].isna().all()
    with pytest.raises(ValueError, match=r"`reference` must be among the methods run"):
        result.summary(reference="mean_shift")
    with pytest.raises(ValueError, match=r"`level` must be a number in \(0, 1\); got 95"):
        result.summary(level=95)


def test_mean_curves(result):
    curves = result.mean_curves()
    assert list(curves.columns) == ["method", "ratio", "mean", "lower", "upper", "n_splits"]
    assert list(pd.unique(curves["method"])) == METHODS
    assert len(curves) == 61 * len(METHODS)
    expected = result.curves.groupby(["method", "ratio"])["gain"].mean()
    got = curves.set_index(["method", "ratio"])["mean"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    assert (curves["lower"] <= curves["mean"] + 1e-12).all()
    assert (curves["mean"] <= curves["upper"] + 1e-12).all()
    assert (curves["n_splits"] == 3).all()
    narrow = result.mean_curves(band="mean", level=0.5)
    assert np.isfinite(narrow["lower"]).all()
    with pytest.raises(ValueError, match=r"`band` must be one of \['quantile', 'mean'\]; got 'se'"):
        result.mean_curves(band="se")


def test_plot_returns_axes_with_labels_and_bands(result):
    import matplotlib.pyplot as plt

    ax = result.plot()
    try:
        assert ax.get_xlabel() == "share of queries sent to the primary model"
        assert ax.get_ylabel() == "efficiency gain (normalised)"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == METHODS
        assert len(ax.collections) == len(METHODS)  # one shaded band per method
        oracle = ax.get_lines()[METHODS.index("all_gold")]
        assert oracle.get_linestyle() == ":"
    finally:
        plt.close(ax.figure)
    fig, given = plt.subplots()
    try:
        assert result.plot(given, band=False, methods=["random", "pooled"]) is given
        assert len(given.collections) == 0
        assert [t.get_text() for t in given.get_legend().get_texts()] == ["random", "pooled"]
        with pytest.raises(ValueError, match="`methods` must be among the methods run"):
            result.plot(given, methods=["meta_dr"])
    finally:
        plt.close(fig)


def test_markdown_and_str(result):
    markdown = result.to_markdown()
    lines = markdown.splitlines()
    assert lines[0].startswith("| method")
    for name in METHODS:
        assert any(line.startswith(f"| {name} ") for line in lines), name
    assert "ΔAUC vs pooled [95% CI]" in lines[0]
    assert "(reference)" in markdown
    text = str(result)
    assert text.startswith("ProtocolResult: dataset 'synthetic', 3 splits")
    assert "| meta_r" in text
    assert repr(result) == f"ProtocolResult(n_splits=3, methods={METHODS!r})"
    assert "ΔAUC" not in result.to_markdown(reference=None)
    with pytest.raises(ValueError, match=r"`digits` must be an int >= 0; got -1"):
        result.to_markdown(digits=-1)


def test_notebooks_show_the_summary_table_as_html(result):
    page = result._repr_html_()
    assert page.startswith("<p><strong>ProtocolResult: dataset &#x27;synthetic&#x27;, 3 splits")
    assert page.count("<table") == 1 and "</table>" in page
    header, *rows = html_table_cells(page)
    # The same cells as the markdown table, compared with pooling.
    markdown = result.to_markdown(reference="pooled")
    assert header[0] == "method" and "ΔAUC vs pooled [95% CI]" in header
    assert [row[0] for row in rows] == METHODS
    for row in rows:
        assert f"| {' | '.join(row)} |".replace(" ", "") in markdown.replace(" ", "")
    assert "Warnings" not in page


def test_html_lists_warnings_and_escapes_names(data):
    noisy = run_protocol(
        data,
        methods={"<warns>": WarningRouter(), "quiet & calm": FeatureRouter()},
        n_splits=1,
        random_state=0,
        verbose=0,
        **TINY,
    )
    page = noisy._repr_html_()
    assert "<warns>" not in page and "&lt;warns&gt;" in page and "quiet &amp; calm" in page
    assert "<li>&lt;warns&gt;: UserWarning x1 in 1 split(s)" in page


# -- user methods, warnings, errors ----------------------------------------------------------------


def test_user_routers_in_a_dict_are_cloned_and_seeded(data):
    feature, noisy = FeatureRouter(offset=0.1), NoisyRouter()
    custom = run_protocol(
        data,
        methods={"first feature": feature, "noise": noisy, "oracle": PooledRouter()},
        n_splits=2,
        random_state=0,
        verbose=0,
        **TINY,
    )
    assert custom.methods == ["first feature", "noise", "oracle"]
    assert not hasattr(feature, "fitted_") and not hasattr(noisy, "n_")  # originals untouched
    assert noisy.random_state is None
    for s, seed in enumerate(custom.settings["seeds"]):
        split = data.split(random_state=seed, **TINY)
        rows = custom.curves[(custom.curves["split"] == s)]
        expected = {
            "first feature": split.X_test.to_numpy()[:, 0] - 0.1,
            "noise": np.random.default_rng(seed).normal(size=150),
        }
        for name, predicted in expected.items():
            gains = efficiency_gain_curve(
                split.gain_test, predicted, normalizer=custom.settings["normalizer"]
            ).gains
            np.testing.assert_array_equal(rows[rows["method"] == name]["gain"], gains)


def test_ratios_normalizer_and_stop_are_passed_on(data):
    custom = run_protocol(
        data,
        methods={"feature": FeatureRouter()},
        n_splits=2,
        ratios=[0.0, 0.5, 0.9],
        normalizer=10.0,
        stop_at_nonpositive=True,
        random_state=3,
        verbose=0,
        **TINY,
    )
    assert custom.settings["ratios"] == [0.0, 0.5, 0.9]
    assert custom.settings["normalizer"] == 10.0 and custom.settings["stop_at_nonpositive"]
    for s, seed in enumerate(custom.settings["seeds"]):
        split = data.split(random_state=seed, **TINY)
        curve = efficiency_gain_curve(
            split.gain_test,
            split.X_test.to_numpy()[:, 0],
            ratios=[0.0, 0.5, 0.9],
            normalizer=10.0,
            stop_at_nonpositive=True,
        )
        np.testing.assert_array_equal(
            custom.curves[custom.curves["split"] == s]["gain"], curve.gains
        )
    assert custom.curves["gain"].isna().any()  # the feature is negative for about half the rows
    # Splits whose stopped curve has no AUC are left out of the summary, and counted.
    n_finite = int(np.isfinite(custom.metrics["auc"]).sum())
    assert custom.summary(reference=None)["n_splits"].item() == n_finite


def test_normalizer_split_uses_each_split_total(data):
    per_split = run_protocol(
        data,
        methods={"feature": FeatureRouter()},
        normalizer="split",
        n_splits=2,
        random_state=4,
        verbose=0,
        n_test=300,
        n_gold=40,
    )
    assert per_split.settings["normalizer"] == "split"
    for s, seed in enumerate(per_split.settings["seeds"]):
        split = data.split(random_state=seed, n_test=300, n_gold=40)
        curve = efficiency_gain_curve(split.gain_test, split.X_test.to_numpy()[:, 0])
        np.testing.assert_array_equal(
            per_split.curves[per_split.curves["split"] == s]["gain"], curve.gains
        )


def test_default_normalizer_needs_a_positive_mean_gain(data):
    frame = data.to_frame()
    negative = RoutingDataset(
        frame[data.feature_names],
        gold_gain=-np.abs(frame["gold_gain"]),
        preference_label=frame["preference_label"],
    )
    with pytest.raises(ValueError, match="mean gold-standard gain of the dataset times `n_test`"):
        run_protocol(negative, methods=["random"], n_splits=1, verbose=0, **TINY)
    # RouteLLM's metrics are undefined when the test gains do not sum to > 0: NaN, not an error.
    nan = run_protocol(negative, methods=["random"], normalizer=1.0, n_splits=1, verbose=0, **TINY)
    assert nan.metrics[["apgr", "cpt50", "cpt80"]].isna().all().all()
    assert np.isfinite(nan.metrics["auc"]).all()


def test_warnings_are_recorded_not_shown(data):
    with warnings.catch_warnings(record=True) as outer:
        warnings.simplefilter("always")
        noisy = run_protocol(
            data,
            methods={"warns": WarningRouter(), "quiet": FeatureRouter()},
            n_splits=3,
            random_state=0,
            verbose=0,
            **TINY,
        )
    assert not [w for w in outer if "gold rows" in str(w.message)]
    table = noisy.fit_warnings
    assert list(table.columns) == ["method", "category", "count", "n_splits", "example"]
    assert table.to_dict("records") == [
        {
            "method": "warns",
            "category": "UserWarning",
            "count": 3,
            "n_splits": 3,
            "example": "only 40 gold rows",
        }
    ]
    counts = noisy.metrics.groupby("method")["n_warnings"].sum()
    assert (counts["warns"], counts["quiet"]) == (3, 0)
    assert "warns: UserWarning x3 in 3 split(s)" in noisy.to_markdown(reference="quiet")


def test_no_warnings_give_an_empty_table(fast):
    assert fast.fit_warnings.empty
    assert list(fast.fit_warnings.columns) == ["method", "category", "count", "n_splits", "example"]
    assert "Warnings" not in fast.to_markdown()


def test_errors_inside_a_split_name_the_method_and_split(data):
    with pytest.raises(ValueError, match=r"method 'bad' on split 0 \(seed \d+\): .*same length"):
        run_protocol(data, methods={"bad": WrongLengthRouter()}, n_splits=1, verbose=0, **TINY)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"methods": ["meta_r", "oracle"]},
            ValueError,
            r"`methods` must be names from \[.*'random'\]; got unknown \['oracle'\]",
        ),
        ({"methods": []}, ValueError, "`methods` must name at least one method"),
        ({"methods": {}}, ValueError, "`methods` must name at least one method"),
        ({"methods": ["pooled", "pooled"]}, ValueError, "must not repeat a name"),
        (
            {"methods": "pooled"},
            TypeError,
            "`methods` must be None, a list of method names or a dict",
        ),
        ({"methods": {"x": object()}}, TypeError, r"`methods\['x'\]` must be an unfitted router"),
        ({"methods": {1: PooledRouter()}}, TypeError, "`methods` keys must be display names"),
        ({"n_splits": 0}, ValueError, "`n_splits` must be an int >= 1; got 0"),
        ({"n_splits": 2.0}, TypeError, "`n_splits` must be an int"),
        ({"n_test": 590}, ValueError, "`n_test` \\+ `n_gold` must leave at least 2"),
        # Sizes are checked by RoutingDataset.split (its wording).
        ({"n_gold": 1}, ValueError, "`n_gold` must be .*2; got 1"),
        ({"ratios": [0.5, 0.2]}, ValueError, "`ratios` must be strictly increasing"),
        ({"normalizer": -1.0}, ValueError, r"`normalizer` must be None or one of \['split'\] or"),
        (
            {"normalizer": "total"},
            ValueError,
            r"`normalizer` must be None or one of \['split'\] or a finite number > 0; got 'total'",
        ),
        ({"normalizer": [1.0]}, TypeError, r"`normalizer` must be None or one of \['split'\]"),
        ({"stop_at_nonpositive": "yes"}, TypeError, "`stop_at_nonpositive` must be a bool"),
        ({"n_jobs": 0}, ValueError, "`n_jobs` must be None or a non-zero int; got 0"),
        ({"verbose": -1}, ValueError, "`verbose` must be an int >= 0; got -1"),
        ({"verbose": 1.5}, TypeError, "`verbose` must be an int; got float 1.5"),
        ({"use_ray": "no"}, TypeError, "`use_ray` must be a bool; got str 'no'"),
    ],
)
def test_invalid_arguments(data, kwargs, error, match):
    arguments = {"methods": ["random"], "n_splits": 1, "verbose": 0, **TINY, **kwargs}
    with pytest.raises(error, match=match):
        run_protocol(data, **arguments)


def test_dataset_must_be_a_routing_dataset(data):
    with pytest.raises(TypeError, match="`dataset` must be a RoutingDataset; got DataFrame"):
        run_protocol(data.to_frame(), methods=["random"], n_splits=1)


def test_exports():
    assert sorted(evaluation.__all__) == [
        "CostQualityCurve",
        "EfficiencyGainCurve",
        "GOLD_SCORER_METRICS",
        "MULTI_PROTOCOL_METHODS",
        "MultiProtocolResult",
        "PROTOCOL_METHODS",
        "ProtocolResult",
        "aiq",
        "cost_quality_curve",
        "efficiency_gain_curve",
        "fixed_mix_curve",
        "make_gold_scorer",
        "oracle_curve",
        "oracle_share",
        "pairwise_accuracy",
        "plot_frontier",
        "routellm_metrics",
        "run_multi_protocol",
        "run_protocol",
    ]
    for name in evaluation.__all__:
        assert name in dir(evaluation)
        assert getattr(evaluation, name) is not None
    # Plain imports: no module-level __getattr__ that loads names on first use.
    assert not hasattr(evaluation, "__getattr__")
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        evaluation.nothing  # noqa: B018


# -- extra metrics and gold_from -------------------------------------------------------------------


def test_extra_metrics_add_columns(data):
    extra = {
        "rho_psi": lambda router, split, predicted: stats.spearmanr(predicted, split.psi_test)[0],
        "n_train_gold": lambda router, split, predicted: split.n_gold,
    }
    seeded = run_protocol(
        data,
        methods={"feature": FeatureRouter(), "oracle": "all_gold"},
        extra_metrics=extra,
        n_splits=2,
        random_state=0,
        verbose=0,
        **TINY,
    )
    plain = run_protocol(
        data,
        methods={"feature": FeatureRouter(), "oracle": "all_gold"},
        n_splits=2,
        random_state=0,
        verbose=0,
        **TINY,
    )
    assert list(seeded.metrics.columns) == [*plain.metrics.columns, "rho_psi", "n_train_gold"]
    pd.testing.assert_frame_equal(
        without_timing(seeded.metrics[plain.metrics.columns]), without_timing(plain.metrics)
    )
    assert seeded.settings["extra_metrics"] == ["rho_psi", "n_train_gold"]
    assert (seeded.metrics["n_train_gold"] == 40).all()
    for s, seed in enumerate(seeded.settings["seeds"]):
        split = data.split(random_state=seed, **TINY)
        row = seeded.metrics[
            (seeded.metrics["split"] == s) & (seeded.metrics["method"] == "feature")
        ]
        expected = stats.spearmanr(split.X_test.to_numpy()[:, 0], split.psi_test)[0]
        assert row["rho_psi"].item() == pytest.approx(expected)
    # Lambdas reach joblib's worker processes.
    parallel = run_protocol(
        data,
        methods={"feature": FeatureRouter()},
        extra_metrics=extra,
        n_splits=2,
        n_jobs=2,
        random_state=0,
        verbose=0,
        **TINY,
    )
    np.testing.assert_array_equal(
        parallel.metrics["rho_psi"], seeded.metrics.query("method == 'feature'")["rho_psi"]
    )


def test_gold_from_restricts_the_gold_rows_not_the_test_rows(data):
    def covered(X):
        return X["pc1"] < 0

    violating = run_protocol(
        data,
        methods={"gold rows seen": "gold_only"},
        gold_from=covered,
        extra_metrics={
            "share_covered": lambda router, split, predicted: float(
                np.mean(covered(split.X_train)[split.gold_train])
            )
        },
        n_splits=2,
        random_state=0,
        verbose=0,
        **TINY,
    )
    assert (violating.metrics["share_covered"] == 1.0).all()
    assert violating.settings["gold_from"] == "callable " + covered.__qualname__
    mask = covered(data.X).to_numpy()
    by_mask = run_protocol(
        data,
        methods={"gold rows seen": "gold_only"},
        gold_from=mask,
        n_splits=2,
        random_state=0,
        verbose=0,
        **TINY,
    )
    pd.testing.assert_frame_equal(by_mask.curves, violating.curves)
    assert by_mask.settings["gold_from"] == f"mask: {int(mask.sum())} of 600 rows eligible"
    with pytest.raises(ValueError, match="gold_from"):
        run_protocol(data, methods=["random"], gold_from=mask[:10], n_splits=1, verbose=0, **TINY)


@pytest.mark.parametrize(
    ("extra", "error", "match"),
    [
        ([len], TypeError, r"`extra_metrics` must be None or a dict"),
        ({1: len}, TypeError, r"`extra_metrics` keys must be column names"),
        ({"auc": len}, ValueError, r"`extra_metrics` keys must not be a standard column"),
        ({"x": 1.0}, TypeError, r"`extra_metrics\['x'\]` must be a callable"),
        (
            {"x": lambda router, split, predicted: "high"},
            TypeError,
            r"method 'random' on split 0 .*`extra_metrics\['x'\]` must return a real number",
        ),
    ],
)
def test_invalid_extra_metrics(data, extra, error, match):
    with pytest.raises(error, match=match):
        run_protocol(data, methods=["random"], extra_metrics=extra, n_splits=1, verbose=0, **TINY)


# -- statistical (slow) ----------------------------------------------------------------------------


@pytest.mark.slow
def test_meta_router_beats_pooled_with_a_paired_interval_above_zero():
    data = make_routing_data(3000, 20, random_state=0)
    start = time.perf_counter()
    result = run_protocol(
        data,
        methods=["meta_r", "pooled"],
        n_test=500,
        n_gold=100,
        n_splits=8,
        n_jobs=2,
        random_state=0,
        verbose=0,
    )
    elapsed = time.perf_counter() - start
    row = result.summary(reference="pooled").set_index("method").loc["meta_r"]
    assert row["diff_auc"] > 0
    assert row["diff_low"] > 0, result.to_markdown()
    assert elapsed < 120  # about 30 s on 2 busy cores
