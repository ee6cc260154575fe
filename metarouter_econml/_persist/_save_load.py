"""A router to a file and back: the payload's contents, the trust check, the rebuilt router."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .._compat import skops_module_lookup_without_imports
from . import _archive
from ._archive import check_path, read_archive, warn_on_version_change, write_archive
from ._audit import check_lightgbm_text, check_trees, lightgbm_texts_in_schema
from ._models import check_feature_scale, check_models
from ._multi import (
    PLAIN_ATTRIBUTES,
    SAVEABLE,
    SECTION_ATTRIBUTES,
    check_multi,
    decode_section,
    encode_section,
)
from ._payload import check_payload_archive, parse_schema
from ._standin import SAVEABLE_LEARNERS, cate_format_version, decode_cate, encode_cate

__all__ = ["TRUSTED_TYPES", "load_router", "save_router"]

# Types trusted in a payload besides skops' defaults (builtins, numpy arrays and dtypes,
# scikit-learn estimators). The tree types store raw indices and are checked by ._audit;
# nothing else in this list runs code on load beyond restoring attributes.
TRUSTED_TYPES = (
    "collections.OrderedDict",  # LightGBM's record of best scores
    "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.sklearn.LGBMClassifier",  # overlap-region models of MetaRouter(overlap="trim")
    "lightgbm.basic.Booster",  # restored from LightGBM's text model
    "sklearn.tree._tree.Tree",  # node storage of scikit-learn trees and forests
    "sklearn.model_selection._split.KFold",  # the `cv` of the lasso final stage (3 ints/bools)
    # a dict of names to estimators (a VotingRegressor's `named_estimators_`), checked by ._models
    "sklearn.utils._bunch.Bunch",
)

_SECTIONS = ("params", "attributes", "frames", "string_arrays")

# Frames between a warning and the user's call: the warning's function, load_router (or a helper
# it calls directly), the routers layer's public `load`, then its caller.
_LOAD_STACKLEVEL = 4


def save_router(router: Any, path: Any) -> None:
    """Write a fitted router to ``path`` (see :meth:`metarouter_econml.MetaRouter.save`).

    The payload holds the router's parameters (those that skops can save with trusted types;
    the others are listed in the header by their repr), its public fitted attributes, and for a
    MetaRouter the final stage of its CATE estimator only (:func:`._standin.encode_cate`: the
    final model, its ``StandardScaler`` featurizer if any, an EconML forest as plain arrays).
    For a MultiMetaRouter it also holds the section of :mod:`._multi`: its tables, the
    coefficients of its linear bias estimators, and its two-model router's payload, built and
    checked as that of a top-level router.
    The file is written in the oldest format version that holds it
    (:func:`._standin.cate_format_version`). Everything that :func:`load_router` checks is
    checked here first, so a file that would not load is never written. skops runs under
    :func:`.._compat.skops_module_lookup_without_imports`.

    Parameters
    ----------
    router : fitted router
    path : str or path-like

    Raises
    ------
    NotFittedError
        If the router is not fitted.
    ValueError
        If it holds a type that :func:`load_router` would not trust, a CATE estimator whose
        final stage cannot be saved (another estimator or featurizer), a router, CATE or overlap
        model of a type that a router file cannot hold (:mod:`._models`), a malformed tree or
        forest, a MultiMetaRouter bias estimator that is not linear (:data:`._multi.SAVEABLE`)
        or a state that :func:`._multi.check_multi` refuses, or more than the limits of
        :mod:`._archive`, :mod:`._payload` and :mod:`._forest`.
    """
    multi = _is_multi(type(router))
    check_is_fitted(router, "models_" if multi else "router_model_")
    path = check_path(path, for_writing=True)
    cannot = f"Cannot save this {type(router).__name__}"
    with skops_module_lookup_without_imports():
        if multi:
            payload_bytes, dropped, version = _checked_multi_payload(router, cannot)
        else:
            payload, payload_bytes, dropped = _checked_payload(router, cannot)
            version = cate_format_version(payload["cate"])
    if len(payload_bytes) > _archive.MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"{cannot}: its payload would hold {len(payload_bytes)} bytes, more than the "
            f"{_archive.MAX_PAYLOAD_BYTES} bytes that `load` reads (a router file grows with the "
            "trees of its models and by 8 bytes per training row, `propensity_`)."
        )
    try:
        parse_schema(check_payload_archive(payload_bytes, "this router"), "this router")
    except ValueError as exc:
        raise ValueError(f"{cannot}: `load` would refuse its payload ({exc})") from None
    write_archive(path, type(router).__name__, payload_bytes, dropped, format_version=version)


def _is_multi(cls: type) -> bool:
    """Whether ``cls`` is the MultiMetaRouter (the router with a ``structure``)."""
    return "structure" in cls().get_params(deep=False)


def _checked_payload(router: Any, cannot: str) -> tuple[dict, bytes, dict]:
    """:func:`_payload` of a two-model router, its trees and models checked as on load."""
    payload, payload_bytes, dropped = _payload(router)
    check_trees(payload, source="this router")
    cate = payload["cate"]
    check_models(
        router_model=router.router_model_,
        overlap_models=getattr(router, "overlap_models_", None),
        cate=None if cate is None else (cate["kind"], cate["models"][0]),
        n_features=router.n_features_in_,
        source=cannot,
    )
    return payload, payload_bytes, dropped


def _checked_multi_payload(router: Any, cannot: str) -> tuple[bytes, dict, int]:
    """The payload bytes of a MultiMetaRouter, its dropped parameters and its format version.

    The section of :mod:`._multi` is encoded, then decoded as :func:`load_router` decodes it,
    and that state passes :func:`._multi.check_multi`; the two-model router's payload passes
    the checks of a top-level router's.
    """
    import skops.io as sio

    params, dropped = _saveable_params(router, sio)
    attributes, names = {}, {}
    for name, value in vars(router).items():
        if not name.endswith("_") or name.startswith("_") or name in SECTION_ATTRIBUTES:
            continue
        if name not in PLAIN_ATTRIBUTES:
            raise ValueError(
                f"{cannot}: it has the fitted attribute `{name}`, which a router file does not "
                "hold."
            )
        if isinstance(value, np.ndarray) and value.dtype == object:
            names[name] = [str(v) for v in value]
        else:
            attributes[name] = value
    section = encode_section(router, cannot)
    version = 1
    nested = router.two_model_router_
    if nested is not None:
        nested_cannot = f"{cannot}: its two_model_router_ cannot be saved ({type(nested).__name__})"
        nested_payload, _, nested_dropped = _checked_payload(nested, nested_cannot)
        section["two_model_router"] = {"payload": nested_payload, "dropped_params": nested_dropped}
        version = cate_format_version(nested_payload["cate"])
    state = {**vars(router), **decode_section(section, cannot)}
    check_multi(state, cannot, cannot)
    payload = {
        "class": type(router).__name__,
        "params": params,
        "attributes": attributes,
        "frames": {},
        "string_arrays": names,
        "cate": None,
        "multi": section,
    }
    check_trees(payload, source="this router")
    payload_bytes = sio.dumps(payload)
    untrusted = _untrusted(sio, payload_bytes)
    if untrusted:
        parts = {**attributes, **{f"multi[{key!r}]": value for key, value in section.items()}}
        culprits = [name for name, value in parts.items() if _untrusted(sio, sio.dumps(value))]
        raise ValueError(
            f"{cannot}: {culprits} contain types that `load` does not trust, {untrusted}. A "
            "MultiMetaRouter can be saved when its router_model is made of scikit-learn "
            f"estimators or LightGBM models; {SAVEABLE}."
        )
    return payload_bytes, dropped, version


def _payload(router: Any) -> tuple[dict, bytes, dict]:
    """The payload of ``router``, its skops bytes and the dropped parameters; all types trusted."""
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
        "cate": encode_cate(getattr(router, "cate_estimator_", None)),
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
            f"{SAVEABLE_LEARNERS}."
        )
    return payload, payload_bytes, dropped


def load_router(path: Any, classes: dict[str, type]) -> Any:
    """Load a router file (see :func:`metarouter_econml.load`) whose class is one of ``classes``.

    Loading never unpickles: the file is read within the limits of :mod:`._archive`, its
    digest is checked, the payload's archive is checked member by member (:mod:`._payload`),
    then every type in it must be trusted (skops' defaults and :data:`TRUSTED_TYPES`),
    LightGBM text models are audited before LightGBM parses them, every tree is audited and the
    router, CATE and overlap models are checked (:mod:`._models`; an EconML forest's arrays by
    :mod:`._forest`) before the router is returned. Files of every version in
    :data:`._archive.READABLE_FORMAT_VERSIONS` load. Every call into skops runs under
    :func:`.._compat.skops_module_lookup_without_imports`, so that its lookups of modules
    import none of the user's.

    Parameters
    ----------
    path : str or path-like
    classes : dict
        Class names to the router classes a file may name. The routers layer passes them in, so
        that persistence never imports it; its public ``load`` calls this function directly
        (warnings point at the caller of ``load``).

    Returns
    -------
    router
    """
    path = check_path(path, for_writing=False)
    header, payload_bytes = read_archive(path)
    name = header.get("class")
    cls = classes.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{path} records router class {header.get('class')!r}, which is not one of "
            f"{sorted(classes)}."
        )
    warn_on_version_change(path, header.get("versions"), stacklevel=_LOAD_STACKLEVEL)
    payload = _load_trusted(path, payload_bytes)
    if _is_multi(cls):
        return _rebuild_multi(path, cls, header, payload, classes)
    return _rebuild(path, cls, header, payload)


def _load_trusted(path: Path, payload_bytes: bytes) -> Any:
    """Build the payload with skops once its archive, types and LightGBM texts are checked."""
    schema = parse_schema(check_payload_archive(payload_bytes, str(path)), str(path))
    with skops_module_lookup_without_imports():
        import skops.io as sio  # in the block: skops.io runs the lookup when first imported

        try:
            untrusted = _untrusted(sio, payload_bytes)
        except Exception as exc:  # noqa: BLE001 - a malformed payload is reported, not raised raw
            raise ValueError(
                f"{path} has a malformed payload: {type(exc).__name__}: {exc}"
            ) from None
    if untrusted:
        raise TypeError(
            f"{path} contains types that metarouter_econml does not trust, {untrusted}; it was not "
            f"loaded. Trusted are skops' defaults and {list(TRUSTED_TYPES)}."
        )
    for text in lightgbm_texts_in_schema(schema):
        check_lightgbm_text(text, str(path))
    with skops_module_lookup_without_imports():
        try:
            return sio.loads(payload_bytes, trusted=list(TRUSTED_TYPES))
        except Exception as exc:  # noqa: BLE001
            raise ValueError(
                f"{path} has a payload that could not be loaded: {type(exc).__name__}: {exc}"
            ) from None


def _untrusted(sio: Any, payload_bytes: bytes) -> list[str]:
    return sorted(set(sio.get_untrusted_types(data=payload_bytes)) - set(TRUSTED_TYPES))


def _saveable_params(router: Any, sio: Any) -> tuple[dict, dict]:
    """Parameters whose types are all trusted, and the reprs of the others (None once loaded)."""
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
        # stored as 0/1 in ``values``; restored as bool (files written before: left float)
        "bool_columns": [str(c) for c in frame.columns if frame[c].dtype == bool],
    }


def _decode_frame(encoded: dict) -> pd.DataFrame:
    index = pd.Index(encoded["index"], name=encoded["index_name"])
    frame = pd.DataFrame(
        np.asarray(encoded["values"], dtype=np.float64), index=index, columns=encoded["columns"]
    )
    for column in encoded.get("bool_columns", ()):
        frame[column] = frame[column].astype(bool)
    return frame


def _construct(source: str, cls: type, header: dict, payload: Any) -> tuple[Any, dict]:
    """A router of ``cls`` with the payload's parameters and attributes, and its dropped ones.

    Checks the payload's sections, the names of its attributes and that its parameters are
    those of ``cls``; ``source`` (the file) starts the messages.
    """
    bad = f"{source} has a malformed payload"
    if not isinstance(payload, dict) or payload.get("class") != cls.__name__:
        raise ValueError(f"{bad}: it does not hold a {cls.__name__}.")
    if any(not isinstance(payload.get(key), dict) for key in _SECTIONS):
        raise ValueError(f"{bad}: it lacks one of the sections {list(_SECTIONS)}.")
    known = set(cls().get_params(deep=False))
    dropped = header.get("dropped_params")
    if not isinstance(dropped, dict):
        raise ValueError(f"{source} has a malformed header: `dropped_params` is not a mapping.")
    attribute_names = [name for key in _SECTIONS[1:] for name in payload[key]]
    if not all(
        isinstance(n, str) and n.isidentifier() and n.endswith("_") and n[0] != "_"
        for n in attribute_names
    ):
        raise ValueError(f"{bad}: fitted attribute names must end with '_'; got {attribute_names}.")
    unknown = sorted((set(payload["params"]) | set(dropped)) - known)
    if unknown:
        raise ValueError(
            f"{source} sets parameters {unknown} that {cls.__name__} does not have in this "
            "version of metarouter_econml; load it with the version that saved it."
        )
    router = cls(**payload["params"], **dict.fromkeys(dropped))
    for name, value in payload["attributes"].items():
        setattr(router, name, value)
    for name, value in payload["string_arrays"].items():
        setattr(router, name, np.asarray(value, dtype=object))
    for name, value in payload["frames"].items():
        setattr(router, name, _decode_frame(value))
    return router, dropped


def _warn_dropped(source: str, cls: type, dropped: dict) -> None:
    if dropped:
        warnings.warn(
            f"{source}: parameters {sorted(dropped)} could not be saved and are None on the loaded "
            f"{cls.__name__} (they were {dropped}). It predicts, routes and estimates the bias "
            "exactly as the saved router, but refitting it would use the defaults for them.",
            UserWarning,
            stacklevel=_LOAD_STACKLEVEL + 1,
        )


def _rebuild(path: Path | str, cls: type, header: dict, payload: Any, *, warn: bool = True) -> Any:
    """The router of a built payload, after checking its shape, its attributes and its trees.

    ``warn=False`` for the two-model router inside a MultiMetaRouter file, whose dropped
    parameters are those of the MultiMetaRouter, which warns about them.
    """
    bad = f"{path} has a malformed payload"
    router, dropped = _construct(str(path), cls, header, payload)
    known = set(router.get_params(deep=False))
    n_features = getattr(router, "n_features_in_", None)
    if not (isinstance(n_features, Integral) and int(n_features) > 0) or not hasattr(
        router, "router_model_"
    ):
        raise ValueError(f"{bad}: it lacks the fitted router model or its number of features.")
    names = getattr(router, "feature_names_in_", None)
    if names is not None and len(names) != n_features:
        raise ValueError(f"{bad}: {len(names)} feature names for {n_features} features.")
    if not hasattr(router.router_model_, "predict"):
        raise ValueError(f"{bad}: its router model is a {type(router.router_model_).__name__}.")
    scale = getattr(router, "scale_", None)
    if not (isinstance(scale, Real) and np.isfinite(float(scale)) and float(scale) > 0):
        raise ValueError(f"{bad}: `scale_` must be a finite positive number; got {scale!r}.")
    check_trees(payload, source=str(path))
    cate = None
    if "learner" in known:  # MetaRouter
        cate = router.cate_estimator_ = decode_cate(
            payload.get("cate"), bad, header["format_version"]
        )
        shift = getattr(router, "shift_", None)
        if cate is None and not (isinstance(shift, Real) and np.isfinite(float(shift))):
            raise ValueError(
                f"{bad}: it has neither a CATE model nor a finite constant shift `shift_`."
            )
        check_feature_scale(
            getattr(router, "cate_feature_mean_", None),
            getattr(router, "cate_feature_scale_", None),
            int(n_features),
            bad,
        )
    elif payload.get("cate") is not None:
        raise ValueError(f"{bad}: a {cls.__name__} has no CATE model.")
    overlap_models = getattr(router, "overlap_models_", None)
    threshold = getattr(router, "overlap_threshold_", None)
    if overlap_models is not None and not (
        isinstance(threshold, Real) and np.isfinite(float(threshold))
    ):
        raise ValueError(f"{bad}: `overlap_threshold_` must be a finite number; got {threshold!r}.")
    check_models(
        router_model=router.router_model_,
        overlap_models=overlap_models,
        cate=None if cate is None else (cate.kind, cate.models[0]),
        n_features=int(n_features),
        source=str(path),
    )
    if warn:
        _warn_dropped(str(path), cls, dropped)
    return router


# The two-model routers that a MultiMetaRouter of two models holds.
_NESTED_CLASSES = ("MetaRouter", "PooledRouter")


def _rebuild_multi(
    path: Path, cls: type, header: dict, payload: Any, classes: dict[str, type]
) -> Any:
    """The MultiMetaRouter of a built payload, after the checks of :func:`._multi.check_multi`.

    Its two-model router, if any, is rebuilt by :func:`_rebuild`, checked as a top-level one.
    """
    bad = f"{path} has a malformed payload"
    router, dropped = _construct(str(path), cls, header, payload)
    if payload["frames"] or payload.get("cate") is not None:
        raise ValueError(f"{bad}: a MultiMetaRouter keeps its tables and bias in `multi`.")
    unknown = sorted(set(payload["attributes"]) | set(payload["string_arrays"]))
    unknown = [name for name in unknown if name not in PLAIN_ATTRIBUTES]
    if unknown:
        raise ValueError(
            f"{bad}: a MultiMetaRouter has no fitted attributes {unknown} (it has "
            f"{list(PLAIN_ATTRIBUTES + SECTION_ATTRIBUTES)})."
        )
    section = payload.get("multi")
    for name, value in decode_section(section, bad).items():
        setattr(router, name, value)
    entry = section["two_model_router"]
    router.two_model_router_ = None
    if entry is not None:
        if not (isinstance(entry, dict) and set(entry) == {"payload", "dropped_params"}):
            raise ValueError(f"{bad}: its two-model router is not a payload and its parameters.")
        nested_payload = entry["payload"]
        nested_name = nested_payload.get("class") if isinstance(nested_payload, dict) else None
        nested_cls = classes.get(nested_name) if nested_name in _NESTED_CLASSES else None
        if nested_cls is None:
            raise ValueError(
                f"{bad}: its two-model router must be one of {list(_NESTED_CLASSES)}; got "
                f"{nested_name!r:.60}."
            )
        nested_header = {
            "dropped_params": entry["dropped_params"],
            "format_version": header["format_version"],
        }
        router.two_model_router_ = _rebuild(
            f"{path} (its two_model_router_)", nested_cls, nested_header, nested_payload, warn=False
        )
    check_trees(payload, source=str(path))
    check_multi(vars(router), bad, str(path))
    _warn_dropped(str(path), cls, dropped)
    return router
