"""`metarouter suggest`: which preference-only rows to send for gold labelling, and why."""

import contextlib
import hashlib
import io
import re

import numpy as np
import pandas as pd
import pytest

from metarouter_econml.active import STRATEGIES
from metarouter_econml.cli import SUGGEST_STRATEGIES, _suggest, build_parser, main
from metarouter_econml.datasets import make_routing_data

COLUMNS = [
    "rank",
    "row",
    "strategy",
    "inclusion_probability",
    "psi",
    "psi_low",
    "psi_high",
    "bias",
    "bias_low",
    "bias_high",
    "reason",
]
BUDGET = 12
FAST = ["--n-bootstrap", "5"]  # few replicates: the fit is the slow part


@pytest.fixture(scope="module")
def frame():
    """400 training rows (60 gold-standard) as `report` reads them: pc1..pc6, is_gold, label."""
    data = make_routing_data(n_samples=500, n_features=6, random_state=0)
    split = data.split(n_test=100, n_gold=60, random_state=0)
    table = split.X_train.reset_index(drop=True).copy()
    table.insert(0, "is_gold", split.gold_train)
    table["label"] = split.y_train
    return table


@pytest.fixture(scope="module")
def data_file(frame, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "data.csv"
    frame.to_csv(path, index=False)
    return path


def run(*argv):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["suggest", *argv])
    return code, stdout.getvalue(), stderr.getvalue()


