"""`metarouter report`: the diagnostic report from a data file, exit codes, input errors."""

import contextlib
import io
import re
import sys

import numpy as np
import pandas as pd
import pytest

from metarouter_econml.cli import _report, build_parser, main
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
    # gold rows only where pc1 < 0: a positivity violation
    return _frame(gold_from=lambda X: X["pc1"] < 0)


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
    result = run(
        *required(data, out), "--refuters", "none", "--markdown", str(md), "--quiet", "--traceback"
    )
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
        *required(data, out),
        *("--refuters", "placebo", "--n-simulations", "2", "--no-overrule", "--traceback"),
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


def test_parquet_without_pyarrow_says_what_to_install(good_frame, tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    data = tmp_path / "data.parquet"
    good_frame.head(20).to_parquet(data)
    for engine in ("pyarrow", "fastparquet"):  # `import pyarrow` now raises ImportError
        monkeypatch.setitem(sys.modules, engine, None)
    code, stdout, stderr = run(*required(data, tmp_path / "r.html"))
    assert code == 2 and stdout == "", stderr
    assert stderr.startswith("metarouter report: error: ") and stderr.count("\n") == 1, stderr
    assert "pip install 'metarouter-econml[parquet]'" in stderr
    assert "Traceback" not in stderr


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
        return frame, [], "'is_gold' (--gold-column) must hold booleans"
    if kind == "gold-0-1":
        frame["is_gold"] = frame["is_gold"].astype(int)
        return frame, [], "'is_gold' (--gold-column) must hold booleans"
    if kind == "gold-one-row":
        frame["is_gold"] = np.arange(len(frame)) == 0
        return frame, [], "the gold column 'is_gold' (--gold-column) must mark at least 2"
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
        "gold-0-1",
        "gold-one-row",
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
    code, stdout, stderr = run(*argv, "--quiet")
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
        ("absent.csv", None, "DATA 'absent.csv' does not exist (no such file)"),
        ("data.txt", "a,b\n1,2\n", "must be a .csv"),
        ("empty.csv", "", "DATA 'empty.csv' is empty (0 bytes)"),
        ("broken.csv.gz", "not gzip", "DATA 'broken.csv.gz' could not be decompressed as gzip"),
    ],
)
def test_unreadable_files_exit_2(name, content, match, tmp_path, monkeypatch):
    data = tmp_path / name
    if content is not None:
        data.write_text(content)
    monkeypatch.chdir(tmp_path)  # the message shows DATA as typed
    code, stdout, stderr = run(*required(name, tmp_path / "r.html"))
    assert code == 2 and match in stderr and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr


def test_out_must_not_be_a_directory(good_frame, tmp_path):
    data = tmp_path / "data.csv"
    good_frame.head(50).to_csv(data, index=False)
    code, _, stderr = run(*required(data, tmp_path))
    assert code == 2 and "--out must be a file path" in stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--n-simulations", "1"],
            "argument --n-simulations: must be an int between 2 and 100000; got 1",
        ),
        (["--random-state", "-1"], "argument --random-state: must be an int between 0 and"),
        (["--refuters"], "argument --refuters: expected at least one argument"),
    ],
)
def test_option_values_are_checked_by_argparse(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["report", *required("d.csv", tmp_path / "r.html"), *argv])
    assert info.value.code == 2
    assert f"metarouter report: error: {message}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message", "listed"),
    [
        (["--learner", "magic"], "`--learner` must be one of [", "'causal_forest'"),
        (["--refuters", "placebo", "x"], "`--refuters` must be names from (", "'bootstrap'"),
    ],
)
def test_values_are_checked_by_the_library(argv, message, listed, good_frame, tmp_path):
    """The lists of learners and refuters have one home: the library's message lists them."""
    data, out = tmp_path / "data.csv", tmp_path / "r.html"
    good_frame.to_csv(data, index=False)
    code, stdout, stderr = run(*required(data, out), "--no-overrule", "--quiet", *argv)
    assert code == 2, stderr
    assert stdout == "" and not out.exists()
    assert stderr.startswith("metarouter report: error: ") and stderr.count("\n") == 1, stderr
    assert message in stderr and listed in stderr, stderr


def test_diagnose_keeps_its_own_defaults(monkeypatch, good_frame, tmp_path):
    """Without --refuters or --n-simulations, diagnose's own defaults apply."""
    seen = {}

    def spy(*args, **kwargs):
        seen.update(kwargs)
        raise ValueError("stop here")

    monkeypatch.setattr(_report, "diagnose", spy)
    data = tmp_path / "data.csv"
    good_frame.to_csv(data, index=False)
    code, _, stderr = run(*required(data, tmp_path / "r.html"), "--quiet")
    assert code == 2 and "stop here" in stderr
    assert "refuters" not in seen and "n_simulations" not in seen
    code, _, _ = run(
        *required(data, tmp_path / "r.html"),
        "--quiet",
        "--refuters",
        "none",
        "--n-simulations",
        "3",
    )
    assert (seen["refuters"], seen["n_simulations"]) == ((), 3)


def test_refuters_none_cannot_be_combined(good_frame, tmp_path):
    data = tmp_path / "data.csv"
    good_frame.head(50).to_csv(data, index=False)
    code, _, stderr = run(*required(data, tmp_path / "r.html"), "--refuters", "none", "placebo")
    assert code == 2 and "`--refuters`" in stderr


def _read_gold(tmp_path, text):
    path = tmp_path / "gold.csv"
    path.write_text("g\n" + text, encoding="utf-8")
    return _report.read_table(path)["g"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("True\nFalse\nTrue\n", [True, False, True]),
        ("true\nFALSE\nTrue\n", [True, False, True]),  # any case, as pandas reads them
    ],
)
def test_gold_column_forms_accepted(tmp_path, text, expected):
    mask = _report.gold_mask(_read_gold(tmp_path, text), "g")
    assert mask.dtype == bool and mask.tolist() == expected


def test_gold_column_boolean_series_accepted():
    for values in (pd.Series([True, False]), pd.Series([True, False], dtype="boolean")):
        assert _report.gold_mask(values, "g").tolist() == [True, False]


@pytest.mark.parametrize(
    ("text", "seen"),
    [
        ("1\n0\n0\n", "got 1, 0 (dtype int64)"),
        ("1.0\n0.0\n1.0\n", "got 1.0, 0.0 (dtype float64)"),
        ("2\n0\n1\n", "got 2, 0, 1 (dtype int64)"),
        ("yes\nno\nyes\n", "got 'yes', 'no' (dtype "),
        (" True\nFalse\n", "got ' True', 'False' (dtype "),
        ("True\nFalse\n1\n", "got 'True', 'False', '1' (dtype "),
        ('1\n""\n0\n', "got 1.0, 0.0 (dtype float64, 1 missing)"),
    ],
)
def test_gold_column_forms_refused(tmp_path, text, seen):
    """The library's rule: booleans only; the message names the column, values and a fix."""
    with pytest.raises(
        ValueError, match="gold column 'g' \\(--gold-column\\) must hold booleans"
    ) as info:
        _report.gold_mask(_read_gold(tmp_path, text), "g")
    message = str(info.value)
    assert seen in message, message
    assert "write the column as True/False" in message and "df['g'] == 1" in message


def test_gold_column_missing_values_are_counted(tmp_path):
    with pytest.raises(ValueError, match="'g' \\(--gold-column\\) has 1 missing value"):
        _report.gold_mask(_read_gold(tmp_path, 'True\n""\nFalse\n'), "g")
