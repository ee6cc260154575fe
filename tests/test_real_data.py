"""Real data: the packaged GSM8K routing set, its judge, and the paper's CSV format."""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np
import pandas as pd
import pytest

import metarouter_econml.datasets as datasets
from metarouter_econml.datasets import (
    RoutingDataset,
    load_gsm8k_routing,
    load_gsm8k_texts,
    load_paper_csv,
    verbosity_judge,
)
from metarouter_econml.datasets._gsm8k import (
    _count_numbers,
    _count_sentences,
    _extract_final_answer,
)


@pytest.fixture(scope="module")
def gsm8k() -> RoutingDataset:
    return load_gsm8k_routing()


@pytest.fixture(scope="module")
def texts() -> pd.DataFrame:
    return load_gsm8k_texts()


# ------------------------------------------------------------------------ packaged files


def test_packaged_files_present_with_license_and_provenance():
    folder = resources.files("metarouter_econml.datasets") / "data"
    names = {entry.name for entry in folder.iterdir()}
    expected = {
        "gsm8k_routing.csv.gz",
        "gsm8k_minilm_l6_v2_embeddings.npy",
        "LICENSE_gsm8k_routing",
        "PROVENANCE_gsm8k.md",
    }
    assert expected <= names
    assert "Apache License" in (folder / "LICENSE_gsm8k_routing").read_text(encoding="utf-8")
    provenance = (folder / "PROVENANCE_gsm8k.md").read_text(encoding="utf-8")
    assert "lm-sys/RouteLLM" in provenance
    assert "routellm/evals/gsm8k/gsm8k_responses.csv" in provenance


def test_public_names_include_loaders():
    for name in ("load_gsm8k_routing", "load_gsm8k_texts", "load_paper_csv", "verbosity_judge"):
        assert name in datasets.__all__
        assert hasattr(datasets, name)


# ------------------------------------------------------------------------------- GSM8K


