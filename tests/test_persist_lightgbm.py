"""The LightGBM text audit: real models pass, each malformed field is refused with a ValueError.

LightGBM 4 aborts the whole process on some malformed trees and reads out of bounds on others,
so these texts are only ever given to LightGBM when the audit accepts them.
"""

import re

import lightgbm as lgb
import numpy as np
import pytest

from metarouter_econml._persist._lightgbm_text import MAX_TREE_LINES, check_lightgbm_text

BAD = "f.mr has a malformed LightGBM model"


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.rand(300, 3)
    return X, X[:, 0] + 0.5 * X[:, 1] + 0.1 * rng.rand(300)


@pytest.fixture(scope="module")
def text(data):
    X, y = data
    model = lgb.LGBMRegressor(n_estimators=3, num_leaves=4, verbose=-1, random_state=0)
    return model.fit(X, y).booster_.model_to_string()


def _trees(text):
    """Header, tree blocks (cut at ``tree_sizes``) and the rest of a text model."""
    begin = text.index("\nTree=") + 1
    end = text.index("\nend of trees\n") + 1
    header, region = text[:begin], text[begin:end]
    sizes = [int(v) for v in re.search(r"^tree_sizes=(.*)$", header, re.M).group(1).split()]
    bounds = np.cumsum([0, *sizes])
    return header, [region[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)], text[end:]


def _join(header, blocks, rest, sizes=None):
    """The text model again, with ``tree_sizes`` recomputed from the blocks unless given."""
    sizes = sizes if sizes is not None else [len(block.encode()) for block in blocks]
    line = "tree_sizes=" + " ".join(str(size) for size in sizes)
    return re.sub(r"^tree_sizes=.*$", line, header, count=1, flags=re.M) + "".join(blocks) + rest


def _set(lines_text, key, value):
    """Set (or, with None, remove) the ``key=`` line of a header or tree block."""
    pattern = re.compile(rf"^{re.escape(key)}=.*\n", re.M)
    if value is None:
        assert pattern.search(lines_text)
        return pattern.sub("", lines_text, count=1)
    if pattern.search(lines_text):
        return pattern.sub(lambda _: f"{key}={value}\n", lines_text, count=1)
    return lines_text.replace("\n\n", f"\n{key}={value}\n\n", 1)


def _edit_header(text, key, value):
    header, blocks, rest = _trees(text)
    return _join(_set(header, key, value), blocks, rest)


def _edit_tree(text, key, value, number=0):
    header, blocks, rest = _trees(text)
    blocks[number] = _set(blocks[number], key, value)
    return _join(header, blocks, rest)


def _field(text, key, number=0):
    block = _trees(text)[1][number]
    return re.search(rf"^{key}=(.*)$", block, re.M).group(1)


def _refused(text, match):
    with pytest.raises(ValueError, match=match):
        check_lightgbm_text(text, "f.mr")


# -- accepted ----------------------------------------------------------------------------------
def test_real_models_pass(data, text):
    X, y = data
    check_lightgbm_text(text, "f.mr")
    classifier = lgb.LGBMClassifier(n_estimators=2, num_leaves=3, verbose=-1).fit(X, y > 1)
    check_lightgbm_text(classifier.booster_.model_to_string(), "f.mr")


def test_a_tree_with_one_leaf_passes(data):
    # LightGBM writes empty inner arrays and an empty leaf_weight for it, and reads only leaf_value
    X, _ = data
    model = lgb.LGBMRegressor(n_estimators=2, verbose=-1).fit(X, np.ones(len(X)))
    one_leaf = model.booster_.model_to_string()
    assert "num_leaves=1\n" in one_leaf
    check_lightgbm_text(one_leaf, "f.mr")


def test_the_helpers_rebuild_a_text_that_lightgbm_reads(data, text):
    header, blocks, rest = _trees(text)
    assert _join(header, blocks, rest) == text
    longest = _trees(text)[1][0].count("\n") - 3  # Tree= line, two blank lines
    padded = text
    for extra in range(MAX_TREE_LINES - longest):
        padded = _edit_tree(padded, f"unused{extra}", "1")
    check_lightgbm_text(
        padded, "f.mr"
    )  # exactly MAX_TREE_LINES lines: accepted, and LightGBM agrees
    X, _ = data
    np.testing.assert_array_equal(
        lgb.Booster(model_str=padded).predict(X), lgb.Booster(model_str=text).predict(X)
    )


