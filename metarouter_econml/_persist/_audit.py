"""Checks of the tree models in a router payload, before anything predicts with them.

scikit-learn and LightGBM trees store raw node and feature indices that their prediction code
follows without bounds checks (which is why skops does not trust ``sklearn.tree._tree.Tree`` by
default). A scikit-learn ``Tree`` is checked once built: node count within capacity, children
pointing forward inside the tree, features within its estimator's feature count. A LightGBM
booster is checked as text (:mod:`._lightgbm_text`), in the skops schema before LightGBM parses
it, and again once built. The trees of an EconML forest are plain arrays in a CATE model's final
stage, audited with it by :func:`._forest.check_forest` (through :mod:`._models`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np

from ._lightgbm_text import check_lightgbm_text

__all__ = ["check_lightgbm_text", "check_trees", "lightgbm_texts_in_schema"]

# scikit-learn's Tree lives in a private module: it is recognised by name, never imported.
_SKLEARN_TREE = "sklearn.tree._tree.Tree"


def check_trees(payload: object, *, source: str) -> None:
    """Check every scikit-learn tree and LightGBM booster reachable from ``payload``.

    Parameters
    ----------
    payload : object
        A payload about to be saved, or just loaded.
    source : str
        Where it comes from, for the messages (a file name or "this router").

    Raises
    ------
    ValueError
        If a tree has out-of-range node or feature indices, or a booster a malformed text model.
    """
    from lightgbm import Booster

    for obj in _walk(payload):
        tree = getattr(obj, "tree_", None) if not isinstance(obj, dict) else None
        if f"{type(tree).__module__}.{type(tree).__name__}" == _SKLEARN_TREE:
            _check_sklearn_tree(
                tree, getattr(obj, "n_features_in_", None), source, type(obj).__name__
            )
        elif isinstance(obj, Booster):
            check_lightgbm_text(obj.model_to_string(), source)


def lightgbm_texts_in_schema(schema: object) -> list[object]:
    """The text models of the LightGBM boosters in a skops schema, before skops builds them.

    skops saves a ``Booster`` through ``Booster.__getstate__``, whose ``_handle`` is the text
    model, stored as a JSON string. A booster stored any other way yields None, which
    :func:`check_lightgbm_text` refuses.
    """
    stack, texts = [schema], []
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("__module__") == "lightgbm.basic" and node.get("__class__") == "Booster":
                texts.append(_booster_text(node))
            stack.extend(node.values())
    return texts


def _booster_text(node: dict) -> object:
    try:
        handle = node["content"]["content"]["_handle"]
        return json.loads(handle["content"]) if handle.get("__loader__") == "JsonNode" else None
    except (KeyError, TypeError, ValueError):
        return None


def _walk(root: object) -> Iterator[Any]:
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


def _check_sklearn_tree(tree: Any, n_features: object, source: str, owner: str) -> None:
    bad = f"{source} has a malformed {owner} tree"
    if not (isinstance(n_features, Integral) and tree.n_features == n_features):
        raise ValueError(f"{bad}: it has {tree.n_features} features, its estimator {n_features!r}.")
    count = tree.node_count
    if not 0 < count <= tree.capacity:
        raise ValueError(f"{bad}: {count} nodes for a capacity of {tree.capacity}.")
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    index = np.arange(count)
    inner = ~((left == -1) & (right == -1))
    forward = (left > index) & (left < count) & (right > index) & (right < count)
    if not np.all(forward[inner]) or np.any((feature[inner] < 0) | (feature[inner] >= n_features)):
        raise ValueError(f"{bad}: child or feature indices out of range.")
