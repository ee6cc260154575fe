"""Workarounds for version quirks of the dependencies, kept in one place.

Each function hides one difference between versions of a dependency and says which version
introduced it, so it can be deleted once the oldest supported version no longer needs it.
Nothing here imports the dependency it works around: the functions take its objects.

sentence-transformers (the optional ``text`` extra, ``>=3``)
    - 6 renamed ``get_sentence_embedding_dimension`` to ``get_embedding_dimension``; the old
      name still works but emits a ``FutureWarning``
      (:func:`sentence_embedding_dimension`).
    - 6 moved the ``Normalize`` module out of ``sentence_transformers.models``; importing it
      from there emits a ``DeprecationWarning`` and the new home does not exist before 6, so
      the module is recognised by its class name (:func:`drop_final_normalize`).

dowhy (``0.14``, imported by every ``econml.dml`` / ``econml.dr`` import)
    - ``dowhy.causal_model`` calls ``sympy.init_printing()`` at import, which replaces
      ``sys.displayhook`` for the whole process (interactive sessions and doctests then print
      ``bool`` for ``dtype('bool')``). :func:`import_dowhy_quietly` imports it once and puts the
      hook back; every module of ours that imports EconML or DoWhy calls it first.
    - DoWhy's and EconML's imports add process-wide warning filters (statsmodels ``always``,
      sympy ``once``, urllib3, ray); :func:`import_dowhy_quietly` undoes them too.

skops (``>=0.16,<0.17``)
    - ``skops.io._utils.whichmodule`` finds the module of an object without ``__module__``
      (scipy's ufuncs) by calling ``getattr`` on every loaded module. Cython's shadow module
      (loaded through scipy's test utilities) answers such a ``getattr`` by importing a module
      of that name, so a user's ``beta.py`` or ``gamma.py`` in the working directory ran on
      ``save``/``load``. :func:`skops_module_lookup_without_imports` swaps in a lookup that
      reads each module's ``__dict__`` only (no ``__getattr__`` hook runs) for the duration of
      a save or load.

lightgbm (``>=4.7,<5``)
    - ``LGBMRegressor.predict`` re-validates its input with scikit-learn and re-reads its
      parameters on every call, which costs about ten times the trees' own prediction of one
      row. :func:`lightgbm_booster_predictor` does that parameter processing once, with
      LightGBM's own (private) helpers, and returns a function calling the booster directly
      with the same arguments, so the predictions are the same bits.

scipy and numpy (any version)
    - their first import adds warning filters (scipy.special's ``always``, numpy's ``ignore``
      of binary-incompatibility messages); the package's ``__init__`` imports under
      :func:`warning_filters_kept`, which puts the caller's filters back.

pandas (``>=2.2.3``)
    - 3 made round-trip float parsing the default of ``read_csv`` and deprecated the
      ``float_precision`` argument; 2.x parses some decimals one ulp off unless it is given
      ``float_precision="round_trip"`` (:func:`read_csv_exact`).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "drop_final_normalize",
    "lightgbm_booster_predictor",
    "skops_module_lookup_without_imports",
    "import_dowhy_quietly",
    "read_csv_exact",
    "sentence_embedding_dimension",
]


def import_dowhy_quietly() -> None:
    """Import DoWhy and EconML once, leaving ``sys.displayhook`` and the warning filters alone.

    ``dowhy.causal_model`` calls ``sympy.init_printing()`` at import, which replaces
    ``sys.displayhook``; DoWhy's and EconML's imports (statsmodels, sympy, urllib3, ray) add
    process-wide warning filters. Both are put back as they were. Cheap after the first call
    (the modules are cached by then).
    """
    import sys

    if "dowhy.causal_model" in sys.modules and "econml.dr" in sys.modules:
        return
    hook = sys.displayhook
    try:
        with warnings.catch_warnings():  # restores warnings.filters on exit
            import dowhy.causal_model  # noqa: F401  (imported for its side effects, undone)
            import econml.dml  # noqa: F401
            import econml.dr  # noqa: F401
    finally:
        sys.displayhook = hook


@contextlib.contextmanager
def warning_filters_kept() -> Iterator[None]:
    """Run the body (e.g. importing dependencies) and put ``warnings.filters`` back afterwards.

    scipy, numpy and others add filters to the process-wide list when first imported; library
    code must leave the caller's filters as it found them.
    """
    with warnings.catch_warnings():
        yield


def read_csv_exact(path, **kwargs):
    r"""``pandas.read_csv`` that parses every float exactly as written, on pandas 2 and 3.

    Examples
    --------
    >>> import io
    >>> frame = read_csv_exact(io.StringIO("a\n0.1234567890123456789"))
    >>> float(frame.loc[0, "a"]) == 0.1234567890123456789
    True
    """
    import pandas as pd

    if int(pd.__version__.split(".")[0]) < 3:
        kwargs.setdefault("float_precision", "round_trip")
    return pd.read_csv(path, **kwargs)


def sentence_embedding_dimension(model: Any) -> int:
    """Return the embedding size of a ``SentenceTransformer`` without a deprecation warning.

    Parameters
    ----------
    model : sentence_transformers.SentenceTransformer
        A loaded model.

    Returns
    -------
    int
        Number of columns of its embeddings, from ``get_embedding_dimension()``
        (sentence-transformers >= 6) or ``get_sentence_embedding_dimension()`` (older).

    Examples
    --------
    >>> class Old:
    ...     def get_sentence_embedding_dimension(self):
    ...         return 384
    >>> sentence_embedding_dimension(Old())
    384
    """
    getter = getattr(model, "get_embedding_dimension", None)
    if getter is None:
        getter = model.get_sentence_embedding_dimension
    return int(getter())


def drop_final_normalize(model: Any) -> bool:
    """Remove the last module of a ``SentenceTransformer`` if it is a ``Normalize`` step.

    The model is changed in place. A model made of a single module is left alone (its only
    module is what produces the embeddings).

    Parameters
    ----------
    model : sentence_transformers.SentenceTransformer
        A loaded model: a sequence of modules supporting ``len``, ``model[-1]`` and
        ``del model[-1]``.

    Returns
    -------
    bool
        True if a final ``Normalize`` module was removed.

    Examples
    --------
    >>> class Normalize:
    ...     pass
    >>> class Pooling:
    ...     pass
    >>> modules = [Pooling(), Normalize()]
    >>> drop_final_normalize(modules), [type(m).__name__ for m in modules]
    (True, ['Pooling'])
    >>> drop_final_normalize(modules)
    False
    """
    if len(model) > 1 and type(model[-1]).__name__ == "Normalize":
        del model[-1]
        return True
    return False


_SKOPS_LOOKUP_LOCK = threading.RLock()


def _module_of(obj: Any, name: str) -> str:
    """The first loaded module whose namespace holds ``obj`` under ``name``, or ``"__main__"``.

    Reads ``vars(module)`` only, so a module-level ``__getattr__`` (lazy loaders, Cython's
    shadow module) is never called and cannot import anything.
    """
    import sys
    import types

    module_name = getattr(obj, "__module__", None)
    if module_name is not None:
        return module_name
    for module_name, module in list(sys.modules.items()):
        if module_name in ("__main__", "__mp_main__") or not isinstance(module, types.ModuleType):
            continue
        namespace = getattr(module, "__dict__", None)  # a module's own attribute, no hook
        if isinstance(namespace, dict) and namespace.get(name) is obj:
            return module_name
    return "__main__"


def _import_skops_utils() -> Any:
    """Import ``skops.io`` (once) so that its own import-time lookup cannot import user code.

    ``skops.io`` runs the module scan while it is first imported (its trusted-types table), before
    anything can patch it. During that import only, the entries of ``sys.path`` that point at
    the caller's directories (``""``, the working directory, the script's directory) are taken
    out, so a shadow module asking for ``beta`` finds no ``beta.py`` (skops skips the
    ImportError); ``sys.path`` is restored right after.
    """
    import os
    import sys

    if "skops.io._utils" not in sys.modules:
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        callers = {"", os.getcwd()}
        if main_file:
            callers.add(os.path.dirname(os.path.abspath(main_file)))
        saved = list(sys.path)
        sys.path[:] = [
            entry
            for entry in saved
            if entry not in callers and os.path.abspath(entry or ".") not in callers
        ]
        try:
            import skops.io  # noqa: F401
        finally:
            sys.path[:] = saved
    import skops.io._utils as skops_utils

    return skops_utils


@contextlib.contextmanager
def skops_module_lookup_without_imports() -> Iterator[None]:
    """Within the block, skops looks objects' modules up without running any module's code.

    Patches ``skops.io._utils.whichmodule`` (the only caller is ``get_module`` in the same
    module, which reads the global at call time) and restores it on exit; reentrant and
    serialised by a lock, so concurrent saves in threads see a consistent state.
    """
    with _SKOPS_LOOKUP_LOCK:
        skops_utils = _import_skops_utils()
        original = skops_utils.whichmodule
        skops_utils.whichmodule = _module_of
        try:
            yield
        finally:
            skops_utils.whichmodule = original


# LightGBM's "Predict Parameters" (docs: Parameters, Predict Parameters), by their main names.
_PREDICT_PARAMETERS = (
    "predict_disable_shape_check",
    "pred_early_stop",
    "pred_early_stop_freq",
    "pred_early_stop_margin",
    "predict_raw_score",
    "predict_leaf_index",
    "predict_contrib",
    "start_iteration_predict",
    "num_iteration_predict",
)


def lightgbm_booster_predictor(model: Any) -> Callable[[Any], Any] | None:
    """``X -> model.predict(X)`` for a fitted LightGBM regressor, without the wrapper's overhead.

    The booster gets exactly the arguments ``LGBMModel.predict`` (lightgbm 4.7) would pass it:
    the model's parameters processed for prediction, aliases of the per-call arguments removed,
    ``num_threads`` from ``n_jobs``. The caller must have validated ``X`` (a 2-D float array
    with the fitted number of columns). Returns None for anything else (another model, a
    subclass overriding ``predict``, or a LightGBM whose private helpers moved), so the caller
    falls back to ``model.predict``.
    """
    try:
        from lightgbm import LGBMRegressor
        from lightgbm.basic import _choose_param_value, _ConfigAliases
    except ImportError:
        return None
    if not isinstance(model, LGBMRegressor) or type(model).predict is not LGBMRegressor.predict:
        return None
    try:
        booster = model.booster_
        params = model._process_params(stage="predict")
        per_call = ("data", "X", "raw_score", "start_iteration", "num_iteration")
        for alias in _ConfigAliases.get_by_alias(*per_call, "pred_leaf", "pred_contrib"):
            params.pop(alias, None)
        params = _choose_param_value("num_threads", params, model.n_jobs)
        params["num_threads"] = model._process_n_jobs(params["num_threads"])
        # Only LightGBM's prediction parameters reach its predictor; the training ones (tree
        # shape, sampling, objective: the booster already holds them) would only be parsed
        # from a string on every call. Dropping them leaves the predictions unchanged (tested).
        kept = _ConfigAliases.get_by_alias("num_threads", "verbosity", *_PREDICT_PARAMETERS)
        params = {key: value for key, value in params.items() if key in kept}
    except (AttributeError, TypeError):  # a LightGBM whose internals moved: use its predict
        return None

    def predict(X: Any) -> Any:
        return booster.predict(
            X,
            raw_score=False,
            start_iteration=0,
            num_iteration=None,
            pred_leaf=False,
            pred_contrib=False,
            validate_features=False,
            **params,
        )

    return predict
