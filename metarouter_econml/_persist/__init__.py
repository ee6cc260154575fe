"""Saving and loading fitted routers in a format that loads without running code from the file.

A router file is a zip archive with two members:

``metarouter.json``
    The header: format name and version, router class, the versions of the libraries that
    wrote it (:data:`RECORDED_PACKAGES`), the parameters that could not be saved (their repr),
    and a SHA-256 digest of the header and the payload together.
``router.skops``
    The payload, in skops' safe format (``skops.io``): the router's parameters, its fitted
    attributes and, for a :class:`~metarouter_econml.MetaRouter` with a CATE learner, the
    fitted final CATE model(s) only. Loading rebuilds objects from an audited tree of types:
    only skops' default-trusted types (builtins, numpy, scikit-learn estimators) and the types
    in :data:`TRUSTED_TYPES` are accepted, never a pickle.

What is saved, and what is not
    * The router model (``router_model_``) whole, as fitted. A LightGBM model travels as
      LightGBM's own text model (``Booster.__getstate__``), which is data, not code.
    * The bias: a fitted EconML estimator holds nuisance models for every fold, selection
      results and inference state that ``estimate_bias`` never uses. Only its final CATE
      model is kept (``model_final_`` of ``NonParamDML``, ``fitted_models_final`` of
      ``DRLearner``). On a loaded router ``cate_estimator_`` is a small read-only stand-in
      with ``effect(X)`` and ``const_marginal_effect(X)``, computed with the same operations
      as EconML, so ``estimate_bias`` gives the same bits.
    * Not supported: ``learner="causal_forest"`` and ``"forest_dr"``. Their final model is an
      EconML forest whose Cython ``Tree`` skops cannot rebuild (its constructor needs
      arguments; skops restores such objects with ``__new__`` and ``__setstate__``), and
      rebuilding it by hand would mean constructing a private EconML class from its private
      state. ``save`` refuses them with a ``ValueError`` naming the learners that can be saved.
    * Fitted attributes (``scale_``, ``shift_``, ``learner_``, ``n_features_in_``,
      ``feature_names_in_``, ``auto_scores_``, ...). ``propensity_`` (one float per training
      row) is kept: it is the only per-row array in the file and the record of overlap; the
      training data itself is never stored.
    * Parameters are saved when every type they contain is trusted; otherwise (e.g. an EconML
      estimator passed as ``learner``, a custom nuisance model) they are set to None on the
      loaded router, which warns: it predicts, routes and estimates the bias exactly as the
      saved one, but refitting it would use the defaults for those parameters.

Safety
    Loading never unpickles: skops builds only audited types. Tampering with a file (or
    corruption) breaks the digest and the file is refused; the digest is not a signature,
    so it guards against accidents and casual edits, not against someone who rewrites the
    digest too. Tree models are a second line: scikit-learn and LightGBM trees store raw node
    and feature indices that their prediction code follows without bounds checks (which is
    why skops does not trust ``sklearn.tree._tree.Tree`` by default). Every such tree is
    checked after loading, before anything predicts with it: node count within capacity,
    children pointing forward inside the tree, features within the model's feature count.
    LightGBM parses its own text model first. Load files from sources you trust all the same.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tempfile
import warnings
import zipfile
from importlib import metadata
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .._compat import import_dowhy_quietly

__all__ = ["RECORDED_PACKAGES", "TRUSTED_TYPES", "current_versions", "load_router", "save_router"]

FORMAT = "metarouter_econml.router"
FORMAT_VERSION = 1
HEADER_NAME = "metarouter.json"
PAYLOAD_NAME = "router.skops"
_MAX_HEADER_BYTES = 1 << 20

# Types trusted in a payload besides skops' defaults (builtins, numpy arrays and dtypes,
# scikit-learn estimators). The tree types store raw indices and are checked after loading
# (see _check_trees); nothing else in this list runs code on load beyond restoring attributes.
TRUSTED_TYPES = (
    "collections.OrderedDict",  # LightGBM's record of best scores
    "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.sklearn.LGBMClassifier",  # overlap-region models of MetaRouter(overlap="trim")
    "lightgbm.basic.Booster",  # restored from LightGBM's text model
    "sklearn.tree._tree.Tree",  # node storage of scikit-learn trees and forests
)

# Distribution names whose versions a file records; a difference at load time warns.
RECORDED_PACKAGES = (
    "metarouter-econml",
    "scikit-learn",
    "numpy",
    "scipy",
    "econml",
    "lightgbm",
    "skops",
)

_SAVEABLE_LEARNERS = "learner 'r', 'dr' or 'auto' (NonParamDML or DRLearner without a featurizer)"


# -- saving ------------------------------------------------------------------------------------
def save_router(router, path) -> None:
    """Write a fitted router to ``path`` (see the module docstring for the format)."""
    check_is_fitted(router, "router_model_")
    path = _check_path(path, for_writing=True)
    import skops.io as sio

    params, dropped = _saveable_params(router, sio)
    attributes, frames, names = {}, {}, {}
    for name, value in vars(router).items():
        if not name.endswith("_") or name.startswith("_") or name == "cate_estimator_":
            continue
        if isinstance(value, pd.DataFrame):
            frames[name] = _encode_frame(value)
        elif isinstance(value, np.ndarray) and value.dtype == object:
            names[name] = [str(v) for v in value]
        else:
            attributes[name] = value
    payload = {
        "class": type(router).__name__,
        "params": params,
        "attributes": attributes,
        "frames": frames,
        "string_arrays": names,
        "cate": _encode_cate(getattr(router, "cate_estimator_", None)),
    }
    payload_bytes = sio.dumps(payload)
    untrusted = _untrusted(sio, payload_bytes)
    if untrusted:
        culprits = [
            name
            for name, value in {**attributes, "cate_estimator_": payload["cate"]}.items()
            if _untrusted(sio, sio.dumps(value))
        ]
        raise ValueError(
            f"Cannot save this {type(router).__name__}: {culprits} contain types that `load` does "
            f"not trust, {untrusted}. Routers can be saved when their router_model is made of "
            "scikit-learn estimators or LightGBM models and, for MetaRouter, with "
            f"{_SAVEABLE_LEARNERS}."
        )
    _check_trees(payload, getattr(router, "n_features_in_", None), source="this router")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": type(router).__name__,
        "versions": current_versions(),
        "dropped_params": dropped,
    }
    header["sha256"] = _digest(header, payload_bytes)
    _write_atomically(path, header, payload_bytes)


def _saveable_params(router, sio):
    params, dropped = {}, {}
    for name, value in router.get_params(deep=False).items():
        if value is None or isinstance(value, (bool, str, Integral, Real)):
            params[name] = value
            continue
        try:
            untrusted = _untrusted(sio, sio.dumps(value))
        except Exception as exc:  # noqa: BLE001 - any failure means: cannot be saved safely
            untrusted = [f"not serialisable by skops: {type(exc).__name__}"]
        if untrusted:
            dropped[name] = repr(value)
        else:
            params[name] = value
    return params, dropped


def _encode_frame(frame: pd.DataFrame) -> dict:
    return {
        "values": frame.to_numpy(dtype=np.float64),
        "columns": [str(c) for c in frame.columns],
        "index": [str(i) for i in frame.index],
        "index_name": None if frame.index.name is None else str(frame.index.name),
    }


def _encode_cate(estimator):
    """Keep the final CATE model(s) of a fitted EconML estimator and how EconML reads them."""
    if estimator is None:
        return None
    import_dowhy_quietly()
    from econml.dml import CausalForestDML, NonParamDML
    from econml.dr import DRLearner, ForestDRLearner

    name = type(estimator).__name__
    if type(estimator) in (CausalForestDML, ForestDRLearner):
        raise ValueError(
            f"Cannot save a MetaRouter whose `cate_estimator_` is a {name} "
            "(learner 'causal_forest' or 'forest_dr'): its final model is an EconML forest, "
            f"whose Cython trees skops cannot rebuild. Routers with {_SAVEABLE_LEARNERS} can be "
            "saved."
        )
    kind = {NonParamDML: "nonparam_dml", DRLearner: "drlearner"}.get(type(estimator))
    if kind == "drlearner" and estimator.multitask_model_final:
        kind = None
    if kind is None or getattr(estimator, "featurizer_", None) is not None:
        raise ValueError(
            f"Cannot save a MetaRouter whose `cate_estimator_` is a {name}"
            f"{' with a featurizer' if kind else ''}: only routers with {_SAVEABLE_LEARNERS} "
            "can be saved."
        )
    models = (
        list(estimator.fitted_models_final) if kind == "drlearner" else [estimator.model_final_]
    )
    if len(models) != 1:
        raise ValueError(
            f"Cannot save a MetaRouter whose {type(estimator).__name__} has {len(models)} final "
            "models; the router has one binary treatment (gold vs preference), so it expects one."
        )
    return {"kind": kind, "models": models}


def _digest(header: dict, payload_bytes: bytes) -> str:
    fields = {k: v for k, v in header.items() if k != "sha256"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical + b"\0" + payload_bytes).hexdigest()


def _write_atomically(path: Path, header: dict, payload_bytes: bytes) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in (
            (HEADER_NAME, json.dumps(header, indent=1).encode()),
            (PAYLOAD_NAME, payload_bytes),
        ):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- loading -----------------------------------------------------------------------------------
def load_router(path, classes: dict):
    """Load a router file (see :func:`metarouter_econml.load`) whose class is one of ``classes``.

    ``classes`` maps class names to the router classes a file may name; the routers layer passes
    them in, so that this module never imports it.
    """
    path = _check_path(path, for_writing=False)
    header, payload_bytes = _read_container(path)
    name = header.get("class")
    cls = classes.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{path} records router class {header.get('class')!r}, which is not one of "
            f"{sorted(classes)}."
        )
    _warn_on_version_change(path, header.get("versions"))
    import skops.io as sio

    try:
        untrusted = _untrusted(sio, payload_bytes)
    except Exception as exc:  # noqa: BLE001 - a malformed payload is reported, not propagated raw
        raise ValueError(f"{path} has a malformed payload: {type(exc).__name__}: {exc}") from None
    if untrusted:
        raise TypeError(
            f"{path} contains types that metarouter_econml does not trust, {untrusted}; it was not "
            f"loaded. Trusted are skops' defaults and {list(TRUSTED_TYPES)}."
        )
    try:
        with zipfile.ZipFile(io.BytesIO(payload_bytes)) as inner:
            schema = json.loads(inner.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ValueError(f"{path} has a malformed payload: {exc}") from None
    for text in _lightgbm_texts_in_schema(schema):
        _check_lightgbm_text(text, str(path))
    try:
        payload = sio.loads(payload_bytes, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # noqa: BLE001
        raise ValueError(
            f"{path} has a payload that could not be loaded: {type(exc).__name__}: {exc}"
        ) from None
    return _rebuild(path, cls, header, payload)


def _read_container(path: Path):
    not_ours = f"{path} is not a metarouter_econml router file (written by `router.save`)"
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(
            f"{not_ours}: it is not a zip archive (a pickle or joblib file?)."
        ) from None
    with archive:
        members = set(archive.namelist())
        if HEADER_NAME not in members or PAYLOAD_NAME not in members:
            hint = " It looks like a bare skops file." if "schema.json" in members else ""
            raise ValueError(f"{not_ours}: it has no {HEADER_NAME} and {PAYLOAD_NAME}.{hint}")
        if archive.getinfo(HEADER_NAME).file_size > _MAX_HEADER_BYTES:
            raise ValueError(
                f"{not_ours}: its {HEADER_NAME} is larger than {_MAX_HEADER_BYTES} bytes."
            )
        try:
            header = json.loads(archive.read(HEADER_NAME))
            payload_bytes = archive.read(PAYLOAD_NAME)
        except (ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{not_ours}: its contents cannot be read ({exc}).") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{not_ours}: its header does not name the format {FORMAT!r}.")
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} is in router file format version {header.get('format_version')!r}; this "
            f"metarouter_econml reads version {FORMAT_VERSION}. Use the version that wrote it."
        )
    if header.get("sha256") != _digest(header, payload_bytes):
        raise ValueError(
            f"{path} failed its integrity check: the SHA-256 digest of its contents does not match "
            "the one recorded when it was saved, so it was modified or corrupted. It was not "
            "loaded."
        )
    return header, payload_bytes


def _rebuild(path: Path, cls, header: dict, payload):
    bad = f"{path} has a malformed payload"
    if not isinstance(payload, dict) or payload.get("class") != cls.__name__:
        raise ValueError(f"{bad}: it does not hold a {cls.__name__}.")
    sections = ("params", "attributes", "frames", "string_arrays")
    if any(not isinstance(payload.get(key), dict) for key in sections):
        raise ValueError(f"{bad}: it lacks one of the sections {list(sections)}.")
    known = set(cls().get_params(deep=False))
    dropped = header.get("dropped_params")
    if not isinstance(dropped, dict):
        raise ValueError(f"{path} has a malformed header: `dropped_params` is not a mapping.")
    attribute_names = [name for key in sections[1:] for name in payload[key]]
    if not all(
        isinstance(n, str) and n.isidentifier() and n.endswith("_") and n[0] != "_"
        for n in attribute_names
    ):
        raise ValueError(f"{bad}: fitted attribute names must end with '_'; got {attribute_names}.")
    unknown = sorted((set(payload["params"]) | set(dropped)) - known)
    if unknown:
        raise ValueError(
            f"{path} sets parameters {unknown} that {cls.__name__} does not have in this "
            "version of metarouter_econml; load it with the version that saved it."
        )
    router = cls(**payload["params"], **dict.fromkeys(dropped))
    for name, value in payload["attributes"].items():
        setattr(router, name, value)
    for name, value in payload["string_arrays"].items():
        setattr(router, name, np.asarray(value, dtype=object))
    for name, value in payload["frames"].items():
        setattr(router, name, _decode_frame(value))
    n_features = getattr(router, "n_features_in_", None)
    if not (isinstance(n_features, Integral) and n_features > 0) or not hasattr(
        router, "router_model_"
    ):
        raise ValueError(f"{bad}: it lacks the fitted router model or its number of features.")
    names = getattr(router, "feature_names_in_", None)
    if names is not None and len(names) != n_features:
        raise ValueError(f"{bad}: {len(names)} feature names for {n_features} features.")
    if not hasattr(router.router_model_, "predict"):
        raise ValueError(f"{bad}: its router model is a {type(router.router_model_).__name__}.")
    scale = getattr(router, "scale_", None)
    if not (isinstance(scale, Real) and np.isfinite(scale) and scale > 0):
        raise ValueError(f"{bad}: `scale_` must be a finite positive number; got {scale!r}.")
    _check_trees(payload, n_features, source=str(path))
    if "learner" in known:  # MetaRouter
        router.cate_estimator_ = _decode_cate(path, payload.get("cate"))
        if router.cate_estimator_ is None and not isinstance(getattr(router, "shift_", None), Real):
            raise ValueError(f"{bad}: it has neither a CATE model nor a constant shift `shift_`.")
    elif payload.get("cate") is not None:
        raise ValueError(f"{bad}: a {cls.__name__} has no CATE model.")
    if dropped:
        warnings.warn(
            f"{path}: parameters {sorted(dropped)} could not be saved and are None on the loaded "
            f"{cls.__name__} (they were {dropped}). It predicts, routes and estimates the bias "
            "exactly as the saved router, but refitting it would use the defaults for them.",
            UserWarning,
            stacklevel=3,
        )
    return router


def _decode_frame(encoded: dict) -> pd.DataFrame:
    index = pd.Index(encoded["index"], name=encoded["index_name"])
    return pd.DataFrame(
        np.asarray(encoded["values"], dtype=np.float64), index=index, columns=encoded["columns"]
    )


def _decode_cate(path: Path, encoded):
    if encoded is None:
        return None
    if not isinstance(encoded, dict) or encoded.get("kind") not in _SavedCateModel.KINDS:
        raise ValueError(f"{path} has a malformed payload: unknown CATE model {encoded!r:.100}.")
    models = encoded.get("models")
    if not (isinstance(models, list) and len(models) == 1 and hasattr(models[0], "predict")):
        raise ValueError(
            f"{path} has a malformed payload: the CATE model is not one fitted regressor."
        )
    return _SavedCateModel(encoded["kind"], models)


class _SavedCateModel:
    """Read-only stand-in for the EconML estimator of a loaded :class:`MetaRouter`.

    It holds the final CATE model(s) only and computes ``const_marginal_effect(X)`` and
    ``effect(X)`` (with ``T0=0``, ``T1=1``, gold vs preference) with the same operations as
    EconML 0.17, so the numbers are bit-identical. Nuisance models, inference and summaries of
    the original estimator are not saved.
    """

    KINDS = ("nonparam_dml", "drlearner")

    def __init__(self, kind: str, models: list):
        self.kind = kind
        self.models = models

    def __repr__(self) -> str:
        return f"_SavedCateModel(kind={self.kind!r}, model={type(self.models[0]).__name__})"

    def const_marginal_effect(self, X) -> np.ndarray:
        """Constant marginal CATE of the gold treatment, shape ``(n_queries, 1)``."""
        X = np.asarray(X)
        if self.kind == "nonparam_dml":
            # NonParamDML's final wrapper: rows repeated per unit treatment, crossed with it
            # (a C-ordered copy of X times 1.0; the memory order changes the matmul's rounding)
            import_dowhy_quietly()
            from econml.utilities import broadcast_unit_treatments, cross_product

            prediction = self.models[0].predict(cross_product(*broadcast_unit_treatments(X, 1)))
            return np.reshape(prediction, (-1, 1))
        predictions = np.array([model.predict(X).reshape(-1) for model in self.models])
        return np.moveaxis(predictions, 0, -1)

    def effect(self, X, *, T0=0, T1=1) -> np.ndarray:
        """CATE of moving from preference (``T0=0``) to gold (``T1=1``), shape ``(n_queries,)``."""
        if (T0, T1) != (0, 1):
            raise ValueError(
                f"A loaded router's CATE model only computes T0=0, T1=1; got T0={T0!r}, T1={T1!r}."
            )
        effect = self.const_marginal_effect(X)
        return np.einsum("mt,mt->m", effect, np.ones((effect.shape[0], 1)))


# -- checks shared by save and load ------------------------------------------------------------
def _check_path(path, *, for_writing: bool) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or path-like; got {type(path).__name__}.")
    path = Path(path)
    if for_writing:
        if not path.parent.is_dir():
            raise FileNotFoundError(
                f"Cannot save to {path}: the directory {path.parent} does not exist."
            )
        if path.is_dir():
            raise IsADirectoryError(f"Cannot save to {path}: it is a directory; give a file name.")
    elif not path.is_file():
        raise FileNotFoundError(f"Cannot load {path}: no such file.")
    return path


def _untrusted(sio, payload_bytes: bytes) -> list:
    return sorted(set(sio.get_untrusted_types(data=payload_bytes)) - set(TRUSTED_TYPES))


def current_versions() -> dict:
    """Versions of Python and of :data:`RECORDED_PACKAGES` in this environment."""
    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _warn_on_version_change(path: Path, recorded) -> None:
    if not isinstance(recorded, dict):
        raise ValueError(f"{path} has a malformed header: no record of the versions that wrote it.")
    current = current_versions()
    changed = {
        name: (recorded.get(name), now)
        for name, now in current.items()
        if recorded.get(name) != now
    }
    if changed:
        listing = ", ".join(f"{name} {saved} -> {now}" for name, (saved, now) in changed.items())
        warnings.warn(
            f"{path} was saved with other versions than the ones installed ({listing}). It "
            "loads, but predictions may differ from the saved router's; refit and save under "
            "these versions, or install the saved ones, for identical results.",
            UserWarning,
            stacklevel=3,
        )


def _walk(root):
    """Every object reachable from ``root`` through containers, object arrays and ``__dict__``."""
    seen, stack = set(), [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, Real)):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel())
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())


def _check_trees(payload, n_features, *, source: str) -> None:
    """Check the node storage of every tree and LightGBM booster before anything predicts."""
    from lightgbm import Booster

    for obj in _walk(payload):
        tree = getattr(obj, "tree_", None) if not isinstance(obj, dict) else None
        # scikit-learn's Tree lives in a private module: recognise it by name, do not import it
        if f"{type(tree).__module__}.{type(tree).__name__}" == "sklearn.tree._tree.Tree":
            _check_tree_nodes(
                tree, getattr(obj, "n_features_in_", None), source, type(obj).__name__
            )
        elif isinstance(obj, Booster):
            _check_lightgbm_text(obj.model_to_string(), source)


def _check_tree_nodes(tree, n_features, source: str, owner: str) -> None:
    bad = f"{source} has a malformed {owner} tree"
    if not (isinstance(n_features, Integral) and tree.n_features == n_features):
        raise ValueError(f"{bad}: it has {tree.n_features} features, its estimator {n_features!r}.")
    count = tree.node_count
    if not 0 < count <= tree.capacity:
        raise ValueError(f"{bad}: {count} nodes for a capacity of {tree.capacity}.")
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    index = np.arange(count)
    leaf = (left == -1) & (right == -1)
    inner = ~leaf
    forward = (left > index) & (left < count) & (right > index) & (right < count)
    if not np.all(forward[inner]) or np.any((feature[inner] < 0) | (feature[inner] >= n_features)):
        raise ValueError(f"{bad}: child or feature indices out of range.")


# LightGBM's text model, as ``Tree::Tree(const char*)`` in LightGBM 4 parses it: trees are
# parsed in parallel from the offsets in ``tree_sizes`` and an error there aborts the process,
# so the text is checked in Python before LightGBM sees it.
_LGBM_INNER_ARRAYS = (
    "split_feature",
    "split_gain",
    "threshold",
    "decision_type",
    "left_child",
    "right_child",
    "internal_value",
    "internal_weight",
    "internal_count",
)
_LGBM_LEAF_ARRAYS = ("leaf_value", "leaf_weight", "leaf_count")
_LGBM_REQUIRED = ("split_feature", "threshold", "left_child", "right_child")
_LGBM_MAX_TREE_LINES = 22


def _check_lightgbm_text(text, source: str) -> None:
    """Refuse a LightGBM text model that LightGBM could not parse safely or predict with safely."""
    bad = f"{source} has a malformed LightGBM model"
    if not isinstance(text, str) or "\r" in text or "\0" in text:
        raise ValueError(f"{bad}: its text model is not a plain string.")
    data = text.encode()
    lines = data.split(b"\n")
    offsets = np.cumsum([0] + [len(line) + 1 for line in lines])
    first = next((i for i, line in enumerate(lines) if line.startswith(b"Tree=")), None)
    end = data.find(b"\nend of trees")
    if first is None or end < offsets[first]:
        raise ValueError(f"{bad}: no trees between the header and 'end of trees'.")
    header = dict(line.split(b"=", 1) for line in lines[:first] if b"=" in line)
    try:
        n_features = int(header[b"max_feature_idx"]) + 1
        sizes = [int(v) for v in header.get(b"tree_sizes", b"").split()]
    except (KeyError, ValueError):
        raise ValueError(
            f"{bad}: its header lacks a valid max_feature_idx or tree_sizes."
        ) from None
    begin = int(offsets[first])
    if sizes:
        bounds = begin + np.cumsum([0] + sizes)
        if min(sizes) < 1 or bounds[-1] != end + 1:
            raise ValueError(f"{bad}: tree_sizes do not match its trees.")
        blocks = [data[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    else:
        blocks = [b"Tree=" + block for block in data[begin + 5 : end + 1].split(b"\nTree=")]
    for block in blocks:
        _check_lightgbm_tree(block, n_features, bad, source)


def _check_lightgbm_tree(block: bytes, n_features: int, bad: str, source: str) -> None:
    lines = block.split(b"\n")
    if not lines[0].startswith(b"Tree=") or b"" not in lines[1:]:
        raise ValueError(
            f"{bad}: a tree does not start with 'Tree=' or does not end with a blank line."
        )
    body = lines[1 : lines.index(b"", 1)]
    if len(body) > _LGBM_MAX_TREE_LINES or not all(b"=" in line for line in body):
        raise ValueError(f"{bad}: a tree has lines that are not key=value pairs.")
    fields = dict(line.decode().split("=", 1) for line in body)
    try:
        leaves = int(fields["num_leaves"])
        arrays = {
            key: np.array(fields[key].split(), dtype=np.float64)
            for key in _LGBM_INNER_ARRAYS + _LGBM_LEAF_ARRAYS
            if key in fields
        }
    except (KeyError, ValueError):
        raise ValueError(
            f"{bad}: a tree has a missing or non-numeric num_leaves or array."
        ) from None
    if int(fields.get("num_cat", "0")) != 0 or fields.get("is_linear", "0") != "0":
        raise ValueError(
            f"{source}: LightGBM trees with categorical splits or linear leaves are not "
            "supported by router files."
        )
    required = ("leaf_value",) + (_LGBM_REQUIRED if leaves > 1 else ())
    lengths_ok = all(
        arrays[key].size == leaves - 1 for key in _LGBM_INNER_ARRAYS if key in arrays
    ) and all(arrays[key].size == leaves for key in _LGBM_LEAF_ARRAYS if key in arrays)
    if leaves < 1 or any(key not in arrays for key in required) or not lengths_ok:
        raise ValueError(f"{bad}: a tree's arrays do not match its {leaves} leaves.")
    if leaves == 1:
        return
    index = np.arange(leaves - 1)
    children = np.concatenate([arrays["left_child"], arrays["right_child"]])
    parents = np.concatenate([index, index])
    feature = arrays["split_feature"]
    decision = arrays.get("decision_type", np.zeros(leaves - 1))
    integral = all(np.array_equal(a, np.round(a)) for a in (children, feature, decision))
    inner_ok = np.where(children >= 0, (children > parents) & (children < leaves - 1), True)
    leaf_ids = np.sort(-children[children < 0] - 1)
    if (
        not integral
        or not np.all(inner_ok)
        or not np.array_equal(leaf_ids, np.arange(leaves))
        or np.any((feature < 0) | (feature >= n_features))
        or np.any(decision.astype(np.int64) & 1)
    ):
        raise ValueError(f"{bad}: child or feature indices out of range.")


def _lightgbm_texts_in_schema(node):
    """Return the text models of the LightGBM boosters in a skops schema, built or not."""
    stack, texts = [node], []
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("__module__") == "lightgbm.basic" and node.get("__class__") == "Booster":
                try:
                    handle = node["content"]["content"]["_handle"]
                    text = (
                        json.loads(handle["content"])
                        if handle.get("__loader__") == "JsonNode"
                        else None
                    )
                except (KeyError, TypeError, ValueError):
                    text = None
                texts.append(text)
            stack.extend(node.values())
    return texts
