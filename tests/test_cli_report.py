"""`metarouter report`: the diagnostic report from a data file, exit codes, input errors."""

import contextlib
import importlib.util
import io
import re

import numpy as np
import pandas as pd
import pytest

import metarouter_econml.cli as cli
from metarouter_econml.cli import build_parser, main
from metarouter_econml.datasets import make_routing_data

N_FEATURES = 6


def _frame(gold_from=None, n_gold=100, seed=0):
    """Training rows of a split as one table: features pc1..pc6, a gold flag and the label."""
    data = make_routing_data(n_samples=1600, n_features=N_FEATURES, random_state=seed)
    split = data.split(n_test=100, n_gold=n_gold, random_state=0, gold_from=gold_from)
    frame = split.X_train.reset_index(drop=True).copy()
    frame.insert(0, "is_gold", split.gold_train)
    frame["label"] = split.y_train
    return frame


@pytest.fixture(scope="module")
def good_frame():
    return _frame()


@pytest.fixture(scope="module")
def bad_frame():
    # gold rows only where pc1 < 0, flagged with 0/1 instead of True/False
    frame = _frame(gold_from=lambda X: X["pc1"] < 0)
    frame["is_gold"] = frame["is_gold"].astype(int)
    return frame


def run(*argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["report", *argv])
    return code, stdout.getvalue(), stderr.getvalue()


def required(data, out, prefix="pc"):
    return [
        str(data),
        "--gold-column",
        "is_gold",
        "--label-column",
        "label",
        "--feature-prefix",
        prefix,
        "--out",
        str(out),
    ]


def assert_self_contained(text):
    lowered = text.lower()
    for forbidden in ("http://", "https://", "<script", "<link"):
        assert forbidden not in lowered, forbidden
    sources = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    return len(sources)


