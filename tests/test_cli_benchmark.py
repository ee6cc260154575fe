"""`metarouter benchmark`: the evaluation protocol from the command line."""

import contextlib
import io
import sys

import numpy as np
import pandas as pd
import pytest

from metarouter_econml.cli import _benchmark, build_parser, main

TINY = ["--n-samples", "600", "--n-features", "6", "--n-test", "150", "--n-gold", "40"]
METHODS = ["pooled", "gold_only", "all_gold", "random"]
OUTPUTS = ("protocol_curves.csv", "protocol_metrics.csv", "protocol_summary.md", "protocol.png")


def run(out, *extra):
    argv = ["benchmark", *TINY, "--splits", "3", "--methods", *METHODS, "--out", str(out)]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main([*argv, *extra])
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "nested" / "out"
    code, stdout, stderr = run(out, "--traceback")  # a bug shows its traceback
    return {"code": code, "out": out, "stdout": stdout, "stderr": stderr}


def test_writes_every_output(bench):
    assert bench["code"] == 0
    for name in OUTPUTS:
        assert (bench["out"] / name).stat().st_size > 0, name
        assert name in bench["stdout"]
    png = (bench["out"] / "protocol.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_tables(bench):
    curves = pd.read_csv(bench["out"] / "protocol_curves.csv")
    metrics = pd.read_csv(bench["out"] / "protocol_metrics.csv")
    assert list(curves.columns) == ["split", "method", "ratio", "gain"]
    assert list(pd.unique(curves["method"])) == METHODS
    assert sorted(curves["split"].unique()) == [0, 1, 2]
    assert (curves.groupby(["split", "method"]).size() == 61).all()
    assert {"auc", "apgr", "cpt50", "cpt80", "seed", "fit_seconds"} <= set(metrics.columns)
    assert len(metrics) == 3 * len(METHODS)
    assert np.isfinite(metrics["auc"]).all()


def test_markdown_has_table_and_settings(bench):
    text = (bench["out"] / "protocol_summary.md").read_text(encoding="utf-8")
    first = text.splitlines()[0]
    for fact in ("synthetic", "n_samples=600", "n_gold=40", "n_test=150", "splits=3", "seed=0"):
        assert fact in first
    for name in METHODS:
        assert f"| {name} " in text
        assert f"| {name} " in bench["stdout"]
    assert "ΔAUC vs pooled" in text
    assert "## Settings" in text
    assert "- seeds: [" in text
    assert "61 shares from 0.2 to 0.8" in text
    assert "mean gold-standard gain of the data x n_test" in text


def test_same_seed_same_results_and_quiet(bench, tmp_path):
    code, _, stderr = run(tmp_path, "--quiet", "--n-jobs", "2")
    assert code == 0
    assert stderr == ""
    pd.testing.assert_frame_equal(
        pd.read_csv(bench["out"] / "protocol_curves.csv"),
        pd.read_csv(tmp_path / "protocol_curves.csv"),
    )
    assert "Running 3 splits" in bench["stderr"]


def test_reference_falls_back_to_first_method_without_pooled(tmp_path):
    argv = ["benchmark", *TINY, "--splits", "2", "--methods", "all_gold", "random"]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([*argv, "--quiet", "--out", str(tmp_path)]) == 0
    assert "ΔAUC vs all_gold" in stdout.getvalue()


def test_parser_defaults():
    args = build_parser().parse_args(["benchmark"])
    assert (args.data, args.n_gold, args.n_test, args.splits, args.n_jobs) == (
        "synthetic",
        100,
        500,
        20,
        1,
    )
    assert (args.random_state, args.out, args.quiet, args.stop_at_nonpositive) == (
        0,
        "benchmark_output",
        False,
        False,
    )
    for synthetic_only in ("bias", "n_samples", "n_features", "methods"):
        assert not hasattr(args, synthetic_only)  # absent unless given
    args = build_parser().parse_args(["benchmark", "--methods", "meta_r", "pooled"])
    assert args.methods == ["meta_r", "pooled"]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--methods", "oracle"], "`--methods` must be names from"),
        (["--bias", "random"], "`--bias` must be one of"),
        (["--n-test", "600"], "`--n-test` + `--n-gold` must leave at least 2"),
        (["--n-features", "2"], "`--n-features` must be"),
        (["--data", "no_such_file.csv"], "`--data` must be 'synthetic', 'gsm8k' or the path"),
        (["--data", "gsm8k"], "`--n-samples`, `--n-features` only apply to `--data synthetic`"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, extra, fragment):
    out = tmp_path / "out"
    code, stdout, stderr = run(out, "--quiet", *extra)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("metarouter benchmark: error: ")
    assert fragment in lines[0]
    assert stdout == ""
    assert not out.exists()  # nothing is written on bad input


def test_out_is_a_file_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, stderr = run(blocker, "--quiet")
    assert code == 2
    assert "`--out` must be a directory" in stderr


def test_csv_data_path(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({f"embd.PC{k}": rng.normal(size=n) for k in range(1, 5)})
    frame["GL"] = 0.3 + frame["embd.PC1"] + rng.normal(size=n)
    frame["PL"] = frame["GL"] + 0.5 * frame["embd.PC2"]
    path = tmp_path / "tiny.csv"
    frame.to_csv(path)
    argv = ["benchmark", "--data", str(path), "--n-test", "100", "--n-gold", "30"]
    argv += ["--splits", "2", "--methods", "pooled", "random", "--quiet"]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "protocol_summary.md").read_text(encoding="utf-8")
    assert text.startswith("Data: tiny, n_samples=300, n_features=4;")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--splits", "0"], "argument --splits: must be an int between 1 and 100000; got 0"),
        (
            ["--n-jobs", "two"],
            "argument --n-jobs: must be a non-zero int (-1: all cores); got 'two'",
        ),
        (["--n-jobs", "0"], "argument --n-jobs: must be a non-zero int (-1: all cores); got 0"),
        (["--n-gold", "1"], "argument --n-gold: must be an int >= 2; got 1"),
        (["--n-test", "1"], "argument --n-test: must be an int >= 2; got 1"),
        (["--random-state", "-1"], "argument --random-state: must be an int between 0 and"),
        (["--methods"], "argument --methods: expected at least one argument"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(["benchmark", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: metarouter benchmark" in err
    assert f"metarouter benchmark: error: {message}" in err


def test_missing_ray_exits_2_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "out"
    code, stdout, stderr = run(out, "--quiet", "--ray")
    assert code == 2, stderr
    assert stdout == "" and "Traceback" not in stderr
    assert stderr.startswith("metarouter benchmark: error: ") and stderr.count("\n") == 1
    assert "pip install 'metarouter-econml[ray]'" in stderr
    assert not out.exists()


def test_other_import_errors_are_internal_errors(tmp_path, monkeypatch):
    """Only a missing extra (a message with the install command) is an input error; any other
    ImportError is a broken installation or a bug: one line, exit 2 (never 1), and --traceback
    shows where it came from."""

    def broken(*args, **kwargs):
        raise ImportError("cannot import name 'gone' from 'metarouter_econml'")

    monkeypatch.setattr(_benchmark, "run_protocol", broken)
    code, stdout, stderr = run(tmp_path / "out", "--quiet")
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("metarouter benchmark: internal error: ImportError: cannot import")
    assert "--traceback" in stderr
    code, _, stderr = run(tmp_path / "out", "--quiet", "--traceback")
    assert code == 2
    assert stderr.startswith("Traceback (most recent call last):")
    assert "in broken" in stderr  # the frame that raised it
    assert stderr.splitlines()[-1].startswith("metarouter benchmark: internal error: ImportError")
