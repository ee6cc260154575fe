"""The report says one consistent thing: the region to act on, one set of bounds, numbers once.

The data are those of the complaint: gold rows cover only half of the range of one feature
(``pc6``) that the leading principal components barely carry.
"""

import dataclasses
import html
import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from lightgbm import LGBMRegressor
from sklearn.linear_model import LogisticRegression

from metarouter_econml import MetaRouter
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.diagnostics import diagnose


def _light_lgbm():
    return LGBMRegressor(
        n_estimators=40, num_leaves=7, min_child_samples=20, n_jobs=1, random_state=0, verbose=-1
    )


def _router():
    return MetaRouter(
        router_model=_light_lgbm(),
        model_y=_light_lgbm(),
        model_t=LogisticRegression(C=0.1, max_iter=1000),
        random_state=0,
    )


@pytest.fixture(scope="module")
def data():
    return make_routing_data(n_samples=1400, n_features=8, random_state=0)


@pytest.fixture(scope="module")
def half_covered(data):
    """Gold rows only where pc6 < 0; diagnosed with OverRule and a 2-refit placebo."""
    split = data.split(n_test=100, n_gold=100, random_state=0, gold_from=lambda X: X["pc6"] < 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        router = _router().fit(split.X_train, split.y_train, gold=split.gold_train)
        return diagnose(
            router,
            split.X_train,
            split.y_train,
            gold=split.gold_train,
            refuters=("placebo",),
            n_simulations=2,
            overrule_components=3,
            overrule_timeout=90,
            random_state=0,
        )


@pytest.fixture(scope="module")
def clean(data):
    split = data.split(n_test=100, n_gold=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        router = _router().fit(split.X_train, split.y_train, gold=split.gold_train)
        return diagnose(
            router,
            split.X_train,
            split.y_train,
            gold=split.gold_train,
            refuters=(),
            random_state=0,
        )


def test_what_to_do_names_the_feature_and_the_region(half_covered):
    assert not half_covered.ok
    region = half_covered.overlap.uncovered
    assert region.feature == "pc6" and half_covered.overlap.smd.index[0] == "pc6"
    assert region.condition.startswith("pc6 > ")
    advice = half_covered.what_to_do()[0]
    assert f"Gold rows are missing where {region.condition}" in advice
    assert "feature 'pc6'" in advice and 'overlap="trim"' in advice


def test_overrule_says_its_inputs_and_agrees_with_the_propensity_check(half_covered):
    o = half_covered.overlap
    rule = o.overrule
    assert rule.status == "rules", rule.message
    # the leading components do not carry pc6, so OverRule also gets pc6 itself
    assert max(abs(rule.loadings.loc["pc6"])) < 0.3
    assert rule.inputs == ("PC1", "PC2", "PC3", "pc6")
    assert any("pc6" in r for r in rule.rules)
    # one set of bounds: OverRule describes exactly the rows the check does not flag
    assert rule.bounds == o.bounds and rule.n_flagged == o.n_extreme
    assert rule.describes_gap and rule.share_flagged_inside < 0.2
    text = half_covered.to_markdown(timestamp=False)
    assert "rules on PC1, PC2 and PC3 (the 3 leading principal components" in text
    assert "and feature 'pc6' (where the uncovered rows differ most from the gold rows)" in text


def test_a_disagreeing_overrule_says_which_check_to_trust(half_covered):
    o = half_covered.overlap
    blind = dataclasses.replace(o.overrule, share_flagged_inside=0.95)
    report = dataclasses.replace(half_covered, overlap=dataclasses.replace(o, overrule=blind))
    assert not blind.describes_gap
    advice = " ".join(report.what_to_do())
    assert "cannot separate the extreme rows" in advice
    assert "the propensity check, which sees every feature, is the one to trust" in advice
    row = (
        report.summary().set_index("check").loc["OverRule overlap region (preference rows inside)"]
    )
    assert "trust the propensity check" in row["note"]


def test_projection_is_drawn_where_the_gap_is(half_covered, clean):
    figure = {f.name: f for f in half_covered.figures}["projection"]
    assert "'pc6'" in figure.title
    assert "x is feature 'pc6'" in figure.caption and "dashed line" in figure.caption
    assert half_covered.overlap.uncovered.condition in figure.caption
    # without a violation the principal components are drawn, and the caption says what
    # this view can and cannot show
    figure = {f.name: f for f in clean.figures}["projection"]
    assert figure.title == "Rows on the first two principal components"
    assert "can show a gap along these two components only" in figure.caption
    n_extreme = clean.overlap.n_extreme
    if n_extreme:  # a few rows by chance: outlined and counted, not called a gap
        assert f"the {n_extreme} rows whose P(gold | x) is extreme" in figure.caption
    else:
        assert "finds no row without gold rows like it" in figure.caption


def test_refuter_verdicts_carry_their_number_of_refits(half_covered):
    summary = half_covered.summary().set_index("check")
    assert summary.loc["placebo refuter", "n_simulations"] == 2
    text = half_covered.to_html(timestamp=False)
    assert re.search(r'<td class="(pass|fail)">(pass|fail) \(2 refits, indicative\)</td>', text)
    assert "rest on 2 refits each and are indicative" in half_covered._verdict_line()
    assert any("n_simulations >= 10" in a for a in half_covered.what_to_do())
    figure = {f.name: f for f in half_covered.figures}["refutation"]
    assert "number of refits" in figure.caption and "tolerance" in figure.caption


def test_each_number_appears_once(half_covered):
    text = half_covered.to_markdown(timestamp=False)
    o = half_covered.overlap
    low, high = o.bounds
    # the bounds: once in the positivity note (OverRule refers to "its bounds")
    assert text.count(f"[{low:.4g}, {high:.4g}]") == 1
    # every note of the summary is printed once; the report's notes repeat none of them
    for note in half_covered.summary()["note"]:
        assert text.count(note) == 1, note
    assert "## Key numbers" not in text and "## Warnings" not in text
    # the refutation's original estimate is stated in the bias section only
    estimate = f"{half_covered.refutations.estimate:.4g}"
    assert text.count(estimate) == 1


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_chromium() is None, reason="no chromium to render the HTML report")
def test_report_renders_in_a_headless_browser(half_covered, tmp_path):
    from PIL import Image

    page = tmp_path / "report.html"
    half_covered.to_html(page)
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,3000",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    if not shot.exists():  # pragma: no cover - a browser that cannot start here
        pytest.skip(f"chromium did not render: {done.stderr.decode(errors='replace')[-300:]}")
    image = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert image.shape[:2] == (3000, 1200)
    # the page is drawn: text and figures, the FAIL verdict's red among them
    assert image.std() > 20
    red = (image[..., 0] > 150) & (image[..., 1] < 60) & (image[..., 2] < 80)
    assert red.sum() > 100
    assert html.escape(half_covered._verdict_line()) in page.read_text(encoding="utf-8")