def test_gsm8k_shape_labels_and_metadata(gsm8k):
    assert isinstance(gsm8k, RoutingDataset)
    assert gsm8k.X.shape == (1319, 384)
    assert gsm8k.feature_names == [f"emb{j}" for j in range(1, 385)]
    assert gsm8k.X.index.name == "query_id"
    assert np.array_equal(gsm8k.X.index, np.arange(1319))
    counts = pd.Series(gsm8k.gold_gain).value_counts().to_dict()
    assert counts == {1.0: 383, 0.0: 841, -1.0: 95}
    assert gsm8k.psi is None and gsm8k.delta is None
    assert gsm8k.name == "gsm8k"
    assert "rule-based judge" in gsm8k.description
    assert "not a human" in gsm8k.description
    # MiniLM embeddings are normalised.
    norms = np.linalg.norm(gsm8k.X.to_numpy(), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


def test_gsm8k_texts_aligned_with_dataset(gsm8k, texts):
    assert list(texts.columns) == [
        "query_id",
        "prompt",
        "primary_response",
        "alternative_response",
        "primary_correct",
        "alternative_correct",
        "primary_model",
        "alternative_model",
    ]
    assert texts.shape == (1319, 8)
    assert np.array_equal(texts["query_id"], np.arange(1319))
    assert np.array_equal(texts["query_id"], gsm8k.X.index)
    assert texts["primary_correct"].dtype == bool
    gain = texts["primary_correct"].astype(float) - texts["alternative_correct"].astype(float)
    np.testing.assert_array_equal(gain.to_numpy(), gsm8k.gold_gain)
    assert set(texts["primary_model"]) == {"gpt-4-1106-preview"}
    assert set(texts["alternative_model"]) == {"mistralai/Mixtral-8x7B-Instruct-v0.1"}
    assert texts["prompt"].iloc[0].startswith("Janet")
    # The default labels are the verbosity judge applied row by row.
    expected = verbosity_judge(
        texts["prompt"], texts["primary_response"], texts["alternative_response"]
    )
    np.testing.assert_array_equal(gsm8k.preference_label, expected)
    # Each call returns a new frame.
    texts_again = load_gsm8k_texts()
    texts_again.loc[0, "prompt"] = "changed"
    assert load_gsm8k_texts().loc[0, "prompt"] != "changed"


def test_gsm8k_default_judge_is_informative_but_biased(gsm8k):
    labels, gain = gsm8k.preference_label, gsm8k.gold_gain
    assert set(np.unique(labels)) <= {-1.0, 0.0, 1.0}
    tie_rate = np.mean(labels == 0)
    assert 0.4 < tie_rate < 0.8
    assert np.corrcoef(labels, gain)[0, 1] > 0.2
    # Verbosity bias: the judge favours the (wordier) primary more often than gold does.
    assert labels.mean() > gain.mean()


def test_gsm8k_pca_shape_and_determinism():
    first = load_gsm8k_routing(n_components=10, random_state=0)
    second = load_gsm8k_routing(n_components=10, random_state=0)
    assert first.X.shape == (1319, 10)
    assert first.feature_names == [f"pc{j}" for j in range(1, 11)]
    pd.testing.assert_frame_equal(first.X, second.X)
    variances = first.X.var(axis=0).to_numpy()
    assert np.all(np.diff(variances) <= 1e-12)  # components by decreasing variance
    np.testing.assert_allclose(first.X.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_array_equal(first.gold_gain, second.gold_gain)
    full = load_gsm8k_routing(n_components=384, random_state=0)
    assert full.X.shape == (1319, 384)


def test_gsm8k_extra_features(texts):
    data = load_gsm8k_routing(n_components=5, extra_features=True, random_state=0)
    names = ["prompt_log_chars", "prompt_n_numbers", "prompt_n_sentences"]
    assert data.feature_names == [f"pc{j}" for j in range(1, 6)] + names
    extra = data.X[names]
    np.testing.assert_allclose(extra["prompt_log_chars"], np.log1p(texts["prompt"].str.len()))
    n_numbers = extra["prompt_n_numbers"].to_numpy()
    n_sentences = extra["prompt_n_sentences"].to_numpy()
    assert np.all(n_numbers >= 0) and np.all(n_numbers == np.round(n_numbers))
    # GSM8K questions carry numbers; a few spell them out in words ("three times").
    assert np.mean(n_numbers >= 1) > 0.95
    assert np.all(n_sentences >= 1) and np.median(n_sentences) >= 2
    assert data.X.loc[0, "prompt_n_numbers"] == _count_numbers(texts["prompt"].iloc[0])
    plain = load_gsm8k_routing(extra_features=True)
    assert plain.X.shape == (1319, 387)


def test_gsm8k_custom_judge_is_used(texts):
    calls = []

    def judge(prompt, primary_response, alternative_response):
        calls.append((len(prompt), len(primary_response), len(alternative_response)))
        return primary_response.str.len() - alternative_response.str.len()

    data = load_gsm8k_routing(judge=judge)
    assert calls == [(1319, 1319, 1319)]
    expected = texts["primary_response"].str.len() - texts["alternative_response"].str.len()
    np.testing.assert_array_equal(data.preference_label, expected.to_numpy(dtype=float))
    assert "user-supplied judge" in data.description


@pytest.mark.parametrize(
    ("judge", "error", "match"),
    [
        (3, TypeError, r"`judge` must be a callable.*got int 3"),
        (lambda p, a, b: np.zeros(5), ValueError, r"one label per row.*\(1319,\).*\(5,\)"),
        (lambda p, a, b: 1.0, ValueError, r"one label per row.*got shape \(\)"),
        (
            lambda p, a, b: np.where(np.arange(len(p)) < 3, np.nan, 0.0),
            ValueError,
            r"`judge` must return finite labels; got 3 NaN",
        ),
        (lambda p, a, b: ["x"] * len(p), TypeError, r"`judge` must return numbers"),
    ],
)
def test_gsm8k_bad_judge(judge, error, match):
    with pytest.raises(error, match=match):
        load_gsm8k_routing(judge=judge)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_components": 0}, ValueError, r"`n_components` must be between 1 and 384; got 0"),
        ({"n_components": 385}, ValueError, r"between 1 and 384; got 385"),
        ({"n_components": 2.0}, TypeError, r"`n_components` must be an int or None"),
        ({"n_components": True}, TypeError, r"`n_components` must be an int or None"),
        ({"extra_features": "yes"}, TypeError, r"`extra_features` must be a bool"),
    ],
)
def test_gsm8k_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_gsm8k_routing(**kwargs)


