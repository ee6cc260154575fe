"""`metarouter benchmark --data pandalm|multi-synthetic`: the multi-model protocol from the CLI."""

import contextlib
import inspect
import io

import numpy as np
import pandas as pd
import pytest

from metarouter_econml.cli import JUDGES, DefaultInt, _multi_benchmark, build_parser, main
from metarouter_econml.datasets import (
    MultiRoutingDataset,
    load_pandalm_routing,
    make_multi_routing_data,
)
from metarouter_econml.evaluation import run_multi_protocol
from metarouter_econml.evaluation._multi_protocol import split_sizes

# Two fast methods (no bias stage): the tests are about the command, not the routers.
METHODS = ["gold_only", "all_gold"]
SYNTHETIC = ["--data", "multi-synthetic", "--n-samples", "200", "--n-models", "3"]
SYNTHETIC += ["--n-features", "6", "--splits", "2"]
PANDALM = ["--data", "pandalm", "--splits", "1"]
N_BUDGETS = 11


def run(out, *argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["benchmark", *argv, "--out", str(out)])
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    out = tmp_path_factory.mktemp("multi") / "nested" / "out"
    code, stdout, stderr = run(out, *SYNTHETIC, "--methods", *METHODS, "--traceback")
    return {"code": code, "out": out, "stdout": stdout, "stderr": stderr}


@pytest.fixture(scope="module")
def pandalm(tmp_path_factory):
    out = tmp_path_factory.mktemp("pandalm")
    code, stdout, stderr = run(out, *PANDALM, "--methods", *METHODS, "--quiet", "--traceback")
    return {"code": code, "out": out, "stdout": stdout, "stderr": stderr}


