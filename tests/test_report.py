"""The diagnostic report: verdicts on data with known overlap, self-contained HTML, markdown."""

import base64
import dataclasses
import html
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import make_noise_judge
from lightgbm import LGBMRegressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from metarouter_econml import MetaRouter, PooledRouter
from metarouter_econml import diagnostics as diagnostics_pkg
from metarouter_econml._routers import _auto
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.diagnostics import DiagnosticReport, ReportFigure, diagnose
from metarouter_econml.diagnostics._diagnose import DEFAULT_N_SIMULATIONS

SUMMARY_COLUMNS = ["section", "check", "value", "threshold", "verdict", "n_simulations", "note"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _light_lgbm():
    return LGBMRegressor(
        n_estimators=40, num_leaves=7, min_child_samples=20, n_jobs=1, random_state=0, verbose=-1
    )


def _light_router(**params):
    """R-learner with small nuisance models: each refit takes a fraction of a second."""
    defaults = {
        "gold_scale": "none",
        "router_model": _light_lgbm(),
        "model_y": _light_lgbm(),
        "model_t": LogisticRegression(C=0.1, max_iter=1000),
        "random_state": 0,
    }
    return MetaRouter(**{**defaults, **params})


@pytest.fixture(scope="module")
def data():
    # One scale for both labels and a constant bias of 0.1: a real, sizable bias to refute.
    return make_routing_data(
        n_samples=1800,
        n_features=8,
        bias="constant",
        preference_scale=1.0,
        gold_noise=0.3,
        preference_noise=0.3,
        random_state=0,
    )


@pytest.fixture(scope="module")
def good_split(data):
    """Gold rows drawn at random: both sources cover every query."""
    return data.split(n_test=100, n_gold=200, random_state=0)


@pytest.fixture(scope="module")
def bad_split(data):
    """Gold rows drawn only where pc1 < 0: half of the queries never get a gold label."""
    return data.split(n_test=100, n_gold=100, random_state=0, gold_from=lambda X: X["pc1"] < 0)


def _fit(split, **params):
    return _light_router(**params).fit(split.X_train, split.y_train, gold=split.gold_train)


@pytest.fixture(scope="module")
def good_router(good_split):
    return _fit(good_split)


@pytest.fixture(scope="module")
def good_report(good_router, good_split):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a passing overlap check must not warn
        # ... but deprecations from plotting dependencies (pyparsing's warnings are both
        # UserWarning and DeprecationWarning, e.g. matplotlib 3.8 with pyparsing 3.3) are not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        return diagnose(
            good_router,
            good_split.X_train,
            good_split.y_train,
            gold=good_split.gold_train,
            refuters=("placebo", "random_common_cause"),
            n_simulations=4,
            overrule=False,
            random_state=0,
        )


@pytest.fixture(scope="module")
def bad_router(bad_split):
    return _fit(bad_split)


@pytest.fixture(scope="module")
def bad_report(bad_router, bad_split):
    with pytest.warns(UserWarning, match="Positivity fails"):
        return diagnose(
            bad_router,
            bad_split.X_train,
            bad_split.y_train,
            gold=bad_split.gold_train,
            refuters="placebo",
            n_simulations=2,
            overrule=True,
            overrule_timeout=90,
            random_state=0,
        )


# -- verdicts on known truth --------------------------------------------------------------------
def test_positivity_violation_is_flagged(bad_report):
    assert isinstance(bad_report, DiagnosticReport)
    assert not bad_report.ok
    summary = bad_report.summary()
    row = summary.set_index("check").loc["extreme propensity share"]
    assert row["section"] == "overlap"
    assert row["verdict"] == "fail"
    assert row["value"] > row["threshold"]
    assert (
        bad_report.overlap.extreme_share > 0.3
    )  # about half the rows lie outside the gold support
    assert "extreme propensity share" in bad_report.failed_checks
    # the advice names the feature and the region where gold rows are missing
    advice = " ".join(bad_report.what_to_do())
    assert 'overlap="trim"' in advice and "Gold rows are missing where pc1 > " in advice
    assert bad_report.overlap.uncovered.condition in advice


def test_well_overlapping_data_pass_and_placebo_collapses(good_report):
    summary = good_report.summary().set_index("check")
    assert summary.loc["extreme propensity share", "verdict"] == "pass"
    assert summary.loc["effective gold sample size ratio", "verdict"] == "pass"
    placebo = good_report.refutations.summary().loc["placebo"]
    assert placebo["verdict"] == "pass", placebo["note"]
    assert summary.loc["placebo refuter", "verdict"] == "pass"
    # a real bias of 0.1: the permuted-flag estimates collapse toward zero
    assert good_report.refutations.estimate > 0.03
    assert abs(placebo["refuted"]) < 0.4 * abs(placebo["original"])
    assert good_report.ok == good_report.refutations.ok
    assert not [w for w in good_report.warnings if "Positivity" in w]


