"""Hostile input on every command: exit 2 and one line naming what the user typed, never a
traceback, never exit 1 (which means "report written, a check failed"), never a hang.

Each case builds its input in ``tmp_path``; the data are tiny and the runs use ``--splits 1``,
no refuters (or two simulations) and no OverRule unless the case is about them.
"""

import contextlib
import errno
import gzip
import io
import os
import re

import numpy as np
import pandas as pd
import pytest

from metarouter_econml.cli import _benchmark, _demo, _report, build_parser, main
from metarouter_econml.cli._common import one_line

POSIX = pytest.mark.skipif(os.name != "posix", reason="named pipes, devices and symlinks")
FAST = ["--refuters", "none", "--no-overrule", "--quiet"]
SYNTHETIC = ["--n-samples", "300", "--n-features", "6", "--n-gold", "30", "--n-test", "100"]


def call(*argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(list(argv))
    return code, stdout.getvalue(), stderr.getvalue()


def assert_one_line_error(code, stderr, command, *fragments):
    assert code == 2, stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"metarouter {command}: error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in stderr, stderr


def frame(n=120, n_features=3, n_gold=40, seed=0):
    """A small table of pooled rows: is_gold, features pc1..pcK, label."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    table = pd.DataFrame(X, columns=[f"pc{k + 1}" for k in range(n_features)])
    gold = np.zeros(n, dtype=bool)
    gold[:n_gold] = True
    table.insert(0, "is_gold", gold)
    table["label"] = X[:, 0] + rng.normal(size=n)
    return table


def report_argv(data, out, *extra):
    return [
        "report",
        str(data),
        "--gold-column",
        "is_gold",
        "--label-column",
        "label",
        "--feature-prefix",
        "pc",
        "--out",
        str(out),
        *extra,
    ]


@pytest.fixture
def csv_text():
    return frame().to_csv(index=False)


# -- DATA: what the path is, said before it is opened ----------------------------------------
def _directory(folder, text):
    (folder / "data.csv").mkdir()


def _fifo(folder, text):
    os.mkfifo(folder / "data.csv")  # no writer: opening it for reading would block


def _loop(folder, text):
    os.symlink("other.csv", folder / "data.csv")
    os.symlink("data.csv", folder / "other.csv")


def _broken_link(folder, text):
    os.symlink("gone.csv", folder / "data.csv")


def _dev_zero(folder, text):
    os.symlink("/dev/zero", folder / "data.csv")  # reading it never ends


def _under_a_file(folder, text):
    (folder / "data.csv").write_text(text)


def _write(content, mode="w"):
    def setup(folder, text):
        data = content(text) if callable(content) else content
        with open(folder / "data.csv", mode, **({"newline": ""} if mode == "w" else {})) as f:
            f.write(data)

    return setup


def _header_twice(name, text):
    lines = text.splitlines()
    lines[0] = lines[0].replace("pc3", name)
    return "\n".join(lines) + "\n"


PATH_CASES = {
    "directory": (_directory, "data.csv", "DATA 'data.csv' is a directory, not a data file"),
    "fifo": (_fifo, "data.csv", "DATA 'data.csv' is a named pipe (FIFO), not a regular file"),
    "symlink-loop": (_loop, "data.csv", "DATA 'data.csv' cannot be read: it is a loop of symbolic"),
    "broken-symlink": (_broken_link, "data.csv", "DATA 'data.csv' is a broken symbolic link"),
    "dev-zero": (_dev_zero, "data.csv", "DATA 'data.csv' is a character device, not a regular"),
    "under-a-file": (
        _under_a_file,
        "data.csv/inner.csv",
        "DATA 'data.csv/inner.csv' does not exist: 'data.csv' is a file, not a directory",
    ),
    "missing": (lambda folder, text: None, "data.csv", "DATA 'data.csv' does not exist"),
}

CONTENT_CASES = {
    "empty": (_write(""), "DATA 'data.csv' is empty (0 bytes)"),
    "white-space": (_write("\n \n\n"), "DATA 'data.csv' holds only white space"),
    "header-only": (
        _write(lambda text: text.splitlines()[0] + "\n"),
        "DATA 'data.csv' has a header ('is_gold', 'pc1', 'pc2', 'pc3', 'label') but no data rows",
    ),
    "header-only-no-newline": (
        _write(lambda text: text.splitlines()[0]),
        "DATA 'data.csv' has a header ('is_gold', 'pc1', 'pc2', 'pc3', 'label') but no data rows",
    ),
    "binary-garbage": (
        _write(bytes(range(256)) * 20, "wb"),
        "DATA 'data.csv' is not a text file (it holds NUL bytes)",
    ),
    "parquet-named-csv": (
        _write(b"PAR1\x15\x04\x15\x00\x00\x00PAR1", "wb"),
        "DATA 'data.csv' is not a text file",
    ),
    "latin-1": (
        _write(lambda text: text.replace("pc1", "pc\xe91").encode("latin-1"), "wb"),
        "DATA 'data.csv' is not UTF-8 text (byte 0xe9 cannot be decoded)",
    ),
    "semicolons": (
        _write(lambda text: text.replace(",", ";")),
        "DATA 'data.csv' has one column, 'is_gold;pc1;pc2;pc3;label': it looks ';'-separated",
    ),
    "duplicated-feature": (
        _write(lambda text: _header_twice("pc1", text)),
        "DATA 'data.csv' has column names that appear more than once: 'pc1' (columns 2, 4)",
    ),
    "duplicated-gold": (
        _write(lambda text: _header_twice("is_gold", text)),
        "'is_gold' (columns 1, 4)",
    ),
    "ragged-rows": (
        _write(lambda text: text + "1,2,3,4,5,6,7\n"),
        "DATA 'data.csv' could not be read as CSV: Error tokenizing data",
    ),
}


@POSIX
@pytest.mark.parametrize("case", list(PATH_CASES))
def test_data_path_is_named_for_what_it_is(case, tmp_path, monkeypatch, csv_text):
    setup, typed, message = PATH_CASES[case]
    setup(tmp_path, csv_text)
    monkeypatch.chdir(tmp_path)  # DATA is shown as typed
    code, stdout, stderr = call(*report_argv(typed, "r.html", *FAST))
    assert_one_line_error(code, stderr, "report", message)
    assert "no such file" not in stderr or case == "missing"
    assert stdout == "" and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("case", list(CONTENT_CASES))
def test_data_content_is_named(case, tmp_path, monkeypatch, csv_text):
    setup, message = CONTENT_CASES[case]
    setup(tmp_path, csv_text)
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = call(*report_argv("data.csv", "r.html", *FAST))
    assert_one_line_error(code, stderr, "report", message)
    assert stdout == "" and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("data.csv.gz", b"is_gold,label\nTrue,1\n", "could not be decompressed as gzip"),
        ("data.csv.gz", gzip.compress(b"is_gold,pc1,label\nTrue,1.0,2.0\n")[:20], "as gzip"),
        ("data.csv.bz2", b"plain text", "could not be decompressed as bzip2"),
        ("data.csv.xz", b"plain text", "could not be decompressed as xz"),
        ("data.csv.zip", b"plain text", "could not be decompressed as zip"),
        ("data.csv.gz", gzip.compress(b""), "has no header row (no columns found)"),
    ],
    ids=["not-gzip", "truncated-gzip", "not-bzip2", "not-xz", "not-zip", "empty-gzip"],
)
def test_compressed_file_that_is_not_what_its_name_says(name, content, message, tmp_path):
    data = tmp_path / name
    data.write_bytes(content)
    code, _, stderr = call(*report_argv(data, tmp_path / "r.html", *FAST))
    assert_one_line_error(code, stderr, "report", f"DATA '{data}'", message)


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.replace("\n", "\r\n").encode(),
        lambda text: text.encode("utf-8-sig"),
        lambda text: text.replace("\n", "\r\n").encode("utf-8-sig"),
    ],
    ids=["windows-line-endings", "utf8-bom", "both"],
)
def test_windows_line_endings_and_bom_read_as_plain_csv(encode, tmp_path, csv_text):
    plain, data = tmp_path / "plain.csv", tmp_path / "data.csv"
    plain.write_text(csv_text, encoding="utf-8", newline="")
    data.write_bytes(encode(csv_text))
    expected, got = _report.read_table(plain), _report.read_table(data)
    assert list(got.columns) == ["is_gold", "pc1", "pc2", "pc3", "label"]
    pd.testing.assert_frame_equal(got, expected)
    assert _report.gold_mask(got["is_gold"], "is_gold").sum() == 40


def test_windows_csv_end_to_end(tmp_path, csv_text):
    data = tmp_path / "data.csv"
    data.write_bytes(csv_text.replace("\n", "\r\n").encode("utf-8-sig"))
    code, stdout, stderr = call(*report_argv(data, tmp_path / "r.html", *FAST, "--traceback"))
    assert code in (0, 1), stderr
    assert (tmp_path / "r.html").is_file()


# -- columns that are odd in other ways: the message names them -------------------------------
def _odd(kind):
    table = frame()
    n = len(table)
    if kind == "sparse-bool":
        for c in ("pc1", "pc2", "pc3"):
            table[c] = pd.arrays.SparseArray(table[c].to_numpy() > 0)
    elif kind == "complex":
        table["pc2"] = table["pc2"] + 1j
    elif kind == "datetime":
        table["pc1"] = pd.date_range("2020-01-01", periods=n)
    elif kind == "category":
        table["pc3"] = pd.Categorical(np.where(table["pc3"] > 0, "a", "b"))
    elif kind == "nullable-int-with-na":
        table["pc2"] = pd.array([1, None] * (n // 2), dtype="Int64")
    elif kind == "too-large":
        table["pc1"] = 1e300  # finite, but squares overflow: LinAlgError deep in the fit
    elif kind == "complex-label":
        table["label"] = table["label"] + 1j
    elif kind == "too-large-label":
        table.loc[0, "label"] = 1e200
    elif kind == "nullable-float-label":
        table["label"] = pd.array([1.5, None] * (n // 2), dtype="Float64")
    return table


ODD = {
    "sparse-bool": "not numeric: 'pc1' (Sparse[bool, False]), 'pc2' (Sparse[bool, False]), 'pc3'",
    "complex": "feature column(s) must be real; not real: 'pc2' (complex128)",
    "datetime": "not numeric: 'pc1' (datetime64",
    "category": "not numeric: 'pc3' (category)",
    "nullable-int-with-na": "missing or infinite values (count): 'pc2' (60)",
    "too-large": "values too large for the estimators (above 1.34e+154 their squares overflow): "
    "'pc1' (|x| up to 1e+300); rescale them",
    "complex-label": "label column 'label' (--label-column) must be real; got dtype complex128",
    "too-large-label": "label column 'label' (--label-column) has values too large",
    "nullable-float-label": "label column 'label' (--label-column) has 60 missing",
}


@pytest.mark.parametrize("kind", list(ODD))
def test_odd_columns_are_named(kind, tmp_path, monkeypatch):
    """Dtypes a CSV cannot hold (sparse, complex, categories) come from other readers; the
    checks are the same, so they are fed to the command directly."""
    table = _odd(kind)
    monkeypatch.setattr(_report, "read_table", lambda path: table)
    data = tmp_path / "data.csv"
    data.write_text("placeholder")
    code, stdout, stderr = call(*report_argv(data, tmp_path / "r.html", *FAST))
    assert_one_line_error(code, stderr, "report", ODD[kind])


def test_sparse_float_features_are_used(tmp_path, monkeypatch):
    table = frame()
    for c in ("pc1", "pc2", "pc3"):
        table[c] = pd.arrays.SparseArray(np.where(table[c] > 0, table[c], 0.0))
    monkeypatch.setattr(_report, "read_table", lambda path: table)
    data = tmp_path / "data.csv"
    data.write_text("placeholder")
    code, stdout, stderr = call(*report_argv(data, tmp_path / "r.html", *FAST, "--traceback"))
    assert code in (0, 1), stderr
    assert (tmp_path / "r.html").is_file()


def test_long_values_are_cut_in_messages(tmp_path):
    table = frame()
    table["is_gold"] = np.where(table["is_gold"], "x" * 500, "no")
    data = tmp_path / "data.csv"
    table.to_csv(data, index=False)
    code, _, stderr = call(*report_argv(data, tmp_path / "r.html", *FAST))
    assert_one_line_error(code, stderr, "report", "'is_gold' (--gold-column) must hold booleans")
    assert "x" * 100 not in stderr and "xxx..." in stderr


# -- outputs: checked before the work, named by their option -----------------------------------
def _out_cases(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir").mkdir()
    return {
        "under-a-file": (
            ["--out", str(tmp_path / "a_file" / "r.html")],
            f"--out '{tmp_path / 'a_file' / 'r.html'}' cannot be created: "
            f"'{tmp_path / 'a_file'}' is a file, not a directory",
        ),
        "deep-under-a-file": (
            ["--out", str(tmp_path / "a_file" / "x" / "r.html")],
            f"'{tmp_path / 'a_file'}' is a file, not a directory",
        ),
        "directory": (
            ["--out", str(tmp_path / "a_dir")],
            f"--out must be a file path; got the directory '{tmp_path / 'a_dir'}'",
        ),
        "markdown-directory": (
            ["--out", str(tmp_path / "r.html"), "--markdown", str(tmp_path / "a_dir")],
            "--markdown must be a file path; got the directory",
        ),
        "markdown-under-a-file": (
            ["--out", str(tmp_path / "r.html"), "--markdown", str(tmp_path / "a_file" / "r.md")],
            "--markdown '",
        ),
        "out-is-data": (
            ["--out", str(tmp_path / "data.csv")],
            f"--out '{tmp_path / 'data.csv'}' is DATA itself; writing it would erase it",
        ),
        "markdown-is-out": (
            ["--out", str(tmp_path / "r.html"), "--markdown", str(tmp_path / "r.html")],
            "--markdown and --out must be different files",
        ),
    }


OUT_CASES = [
    "under-a-file",
    "deep-under-a-file",
    "directory",
    "markdown-directory",
    "markdown-under-a-file",
    "out-is-data",
    "markdown-is-out",
]


@pytest.mark.parametrize("case", OUT_CASES)
def test_report_outputs_are_checked_first(case, tmp_path, csv_text, monkeypatch):
    data = tmp_path / "data.csv"
    data.write_text(csv_text)
    extra, message = _out_cases(tmp_path)[case]
    fitted = []
    monkeypatch.setattr(_report, "MetaRouter", lambda **kw: fitted.append(kw))
    argv = report_argv(data, "unused", *FAST)
    argv = argv[: argv.index("--out")] + argv[argv.index("--out") + 2 :] + extra
    code, _, stderr = call(*argv)
    assert_one_line_error(code, stderr, "report", message)
    assert not fitted  # refused before any work
    assert data.read_text() == csv_text


@POSIX
def test_report_out_fifo_without_reader_does_not_block(tmp_path, csv_text):
    data, fifo = tmp_path / "data.csv", tmp_path / "pipe"
    data.write_text(csv_text)
    os.mkfifo(fifo)
    code, _, stderr = call(*report_argv(data, fifo, *FAST))
    assert_one_line_error(code, stderr, "report", f"--out '{fifo}' is a named pipe (FIFO)")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="Linux /proc")
def test_out_where_nothing_can_be_created(tmp_path, csv_text):
    data = tmp_path / "data.csv"
    data.write_text(csv_text)
    code, _, stderr = call(*report_argv(data, "/proc/r.html", *FAST))
    assert_one_line_error(
        code, stderr, "report", "--out '/proc/r.html' cannot be written: cannot create files in"
    )
    code, _, stderr = call("demo", *SYNTHETIC, "--splits", "1", "--out", "/proc/demo_out")
    assert_one_line_error(code, stderr, "demo", "`--out` '/proc/demo_out' cannot be written")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_out_directory(tmp_path, csv_text):
    data, locked = tmp_path / "data.csv", tmp_path / "locked"
    data.write_text(csv_text)
    locked.mkdir(mode=0o500)
    try:
        code, _, stderr = call(*report_argv(data, locked / "r.html", *FAST))
        assert_one_line_error(code, stderr, "report", "permission denied")
        code, _, stderr = call("demo", *SYNTHETIC, "--splits", "1", "--out", str(locked))
        assert_one_line_error(code, stderr, "demo", "`--out`", "permission denied")
    finally:
        locked.chmod(0o700)


def test_write_failure_after_the_work_names_the_option(tmp_path, csv_text, monkeypatch):
    class Report:
        ok = True

        def to_html(self, path):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_report, "diagnose", lambda *args, **kwargs: Report())
    data = tmp_path / "data.csv"
    data.write_text(csv_text)
    code, _, stderr = call(*report_argv(data, tmp_path / "r.html", *FAST))
    assert_one_line_error(
        code, stderr, "report", f"could not write --out '{tmp_path / 'r.html'}': No space left"
    )


@pytest.mark.parametrize("command", ["demo", "benchmark"])
def test_out_directory_under_a_file(command, tmp_path):
    (tmp_path / "a_file").write_text("x")
    out = tmp_path / "a_file" / "out"
    code, _, stderr = call(command, *SYNTHETIC, "--splits", "1", "--quiet", "--out", str(out))
    assert_one_line_error(
        code, stderr, command, f"`--out` '{out}' cannot be created: '{tmp_path / 'a_file'}' is a"
    )


@POSIX
def test_out_directory_that_is_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    code, _, stderr = call("benchmark", *SYNTHETIC, "--out", str(tmp_path / "pipe"))
    assert_one_line_error(
        code, stderr, "benchmark", "`--out` must be a directory; got an existing named pipe"
    )


# -- benchmark --data: the same path checks, named `--data` -----------------------------------
@POSIX
@pytest.mark.parametrize("case", ["directory", "fifo", "symlink-loop", "dev-zero"])
def test_benchmark_data_path_is_named(case, tmp_path, monkeypatch, csv_text):
    setup, typed, message = PATH_CASES[case]
    setup(tmp_path, csv_text)
    monkeypatch.chdir(tmp_path)
    code, _, stderr = call("benchmark", "--data", typed, "--splits", "1", "--out", "out")
    assert_one_line_error(code, stderr, "benchmark", message.replace("DATA", "`--data`"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "`--data` 'data.csv' is empty"),
        (bytes(range(128, 256)) * 8, "`--data` 'data.csv' is not UTF-8 text"),
        (b"a,b\n1,2\n", "`--data` 'data.csv' must have the column(s)"),
    ],
    ids=["empty", "binary", "wrong-columns"],
)
def test_benchmark_data_content_is_named(content, message, tmp_path, monkeypatch):
    (tmp_path / "data.csv").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    code, _, stderr = call("benchmark", "--data", "data.csv", "--splits", "1", "--out", "out")
    assert_one_line_error(code, stderr, "benchmark", message)


def test_benchmark_data_not_gzip(tmp_path, monkeypatch):
    (tmp_path / "data.csv.gz").write_text("embd.PC1,GL,PL\n1,2,3\n")
    monkeypatch.chdir(tmp_path)
    code, _, stderr = call("benchmark", "--data", "data.csv.gz", "--splits", "1", "--out", "out")
    assert_one_line_error(code, stderr, "benchmark", "`--data` 'data.csv.gz' could not be read")


# -- counts that would exhaust memory or processes: refused at parse time ----------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--splits", "1000000000000"], "argument --splits: must be an int between 1 and"),
        (["benchmark", "--splits", "1" + "0" * 30], "argument --splits: must be an int between"),
        (["benchmark", "--n-jobs", "100000"], "argument --n-jobs: must be at most "),
        (["benchmark", "--n-samples", "10" + "0" * 20], "argument --n-samples: must be an int <="),
        (
            ["report", "d.csv", "--gold-column", "g", "--label-column", "y", "--out", "r.html"]
            + ["--feature-prefix", "x", "--n-simulations", "1000000000"],
            "argument --n-simulations: must be an int between 2 and 100000; got 1000000000",
        ),
    ],
    ids=["demo-splits", "benchmark-splits", "n-jobs", "n-samples", "n-simulations"],
)
def test_huge_counts_are_refused_at_parse_time(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "-2", "-100000"])
def test_negative_n_jobs_follow_joblib(value):
    """Negative values count back from the CPUs (joblib clamps to at least one worker)."""
    assert build_parser().parse_args(["benchmark", "--n-jobs", value]).n_jobs == int(value)


def test_negative_n_jobs_runs(tmp_path):
    argv = ["benchmark", *SYNTHETIC, "--splits", "1", "--methods", "random", "--quiet"]
    code, _, stderr = call(*argv, "--n-jobs", "-100000", "--out", str(tmp_path), "--traceback")
    assert code == 0, stderr


def test_out_of_memory_names_the_sizes(tmp_path, monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 7.28 TiB for an array with shape (10**12,)")

    monkeypatch.setattr(_demo, "make_routing_data", exhausted)
    code, _, stderr = call("demo", "--quiet", "--out", str(tmp_path / "out"))
    assert_one_line_error(
        code, stderr, "demo", "out of memory (Unable to allocate 7.28 TiB", "--n-samples"
    )


# -- unexpected errors: one line and exit 2, never exit 1; --traceback shows the traceback ----
def _crash(*args, **kwargs):
    raise AttributeError(
        "Provided crossfit folds contain training splits that don't contain all treatments"
    )


@pytest.mark.parametrize("command", ["report", "demo", "benchmark"])
def test_unexpected_error_is_one_line_exit_2(command, tmp_path, monkeypatch, csv_text):
    data = tmp_path / "data.csv"
    data.write_text(csv_text)
    monkeypatch.setattr(_report, "diagnose", _crash)
    monkeypatch.setattr(_demo, "run_protocol", _crash)
    monkeypatch.setattr(_benchmark, "run_protocol", _crash)
    argv = {
        "report": report_argv(data, tmp_path / "r.html", *FAST),
        "demo": ["demo", *SYNTHETIC, "--quiet", "--out", str(tmp_path / "o")],
        "benchmark": ["benchmark", *SYNTHETIC, "--quiet", "--out", str(tmp_path / "o")],
    }[command]
    code, stdout, stderr = call(*argv)
    assert code == 2, stderr  # not 1: that means "report written, a check failed"
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert stderr.startswith(
        f"metarouter {command}: internal error: AttributeError: Provided crossfit folds"
    )
    assert f"(raised in {__name__}, line " in stderr  # where: the frame that raised it
    assert "rerun with --traceback" in stderr and "not an input error" in stderr
    assert not (tmp_path / "r.html").exists()

    code, _, stderr = call(*argv, "--traceback")
    assert code == 2
    assert stderr.startswith("Traceback (most recent call last):")
    assert "in _crash\n    raise AttributeError(" in stderr
    assert stderr.splitlines()[-1].startswith(f"metarouter {command}: internal error:")


def test_traceback_option_on_input_errors(tmp_path):
    code, _, stderr = call(*report_argv(tmp_path / "absent.csv", tmp_path / "r.html"))
    assert_one_line_error(code, stderr, "report", "does not exist")
    code, _, stderr = call(
        *report_argv(tmp_path / "absent.csv", tmp_path / "r.html", "--traceback")
    )
    assert code == 2 and stderr.startswith("Traceback (most recent call last):")
    assert stderr.splitlines()[-1].startswith("metarouter report: error: DATA ")


def test_dependency_errors_say_where_they_come_from(tmp_path, monkeypatch, csv_text):
    """A ValueError raised inside a dependency is an input error, and says which library."""
    import numpy.linalg

    def fails(*args, **kwargs):
        return np.linalg.cholesky(-np.eye(2))

    monkeypatch.setattr(_report, "diagnose", fails)
    data = tmp_path / "data.csv"
    data.write_text(csv_text)
    code, _, stderr = call(*report_argv(data, tmp_path / "r.html", *FAST))
    assert_one_line_error(code, stderr, "report", "Matrix is not positive definite")
    assert re.search(r"\(raised in numpy\.linalg[\w.]*, line \d+; --traceback shows", stderr)
    assert issubclass(numpy.linalg.LinAlgError, ValueError)


# -- item: a library message about a parameter the command sets itself ------------------------
def test_library_parameter_without_an_option_is_said_to_be_so():
    args = build_parser().parse_args(
        ["report", "d.csv", "--gold-column", "g", "--label-column", "y"]
        + ["--feature-prefix", "x", "--out", "r.html"]
    )
    message = one_line(
        ValueError("`overrule_components` must be an int between 1 and 1; got 3."),
        args,
        _report.RENAMED,
        _report.UNEXPOSED,
    )
    assert message == (
        "`overrule_components` (set by `metarouter report` itself: no option sets it) must be an "
        "int between 1 and 1; got 3. Pass --no-overrule to skip OverRule's rules, or call "
        "metarouter_econml.diagnostics.diagnose from Python to set it."
    )
    renamed = one_line(ValueError("`overrule` must be a bool; `data` too."), args, _report.RENAMED)
    assert renamed == "`--no-overrule` must be a bool; DATA too."


@pytest.mark.parametrize(
    ("module", "message", "expected"),
    [
        (_benchmark, "`n_splits` must be >= 1", "`--splits` must be >= 1"),
        (_benchmark, "`use_ray` needs ray", "`--ray` needs ray"),
        (_benchmark, "`path` 'x.csv' is empty", "`--data` 'x.csv' is empty"),
        (_demo, "`n_splits` must be >= 1", "`--splits` must be >= 1"),
        (_benchmark, "`normalizer` must be > 0", "no option sets it) must be > 0. Call"),
        (_demo, "`ratios` must be sorted", "no option sets it) must be sorted. Call"),
        (_benchmark, "`n_components` must be <= 3", "loads the GSM8K data with 50 components"),
    ],
)
def test_library_names_become_the_options(module, message, expected):
    command = module.__name__.rsplit("_", 1)[-1]
    args = build_parser().parse_args([command])
    assert expected in one_line(ValueError(message), args, module.RENAMED, module.UNEXPOSED)


def _backquoted_names_are_options(stderr):
    """Backquoted names that are neither options nor said to have no option (their base name,
    before any ``=value``, is annotated once)."""
    names = re.findall(r"`([^`]+)`", stderr)
    bare = [n for n in names if not n.startswith("--") and not n.startswith("metarouter ")]
    explained = set(re.findall(r"`(\w+)(?:=[^`]*)?` \(set by `metarouter", stderr))
    return [n for n in bare if n.split("=")[0] not in explained]


@pytest.mark.parametrize("n_features", [1, 2])
def test_report_on_one_or_two_features(n_features, tmp_path):
    """The library used to refuse OverRule's default 3 components, naming a parameter the
    command line does not have. Now: the report is written, or the message says what to do."""
    data, out = tmp_path / "data.csv", tmp_path / "r.html"
    frame(n=120, n_features=n_features, n_gold=40).to_csv(data, index=False)
    code, stdout, stderr = call(*report_argv(data, out, "--refuters", "none", "--quiet"))
    if code == 2:
        assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
        assert "internal error" not in stderr, stderr
        assert not _backquoted_names_are_options(stderr), stderr
    else:
        assert code in (0, 1), stderr
        assert out.is_file()


# -- item: few gold rows, which fit accepts with warnings --------------------------------------
@pytest.mark.parametrize("n_gold", [2, 3])
def test_few_gold_rows_exit_1_only_with_a_report(n_gold, tmp_path):
    """With 2-3 gold rows a bootstrap resample can hold one treatment only, and EconML raised
    an AttributeError: a traceback with exit status 1, the code for "a check failed"."""
    data, out = tmp_path / "data.csv", tmp_path / "r.html"
    frame(n=120, n_features=3, n_gold=n_gold).to_csv(data, index=False)
    argv = report_argv(data, out, "--refuters", "bootstrap", "data_subset")
    argv += ["--n-simulations", "2", "--no-overrule", "--random-state", "3", "--quiet"]
    code, stdout, stderr = call(*argv)
    if code == 1:
        assert out.is_file() and "FAIL" in stdout, stderr
    elif code == 2:
        assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
        assert not out.exists()
    else:
        assert code == 0 and out.is_file(), stderr


@pytest.mark.parametrize("n_gold", [2, 3])
def test_few_gold_rows_write_a_report(n_gold, tmp_path):
    """The library skips (or refuses, naming the minimum) what it cannot run on so few gold
    rows; the command writes the report, or says which column to fix."""
    data, out = tmp_path / "data.csv", tmp_path / "r.html"
    frame(n=120, n_features=3, n_gold=n_gold).to_csv(data, index=False)
    argv = report_argv(data, out, "--n-simulations", "2", "--no-overrule", "--random-state", "3")
    code, stdout, stderr = call(*argv, "--quiet", "--traceback")
    if code == 2:  # diagnose refused: the message names the gold column and the minimum
        assert stderr.count("\n") == 1, stderr
        assert "'is_gold' (--gold-column)" in stderr, stderr
        assert "internal error" not in stderr, stderr
    else:
        assert code in (0, 1), stderr
        assert out.is_file()
        if code == 1:
            assert "FAIL" in stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["demo"],
        ["benchmark"],
        ["report", "d.csv", "--gold-column", "g", "--label-column", "y"]
        + ["--feature-prefix", "x", "--out", "r.html"],
    ],
    ids=["demo", "benchmark", "report"],
)
def test_every_command_has_traceback(argv):
    assert build_parser().parse_args(argv).traceback is False
    assert build_parser().parse_args([*argv, "--traceback"]).traceback is True


# -- more hostile command lines ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "command", "message"),
    [
        (["demo", "--out", ""], "demo", "`--out` must be a path; got the empty string ''"),
        (["benchmark", "--out", " "], "benchmark", "`--out` must be a path; got the empty string"),
        (report_argv("", "r.html"), "report", "DATA must be a path; got the empty string ''"),
        (report_argv("data.csv", ""), "report", "--out must be a path; got the empty string ''"),
        (
            report_argv("data.csv", "r.html", "--markdown", ""),
            "report",
            "--markdown must be a path; got the empty string ''",
        ),
    ],
    ids=["demo-out", "benchmark-out", "report-data", "report-out", "report-markdown"],
)
def test_empty_paths_are_refused(argv, command, message, tmp_path, monkeypatch, csv_text):
    """``Path("")`` is the current directory: demo --out '' wrote its files there."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text(csv_text)
    code, _, stderr = call(*argv, *(SYNTHETIC if command != "report" else FAST))
    assert_one_line_error(code, stderr, command, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_gold_and_label_column_must_differ(tmp_path, csv_text):
    data = tmp_path / "data.csv"
    data.write_text(csv_text)
    argv = report_argv(data, tmp_path / "r.html", *FAST)
    argv[argv.index("is_gold")] = "label"
    code, _, stderr = call(*argv)
    assert_one_line_error(
        code, stderr, "report", "--gold-column and --label-column must be different columns"
    )


def test_constant_gold_labels_name_no_missing_option(tmp_path):
    """MetaRouter's gold_scale='variance' needs gold labels that vary; no option sets it."""
    table = frame()
    table["label"] = 1.0
    data = tmp_path / "data.csv"
    table.to_csv(data, index=False)
    code, _, stderr = call(*report_argv(data, tmp_path / "r.html", *FAST))
    assert_one_line_error(
        code,
        stderr,
        "report",
        "`gold_scale='variance'` (set by `metarouter report` itself: no option sets it)",
        "Fit metarouter_econml.MetaRouter from Python to set it.",
    )
    assert not _backquoted_names_are_options(stderr), stderr


def test_option_values_in_library_messages_name_the_option():
    args = build_parser().parse_args(["demo"])
    message = one_line(ValueError("`bias='x'` is not a shape; `n_gold=1` is too few"), args)
    assert message == "`--bias='x'` is not a shape; `--n-gold=1` is too few"


class _ClosedPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_closed_stdout_is_not_an_error(tmp_path):
    """``metarouter benchmark ... | head -1``: the reader goes away; the run still succeeds."""
    argv = ["benchmark", *SYNTHETIC, "--splits", "1", "--methods", "random", "--quiet"]
    stderr = io.StringIO()
    with contextlib.redirect_stdout(_ClosedPipe()), contextlib.redirect_stderr(stderr):
        code = main([*argv, "--out", str(tmp_path), "--traceback"])
    assert code == 0, stderr.getvalue()
    assert stderr.getvalue() == ""
    assert (tmp_path / "protocol_summary.md").is_file()


def test_printed_advice_names_the_options(tmp_path, monkeypatch, csv_text):
    """The report's advice is the library's text ("rerun with n_simulations >= 10"); printed
    by the command it names the options. Settings shown as name=value stay as they are."""

    class Report:
        ok = False

        def to_html(self, path):
            path.write_text("<html></html>")

        def __str__(self):
            return "random_state=0\n- rerun with n_simulations >= 10 and another random_state."

    monkeypatch.setattr(_report, "diagnose", lambda *args, **kwargs: Report())
    data = tmp_path / "data.csv"
    data.write_text(csv_text)
    code, stdout, stderr = call(*report_argv(data, tmp_path / "r.html", *FAST))
    assert code == 1, stderr  # written, a check failed
    assert "random_state=0\n- rerun with --n-simulations >= 10 and another --random-state." in (
        stdout
    )


def test_help_states_the_bounds(capsys):
    with pytest.raises(SystemExit):
        main(["benchmark", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "number of random splits (1 to 100,000)" in text
    assert "at most 4 per core" in text and "--traceback" in text
