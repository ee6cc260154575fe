"""Saving and loading import no module of the user's (a ``beta.py`` next to the script).

skops finds the module of a scipy ufunc by asking every loaded module for its name, and
Cython's shadow module (loaded with scipy's test utilities) answers by importing a module of
that name: a user's ``beta.py`` or ``gamma.py`` in the script's directory ran on ``save`` and
``load``. Each test runs a script from a directory holding such modules, in a fresh interpreter:
first with the modules written once skops is imported (the lookups of ``save`` and ``load``),
then with the modules there from the start (skops' own import runs the same lookup).
"""

import subprocess
import sys
import textwrap

import pytest

#: Modules named like scipy.special functions; each writes a marker file when imported.
NAMES = ("beta", "gamma", "erf", "round")

# A router holding a scipy ufunc (trusted by skops), so that saving and loading look its module
# up: a nuisance model whose first step is scipy.special.erf.
FIT = """
import scipy.special
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from metarouter_econml import MetaRouter
from metarouter_econml.datasets import make_routing_data

split = make_routing_data(300, 6, random_state=0).split(n_test=50, n_gold=40, random_state=0)
model_y = make_pipeline(FunctionTransformer(scipy.special.erf), Ridge())
router = MetaRouter(learner="r", cv=2, model_y=model_y, random_state=0)
router.fit(split.X_train, split.y_train, gold=split.gold_train)
"""


def _marker_module(directory, name):
    """Source of a module that leaves the file ``<name>.imported`` when it is imported."""
    return f"open({str(directory / (name + '.imported'))!r}, 'w').close()\n"


def _run(directory, body, *, modules_first):
    """Run ``body`` as a script in a new ``directory``; return the user's modules it imported.

    With ``modules_first`` the user's modules exist from the start; otherwise they are written
    once skops is imported, which leaves only the lookups of ``save`` and ``load`` to test.
    """
    directory.mkdir()
    writes = [
        f"pathlib.Path({str(directory / (name + '.py'))!r}).write_text("
        f"{_marker_module(directory, name)!r})"
        for name in NAMES
    ]
    setup = ["import importlib", "import pathlib"]
    if not modules_first:
        setup.append("import skops.io")
    script = "\n".join([*setup, *writes, "importlib.invalidate_caches()", textwrap.dedent(body)])
    path = directory / "script.py"
    path.write_text(script)
    result = subprocess.run(
        [sys.executable, str(path)], cwd=directory, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return sorted(p.stem for p in directory.glob("*.imported"))


@pytest.mark.parametrize("modules_first", [False, True], ids=["skops-imported", "fresh"])
def test_save_and_load_import_no_user_module(tmp_path, modules_first):
    path = tmp_path / "router.mr"
    save = FIT + f"router.save({str(path)!r})\n"
    imported_on_save = _run(tmp_path / "save", save, modules_first=modules_first)
    load = f"from metarouter_econml import load\nassert load({str(path)!r}).model_y is not None\n"
    imported_on_load = _run(tmp_path / "load", load, modules_first=modules_first)
    assert (imported_on_save, imported_on_load) == ([], [])