def test_summary_concatenates_both_results(good_report):
    summary = good_report.summary()
    assert list(summary.columns) == SUMMARY_COLUMNS
    overlap = good_report.overlap.summary()
    n_overlap = len(overlap)
    assert (summary["section"].iloc[:n_overlap] == "overlap").all()
    assert summary["check"].iloc[:n_overlap].tolist() == overlap["check"].tolist()
    refuted = summary.iloc[n_overlap:]
    assert refuted["check"].tolist() == ["placebo refuter", "random_common_cause refuter"]
    assert (refuted["section"] == "refutation").all()
    # value: how far the refits moved from the value tested; threshold: the rule's tolerance
    table = good_report.refutations.table
    np.testing.assert_allclose(refuted["value"].to_numpy(), table["shift"].abs().to_numpy())
    np.testing.assert_array_equal(refuted["threshold"].to_numpy(), table["tolerance"].to_numpy())
    assert refuted["threshold"].iloc[0] == good_report.refutations.placebo_tolerance
    assert refuted["threshold"].iloc[1] == good_report.refutations.tolerance
    assert (refuted["n_simulations"] == 4).all()
    assert summary["n_simulations"].iloc[:n_overlap].isna().all()
    assert all("p = " in note for note in refuted["note"])
    assert set(summary["verdict"]) <= {"pass", "fail", "info", "skipped"}
    assert summary["note"].map(len).min() > 10  # every row says something in words


def test_ok_is_false_when_a_refuter_fails(good_report):
    table = good_report.refutations.table.copy()
    table.loc[table["refuter"] == "random_common_cause", "verdict"] = "fail"
    failed = dataclasses.replace(
        good_report, refutations=dataclasses.replace(good_report.refutations, table=table)
    )
    assert good_report.overlap.ok and not failed.ok
    assert failed.failed_checks == ["random_common_cause refuter"]
    assert "random_common_cause" in " ".join(failed.what_to_do())


# -- HTML ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["good_report", "bad_report"])
def test_html_is_self_contained(which, request, tmp_path):
    report = request.getfixturevalue(which)
    path = tmp_path / "report.html"
    text = report.to_html(path)
    assert path.read_text(encoding="utf-8") == text
    lowered = text.lower()
    for forbidden in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert forbidden not in lowered, forbidden
    sources = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", text)
    assert len(re.findall(r"<img\b", text)) == len(sources) == len(report.figures) == 4
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]).startswith(PNG_SIGNATURE)
    for check in report.summary()["check"]:
        assert f"<td>{html.escape(check)}</td>" in text, check
    for key in ("n_gold", "n_preference", "scale", "learner"):
        assert f"<td>{key}</td>" in text
    assert f"<td>{report.router_config['n_gold']}</td>" in text.replace(' class="num"', "")
    assert [f.name for f in report.figures] == ["propensity", "projection", "bias", "refutation"]


def test_html_shows_rules_warnings_and_verdict(bad_report):
    text = bad_report.to_html()
    assert 'class="verdict fail"' in text
    assert '<td class="fail">fail</td>' in text
    for rule in bad_report.overlap.overrule.rules:
        assert html.escape(rule) in text
    assert "<h2>What to do</h2>" in text
    for advice in bad_report.what_to_do():
        assert html.escape(advice) in text
    # the refuter verdicts carry their number of refits
    assert '<td class="pass">pass (2 refits, indicative)</td>' in text


def test_html_escapes_user_text(good_split):
    names = ["<script>alert(1)</script>", "a&b", *good_split.X_train.columns[2:]]
    X = good_split.X_train.set_axis(names, axis=1)
    router = _light_router().fit(X, good_split.y_train, gold=good_split.gold_train)
    report = diagnose(
        router, X, good_split.y_train, gold=good_split.gold_train, refuters=(), overrule=False
    )
    text = report.to_html(title="<i>my</i> report")
    assert "<script" not in text and "<i>my" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "a&amp;b" in text
    assert len(re.findall(r"<img\b", text)) == len(report.figures) == 3  # no refutation figure


