"""run_multi_protocol and pairwise_accuracy: scores that can be checked by hand, and the loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metarouter_econml.datasets import load_pandalm_routing, make_multi_routing_data
from metarouter_econml.evaluation import (
    MULTI_PROTOCOL_METHODS,
    pairwise_accuracy,
    run_multi_protocol,
)

COLUMNS = ["query", "model", "opponent", "label", "gold"]


def test_pairwise_accuracy_by_hand():
    predictions = pd.DataFrame({"a": [0.0, 0.0, 0.0], "b": [1.0, -1.0, 0.0]})
    comparisons = pd.DataFrame(
        [
            (0, "b", "a", 1.0, True),  # b better; predicted b > a: right
            (1, "a", "b", 1.0, True),  # a better; predicted a > b: right
            (1, "a", "b", -1.0, True),  # ... but the second annotator disagrees: mean 0, skipped
            (2, "a", "b", -1.0, True),  # b better; predicted tie: half
            (0, "a", "b", 1.0, True),  # a better on query 0; predicted b: wrong
        ],
        columns=COLUMNS,
    )
    # query 1's two votes cancel: three verdicts remain (right, half, wrong)
    assert pairwise_accuracy(predictions, comparisons) == pytest.approx((1 + 0.5 + 0) / 3)


def test_pairwise_accuracy_of_pointwise_grades():
    predictions = pd.DataFrame({"a": [0.0, 0.0], "b": [1.0, 1.0], "c": [2.0, -1.0]})
    grades = pd.DataFrame(
        [
            (0, "a", None, 0.0, True),
            (0, "b", None, 1.0, True),
            (0, "c", None, 3.0, True),  # order a < b < c: all three pairs right
            (1, "a", None, 1.0, True),
            (1, "c", None, 0.0, True),  # a > c, predicted c < a: right
        ],
        columns=COLUMNS,
    )
    assert pairwise_accuracy(predictions, grades) == 1.0
    flipped = grades.assign(label=-grades["label"])
    assert pairwise_accuracy(predictions, flipped) == 0.0


@pytest.fixture(scope="module")
def small_result():
    data = make_multi_routing_data(n_queries=500, n_models=3, pairs_per_query=1, random_state=0)
    result = run_multi_protocol(
        data,
        methods=("meta_shared", "pooled", "gold_only", "all_gold"),
        n_splits=2,
        n_test=100,
        n_gold=40,
        random_state=0,
    )
    return data, result


def test_protocol_scores_every_method_on_every_split(small_result):
    _, result = small_result
    assert result.n_splits == 2
    aiq = result.table("aiq")
    assert set(aiq.columns) == {
        "meta_shared",
        "pooled",
        "gold_only",
        "all_gold",
        "fixed_mix",
        "oracle",
    }
    # nothing beats the router that knows the quality, on any split
    for method in ("meta_shared", "pooled", "gold_only", "all_gold", "fixed_mix"):
        assert (aiq[method] <= aiq["oracle"] + 1e-12).all()
    shares = result.table("oracle_share")
    np.testing.assert_allclose(shares["oracle"], 1.0)
    np.testing.assert_allclose(shares["fixed_mix"], 0.0)
    assert len(result.budgets) == 11
    summary = result.summary()
    assert summary.attrs["metric"] == "aiq"
    assert summary.loc["meta_shared", "diff"] == 0.0
    paired = aiq["pooled"] - aiq["meta_shared"]
    assert summary.loc["pooled", "diff"] == pytest.approx(paired.mean())
    assert "diff = method - meta_shared" in result.to_markdown()


def test_protocol_is_reproducible(small_result):
    data, result = small_result
    again = run_multi_protocol(
        data,
        methods=("meta_shared", "pooled", "gold_only", "all_gold"),
        n_splits=2,
        n_test=100,
        n_gold=40,
        random_state=0,
    )
    pd.testing.assert_frame_equal(again.scores, result.scores)


def test_protocol_plot_draws_every_method(small_result):
    import matplotlib

    matplotlib.use("Agg")
    _, result = small_result
    ax = result.plot()
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["meta_shared", "pooled", "gold_only", "all_gold", "fixed_mix", "oracle"]


def test_protocol_on_pandalm_reports_pairwise_accuracy_only():
    data = load_pandalm_routing(n_components=5, random_state=0)
    result = run_multi_protocol(
        data, methods=("pooled", "gold_only"), n_splits=1, n_test=34, n_gold=34
    )
    assert set(result.scores["metric"]) == {"pairwise_accuracy"}
    assert result.summary().attrs["metric"] == "pairwise_accuracy"
    values = result.table("pairwise_accuracy")
    assert ((values >= 0) & (values <= 1)).all().all()
    with pytest.raises(ValueError, match="needs the quality per model"):
        result.plot()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"methods": ("meta_shared", "oracle")}, ValueError, "`methods` must be distinct names"),
        ({"methods": ()}, ValueError, "`methods` must be distinct names"),
        ({"n_splits": 0}, ValueError, "n_splits"),
        ({"n_test": 300, "n_gold": 200}, ValueError, "must leave preference-based"),
    ],
)
def test_protocol_refuses_bad_arguments(kwargs, error, match):
    data = make_multi_routing_data(n_queries=400, n_models=3, random_state=0)
    with pytest.raises(error, match=match):
        run_multi_protocol(data, **kwargs)


def test_protocol_refuses_other_data():
    with pytest.raises(TypeError, match="`data` must be a MultiRoutingDataset"):
        run_multi_protocol(pd.DataFrame())


def test_methods_constant_lists_the_default_first():
    assert MULTI_PROTOCOL_METHODS[0] == "meta_shared"
    assert len(set(MULTI_PROTOCOL_METHODS)) == len(MULTI_PROTOCOL_METHODS)
