"""The command line parses before it imports: --version and --help stay light.

Each case runs in a fresh interpreter, since this test process has long imported everything.
"""

import json
import subprocess
import sys

import pytest

import metarouter_econml

#: Loaded only when a command runs.
HEAVY = ("econml", "dowhy", "matplotlib", "lightgbm")
COMMAND_MODULES = tuple(
    f"metarouter_econml.{name}"
    for name in (
        "cli._demo",
        "cli._benchmark",
        "cli._report",
        "cli._suggest",
        "evaluation",
        "diagnostics",
        "active",
    )
)

_PROBE = """
import json, sys
import metarouter_econml
before = set(sys.modules)
from metarouter_econml.cli import main
try:
    main({argv!r})
except SystemExit as exc:
    code = exc.code
else:
    code = None
print("\\n" + json.dumps({{"code": code, "loaded": sorted(sys.modules),
                          "added": sorted(set(sys.modules) - before)}}))
"""


def probe(argv):
    """Run ``main(argv)`` in a fresh interpreter; return its exit code and imported modules."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


ARGVS = [
    ["--version"],
    ["--help"],
    ["demo", "--help"],
    ["benchmark", "--help"],
    ["report", "--help"],
    ["suggest", "--help"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=" ".join)
def test_version_and_help_import_no_command(argv):
    seen = probe(argv)
    assert seen["code"] == 0
    loaded = set(seen["loaded"])
    assert not loaded & {*HEAVY, *COMMAND_MODULES}, sorted(loaded & {*HEAVY, *COMMAND_MODULES})
    # Beyond `import metarouter_econml`, the parser needs only the standard library.
    extra = {name.split(".")[0] for name in seen["added"]} - set(sys.stdlib_module_names)
    assert extra <= {"metarouter_econml"}, sorted(extra)
    ours = {name for name in seen["added"] if name.startswith("metarouter_econml.")}
    assert ours <= {"metarouter_econml.cli", "metarouter_econml.cli._common"}, sorted(ours)


def test_version_imports_neither_sklearn_nor_pandas():
    loaded = set(probe(["--version"])["loaded"])
    heavy = {"sklearn", "pandas", "scipy", "numpy"}
    assert not loaded & heavy, sorted(loaded & heavy)


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "metarouter_econml.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"metarouter {metarouter_econml.__version__}"