# -- markdown and text --------------------------------------------------------------------------
def test_markdown_contains_summary_and_rules(bad_report):
    text = bad_report.to_markdown()
    assert text.startswith("# Meta-Router diagnostic report")
    assert "**FAIL" in text
    for check in bad_report.summary()["check"]:
        assert check in text
    rules = bad_report.overlap.overrule.rules
    assert bad_report.overlap.overrule.status == "rules" and rules
    for rule in rules:
        assert rule in text
    assert "## What to do" in text and "## Refutation verdicts" in text
    assert "placebo, 2 simulations each" in text  # what was run
    assert "A refuter fails when" in text and "standard error" in text
    assert "Created " in text and "Wall-clock time" in text


def _cells(line: str) -> list[str]:
    """Cells of a markdown table row, split on unescaped pipes only."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def test_markdown_tables_escape_pipes_in_check_names(good_report):
    text = good_report.to_markdown(timestamp=False)
    check = "largest |standardised mean difference|"
    assert check in good_report.summary()["check"].tolist()
    assert "largest \\|standardised mean difference\\|" in text
    lines = text.splitlines()
    header = lines.index("## Summary") + 2
    table = []
    for line in lines[header:]:
        if not line.startswith("|"):
            break
        table.append(line)
    assert len(table) == 2 + len(good_report.summary())
    assert {len(_cells(line)) for line in table} == {5}  # check, section, value, threshold, verdict
    assert "largest \\|standardised mean difference\\|" in [_cells(r)[0] for r in table]
    assert (
        len({len(_cells(line)) for line in str(good_report).splitlines() if line.startswith("|")})
        == 1
    )


def test_repr_html_shows_the_report_in_a_notebook(bad_report):
    fragment = bad_report._repr_html_()
    page = bad_report.to_html()
    assert "<html" not in fragment and "<!DOCTYPE" not in fragment and "<body" not in fragment
    assert fragment.startswith("<style>")
    # the CSS is scoped to the report's element, so it does not restyle the notebook
    css = fragment[len("<style>") : fragment.index("</style>")]
    assert "body{" not in css and all(
        rule.startswith(".metarouter-report") for rule in css.split("}") if rule
    )
    div = fragment[fragment.index('<div class="metarouter-report">') :]
    assert div.endswith("</div>") and div in page  # the same renderer as the page
    assert 'class="verdict fail"' in fragment
    for check in bad_report.summary()["check"]:
        assert f"<td>{html.escape(check)}</td>" in fragment, check
    assert len(re.findall(r"<img\b", fragment)) == len(bad_report.figures)


def test_each_note_is_shown_once(bad_report):
    # the report's warnings hold only what no summary row says; failures are summary notes
    summary_notes = " ".join(bad_report.summary()["note"])
    assert not any(w in summary_notes for w in bad_report.warnings)
    assert bad_report.overlap.advice
    assert "`result." not in bad_report.to_markdown()
    text = bad_report.to_markdown(timestamp=False)
    positivity = bad_report.summary().set_index("check").loc["extreme propensity share", "note"]
    assert text.count(positivity) == 1
    assert 'overlap="trim"' in " ".join(bad_report.what_to_do())


def test_timestamp_false_gives_the_same_report_for_the_same_seed(good_router, good_split):
    def run():
        return diagnose(
            good_router,
            good_split.X_train,
            good_split.y_train,
            gold=good_split.gold_train,
            refuters=("bootstrap",),
            n_simulations=2,
            overrule=False,
            random_state=3,
        )

    first, second = run(), run()
    assert first.to_markdown(timestamp=False) == second.to_markdown(timestamp=False)
    assert first.to_html(timestamp=False) == second.to_html(timestamp=False)
    assert "Created" not in first.to_markdown(timestamp=False)
    assert [f.png for f in first.figures] == [f.png for f in second.figures]


def test_report_is_frozen_and_readable(good_report):
    with pytest.raises(dataclasses.FrozenInstanceError):
        good_report.overlap = None
    with pytest.raises(TypeError):
        good_report.router_config["n_gold"] = 0
    with pytest.raises(ValueError, match="read-only"):
        good_report.bias[0] = 0.0
    text = str(good_report)
    assert text.startswith("Meta-Router diagnostic report: PASS" if good_report.ok else "Meta")
    assert "extreme propensity share" in text and "placebo refuter" in text
    assert isinstance(good_report.figures[0], ReportFigure)
    assert good_report.figures[0]._repr_png_().startswith(PNG_SIGNATURE)
    assert good_report.router_config["learner"] == "r"
    assert good_report.router_config["n_gold"] == 200
    assert good_report.settings["n_simulations"] == 4
    assert set(good_report.seconds) == {"overlap", "refutation", "figures", "total"}


# -- options ------------------------------------------------------------------------------------
def test_no_refuters_and_no_figures(good_router, good_split):
    report = diagnose(
        good_router,
        good_split.X_train,
        good_split.y_train,
        gold=good_split.gold_train,
        refuters=(),
        overrule=False,
        figures=False,
    )
    assert report.refutations is None and report.figures == ()
    row = report.summary().iloc[-1]
    assert (row["section"], row["check"], row["verdict"]) == ("refutation", "refutation", "skipped")
    assert "Not requested" in row["note"]
    assert report.ok  # skipped checks do not fail the report
    assert "<img" not in report.to_html()


def test_router_propensity_misses_the_violation_the_default_catches(bad_router, bad_split):
    # Why diagnose cross-fits its own propensity by default: the router's is a logistic model.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        report = diagnose(
            bad_router,
            bad_split.X_train,
            bad_split.y_train,
            gold=bad_split.gold_train,
            propensity="router",
            refuters=(),
            overrule=False,
            figures=False,
        )
    np.testing.assert_array_equal(report.overlap.propensity, bad_router.propensity_)
    assert report.overlap.propensity_source == "given"
    assert report.overlap.extreme_share < 0.05


def test_trimmed_router_gives_its_overlap_propensity(good_split):
    router = _fit(good_split, overlap="trim", overlap_threshold=0.5)
    assert np.isnan(router.propensity_).any()  # EconML saw only the rows inside the region
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        report = diagnose(
            router,
            good_split.X_train,
            good_split.y_train,
            gold=good_split.gold_train,
            propensity="router",
            refuters=(),
            overrule=False,
            figures=False,
        )
    np.testing.assert_array_equal(report.overlap.propensity, router.overlap_propensity_)
    assert report.router_config["overlap"] == "trim"
    assert "preference_outside_overlap" in report.router_config


def test_default_propensity_is_the_trimmed_routers_overlap_region(good_split):
    """diagnose cross-fits with the router's overlap recipe: with the same seed, the same values."""
    router = _fit(good_split, overlap="trim")
    report = diagnose(
        router,
        good_split.X_train,
        good_split.y_train,
        gold=good_split.gold_train,
        refuters=(),
        overrule=False,
        figures=False,
        random_state=0,  # the router's seed
    )
    np.testing.assert_array_equal(report.overlap.propensity, router.overlap_propensity_)
    assert report.overlap.propensity_source == (f"LGBMClassifier cross-fitted on {router.cv} folds")


