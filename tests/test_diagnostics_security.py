"""The OverRule process imports nothing from the caller's working directory.

``metarouter report`` runs in a data folder. The OverRule process used to be a ``python -c``
child in that folder, so a ``numpy.py`` or ``metarouter_econml.py`` planted there ran in it
(and the report was still written). Each planted module below writes a marker file; no marker
may appear, and OverRule must still produce its rules.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from metarouter_econml.diagnostics import _overrule, assess_overlap

#: Modules an attacker could plant; the OverRule process needs the first three.
PLANTED = ("numpy", "pandas", "metarouter_econml", "dowhy", "sklearn")


def _plant(folder: Path, markers: Path) -> None:
    """Write modules that leave a marker when imported (and then fail, like a broken module)."""
    for name in PLANTED:
        (folder / f"{name}.py").write_text(
            f"open({str(markers / name)!r}, 'w').write('imported')\n"
            f"raise ImportError('planted {name} was imported')\n",
            encoding="utf-8",
        )


@pytest.fixture
def planted(tmp_path):
    folder, markers = tmp_path / "data-folder", tmp_path / "markers"
    folder.mkdir()
    markers.mkdir()
    _plant(folder, markers)
    return folder, markers


def _violating(n=900, seed=0):
    """Six features; gold rows only where x0 < 0, so OverRule has flagged rows to describe."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 6)
    gold = np.zeros(n, dtype=bool)
    gold[rng.choice(np.flatnonzero(X[:, 0] < 0), 80, replace=False)] = True
    return X, gold


def test_in_process_chdir_into_a_planted_folder(planted, monkeypatch):
    folder, markers = planted
    X, gold = _violating()
    monkeypatch.chdir(folder)
    with pytest.warns(UserWarning, match="Positivity fails"):
        result = assess_overlap(X, gold, overrule_components=2, random_state=0)
    assert sorted(p.name for p in markers.iterdir()) == []
    assert result.overrule.status == "rules", result.overrule.message
    assert result.overrule.describes_gap


def test_worker_path_leaves_out_the_working_directory(planted, monkeypatch):
    folder, _ = planted
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", ["", ".", str(folder), *sys.path])
    path = _overrule.worker_path()
    assert "" not in path and "." not in path and str(folder) not in path
    assert all(Path(p).is_absolute() for p in path)
    package_root = str(Path(_overrule.__file__).resolve().parents[2])
    assert package_root in path  # the package's own parent, for a source checkout


_SCRIPT = """
import sys
import warnings

import numpy as np

from metarouter_econml import MetaRouter
from metarouter_econml.diagnostics import diagnose

rng = np.random.RandomState(0)
X = rng.randn(700, 6)
gold = np.zeros(700, dtype=bool)
gold[rng.choice(np.flatnonzero(X[:, 0] < 0), 80, replace=False)] = True
y = X[:, 1] + 0.1 * gold + 0.3 * rng.randn(700)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    router = MetaRouter(random_state=0).fit(X, y, gold=gold)
    report = diagnose(
        router, X, y, gold=gold, refuters=(), overrule=True, overrule_components=2,
        figures=False, random_state=0,
    )
print(report.overlap.overrule.status)
"""


def test_a_script_run_in_a_planted_folder(planted, tmp_path):
    """As ``metarouter report``: a script that lives elsewhere, run with the folder as cwd."""
    folder, markers = planted
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    script = scripts / "make_report.py"
    script.write_text(textwrap.dedent(_SCRIPT), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in markers.iterdir()) == []
    assert done.stdout.strip().splitlines()[-1] == "rules", done.stdout + done.stderr


def test_metarouter_report_in_a_planted_folder(planted, tmp_path):
    """The command line itself (its console script), with OverRule on, in the planted folder."""
    command = Path(sys.executable).with_name("metarouter")
    if not command.exists():
        pytest.skip("the `metarouter` console script is not installed next to this Python")
    folder, markers = planted
    X, gold = _violating(n=700)
    lines = ["is_gold,label," + ",".join(f"pc{j + 1}" for j in range(X.shape[1]))]
    y = X[:, 1] + 0.1 * gold
    for row, flag, label in zip(X, gold, y, strict=True):
        lines.append(f"{flag},{label:.6f}," + ",".join(f"{v:.6f}" for v in row))
    data = tmp_path / "data.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "report.md"
    done = subprocess.run(
        [
            str(command),
            "report",
            str(data),
            "--gold-column",
            "is_gold",
            "--label-column",
            "label",
            "--feature-prefix",
            "pc",
            "--refuters",
            "none",
            "--out",
            str(tmp_path / "report.html"),
            "--markdown",
            str(out),
            "--quiet",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: the positivity check fails, as it should
    assert sorted(p.name for p in markers.iterdir()) == []
    assert "a row is inside if any holds" in out.read_text(encoding="utf-8")  # OverRule's rules