def test_multi_synthetic_writes_every_output(synthetic):
    assert synthetic["code"] == 0, synthetic["stderr"]
    for name in _multi_benchmark.OUTPUTS.values():
        assert (synthetic["out"] / name).stat().st_size > 0, name
        assert name in synthetic["stdout"]
    png = (synthetic["out"] / "multi_protocol.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert synthetic["stderr"] == "Running 2 splits of synthetic_multi (n=200) ...\n"


def test_multi_synthetic_scores_csv(synthetic):
    scores = pd.read_csv(synthetic["out"] / "multi_protocol_scores.csv")
    quality = [c for c in scores.columns if c.startswith("quality@")]
    assert list(scores.columns) == [
        "split",
        "method",
        "pairwise_accuracy",
        "aiq",
        "oracle_share",
        *quality,
    ]
    assert len(quality) == N_BUDGETS
    assert quality[0] == "quality@0.0625" and quality[-1] == "quality@1"  # cheapest to dearest
    lines = [*METHODS, "fixed_mix", "oracle"]
    assert list(scores["method"]) == lines * 2
    assert list(scores["split"]) == [0] * 4 + [1] * 4
    fitted = scores[scores["method"].isin(METHODS)]
    assert np.isfinite(fitted.drop(columns=["split", "method"])).all().all()
    references = scores[~scores["method"].isin(METHODS)]
    assert references["pairwise_accuracy"].isna().all()  # reference lines rank no comparison
    assert list(references["oracle_share"]) == [0.0, 1.0, 0.0, 1.0]


def test_multi_synthetic_summary(synthetic):
    text = (synthetic["out"] / "multi_protocol_summary.md").read_text(encoding="utf-8")
    first = text.splitlines()[0]
    for fact in (
        "synthetic_multi",
        "n_queries=200",
        "n_features=6",
        "n_models=3 (pairwise)",
        "n_gold=10",  # run_multi_protocol's default: 5% of 160 training queries, at least 10
        "n_test=40",  # 20% of the queries
        "splits=2",
        "seed=0",
    ):
        assert fact in first
    for table in ("aiq over 2 splits", "pairwise_accuracy over 2 splits"):
        assert f"synthetic_multi: {table}; diff = method - gold_only" in text
        assert table in synthetic["stdout"]
    for name in [*METHODS, "fixed_mix", "oracle"]:
        assert f"| {name} " in text
        assert f"| {name} " in synthetic["stdout"]
    assert "AIQ (RouterBench's" in text and "Pairwise accuracy = " in text
    assert "## Settings" in text
    assert "- methods: ['gold_only', 'all_gold']" in text
    assert "m0 (0.0625), m1 (0.25), m2 (1)" in text
    assert "- budgets of quality@: 11 from 0.0625 to 1" in text


def test_pandalm_writes_scores_and_summary_but_no_plot(pandalm):
    assert pandalm["code"] == 0, pandalm["stderr"]
    assert pandalm["stderr"] == ""  # --quiet
    assert sorted(p.name for p in pandalm["out"].iterdir()) == [
        "multi_protocol_scores.csv",
        "multi_protocol_summary.md",
    ]
    assert "multi_protocol.png" not in pandalm["stdout"]
    scores = pd.read_csv(pandalm["out"] / "multi_protocol_scores.csv")
    assert list(scores.columns) == ["split", "method", "pairwise_accuracy"]
    assert list(scores["method"]) == METHODS and (scores["split"] == 0).all()
    assert scores["pairwise_accuracy"].between(0, 1).all()
    text = (pandalm["out"] / "multi_protocol_summary.md").read_text(encoding="utf-8")
    first = text.splitlines()[0]
    for fact in ("pandalm", "n_queries=170", "n_features=10", "n_models=5", "n_gold=10"):
        assert fact in first
    assert "n_test=34" in first
    assert "pandalm: pairwise_accuracy over 1 splits" in text
    assert "aiq over" not in text and "quality@" not in text  # no quality known on real data
    for name in METHODS:
        assert f"| {name} " in text
    assert "- judge: gpt-3.5-turbo (25 unparseable verdicts dropped)" in text
    assert "three human annotators" in text


def test_pandalm_is_run_multi_protocol_with_its_defaults(pandalm):
    """Same data (10 components, PCA seeded by --random-state), same splits, and the test and
    gold sizes the summary reports are run_multi_protocol's own defaults."""
    data = load_pandalm_routing(n_components=10, random_state=0)
    expected = run_multi_protocol(data, methods=METHODS, n_splits=1, random_state=0)
    scores = pd.read_csv(pandalm["out"] / "multi_protocol_scores.csv")
    np.testing.assert_allclose(
        scores["pairwise_accuracy"],
        expected.table("pairwise_accuracy").loc[0, METHODS].to_numpy(),
        rtol=1e-12,
    )


class Stop(Exception):
    pass


@pytest.mark.parametrize(
    ("n_queries", "n_test"), [(170, None), (2000, None), (2000, 1500), (60, 5), (40, None)]
)
def test_sizes_are_run_multi_protocol_defaults(monkeypatch, n_queries, n_test):
    """The sizes the CLI resolves (to report them) are those run_multi_protocol would use."""
    seen = []

    def split(self, n_test, n_gold, **kwargs):
        seen.append((n_test, n_gold))
        raise Stop

    data = make_multi_routing_data(n_queries, 2, n_features=6, random_state=0)
    monkeypatch.setattr(MultiRoutingDataset, "split", split)
    with pytest.raises(Stop):
        run_multi_protocol(data, n_test=n_test)
    assert seen == [split_sizes(n_queries, n_test, None)]


def test_judge_and_components(tmp_path):
    argv = [*PANDALM, "--methods", "gold_only", "--judge", "both", "--n-components", "4"]
    code, stdout, stderr = run(tmp_path, *argv, "--n-test", "40", "--n-gold", "20", "--quiet")
    assert code == 0, stderr
    text = (tmp_path / "multi_protocol_summary.md").read_text(encoding="utf-8")
    assert "n_features=4" in text.splitlines()[0]
    assert "n_gold=20, n_test=40" in text.splitlines()[0]
    assert (
        "- judge: gpt-3.5-turbo (25 unparseable verdicts dropped), "
        "pandalm-7b (0 unparseable verdicts dropped)" in text
    )


def test_judge_choices_are_the_library_ones():
    with pytest.raises(ValueError, match="must be one of") as info:
        load_pandalm_routing(judge="not a judge")
    assert str(list(JUDGES)) in str(info.value)
    default = inspect.signature(load_pandalm_routing).parameters["judge"].default
    assert default == JUDGES[0] == _multi_benchmark.PANDALM["judge"]


def test_multi_synthetic_defaults_are_the_generator_ones():
    parameters = inspect.signature(make_multi_routing_data).parameters
    library = {name: parameters[name].default for name in ("n_models", "n_features", "bias")}
    library["n_samples"] = parameters["n_queries"].default
    assert _multi_benchmark.MULTI_SYNTHETIC == library


def test_parser_defaults():
    args = build_parser().parse_args(["benchmark", "--data", "pandalm"])
    for only in ("judge", "n_components", "n_models", "bias", "n_samples", "n_features"):
        assert not hasattr(args, only)  # absent unless given
    for name, value in (("n_test", 500), ("n_gold", 100), ("n_jobs", 1)):
        assert getattr(args, name) == value and isinstance(getattr(args, name), DefaultInt)
    args = build_parser().parse_args(["benchmark", "--n-test", "500", "--judge", "pandalm-7b"])
    assert args.n_test == 500 and not isinstance(args.n_test, DefaultInt)  # typed: given
    assert args.judge == "pandalm-7b"


def test_help_names_the_new_data(capsys):
    with pytest.raises(SystemExit):
        main(["benchmark", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for fact in (
        "'pandalm'",
        "'multi-synthetic'",
        "{gpt-3.5-turbo,pandalm-7b,both}",
        "pandalm data only",
    ):
        assert fact in text


def test_unknown_judge_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["benchmark", "--data", "pandalm", "--judge", "gpt-4"])
    assert info.value.code == 2
    assert "argument --judge: invalid choice: 'gpt-4'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (
            [*PANDALM, "--n-models", "3"],
            "`--n-models` only applies to `--data multi-synthetic`; got `--data pandalm`.",
        ),
        (
            [*PANDALM, "--n-samples", "100", "--bias", "none"],
            "`--bias`, `--n-samples` only apply to `--data synthetic` or `--data "
            "multi-synthetic`; got `--data pandalm`.",
        ),
        (
            [*SYNTHETIC, "--judge", "both"],
            "`--judge` only applies to `--data pandalm`; got `--data multi-synthetic`.",
        ),
        (
            ["--judge", "pandalm-7b"],
            "`--judge` only applies to `--data pandalm`; got `--data synthetic`.",
        ),
        (
            ["--data", "gsm8k", "--n-components", "5"],
            "`--n-components` only applies to `--data pandalm`; got `--data gsm8k`.",
        ),
        (
            [*SYNTHETIC, "--n-components", "5"],
            "`--n-components` only applies to `--data pandalm`; got `--data multi-synthetic`.",
        ),
        (["--n-models", "3"], "`--n-models` only applies to `--data multi-synthetic`"),
        (
            [*PANDALM, "--n-jobs", "1"],  # given, even at its default value: refused
            "`--n-jobs` only applies to two-model data (`--data synthetic`, `gsm8k` or a CSV "
            "file); got `--data pandalm`: run_multi_protocol runs its splits one after another",
        ),
        ([*SYNTHETIC, "--ray"], "`--ray` only applies to two-model data"),
        (
            [*SYNTHETIC, "--stop-at-nonpositive"],
            "`--stop-at-nonpositive` only applies to two-model data",
        ),
        (  # every refused option is named, in one line
            ["--data", "gsm8k", "--n-samples", "50", "--n-models", "3"],
            "`--n-samples` only applies to `--data synthetic` or `--data multi-synthetic`; got "
            "`--data gsm8k`. `--n-models` only applies to `--data multi-synthetic`; got",
        ),
        (["--data", "nope"], "or 'pandalm' or 'multi-synthetic' (multi-model data); got 'nope'"),
        # the library's checks, with the options' names
        ([*PANDALM, "--n-components", "200"], "`--n-components` must be between 1 and 170"),
        (
            [*PANDALM, "--n-test", "150", "--n-gold", "30"],
            "`--n-test` + `--n-gold` must leave preference-based training queries",
        ),
        ([*SYNTHETIC, "--n-models", "30"], "`--n-models` must be an int between 2 and 20"),
        ([*SYNTHETIC, "--n-samples", "5"], "`--n-samples` must be an int >= 10; got 5."),
        ([*SYNTHETIC, "--bias", "heterogeneous"], "`--bias` must be one of ['shared',"),
        ([*PANDALM, "--methods", "meta_r"], "`--methods` must be distinct names from ['meta_"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, argv, fragment):
    out = tmp_path / "out"
    code, stdout, stderr = run(out, *argv, "--quiet")
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("metarouter benchmark: error: ")
    assert fragment in lines[0]
    assert stdout == ""
    assert not out.exists()  # nothing is written on bad input