def test_auto_fallback_skips_refutation_with_the_reason(monkeypatch):
    # the fallback's plumbing, not its statistics (test_router): a lower margin makes the
    # light router fall back to gold-only on this draw
    monkeypatch.setattr(_auto, "AUTO_MARGIN", 0.5)
    X, y, gold = make_noise_judge()
    router = MetaRouter(learner="auto", router_model=_light_lgbm(), cv=2, random_state=0)
    router.fit(X, y, gold=gold)
    assert router.cate_estimator_ is None, router.auto_reason_
    report = diagnose(
        router,
        X,
        y,
        gold=gold,
        overrule=False,
        figures=False,
        random_state=0,
    )
    assert report.refutations is None
    skipped = report.summary().query("section == 'refutation'")
    assert skipped["check"].tolist() == [
        "placebo refuter",
        "random_common_cause refuter",
        "data_subset refuter",
        "bootstrap refuter",
    ]
    assert (skipped["verdict"] == "skipped").all()
    assert router.auto_reason_ in skipped["note"].iloc[0]
    # what auto tried, each candidate's held-out GS gain, and what won
    choice = report.router_config["auto_choice"]
    assert "gold_only (chosen)" in choice
    assert all(name in choice for name in ("r ", "dr ", "mean_shift ", "pooled "))
    assert report.ok and "Refutations skipped." in report._verdict_line()
    assert 'learner="r"' in " ".join(report.what_to_do())