def required(data, out, budget=BUDGET):
    return [
        str(data),
        "--gold-column",
        "is_gold",
        "--label-column",
        "label",
        "--feature-prefix",
        "pc",
        "--budget",
        str(budget),
        "--out",
        str(out),
    ]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def bias_run(data_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bias")
    out, table = folder / "nested" / "picks.csv", folder / "probabilities.csv"
    before = digest(data_file)
    result = run(
        *required(data_file, out),
        *FAST,
        "--strategy",
        "bias",
        "--probabilities-out",
        str(table),
        "--traceback",
    )
    return {"result": result, "out": out, "table": table, "before": before}


def test_bias_run_writes_the_chosen_rows(bias_run, frame):
    code, stdout, stderr = bias_run["result"]
    assert code == 0, stdout + stderr
    picks = pd.read_csv(bias_run["out"])
    assert list(picks.columns) == COLUMNS
    assert len(picks) == BUDGET
    assert picks["rank"].tolist() == list(range(1, BUDGET + 1))
    rows = picks["row"].to_numpy()
    assert len(set(rows.tolist())) == BUDGET
    assert not frame["is_gold"].to_numpy()[rows].any()  # preference-only rows only
    assert ((rows >= 0) & (rows < len(frame))).all()
    assert (picks["strategy"] == "bias").all()
    assert ((picks["inclusion_probability"] > 0) & (picks["inclusion_probability"] <= 1)).all()
    for low, point, high in (("psi_low", "psi", "psi_high"), ("bias_low", "bias", "bias_high")):
        assert (picks[low] <= picks[point]).all() and (picks[point] <= picks[high]).all()
    assert picks["reason"].str.len().gt(0).all()


def test_bias_reasons_state_the_interval_width_and_rows_are_ranked_by_it(bias_run):
    picks = pd.read_csv(bias_run["out"])
    width = (picks["bias_high"] - picks["bias_low"]).to_numpy()
    assert (np.diff(width) <= 1e-12).all(), width  # widest first
    assert np.ptp(width) > 0  # a real ranking, not ties
    for reason, expected in zip(picks["reason"], width, strict=True):
        found = re.search(r"bias interval (\S+) wide \((widest|narrowest) [\d.]+% of", reason)
        assert found, reason
        assert float(found.group(1)) == pytest.approx(expected, rel=5e-3)
    # the best row's interval is among the widest of the candidates
    assert re.search(r"\(widest [\d.]+% of the candidates\)", picks["reason"].iloc[0])


def test_probabilities_out_covers_every_candidate(bias_run, frame):
    table = pd.read_csv(bias_run["table"])
    assert list(table.columns) == ["row", "inclusion_probability"]
    candidates = np.flatnonzero(~frame["is_gold"].to_numpy())
    np.testing.assert_array_equal(table["row"], candidates)
    assert table["inclusion_probability"].sum() == pytest.approx(BUDGET)
    assert (table["inclusion_probability"] >= 0.2 * BUDGET / candidates.size - 1e-12).all()
    picks = pd.read_csv(bias_run["out"])
    chosen = table.set_index("row").loc[picks["row"], "inclusion_probability"]
    np.testing.assert_allclose(chosen.to_numpy(), picks["inclusion_probability"], rtol=1e-12)


def test_summary_and_progress(bias_run, data_file):
    _, stdout, stderr = bias_run["result"]
    assert f"Chose {BUDGET} of the 340 preference-only rows" in stdout
    assert "strategy bias" in stdout
    assert str(bias_run["out"]) in stdout and str(bias_run["table"]) in stdout
    assert "gold_probability" in stdout and "1 - (1 - p_before)" in stdout
    assert "60/400" in stdout  # p_before of a uniform random sample of the current gold rows
    assert "Read 400 rows (60 gold-standard, 340 preference-only candidates)" in stderr
    assert "Fitting MetaRouter(n_bootstrap=5, random_state=0)" in stderr
    assert "Chose" not in stderr


def test_data_file_is_not_modified(bias_run, data_file):
    assert digest(data_file) == bias_run["before"]


def test_same_seed_same_file_and_quiet(bias_run, data_file, tmp_path):
    out = tmp_path / "again.csv"
    code, stdout, stderr = run(
        *required(data_file, out), *FAST, "--strategy", "bias", "--quiet", "--traceback"
    )
    assert code == 0, stderr
    assert (stdout, stderr) == ("", "")
    assert out.read_bytes() == bias_run["out"].read_bytes()


def test_auto_with_cost_weight_explains_bias_and_threshold(data_file, tmp_path):
    out, weight = tmp_path / "auto.csv", 0.3
    code, _, stderr = run(
        *required(data_file, out), *FAST, "--cost-weight", str(weight), "--quiet", "--traceback"
    )
    assert code == 0, stderr
    picks = pd.read_csv(out)
    assert (picks["strategy"] == "auto").all() and len(picks) == BUDGET
    for _, pick in picks.iterrows():
        assert "bias interval" in pick["reason"], pick["reason"]
        found = re.search(
            r"(straddles|lies above|lies below) the routing threshold 0\.3\b", pick["reason"]
        )
        assert found, pick["reason"]
        low, high = pick["psi_low"], pick["psi_high"]
        expected = (
            "straddles" if low <= weight <= high else "lies above" if low > weight else "lies below"
        )
        assert found.group(1) == expected, pick["reason"]
    # the best-ranked rows are those whose decision is in doubt at that weight
    assert "straddles" in picks["reason"].iloc[0]
    assert picks["inclusion_probability"].is_monotonic_decreasing


def test_random_strategy_says_so(data_file, tmp_path):
    out = tmp_path / "random.csv"
    code, _, stderr = run(
        *required(data_file, out), *FAST, "--strategy", "random", "--quiet", "--traceback"
    )
    assert code == 0, stderr
    picks = pd.read_csv(out)
    np.testing.assert_allclose(picks["inclusion_probability"], BUDGET / 340)
    assert picks["reason"].str.startswith("drawn at random (strategy random").all()


# -- reasons, from the inclusion probabilities alone (no fit) ---------------------------------
def _reasons(strategy, scores, n, share=0.2, threshold=None, width=None):
    """`_suggest._Reasons` for candidates with these scores, probabilities as the design's."""
    scores = np.asarray(scores, dtype=float)
    probability = n * ((1 - share) * scores / scores.sum() + share / scores.size)
    assert probability.max() < 1  # uncapped: the reasons read the scores back exactly
    size = scores.size
    return _suggest._Reasons(
        strategy=strategy,
        probability=probability,
        n=n,
        uniform_share=share,
        psi=np.linspace(-1, 1, size),
        psi_interval=(np.linspace(-1, 1, size) - 0.1, np.linspace(-1, 1, size) + 0.1),
        bias_width=np.asarray(scores if width is None else width, dtype=float),
        threshold=threshold,
    )


def test_low_scores_are_said_to_be_drawn_through_the_uniform_share():
    scores = [10.0, 0.1, *np.ones(18)]  # row 1: a score part below the uniform part, not 0
    explain = _reasons("bias", scores, n=2)
    assert explain(0).startswith("bias interval 10 wide (widest 5% of the candidates)")
    assert explain(1).startswith("drawn mainly through the uniform share of the design")
    assert (
        "its own score is low: bias interval 0.1 wide (narrowest 5% of the candidates)"
        in explain(1)
    )
    assert explain(2).startswith("drawn by chance with a below-average score")


def test_overlap_reason_reads_the_score_ratio_back():
    scores = np.array([6.0, 1.0, 1.0, 1.0, 1.0, 4.0])
    explain = _reasons("overlap", scores, n=2)
    ratios = scores / scores.mean()
    said = "its overlap score 1/P(gold | x) is {:.3g}x the candidates' mean"
    assert explain(0) == "few gold rows like it: " + said.format(ratios[0])
    assert explain(5) == said.format(ratios[5])  # above average, not 2x: no "few gold rows"
    assert "below-average score" in explain(1)


def test_decision_reason_names_the_shares_whose_thresholds_the_interval_straddles():
    explain = _reasons("decision", np.ones(11) + np.arange(11), n=2)
    # psi = -1, -0.8, ..., 1; row 5 (psi 0, interval [-0.1, 0.1]): 5 of 11 above 0.1, 6 above -0.1
    assert explain(10).startswith("gain interval [0.9, 1.1] lies above every routing threshold")
    assert explain(5).endswith(
        "gain interval [-0.1, 0.1] straddles the routing thresholds that send 45%-55% of the "
        "candidates to the primary model"
    )
    explain = _reasons("decision", np.ones(11), n=2, threshold=0.5)
    assert "straddles" not in explain(5) and "lies below the routing threshold 0.5" in explain(5)


# -- refusals ---------------------------------------------------------------------------------
def assert_refused(result, *fragments, out=None):
    code, stdout, stderr = result
    assert code == 2, stdout + stderr
    # progress lines may come first; the error is one line, the last
    errors = [line for line in stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and stderr.endswith(errors[0] + "\n"), stderr
    assert errors[0].startswith("metarouter suggest: error: "), errors[0]
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert stdout == ""
    if out is not None:
        assert not out.exists()  # refused before anything is written


def test_budget_larger_than_the_candidates(data_file, tmp_path):
    out = tmp_path / "picks.csv"
    assert_refused(
        run(*required(data_file, out, budget=341)),
        "--budget 341",
        "340 preference-only rows",
        out=out,
    )
    run_ok = run(*required(data_file, out, budget=340), "--strategy", "random", *FAST, "--quiet")
    assert run_ok[0] == 0, run_ok[2]  # every candidate is allowed
    assert sorted(pd.read_csv(out)["row"]) == sorted(
        np.flatnonzero(~pd.read_csv(data_file)["is_gold"])
    )


@pytest.mark.parametrize(
    ("gold_rows", "fragments"),
    [
        ("all", ["no preference-only rows", "'is_gold' (--gold-column)", "all 400 rows"]),
        ("one", ["'is_gold' (--gold-column)", "at least 2 gold-standard rows; got 1"]),
        ("none", ["'is_gold' (--gold-column)", "at least 2 gold-standard rows; got 0"]),
    ],
)
def test_gold_rows_must_leave_candidates_and_a_fit(frame, tmp_path, gold_rows, fragments):
    table = frame.copy()
    table["is_gold"] = gold_rows == "all"
    if gold_rows == "one":
        table.loc[3, "is_gold"] = True
    data, out = tmp_path / "data.csv", tmp_path / "picks.csv"
    table.to_csv(data, index=False)
    assert_refused(run(*required(data, out, budget=5), *FAST), *fragments, out=out)


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"data": "missing.csv"}, ["DATA", "missing.csv", "does not exist"]),
        ({"--label-column": "lbl"}, ["column 'lbl' (--label-column) not found"]),
        ({"--gold-column": "gold"}, ["column 'gold' (--gold-column) not found"]),
        ({"--feature-prefix": "x"}, ["--feature-prefix 'x'"]),
        ({"--gold-column": "label"}, ["--gold-column and --label-column must be different"]),
    ],
)
def test_bad_file_and_columns(data_file, tmp_path, change, fragments):
    argv = required(data_file, tmp_path / "picks.csv")
    for key, value in change.items():
        if key == "data":
            argv[0] = str(tmp_path / value)
        else:
            argv[argv.index(key) + 1] = value
    assert_refused(run(*argv), *fragments, out=tmp_path / "picks.csv")


