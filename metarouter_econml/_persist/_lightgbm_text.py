r"""Audit of a LightGBM text model before LightGBM parses it or predicts with it.

A LightGBM booster is saved as its own text model (``Booster.model_to_string``). LightGBM 4 parses
that text in C++ (``GBDT::LoadModelFromString`` and ``Tree::Tree(const char*)``) and predicts by
following the indices it read, without bounds checks; an error while parsing a tree is raised in
a parallel loop, which aborts the process. :func:`check_lightgbm_text` therefore refuses any text
that LightGBM might read differently from what is checked here. The facts of the format it
relies on:

1. The text holds no ``\r`` (the parser also ends lines there) and no ``\0``. It is a header, tree
   blocks from the first line starting with ``Tree=``, a line ``end of trees``, then feature
   importances and parameters, which are not read here.
2. LightGBM splits a header line at every ``=`` and drops empty pieces; only ``feature_names``
   may have more than two. The header gives ``max_feature_idx`` (features are numbered 0 to it),
   ``num_class`` and ``num_tree_per_iteration`` (a prediction writes ``num_tree_per_iteration``
   outputs into a row of ``num_class``: they must be equal), and ``tree_sizes``, the length in
   bytes of each block. LightGBM reads block ``i`` at the first block's offset plus the sizes
   before it, with no bound: the blocks must tile the text exactly up to ``end of trees``.
   ``model_to_string`` always writes ``tree_sizes``; a text without it is refused.
3. A block is a line ``Tree=<i>``, at most :data:`MAX_TREE_LINES` lines ``key=value`` and a
   blank line. LightGBM looks for the ``=`` of each line without stopping at the line's end.
4. Arrays are numbers separated by spaces. LightGBM's integer parser stops silently at the first
   character that is not a digit and its "fast" array parser reads as many numbers as it
   expects, whatever the text holds, so integers must be plain decimals within C ``int`` and
   every array must have exactly its length.
5. ``num_leaves`` (L >= 1), ``num_cat`` and ``leaf_value`` are required. When L > 1,
   ``split_feature``, ``threshold``, ``left_child`` and ``right_child`` are too; the arrays of
   :data:`INNER_ARRAYS` have L - 1 entries and ``leaf_weight`` and ``leaf_count`` have L. A tree
   with one leaf reads nothing but ``leaf_value``.
6. A child ``c >= 0`` is inner node ``c`` and ``c < 0`` is leaf ``~c`` (``-c - 1``). Prediction
   starts at node 0 and follows children: each must point forward (so there is no cycle) inside
   the tree, each leaf must be reached exactly once, and each ``split_feature`` must be a feature.
7. ``decision_type`` holds bit flags (bit 0: categorical split). Categorical splits
   (``num_cat > 0``) and linear leaves (``is_linear=1``) read further arrays; router models use
   neither, so they are refused rather than checked.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["INNER_ARRAYS", "LEAF_ARRAYS", "MAX_TREE_LINES", "check_lightgbm_text"]

MAX_TREE_LINES = 22
INNER_ARRAYS = (
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
LEAF_ARRAYS = ("leaf_weight", "leaf_count")
_REQUIRED_FOR_SPLITS = ("split_feature", "threshold", "left_child", "right_child")
_INTEGER_ARRAYS = frozenset(
    {"split_feature", "decision_type", "left_child", "right_child", "internal_count", "leaf_count"}
)

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_INTEGER = rb"-?[0-9]{1,10}"
_FLOAT = rb"[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|inf|nan)"
_INTEGERS = re.compile(rb"(?:%s(?: %s)*)?" % (_INTEGER, _INTEGER))
_FLOATS = re.compile(rb"(?:%s(?: %s)*)?" % (_FLOAT, _FLOAT))
_FIRST_TREE = re.compile(rb"^Tree=", re.MULTILINE)
_END_OF_TREES = re.compile(rb"^end of trees$", re.MULTILINE)


def check_lightgbm_text(text: object, source: str) -> None:
    r"""Refuse a LightGBM text model that LightGBM could not parse or predict with safely.

    Parameters
    ----------
    text : object
        What should be the text model of a booster.
    source : str
        Where it comes from, for the messages (a file name or "this router").

    Raises
    ------
    ValueError
        Naming the field that breaks a rule of the format (see the module docstring).

    Examples
    --------
    >>> check_lightgbm_text("tree\nversion=v4\n", "example.mr")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: example.mr has a malformed LightGBM model: no trees between the header and ...
    """
    bad = f"{source} has a malformed LightGBM model"
    if not isinstance(text, str) or "\r" in text or "\0" in text:
        raise ValueError(f"{bad}: its text model is not a plain string.")
    data = text.encode()
    first = _FIRST_TREE.search(data)
    end = _END_OF_TREES.search(data, first.start()) if first else None
    if first is None or end is None:
        raise ValueError(f"{bad}: no trees between the header and 'end of trees'.")
    header = _header_fields(data[: first.start()], bad)
    n_features = _header_integer(header, "max_feature_idx", bad) + 1
    n_classes = _header_integer(header, "num_class", bad)
    if n_features < 1 or n_classes < 1:
        raise ValueError(
            f"{bad}: max_feature_idx must be >= 0 and num_class >= 1; got "
            f"{n_features - 1} and {n_classes}."
        )
    if "num_tree_per_iteration" in header:
        per_iteration = _header_integer(header, "num_tree_per_iteration", bad)
        if per_iteration != n_classes:
            raise ValueError(
                f"{bad}: num_tree_per_iteration must equal num_class ({n_classes}); "
                f"got {per_iteration}."
            )
    sizes = _integers(header.get("tree_sizes"), None, f"{bad}: its header's tree_sizes")
    bounds = first.start() + np.cumsum(np.concatenate([[0], sizes]))
    if sizes.size == 0 or sizes.min() < 1 or bounds[-1] != end.start():
        raise ValueError(
            f"{bad}: tree_sizes do not match its trees (the blocks must run from the first "
            "'Tree=' line to 'end of trees')."
        )
    for number, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        _check_tree(data[start:stop], n_features, bad, number, source)


def _header_fields(header: bytes, bad: str) -> dict[str, bytes]:
    """The header's ``key=value`` lines, read as LightGBM reads them."""
    fields = {}
    for line in header.split(b"\n"):
        parts = [part for part in line.split(b"=") if part]
        if len(parts) > 2 and parts[0] != b"feature_names":
            raise ValueError(f"{bad}: its header line {line[:60]!r} has more than one '='.")
        if parts:
            fields[parts[0].decode()] = parts[1] if len(parts) > 1 else b""
    return fields