# -- validation ---------------------------------------------------------------------------------
def test_router_must_be_a_fitted_meta_router(good_split):
    args = (good_split.X_train, good_split.y_train)
    with pytest.raises(TypeError, match="`router` must be a fitted MetaRouter; got PooledRouter"):
        diagnose(PooledRouter(), *args, gold=good_split.gold_train)
    with pytest.raises(NotFittedError):
        diagnose(MetaRouter(), *args, gold=good_split.gold_train)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda X, y, g: (X.iloc[:, :5], y, g), ValueError, "feature names should match"),
        (lambda X, y, g: (X.to_numpy()[:, :5], y, g), ValueError, "has 5 features"),
        (lambda X, y, g: (X, y[:-1], g), ValueError, "same number of rows"),
        (lambda X, y, g: (X, y, g.astype(int)), TypeError, "`gold` must be a boolean mask"),
        (lambda X, y, g: (X.iloc[:-5], y[:-5], g[:-5]), ValueError, "training rows"),
    ],
    ids=[
        "feature-names",
        "feature-count",
        "y-length",
        "gold-dtype",
        "router-propensity-other-rows",
    ],
)
@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_bad_inputs(change, error, match, good_router, good_split):
    X, y, gold = change(good_split.X_train, good_split.y_train, good_split.gold_train)
    with pytest.raises(error, match=match):
        diagnose(good_router, X, y, gold=gold, propensity="router", refuters=(), overrule=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"propensity": "logistic"}, '`propensity` must be "model", "router" or an array'),
        ({"refuters": ["placebo", "nope"]}, "unknown"),
    ],
)
def test_bad_options(kwargs, match, good_router, good_split):
    with pytest.raises(ValueError, match=match):
        diagnose(
            good_router,
            good_split.X_train,
            good_split.y_train,
            gold=good_split.gold_train,
            **kwargs,
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_simulations": 1}, ValueError, "`n_simulations` must be an int >= 2"),
        ({"subset_fraction": 1.5}, ValueError, r"`subset_fraction` must be a number in \(0, 1\)"),
        ({"factor": 0.5}, ValueError, "`factor` must be a finite number > 1; got 0.5"),
        ({"overrule": 1}, TypeError, "`overrule` must be a bool; got int 1"),
        ({"figures": "yes"}, TypeError, "`figures` must be a bool"),
        ({"model_propensity": 3}, TypeError, "`model_propensity` must be None or a classifier"),
        ({"refuters": 3}, TypeError, "`refuters` must be a sequence of names"),
        ({"propensity": [0.5, 0.5]}, ValueError, "`X` and `propensity` must have the same"),
    ],
)
def test_bad_parameters_name_the_argument(kwargs, error, match, good_router, good_split):
    with pytest.raises(error, match=match):
        diagnose(
            good_router,
            good_split.X_train,
            good_split.y_train,
            gold=good_split.gold_train,
            **kwargs,
        )


def test_misaligned_pandas_labels_are_refused(good_router, good_split):
    X = good_split.X_train
    y = pd.Series(good_split.y_train, index=X.index[::-1])
    with pytest.raises(ValueError, match="`y` and `X` have different indexes"):
        diagnose(good_router, X, y, gold=good_split.gold_train, refuters=(), overrule=False)


def test_defaults_and_exports():
    assert diagnostics_pkg.DEFAULT_N_SIMULATIONS is DEFAULT_N_SIMULATIONS
    assert diagnose.__kwdefaults__["refuters"] is diagnostics_pkg.REFUTERS
    assert {"DEFAULT_N_SIMULATIONS", "REFUTERS"} <= set(diagnostics_pkg.__all__)
    assert "DEFAULT_N_SIMULATIONS" in diagnostics_pkg.__doc__
    assert diagnose.__kwdefaults__["n_simulations"] == DEFAULT_N_SIMULATIONS == 10
    assert diagnose.__kwdefaults__["refuters"] == (
        "placebo",
        "random_common_cause",
        "data_subset",
        "bootstrap",
    )
    assert {"DiagnosticReport", "ReportFigure", "diagnose"} <= set(diagnostics_pkg.__all__)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_refuters_that_cannot_run_are_skipped_not_failed():
    data = make_routing_data(n_samples=700, n_features=6, random_state=0)
    split = data.split(n_test=100, n_gold=3, random_state=0)
    router = _light_router().fit(split.X_train, split.y_train, gold=split.gold_train)
    report = diagnose(
        router,
        split.X_train,
        split.y_train,
        gold=split.gold_train,
        refuters=("data_subset", "bootstrap"),
        n_simulations=2,
        overrule=False,
        random_state=0,
    )
    rows = report.summary().query("section == 'refutation'")
    assert (rows["verdict"] == "skipped").all(), rows["note"].tolist()
    assert rows["note"].str.contains("could not run on these data").all()
    assert rows["n_simulations"].isna().all()
    assert report.ok == report.overlap.ok  # skipped refuters do not fail the report
    assert "Skipped (could not run on these data): data_subset, bootstrap refuters." in (
        report._verdict_line()
    )
    assert any("collect more gold labels" in a for a in report.what_to_do())
    report.to_html()  # renders without refits to draw