# -- the text as a whole -------------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, b"tree\n", 3])
def test_not_a_string_is_refused(value):
    _refused(value, f"{BAD}: its text model is not a plain string")


@pytest.mark.parametrize("char", ["\r", "\0"])
def test_carriage_return_or_nul_is_refused(text, char):
    _refused(text.replace("\n", char + "\n", 1), "not a plain string")


def test_missing_trees_or_end_is_refused(text):
    _refused("tree\nversion=v4\n", f"{BAD}: no trees between the header and 'end of trees'")
    _refused(text.replace("end of trees", "end of trees!"), "no trees")


# -- header --------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["max_feature_idx", "num_class", "tree_sizes"])
def test_missing_header_field_is_refused(text, key):
    _refused(_edit_header(text, key, None), f"{BAD}: its header's {key} is missing")


@pytest.mark.parametrize("value", ["2_0", "+2", "2.0", "0x2", "2 "])
def test_header_integers_must_be_plain_decimals(text, value):
    # LightGBM's parser would read "2_0" as 2: the checks would then not be about its model
    _refused(_edit_header(text, "max_feature_idx", value), "max_feature_idx must be decimal")
    _refused(_edit_header(text, "max_feature_idx", ""), "must have 1 entry; got 0")


def test_header_lines_are_read_as_lightgbm_reads_them(text):
    # LightGBM drops empty pieces between '=': "==max_feature_idx=0" sets max_feature_idx to 0
    header, blocks, rest = _trees(text)
    header = header.replace("tree_sizes=", "==max_feature_idx=0\ntree_sizes=", 1)
    _refused(_join(header, blocks, rest), "split_feature must lie in \\[0, 0\\]")
    _refused(_edit_header(text, "num_class", "1=2"), "header line b'num_class=1=2' has more than")


def test_class_and_trees_per_iteration_must_agree(text):
    _refused(_edit_header(text, "num_class", "0"), "num_class >= 1; got 2 and 0")
    _refused(_edit_header(text, "max_feature_idx", "-1"), "max_feature_idx must be >= 0")
    _refused(
        _edit_header(text, "num_tree_per_iteration", "2"),
        "num_tree_per_iteration must equal num_class \\(1\\); got 2",
    )


@pytest.mark.parametrize("change", ["longer", "shorter", "shifted", "empty", "zero"])
def test_tree_sizes_must_tile_the_trees(text, change):
    header, blocks, rest = _trees(text)
    sizes = [len(block) for block in blocks]
    sizes = {
        "longer": [*sizes[:-1], sizes[-1] + 1],
        "shorter": sizes[:-1],
        "shifted": [sizes[0] + 1, sizes[1] - 1, *sizes[2:]],
        "empty": [],
        "zero": [0, *sizes],
    }[change]
    forged = _join(header, blocks, rest, sizes)
    if change == "shifted":  # the sum is right; the second block then starts one byte late
        _refused(forged, "tree 1 does not start with 'Tree='")
    else:
        _refused(forged, f"{BAD}: tree_sizes do not match its trees")


# -- tree blocks ---------------------------------------------------------------------------------
def test_block_without_blank_line_is_refused(text):
    # LightGBM would read on into the next block (or past the text) looking for '='
    header, blocks, rest = _trees(text)
    blocks[0] = blocks[0].rstrip("\n") + "\n"
    _refused(_join(header, blocks, rest), f"{BAD}: tree 0 does not start with 'Tree=' or does")


def test_too_many_lines_or_a_line_without_equals_is_refused(text):
    padded = text
    for extra in range(MAX_TREE_LINES):
        padded = _edit_tree(padded, f"unused{extra}", "1")
    _refused(
        padded, f"tree 0 has lines that are not key=value pairs, or more than {MAX_TREE_LINES}"
    )
    header, blocks, rest = _trees(text)
    blocks[1] = blocks[1].replace("num_cat=0\n", "num_cat=0\nnothing here\n", 1)
    _refused(_join(header, blocks, rest), "tree 1 has lines that are not key=value pairs")