# ------------------------------------------------------------------------------- judge


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She makes 9 * $2 = $18 every day.", 18.0),
        ("#### 1,000", 1000.0),
        ("The total is $1,234,567.50.", 1234567.5),
        ("It is -3 degrees.", -3.0),
        ("He owes -$5", -5.0),
        ("He owes $-5", -5.0),
        ("16-7 leaves 9", 9.0),
        ("so 20 - 4 = 16 students", 16.0),
        ("about .5 of it", 0.5),
        ("= $<<9*2=18>>18.\n#### 18\n\n", 18.0),
        ("2/3 of an hour", 3.0),
        ("No number here.", None),
        ("", None),
    ],
)
def test_extract_final_answer(text, expected):
    assert _extract_final_answer(text) == expected


@pytest.mark.parametrize(
    ("primary", "alternative"),
    [
        ("The answer is 1,000 apples in total.", "1000"),
        ("#### $5", "So it costs 5.00 dollars, as computed above in detail."),
        ("x = -2", "After simplifying all the terms, x equals -2.0"),
    ],
)
def test_judge_ties_when_final_answers_agree(primary, alternative):
    assert verbosity_judge("Q?", primary, alternative) == 0.0
    assert verbosity_judge("Q?", alternative, primary) == 0.0


def test_judge_prefers_the_longer_answer_otherwise():
    short, long = "It is 7.", "First add the numbers, then subtract: it is 8."
    assert verbosity_judge("Q?", long, short) == 1.0
    assert verbosity_judge("Q?", short, long) == -1.0
    # Same length and different answers: a tie.
    assert verbosity_judge("Q?", "It is 7.", "It is 8.") == 0.0
    # Missing final answers never count as agreement: length decides.
    assert verbosity_judge("Q?", "I do not know the answer", "No idea") == 1.0
    assert verbosity_judge("Q?", "", "") == 0.0
    # Length counts whitespace tokens, not characters.
    assert verbosity_judge("Q?", "a b c 1", "abcdefghijklmnop 2") == 1.0


def test_judge_never_reads_an_answer_key():
    # The prompt (which could hold anything, even the key) does not change the label.
    primary, alternative = "Clearly the answer is 12.", "13"
    labels = {
        verbosity_judge(prompt, primary, alternative)
        for prompt in ("Q?", "The correct answer is 13.", "Answer: 12", "")
    }
    assert labels == {1.0}
    # A wrong but wordy answer beats a right but terse one.
    assert verbosity_judge("What is 2 + 2?", "Let me think step by step: it is 5.", "4") == 1.0


def test_judge_vectorised_inputs():
    primary = ["5", "It is 5", "a b 3"]
    alternative = ["$5.00", "I think it is 6", "3"]
    expected = np.array([0.0, -1.0, 0.0])
    out = verbosity_judge(["q1", "q2", "q3"], primary, alternative)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(
        verbosity_judge("same prompt", pd.Series(primary), np.array(alternative)), expected
    )
    np.testing.assert_array_equal(verbosity_judge("q", primary, "x"), [0.0, 1.0, 1.0])
    scalar = verbosity_judge("q", "a b 3", "3")
    assert isinstance(scalar, float) and scalar == 0.0
    assert verbosity_judge([], [], []).shape == (0,)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("q", ["a", "b"], ["a"]), ValueError, r"same length.*'primary_response': 2"),
        (("q", ["a", None], ["a", "b"]), TypeError, r"`primary_response` must hold strings"),
        (("q", "a", [np.nan]), TypeError, r"`alternative_response` must hold strings.*nan"),
        (("q", [["a"]], [["b"]]), ValueError, r"1-D sequence of strings; got an array"),
        ((1, "a", "b"), TypeError, r"`prompt` must be a string or a 1-D sequence"),
    ],
)
def test_judge_errors(args, error, match):
    with pytest.raises(error, match=match):
        verbosity_judge(*args)


def test_prompt_counters():
    assert _count_numbers("A pen costs $1,200.50 and 3 pencils cost $2.") == 3
    assert _count_numbers("three apples") == 0
    assert _count_sentences("He buys 2.5 kg. She eats 3! How many are left?") == 3
    assert _count_sentences("No final punctuation") == 1


# ---------------------------------------------------------------------------- paper CSV


