"""EconML's generalized random forests as plain arrays: encoded, audited, and evaluated with numpy.

The final model of ``CausalForestDML`` and ``ForestDRLearner`` is an EconML forest (``CausalForest``
inside a ``MultiOutputGRF``, or ``RegressionForest``) whose trees are Cython ``Tree`` objects
that skops cannot rebuild. Its point estimate needs only a few arrays per tree, so a router file
keeps those (:func:`encode_forest`) and a loaded router predicts with them in numpy
(:func:`forest_effect`), after :func:`check_forest` has audited them.

How EconML 0.17 predicts (``econml/grf/_base_grf.py``, ``BaseGRF.predict``)
    Every tree sends a row down to a leaf: at an inner node it goes left when
    ``x[feature] <= threshold``, else right (``Tree.apply``). The leaf holds the local moment's
    ``precond`` (alpha, ``n_outputs`` values) and ``jac`` (J, ``n_outputs ** 2`` values, row by
    row). The forest adds them up over its trees in their order, starting from zeros, divides
    both sums by the number of trees, and solves the local moment equation:
    ``theta(x) = pinv(J(x)) @ alpha(x)`` (``np.linalg.pinv``, then ``np.einsum``). The point
    estimate is the first ``n_relevant_outputs`` entries of ``theta`` (for a causal forest with
    an intercept, ``n_outputs`` is 2 and the second entry is the intercept). :func:`forest_effect`
    performs the same floating-point operations in the same order, so it gives the same bits.

The encoded forest, a dict of :data:`FOREST_KEYS`
    ``n_features``, ``n_outputs``, ``n_relevant_outputs`` (ints), and over the trees' nodes
    concatenated in tree order: ``node_count`` (int64, one per tree), ``children_left``,
    ``children_right`` (int64, indices into the concatenated nodes; -1 at a leaf), ``feature``
    (int64), ``threshold`` (float64), ``precond`` (float64, ``(n_nodes, n_outputs)``) and ``jac``
    (float64, ``(n_nodes, n_outputs ** 2)``). The nodes of tree ``t`` are the ``node_count[t]``
    rows after those of the trees before it; its root is the first.

What :func:`check_forest` refuses (before any prediction follows an index)
    * another set of keys, ints or arrays of another type, dtype or shape;
    * ``n_features`` other than the router's, ``n_relevant_outputs`` other than 1 or
      ``n_outputs`` other than 1 or 2 (one binary treatment, with or without an intercept);
    * no tree, more than :data:`MAX_FOREST_TREES` trees or :data:`MAX_FOREST_NODES` nodes, a tree
      without nodes, node arrays whose length is not the sum of ``node_count``;
    * a node with one child -1 and not the other; an inner node whose children are not after it
      in its own tree (so no index leaves the tree and no path loops); a node other than a root
      that is not the child of exactly one node (so every tree is a tree); an inner node's
      feature outside ``[0, n_features)``;
    * a threshold, ``precond`` or ``jac`` value that is not finite.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np

__all__ = [
    "FOREST_KEYS",
    "MAX_FOREST_NODES",
    "MAX_FOREST_TREES",
    "check_forest",
    "encode_forest",
    "forest_effect",
]

FOREST_KEYS = (
    "n_features",
    "n_outputs",
    "n_relevant_outputs",
    "node_count",
    "children_left",
    "children_right",
    "feature",
    "threshold",
    "precond",
    "jac",
)
# A built-in forest learner grows 200 trees; EconML's defaults (leaves of at least 5 rows, half of
# a 45% subsample to grow each tree, honest splitting) give each about 0.09 nodes per training row,
# 1.8 million nodes in all on 100,000 rows: 80 bytes per node with an intercept, 144 MB.
MAX_FOREST_TREES = 10_000
MAX_FOREST_NODES = 1 << 22
_LEAF = -1
_INDEX_KEYS = ("node_count", "children_left", "children_right", "feature")
# Rows of a batch that walk down all the trees at once (their nodes: rows times trees).
_BATCH_NODES = 1 << 18


def encode_forest(forest: Any) -> dict:
    """The arrays of :data:`FOREST_KEYS` that EconML's ``forest.predict`` reads.

    Parameters
    ----------
    forest : econml.grf.CausalForest or econml.grf.RegressionForest
        A fitted forest, final model of a ``CausalForestDML`` or ``ForestDRLearner``.

    Returns
    -------
    dict
        Not yet audited: :func:`check_forest` does that when the router is saved and loaded.

    Raises
    ------
    ValueError
        If the forest has no trees or its trees' arrays do not fit together.
    """
    trees = [estimator.tree_ for estimator in getattr(forest, "estimators_", None) or []]
    if not trees:
        raise ValueError(f"The {type(forest).__name__} has no fitted trees.")
    counts = np.array([tree.node_count for tree in trees], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))

    def nodes(name: str, dtype: type) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(tree, name), dtype=dtype) for tree in trees])

    def children(name: str) -> np.ndarray:
        local = [np.asarray(getattr(tree, name), dtype=np.int64) for tree in trees]
        pairs = zip(local, starts, strict=True)
        return np.concatenate([np.where(ids == _LEAF, _LEAF, ids + start) for ids, start in pairs])

    try:
        return {
            "n_features": int(forest.n_features_),
            "n_outputs": int(forest.n_outputs_),
            "n_relevant_outputs": int(forest.n_relevant_outputs_),
            "node_count": counts,
            "children_left": children("children_left"),
            "children_right": children("children_right"),
            "feature": nodes("feature", np.int64),
            "threshold": nodes("threshold", np.float64),
            "precond": nodes("precond", np.float64),
            "jac": nodes("jac", np.float64),
        }
    except ValueError as exc:  # arrays of different widths across trees
        raise ValueError(
            f"The trees of the {type(forest).__name__} do not fit together: {exc}"
        ) from None


def check_forest(forest: object, n_features: int, bad: str) -> None:
    """Refuse an encoded forest unless it passes every check of the module docstring.

    Parameters
    ----------
    forest : object
        The encoded forest (:func:`encode_forest`), as saved or as loaded.
    n_features : int
        The number of features of the router (the forest's input, after the featurizer).
    bad : str
        Start of the messages, e.g. "router.mr: its CATE model is inconsistent".

    Raises
    ------
    ValueError
        Naming the first check that fails, and for a node, the node and its tree.
    """
    if not (isinstance(forest, dict) and set(forest) == set(FOREST_KEYS)):
        found = sorted(map(str, forest))[:20] if isinstance(forest, dict) else type(forest).__name__
        raise ValueError(
            f"{bad}: its forest must have the entries {list(FOREST_KEYS)}; got {found}."
        )
    sizes = {key: forest[key] for key in FOREST_KEYS[:3]}
    if not all(isinstance(v, Integral) and not isinstance(v, bool) for v in sizes.values()):
        raise ValueError(f"{bad}: its forest's sizes {sizes!r:.200} must be integers.")
    if sizes["n_features"] != n_features:
        raise ValueError(
            f"{bad}: its forest has {sizes['n_features']} features for a router of {n_features}."
        )
    n_outputs = int(sizes["n_outputs"])
    if n_outputs not in (1, 2) or sizes["n_relevant_outputs"] != 1:
        raise ValueError(
            f"{bad}: its forest estimates {n_outputs} parameters of which "
            f"{sizes['n_relevant_outputs']} are effects; a router's forest estimates the effect "
            "of its one binary treatment, with or without an intercept (1 of 1 or 2)."
        )
    counts = _array(forest, "node_count", np.int64, None, bad)
    if not 1 <= counts.size <= MAX_FOREST_TREES:
        raise ValueError(
            f"{bad}: its forest has {counts.size} trees; a router file holds 1 to "
            f"{MAX_FOREST_TREES}."
        )
    if np.any(counts < 1) or np.any(counts > MAX_FOREST_NODES):
        tree = int(np.flatnonzero((counts < 1) | (counts > MAX_FOREST_NODES))[0])
        raise ValueError(f"{bad}: tree {tree} of its forest has {counts[tree]} nodes.")
    total = int(counts.sum())  # at most MAX_FOREST_TREES * MAX_FOREST_NODES: no overflow
    if total > MAX_FOREST_NODES:
        raise ValueError(
            f"{bad}: its forest has {total} nodes, more than the limit of {MAX_FOREST_NODES}."
        )
    left, right, feature = (_array(forest, key, np.int64, (total,), bad) for key in _INDEX_KEYS[1:])
    floats = {
        "threshold": _array(forest, "threshold", np.float64, (total,), bad),
        "precond": _array(forest, "precond", np.float64, (total, n_outputs), bad),
        "jac": _array(forest, "jac", np.float64, (total, n_outputs * n_outputs), bad),
    }
    for name, array in floats.items():
        if not np.all(np.isfinite(array)):
            node = int(np.flatnonzero(~np.isfinite(array.reshape(total, -1)).all(axis=1))[0])
            raise ValueError(f"{bad}: {_node(node, counts)} has a {name} that is not finite.")
    _check_structure(left, right, feature, counts, n_features, bad)


def _array(
    forest: dict, key: str, dtype: type, shape: tuple[int, ...] | None, bad: str
) -> np.ndarray:
    value = forest[key]
    if not (
        isinstance(value, np.ndarray)
        and value.dtype == dtype
        and (value.shape == shape if shape is not None else value.ndim == 1)
    ):
        found = (
            f"{value.dtype} array of shape {value.shape}"
            if isinstance(value, np.ndarray)
            else type(value).__name__
        )
        want = f"shape {shape}" if shape is not None else "one dimension"
        raise ValueError(
            f"{bad}: its forest's `{key}` must be an array of dtype {np.dtype(dtype)} and {want}; "
            f"got {found}."
        )
    return value


def _node(node: int, counts: np.ndarray) -> str:
    tree = int(np.searchsorted(np.cumsum(counts), node, side="right"))
    return f"node {node} (tree {tree}) of its forest"


def _check_structure(
    left: np.ndarray,
    right: np.ndarray,
    feature: np.ndarray,
    counts: np.ndarray,
    n_features: int,
    bad: str,
) -> None:
    """Every tree is a tree: children after their node in the same tree, one parent each."""
    total = left.size
    ends = np.cumsum(counts)
    end = np.repeat(ends, counts)  # one past the last node of each node's tree
    index = np.arange(total)
    leaf = left == _LEAF
    if np.any(leaf != (right == _LEAF)):
        node = int(np.flatnonzero(leaf != (right == _LEAF))[0])
        raise ValueError(
            f"{bad}: {_node(node, counts)} has one child and not the other "
            f"({left[node]}, {right[node]}); a leaf has -1 for both."
        )
    inner = ~leaf
    misplaced = inner & ~((left > index) & (left < end) & (right > index) & (right < end))
    if np.any(misplaced):
        node = int(np.flatnonzero(misplaced)[0])
        raise ValueError(
            f"{bad}: {_node(node, counts)} has children {left[node]} and {right[node]}; they "
            f"must be nodes after it in its tree, below {end[node]}."
        )
    parents = np.bincount(np.concatenate((left[inner], right[inner])), minlength=total)
    roots = np.zeros(total, dtype=bool)
    roots[ends - counts] = True
    wrong = parents != ~roots  # children are after their node: no root is anyone's child
    if np.any(wrong):
        node = int(np.flatnonzero(wrong)[0])
        raise ValueError(
            f"{bad}: {_node(node, counts)} is the child of {parents[node]} nodes; every node but "
            "a tree's root is the child of exactly one."
        )
    out = inner & ((feature < 0) | (feature >= n_features))
    if np.any(out):
        node = int(np.flatnonzero(out)[0])
        raise ValueError(
            f"{bad}: {_node(node, counts)} splits on feature {feature[node]}, outside "
            f"[0, {n_features})."
        )


def forest_effect(forest: dict, X: Any) -> np.ndarray:
    """EconML's ``forest.predict(X)`` from the encoded forest, shape ``(n_queries, 1)``.

    Parameters
    ----------
    forest : dict
        An encoded forest, audited by :func:`check_forest` if it was read from a file.
    X : array-like of shape (n_queries, n_features)
        The forest's input (after the featurizer, if any); converted to float64 as EconML does.

    Returns
    -------
    ndarray of shape (n_queries, 1)
        The same bits as EconML's forest: the same sums in the same order, then ``pinv``.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D with the forest's number of features.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != forest["n_features"]:
        raise ValueError(
            f"`X` must have shape (n_queries, {forest['n_features']}) for this forest; got "
            f"{X.shape}."
        )
    n_outputs = int(forest["n_outputs"])
    counts = forest["node_count"]
    starts = np.cumsum(counts) - counts
    alpha = np.zeros((X.shape[0], n_outputs), dtype=np.float64)
    jac = np.zeros((X.shape[0], n_outputs * n_outputs), dtype=np.float64)
    batch = max(1, _BATCH_NODES // counts.size)
    for first in range(0, X.shape[0], batch):
        rows = slice(first, first + batch)
        leaves = _leaves(forest, starts, X[rows])  # (trees, rows)
        for tree_leaves in leaves:  # EconML adds the trees' values in their order
            alpha[rows] += forest["precond"][tree_leaves]
            jac[rows] += forest["jac"][tree_leaves]
    alpha /= counts.size
    jac /= counts.size
    inverse = np.linalg.pinv(jac.reshape((-1, n_outputs, n_outputs)))
    theta = np.einsum("ijk,ik->ij", inverse, alpha)
    return theta[:, : int(forest["n_relevant_outputs"])]


def _leaves(forest: dict, starts: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The leaf of every tree for every row of ``X``, shape ``(n_trees, n_rows)``."""
    left, right = forest["children_left"], forest["children_right"]
    feature, threshold = forest["feature"], forest["threshold"]
    n_rows = X.shape[0]
    node = np.repeat(starts, n_rows)  # tree by tree, the rows of X
    row = np.tile(np.arange(n_rows), starts.size)
    active = np.arange(node.size)
    while active.size:  # children come after their node: at most one pass per level
        current = node[active]
        inner = left[current] != _LEAF
        active, current = active[inner], current[inner]
        goes_left = X[row[active], feature[current]] <= threshold[current]
        node[active] = np.where(goes_left, left[current], right[current])
    return node.reshape(starts.size, n_rows)