def _header_integer(header: dict[str, bytes], key: str, bad: str) -> int:
    value = _integers(header.get(key), 1, f"{bad}: its header's {key}")
    return int(value[0])


def _integers(value: bytes | None, count: int | None, what: str) -> np.ndarray:
    """Parse a LightGBM integer array (of ``count`` entries unless None), refusing other text."""
    if value is None:
        raise ValueError(f"{what} is missing.")
    if not _INTEGERS.fullmatch(value):
        raise ValueError(f"{what} must be decimal integers separated by single spaces.")
    numbers = np.array(value.split(), dtype=np.int64)
    if count is not None and numbers.size != count:
        raise ValueError(f"{what} must have {_entries(count)}; got {numbers.size}.")
    if numbers.size and (numbers.min() < _INT_MIN or numbers.max() > _INT_MAX):
        raise ValueError(f"{what} must fit a C int.")
    return numbers


def _check_floats(value: bytes | None, count: int, what: str) -> None:
    """Check a LightGBM float array: ``count`` numbers as ``printf`` writes them."""
    if value is None:
        raise ValueError(f"{what} is missing.")
    if not _FLOATS.fullmatch(value):
        raise ValueError(f"{what} must be numbers separated by single spaces.")
    found = len(value.split())
    if found != count:
        raise ValueError(f"{what} must have {_entries(count)}; got {found}.")


def _entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"


def _tree_fields(block: bytes, where: str) -> dict[str, bytes]:
    """The ``key=value`` lines of a tree block, as ``Tree::Tree`` reads them."""
    head, blank, _ = block.partition(b"\n\n")
    lines = head.split(b"\n")
    if not blank or not lines[0].startswith(b"Tree="):
        raise ValueError(f"{where} does not start with 'Tree=' or does not end with a blank line.")
    body = lines[1:]
    if len(body) > MAX_TREE_LINES or not all(b"=" in line for line in body):
        raise ValueError(
            f"{where} has lines that are not key=value pairs, or more than {MAX_TREE_LINES}."
        )
    return {key.decode(): value for key, value in (line.split(b"=", 1) for line in body)}


def _check_tree(block: bytes, n_features: int, bad: str, number: int, source: str) -> None:
    where = f"{bad}: tree {number}"
    fields = _tree_fields(block, where)
    leaves = int(_integers(fields.get("num_leaves"), 1, f"{where}'s num_leaves")[0])
    categories = int(_integers(fields.get("num_cat"), 1, f"{where}'s num_cat")[0])
    linear = (
        int(_integers(fields["is_linear"], 1, f"{where}'s is_linear")[0])
        if "is_linear" in fields
        else 0
    )
    if categories != 0 or linear != 0:
        raise ValueError(
            f"{source}: LightGBM trees with categorical splits or linear leaves are not "
            "supported by router files."
        )
    if leaves < 1:
        raise ValueError(f"{where} has {leaves} leaves.")
    _check_floats(fields.get("leaf_value"), leaves, f"{where}'s leaf_value")
    if leaves == 1:
        return
    for key in _REQUIRED_FOR_SPLITS:
        if key not in fields:
            raise ValueError(f"{where} has {leaves} leaves but no {key}.")
    arrays = {}
    for key in INNER_ARRAYS + LEAF_ARRAYS:
        if key in fields:
            count = leaves - 1 if key in INNER_ARRAYS else leaves
            if key in _INTEGER_ARRAYS:
                arrays[key] = _integers(fields[key], count, f"{where}'s {key}")
            else:
                _check_floats(fields[key], count, f"{where}'s {key}")
    decision = arrays.get("decision_type", np.zeros(leaves - 1, dtype=np.int64))
    if np.any((decision < 0) | (decision > 127)) or np.any(decision & 1):
        raise ValueError(
            f"{source}: LightGBM trees with categorical splits or linear leaves are not "
            "supported by router files (decision_type must be small flags with bit 0 clear)."
        )
    out_of_range = f"{bad}: child or feature indices out of range in tree {number}"
    feature = arrays["split_feature"]
    if np.any((feature < 0) | (feature >= n_features)):
        raise ValueError(f"{out_of_range}: split_feature must lie in [0, {n_features - 1}].")
    children = np.concatenate([arrays["left_child"], arrays["right_child"]])
    parents = np.concatenate([np.arange(leaves - 1)] * 2)
    inner = children >= 0
    if np.any(inner & ((children <= parents) | (children >= leaves - 1))):
        raise ValueError(
            f"{out_of_range}: an inner child must have a larger index than its parent and be "
            f"below {leaves - 1}."
        )
    if not np.array_equal(np.sort(~children[~inner]), np.arange(leaves)):
        raise ValueError(f"{out_of_range}: each of its {leaves} leaves must be a child once.")