@pytest.fixture(scope="module")
def good_run(good_frame, tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    data = folder / "data.csv"
    good_frame.to_csv(data, index=False)
    out, md = folder / "nested" / "report.html", folder / "report.md"
    result = run(*required(data, out), "--refuters", "none", "--markdown", str(md), "--quiet")
    return {"result": result, "out": out, "md": md}


def test_csv_end_to_end_passes_with_exit_0(good_run):
    code, stdout, stderr = good_run["result"]
    assert code == 0, stdout + stderr
    assert stderr == ""  # --quiet: no progress
    text = good_run["out"].read_text(encoding="utf-8")
    assert assert_self_contained(text) == 3  # propensity, projection, bias (no refuters run)
    assert "extreme propensity share" in text
    markdown = good_run["md"].read_text(encoding="utf-8")
    assert markdown.startswith("# Meta-Router diagnostic report")
    assert "OverRule" in markdown
    assert "PASS" in stdout and "extreme propensity share" in stdout
    assert str(good_run["out"]) in stdout and str(good_run["md"]) in stdout


def test_gzip_csv_with_violation_exits_1(bad_frame, tmp_path):
    data, out = tmp_path / "data.csv.gz", tmp_path / "report.html"
    bad_frame.to_csv(data, index=False, compression="gzip")
    code, stdout, stderr = run(
        *required(data, out), "--refuters", "placebo", "--n-simulations", "2", "--no-overrule"
    )
    assert code == 1, stdout + stderr
    assert "Fitting MetaRouter" in stderr and "Read 1500 rows (100 gold-standard)" in stderr
    assert "FAIL" in stdout and "extreme propensity share" in stdout
    text = out.read_text(encoding="utf-8")
    assert assert_self_contained(text) == 4  # with the refuted estimates
    assert '<td class="fail">fail</td>' in text
    assert "placebo refuter" in text


def test_parquet(good_frame, tmp_path):
    pytest.importorskip("pyarrow")
    data, out = tmp_path / "data.parquet", tmp_path / "report.html"
    good_frame.to_parquet(data)
    code, stdout, stderr = run(*required(data, out), "--refuters", "none", "--no-overrule")
    assert code == 0, stdout + stderr
    assert out.is_file()


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow installed")
def test_parquet_without_pyarrow_says_what_to_install(tmp_path):
    data = tmp_path / "data.parquet"
    data.write_bytes(b"PAR1 not really parquet PAR1")
    code, stdout, stderr = run(*required(data, tmp_path / "r.html"))
    assert code == 2 and stdout == ""
    assert "pip install pyarrow" in stderr and "Traceback" not in stderr


def test_help_states_exit_codes(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["report", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit status: 0 when the report was written and every check passed; 1 when" in text
    assert "2 for input errors" in text
    assert "--feature-prefix" in text and "--no-overrule" in text


# -- malformed inputs: exit 2 and one line naming the column ----------------------------------
def _broken(frame, kind):
    frame = frame.copy()
    if kind == "missing-gold":
        return frame.drop(columns="is_gold"), [], "'is_gold'"
    if kind == "missing-label":
        return frame.drop(columns="label"), [], "'label'"
    if kind == "no-prefix-match":
        return frame, ["--feature-prefix", "emb_"], "'emb_'"
    if kind == "non-numeric-feature":
        frame["pc3"] = np.where(np.arange(len(frame)) % 2, "a", "b")
        return frame, [], "not numeric: 'pc3' ("
    if kind == "nan-label":
        frame.loc[[3, 7, 11], "label"] = np.nan
        return frame, [], "'label' (--label-column) has 3 missing"
    if kind == "text-label":
        frame["label"] = "good"
        return frame, [], "'label' (--label-column) must be numeric"
    if kind == "nan-feature":
        frame.loc[[5], "pc2"] = np.nan
        return frame, [], "'pc2' (1)"
    if kind == "gold-yes-no":
        frame["is_gold"] = np.where(frame["is_gold"], "yes", "no")
        return frame, [], "'is_gold' (--gold-column) must be boolean"
    if kind == "gold-missing-values":
        frame["is_gold"] = frame["is_gold"].astype(object)
        frame.loc[[0, 1], "is_gold"] = None
        return frame, [], "'is_gold' (--gold-column) has 2 missing"
    if kind == "missing-feature-column":
        return frame, ["--feature-columns", "pc1", "pc9"], "['pc9']"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "missing-gold",
        "missing-label",
        "no-prefix-match",
        "non-numeric-feature",
        "nan-label",
        "text-label",
        "nan-feature",
        "gold-yes-no",
        "gold-missing-values",
        "missing-feature-column",
    ],
)
def test_malformed_input_exits_2_naming_the_column(kind, good_frame, tmp_path):
    frame, extra, named = _broken(good_frame, kind)
    data, out = tmp_path / "data.csv", tmp_path / "report.html"
    frame.to_csv(data, index=False)
    argv = required(data, out)
    if extra:  # replace the feature selection
        argv = argv[:5] + extra + argv[7:]
    code, stdout, stderr = run(*argv)
    assert code == 2, stderr
    assert stdout == "" and not out.exists()
    assert stderr.startswith("metarouter report: error: ") and stderr.count("\n") == 1, stderr
    assert named in stderr, stderr
    assert "Traceback" not in stderr
    if kind.startswith("missing-") and kind != "missing-feature-column":
        assert "available columns: 'is_gold'" in stderr or "available columns: 'pc1'" in stderr


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("absent.csv", None, "is not an existing file"),
        ("data.txt", "a,b\n1,2\n", "must be a .csv"),
        ("empty.csv", "", "could not read"),
        ("broken.csv.gz", "not gzip", "could not read"),
    ],
)
def test_unreadable_files_exit_2(name, content, match, tmp_path):
    data = tmp_path / name
    if content is not None:
        data.write_text(content)
    code, stdout, stderr = run(*required(data, tmp_path / "r.html"))
    assert code == 2 and match in stderr and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr


def test_out_must_not_be_a_directory(good_frame, tmp_path):
    data = tmp_path / "data.csv"
    good_frame.head(50).to_csv(data, index=False)
    code, _, stderr = run(*required(data, tmp_path))
    assert code == 2 and "--out must be a file path" in stderr


def test_option_values_are_checked_by_argparse(tmp_path):
    for argv in (["--n-simulations", "1"], ["--learner", "magic"], ["--refuters", "x"]):
        with pytest.raises(SystemExit) as info, contextlib.redirect_stderr(io.StringIO()):
            main(["report", *required("d.csv", tmp_path / "r.html"), *argv])
        assert info.value.code == 2


def test_refuters_none_cannot_be_combined(good_frame, tmp_path):
    data = tmp_path / "data.csv"
    good_frame.head(50).to_csv(data, index=False)
    code, _, stderr = run(*required(data, tmp_path / "r.html"), "--refuters", "none", "placebo")
    assert code == 2 and "`--refuters`" in stderr


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([True, False, True], [True, False, True]),
        ([1, 0, 0], [True, False, False]),
        ([1.0, 0.0, 1.0], [True, False, True]),
        (["true", "FALSE", " True "], [True, False, True]),
        (["1", "0", "0"], [True, False, False]),
    ],
)
def test_gold_column_forms_accepted(values, expected):
    mask = cli._gold_mask(pd.Series(values), "g")
    assert mask.dtype == bool and mask.tolist() == expected


@pytest.mark.parametrize("values", [[2, 0, 1], [0.5, 0, 1], ["y", "n", "y"]])
def test_gold_column_forms_refused(values):
    with pytest.raises(ValueError, match="gold column 'g' .* must be boolean"):
        cli._gold_mask(pd.Series(values), "g")