def _paper_frame(n_rows: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    # Columns written out of numeric order, PC10 before PC2 as a lexical sort would put it.
    frame = pd.DataFrame(
        {
            "embd.PC1": rng.normal(size=n_rows),
            "embd.PC10": rng.normal(size=n_rows),
            "embd.PC2": rng.normal(size=n_rows),
            "prompt_id": [f"id{i}" for i in range(n_rows)],
            "GL": rng.normal(size=n_rows),
            "PL": rng.choice([-1.0, 0.0, 1.0], size=n_rows),
        }
    )
    for k in range(3, 10):
        frame[f"embd.PC{k}"] = rng.normal(size=n_rows)
    return frame


def _check_loaded(data: RoutingDataset, frame: pd.DataFrame) -> None:
    assert data.feature_names == [f"pc{k}" for k in range(1, 11)]
    for k in range(1, 11):
        np.testing.assert_allclose(data.X[f"pc{k}"], frame[f"embd.PC{k}"], rtol=1e-15)
    np.testing.assert_allclose(data.gold_gain, frame["GL"], rtol=1e-15)
    np.testing.assert_allclose(data.preference_label, frame["PL"], rtol=1e-15)
    assert data.psi is None and data.delta is None


def test_paper_csv_with_pandas_index(tmp_path):
    frame = _paper_frame()
    path = tmp_path / "1_PC50_varstd.csv"
    frame.to_csv(path)  # pandas index column -> "Unnamed: 0"
    data = load_paper_csv(path)
    _check_loaded(data, frame)
    assert data.name == "1_PC50_varstd"
    assert "GL" in data.description and "PL" in data.description
    assert load_paper_csv(str(path), name="hb").name == "hb"


def test_paper_csv_r_style_and_gzip(tmp_path):
    frame = _paper_frame()
    # R's write.csv: a quoted empty header for the row names, quoted strings.
    text = frame.to_csv(index=True, index_label="", quoting=1)
    path = tmp_path / "healthbench.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    data = load_paper_csv(path)
    _check_loaded(data, frame)
    assert data.name == "healthbench"


def test_paper_csv_split_runs(tmp_path):
    frame = _paper_frame(n_rows=30)
    path = tmp_path / "paper.csv"
    frame.to_csv(path, index=False)
    split = load_paper_csv(path).split(n_test=10, n_gold=5, random_state=0)
    assert split.X_train.shape == (20, 10)


def test_paper_csv_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_paper_csv(missing)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_paper_csv(tmp_path)  # a directory is not a file


@pytest.mark.parametrize(
    ("drop", "match"),
    [
        (["GL"], r"must have the column\(s\) \['GL'\].*found 12 column\(s\)"),
        (["GL", "PL"], r"\['GL', 'PL'\]"),
        ([f"embd.PC{k}" for k in range(1, 11)], r"\['embd.PC<k>'\].*'prompt_id'"),
    ],
)
def test_paper_csv_missing_columns(tmp_path, drop, match):
    path = tmp_path / "bad.csv"
    _paper_frame().drop(columns=drop).to_csv(path, index=False)
    with pytest.raises(ValueError, match=match):
        load_paper_csv(path)


def test_paper_csv_lists_found_columns_truncated(tmp_path):
    frame = pd.DataFrame({f"col{i}": [1.0] for i in range(30)})
    path = tmp_path / "many.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"found 30 column\(s\): \['col0'.*\(20 more\)\]"):
        load_paper_csv(path)


def test_paper_csv_bad_values(tmp_path):
    frame = _paper_frame()
    frame["GL"] = frame["GL"].astype(object)
    frame.loc[[0, 2], "GL"] = ["n/a", np.nan]
    frame.loc[1, "embd.PC3"] = np.inf
    path = tmp_path / "values.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"'embd.PC3' \(1\), 'GL' \(2\)"):
        load_paper_csv(path)


def test_paper_csv_duplicate_component_and_empty_file(tmp_path):
    frame = _paper_frame()
    frame["embd.PC01"] = 0.0
    path = tmp_path / "dup.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"two columns for principal component 1"):
        load_paper_csv(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"is empty"):
        load_paper_csv(empty)


def test_paper_csv_bad_argument_types(tmp_path):
    with pytest.raises(TypeError, match=r"`path` must be a str or path-like; got int"):
        load_paper_csv(3)
    path = tmp_path / "ok.csv"
    _paper_frame().to_csv(path, index=False)
    with pytest.raises(TypeError, match=r"`name` must be a str or None"):
        load_paper_csv(path, name=1)
