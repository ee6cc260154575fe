import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from metarouter_econml.cli import _demo, build_parser, main
from metarouter_econml.datasets import make_routing_data
from metarouter_econml.evaluation import run_protocol

SMALL = ["--n-samples", "800", "--n-features", "8", "--n-gold", "60", "--n-test", "200"]
METHODS = {
    "Meta-Router (R)",
    "Meta-Router (DR)",
    "pooled",
    "mean-shift",
    "gold-only",
    "preference-only",
    "all-gold (oracle)",
}
OUTPUTS = ("curves.csv", "summary.csv", "summary.md", "efficiency_gain.png")


def run_demo(out, *extra):
    # --traceback: a bug in a run that should succeed shows its traceback in the failure
    return main(["demo", *SMALL, "--splits", "2", "--out", str(out), "--traceback", *extra])


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One small demo run shared by the output tests (fitting is the slow part)."""
    out = tmp_path_factory.mktemp("demo")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = run_demo(out)
    return {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "out": out}


def test_demo_writes_outputs(demo_run):
    assert demo_run["code"] == 0
    for name in OUTPUTS:
        assert (demo_run["out"] / name).stat().st_size > 0, name


def test_demo_curves_are_tidy(demo_run):
    curves = pd.read_csv(demo_run["out"] / "curves.csv")
    assert list(curves.columns) == ["split", "method", "ratio", "gain"]
    assert set(curves["method"]) == METHODS
    assert sorted(curves["split"].unique()) == [0, 1]  # run_protocol's split ids
    counts = curves.groupby(["split", "method"]).size()
    assert len(counts) == 2 * len(METHODS)
    assert (counts == 61).all()
    np.testing.assert_allclose(
        np.sort(curves["ratio"].unique()), np.linspace(0.2, 0.8, 61), atol=1e-9
    )
    assert np.isfinite(curves["gain"]).all()


def test_demo_summary_table(demo_run):
    summary = pd.read_csv(demo_run["out"] / "summary.csv")
    assert len(summary) == len(METHODS)
    assert set(summary["method"]) == METHODS
    for column in ("gain@0.2", "gain@0.4", "gain@0.6", "gain@0.8", "auc", "auc_se", "fit_seconds"):
        assert column in summary.columns
        assert np.isfinite(summary[column]).all(), column
    assert summary["auc"].is_monotonic_decreasing
    assert (summary["auc_se"] > 0).all()
    assert summary["auc"].nunique() == len(METHODS)  # seven different routers, none wired twice
    # The AUC in the summary is the mean over splits of each curve's mean gain.
    curves = pd.read_csv(demo_run["out"] / "curves.csv")
    mean_gain = curves.groupby(["method", "split"])["gain"].mean().groupby("method").mean()
    for _, row in summary.iterrows():
        # trapezoid mean vs plain mean of 61 points: close, not equal
        assert row["auc"] == pytest.approx(mean_gain[row["method"]], abs=0.02)


def test_demo_markdown_and_stdout(demo_run):
    markdown = (demo_run["out"] / "summary.md").read_text(encoding="utf-8")
    first_line, second_line = markdown.splitlines()[:2]
    for fact in ("synthetic", "n_gold=60", "splits=2", "seed=0"):
        assert fact in first_line
    assert second_line.startswith("Split seeds (drawn from seed 0): [")
    assert len(second_line.split("[")[1].split(",")) == 2
    for name in METHODS:
        assert f"| {name}" in markdown
        assert name in demo_run["stdout"]
    assert "| method" in demo_run["stdout"]
    for name in OUTPUTS:
        assert name in demo_run["stdout"]


def test_demo_png_is_a_png(demo_run):
    data = (demo_run["out"] / "efficiency_gain.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000  # a drawn figure, not an empty canvas


def test_demo_progress_on_stderr(demo_run):
    # run_protocol's tqdm bar is drawn only on a terminal; the announcement always.
    assert demo_run["stderr"].splitlines()[0] == "Running 2 splits of synthetic (n=800) ..."
    assert "Running" not in demo_run["stdout"]


def test_demo_is_run_protocol_with_display_names(demo_run):
    """Same seeds, same routers, run_protocol's default normaliser (the library's convention).

    The oracle row is run_protocol's "all_gold", fitted on gold gains.
    """
    data = make_routing_data(800, 8, bias="heterogeneous", random_state=0)
    expected = run_protocol(
        data,
        methods={"all-gold (oracle)": "all_gold", "gold-only": "gold_only"},
        n_test=200,
        n_gold=60,
        n_splits=2,
        random_state=0,
        verbose=0,
    ).curves.sort_values(["split", "method"])
    curves = pd.read_csv(demo_run["out"] / "curves.csv")
    shown = curves[curves["method"].isin(expected["method"])].sort_values(["split", "method"])
    np.testing.assert_array_equal(shown["split"], expected["split"])
    np.testing.assert_array_equal(shown["method"], expected["method"])
    np.testing.assert_allclose(shown["ratio"], expected["ratio"], rtol=1e-12)
    np.testing.assert_allclose(shown["gain"], expected["gain"], rtol=1e-12)


def test_demo_quiet_and_deterministic(demo_run, tmp_path, capsys, monkeypatch):
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return run_protocol(*args, **kwargs)

    monkeypatch.setattr(_demo, "run_protocol", spy)
    assert run_demo(tmp_path, "--quiet") == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert len(calls) == 1
    assert calls[0]["verbose"] == 0  # no progress bar either
    assert (calls[0]["n_splits"], calls[0]["random_state"]) == (2, 0)
    # display names asked of run_protocol, not renamed after the run
    assert set(calls[0]["methods"]) == METHODS
    assert calls[0]["methods"]["all-gold (oracle)"] == "all_gold"
    first = pd.read_csv(demo_run["out"] / "summary.csv").set_index("method")
    second = pd.read_csv(tmp_path / "summary.csv").set_index("method")
    pd.testing.assert_series_equal(first["auc"], second["auc"].loc[first.index])
    pd.testing.assert_frame_equal(
        pd.read_csv(demo_run["out"] / "curves.csv"), pd.read_csv(tmp_path / "curves.csv")
    )


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--n-test", "900"], "`--n-test` + `--n-gold` must leave"),
        (["--n-samples", "5"], "`--n-samples` must be"),
        (["--n-features", "3"], "`--n-features` must be"),
        (["--bias", "random"], "`--bias` must be one of"),
    ],
)
def test_invalid_input_exits_2_with_one_line(tmp_path, capsys, extra, option):
    out = tmp_path / "out"
    assert main(["demo", *SMALL, "--quiet", "--out", str(out), *extra]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("metarouter demo: error: ")
    assert option in lines[0]
    assert captured.out == ""
    assert not out.exists()  # inputs are checked before anything is written


def test_out_is_a_file_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["demo", *SMALL, "--quiet", "--out", str(blocker)]) == 2
    assert "metarouter demo: error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [[], ["nonsense"], ["demo", "--splits", "0"], ["demo", "--n-gold", "many"]],
)
def test_usage_errors_exit_nonzero(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: metarouter" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "rule"),
    [
        ("--random-state", "-1", "must be an int between 0 and 2**32 - 1; got -1"),
        ("--random-state", "4294967296", "must be an int between 0 and 2**32 - 1; got 4294967296"),
        ("--n-test", "1", "must be an int >= 2; got 1"),
        ("--n-gold", "1", "must be an int >= 2; got 1"),
        ("--splits", "0", "must be an int between 1 and 100000; got 0"),
        ("--splits", "two", "must be an int between 1 and 100000; got 'two'"),
        ("--splits", "1000000000000", "must be an int between 1 and 100000; got 1000000000000"),
        ("--n-samples", "10000000000", "must be an int <= 10000000; got 10000000000"),
        ("--n-features", "100000000000", "must be an int <= 10000; got 100000000000"),
    ],
)
def test_option_values_are_checked_at_parse_time_with_their_names(option, value, rule, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["demo", option, value])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"metarouter demo: error: argument {option}: {rule}"


def test_parser_defaults():
    args = build_parser().parse_args(["demo"])
    assert (args.out, args.n_samples, args.n_features, args.n_gold, args.n_test) == (
        "demo_output",
        5000,
        50,
        100,
        500,
    )
    assert (args.splits, args.bias, args.random_state, args.quiet) == (3, "heterogeneous", 0, False)