def test_cost_weight_only_with_decision_and_auto(data_file, tmp_path):
    out = tmp_path / "picks.csv"
    assert_refused(
        run(*required(data_file, out), "--strategy", "bias", "--cost-weight", "0.1"),
        "--cost-weight",
        "--strategy bias",
        out=out,
    )


@pytest.mark.parametrize("option", ["--out", "--probabilities-out"])
def test_outputs_never_overwrite_data(data_file, tmp_path, option):
    argv = required(data_file, tmp_path / "picks.csv")
    if option == "--out":
        argv[argv.index("--out") + 1] = str(data_file)
    else:
        argv += ["--probabilities-out", str(data_file)]
    before = digest(data_file)
    assert_refused(run(*argv), option, "is DATA itself")
    assert digest(data_file) == before


@pytest.mark.parametrize(
    ("option", "value", "rule"),
    [
        ("--strategy", "greedy", "invalid choice: 'greedy'"),
        ("--budget", "0", "must be an int >= 1; got 0"),
        ("--budget", "ten", "must be an int >= 1; got 'ten'"),
        ("--n-bootstrap", "1", "must be an int between 2 and 100000; got 1"),
        ("--uniform-share", "0", "must be a number in (0, 1]; got 0"),
        ("--uniform-share", "1.5", "must be a number in (0, 1]; got 1.5"),
        ("--cost-weight", "inf", "must be a finite number; got inf"),
        ("--random-state", "-1", "must be an int between 0 and 2**32 - 1; got -1"),
    ],
)
def test_option_values_are_checked_at_parse_time(data_file, tmp_path, capsys, option, value, rule):
    argv = required(data_file, tmp_path / "picks.csv")
    if option in argv:
        argv[argv.index(option) + 1] = value
    else:
        argv += [option, value]
    with pytest.raises(SystemExit) as info:
        main(["suggest", *argv])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    # argparse lists the choices after an invalid one (quoted or not, by Python version)
    assert last.startswith(f"metarouter suggest: error: argument {option}: {rule}"), last


def test_budget_and_out_are_required(data_file, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(
            [
                "suggest",
                str(data_file),
                "--gold-column",
                "g",
                "--label-column",
                "y",
                "--feature-prefix",
                "pc",
            ]
        )
    assert info.value.code == 2
    assert "--budget" in capsys.readouterr().err


# -- the parser ---------------------------------------------------------------------------------
def test_parser_strategies_are_the_librarys():
    assert SUGGEST_STRATEGIES == STRATEGIES


def test_parser_defaults(data_file):
    args = build_parser().parse_args(["suggest", *required(data_file, "picks.csv")])
    assert (args.strategy, args.cost_weight, args.uniform_share) == ("auto", None, 0.2)
    assert (args.n_bootstrap, args.n_jobs, args.random_state) == (30, 1, 0)
    assert (args.budget, args.probabilities_out, args.quiet) == (BUDGET, None, False)


def test_help_describes_the_columns(capsys):
    with pytest.raises(SystemExit) as info:
        main(["suggest", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in ("--budget", "--strategy", "--cost-weight", "--probabilities-out", "--n-bootstrap"):
        assert name in text
    for column in COLUMNS:
        assert column in text
    assert "gold_probability" in text and "%%" not in text