@pytest.mark.parametrize("key", ["num_leaves", "num_cat", "leaf_value"])
def test_always_required_tree_field_is_refused_when_missing(text, key):
    _refused(_edit_tree(text, key, None), f"{BAD}: tree 0's {key} is missing")


@pytest.mark.parametrize("key", ["split_feature", "threshold", "left_child", "right_child"])
def test_split_field_is_refused_when_missing(text, key):
    _refused(_edit_tree(text, key, None, number=2), f"{BAD}: tree 2 has 4 leaves but no {key}")


def test_leaf_count_must_be_positive(text):
    _refused(_edit_tree(text, "num_leaves", "0"), f"{BAD}: tree 0 has 0 leaves")


@pytest.mark.parametrize(
    ("key", "value"), [("num_cat", "1"), ("is_linear", "1"), ("decision_type", "3 2 2")]
)
def test_categorical_splits_and_linear_leaves_are_refused(text, key, value):
    _refused(_edit_tree(text, key, value), "categorical splits or linear leaves are not supported")


@pytest.mark.parametrize(
    "key",
    [
        "split_feature",
        "split_gain",
        "threshold",
        "decision_type",
        "left_child",
        "right_child",
        "internal_value",
        "internal_weight",
        "internal_count",
        "leaf_value",
        "leaf_weight",
        "leaf_count",
    ],
)
def test_every_array_must_have_its_length(text, key):
    expected = 4 if key.startswith("leaf_") else 3
    value = " ".join(_field(text, key).split()[:-1])
    _refused(_edit_tree(text, key, value), f"tree 0's {key} must have {expected} entries; got")


@pytest.mark.parametrize("value", ["1e0 -1 2", "1_0 -1 2", "1.0 -1 2", "1\t-1 2", "1  -1 2"])
def test_integer_arrays_must_be_plain_decimals(text, value):
    # LightGBM's fast parser stops silently at '_', 'e', '.', a tab and reads "1e0" as 1 then 0s
    _refused(_edit_tree(text, "left_child", value), "left_child must be decimal integers")


@pytest.mark.parametrize("value", ["abc 1 2", "1,5 1 2", "0x1 1 2", "1\t1 2"])
def test_float_arrays_must_be_numbers(text, value):
    _refused(_edit_tree(text, "threshold", value), "threshold must be numbers separated")


def test_integers_must_fit_a_c_int(text):
    _refused(_edit_tree(text, "internal_count", "300 2147483648 100"), "must fit a C int")


def test_split_feature_out_of_range_is_refused(text):
    out = f"{BAD}: child or feature indices out of range in tree 0: split_feature must lie in"
    _refused(_edit_tree(text, "split_feature", "0 3 1"), out)
    _refused(_edit_tree(text, "split_feature", "0 -1 1"), out)


def test_children_must_point_forward_inside_the_tree(text):
    left, right = _field(text, "left_child").split(), _field(text, "right_child").split()
    inner = [int(c) for c in left + right if int(c) >= 0]
    assert inner, "the fixture's first tree must have a grandchild"
    out = "child or feature indices out of range in tree 0: an inner child must"
    # a child pointing back at the root (a cycle) or past the inner nodes
    for bad_child in ("0", "3"):
        forged = [bad_child if c == str(inner[0]) else c for c in left + right]
        _refused(
            _edit_tree(
                _edit_tree(text, "left_child", " ".join(forged[:3])),
                "right_child",
                " ".join(forged[3:]),
            ),
            out,
        )


def test_each_leaf_must_be_reached_once(text):
    left, right = _field(text, "left_child").split(), _field(text, "right_child").split()
    leaves = [c for c in left + right if int(c) < 0]
    twice = [leaves[0] if c == leaves[1] else c for c in left + right]
    forged = _edit_tree(text, "left_child", " ".join(twice[:3]))
    _refused(
        _edit_tree(forged, "right_child", " ".join(twice[3:])),
        "out of range in tree 0: each of its 4 leaves must be a child once",
    )
