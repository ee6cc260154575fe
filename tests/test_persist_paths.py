"""`load` on a path that is not a regular file says what the path is, without blocking."""

import os
import threading
from pathlib import Path

import pytest

from metarouter_econml import load


def _load_in_a_thread(path, timeout=30):
    """The exception ``load(path)`` raises; fails if it does not return within ``timeout``."""
    outcome = {}

    def run():
        try:
            load(path)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"load({path}) blocked"
    return outcome.get("error")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")
def test_a_fifo_is_refused_without_being_opened(tmp_path):
    fifo = tmp_path / "router.mr"
    os.mkfifo(fifo)
    error = _load_in_a_thread(fifo)  # opening a FIFO for reading would block: no writer
    assert isinstance(error, ValueError)
    assert str(error) == (
        f"Cannot load {fifo}: it is a FIFO (named pipe), not a regular file; router files are "
        "regular files (written by `router.save`)."
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this OS")
def test_a_device_is_refused_without_being_read():
    error = _load_in_a_thread("/dev/zero")  # reading it would never end
    assert isinstance(error, ValueError)
    assert str(error).startswith("Cannot load /dev/zero: it is a character device, not a regular")


def test_a_directory_is_named_as_such(tmp_path):
    with pytest.raises(
        IsADirectoryError, match=r"^Cannot load .*: it is a directory, not a router"
    ):
        load(tmp_path)


def test_a_symlink_loop_is_named_as_such(tmp_path):
    first, second = tmp_path / "a.mr", tmp_path / "b.mr"
    try:
        first.symlink_to(second)
        second.symlink_to(first)
    except (OSError, NotImplementedError):
        pytest.skip("no symlinks here")
    with pytest.raises(FileNotFoundError, match=r"^Cannot load .*a.mr: it is a symlink loop"):
        load(first)


def test_a_dangling_symlink_or_missing_file_is_no_such_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^Cannot load .*nothing.mr: no such file\.$"):
        load(tmp_path / "nothing.mr")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load(tmp_path / "nothing.mr" / "inside.mr")
    link = tmp_path / "link.mr"
    try:
        link.symlink_to(tmp_path / "gone.mr")
    except (OSError, NotImplementedError):
        pytest.skip("no symlinks here")
    with pytest.raises(FileNotFoundError, match="link.mr: no such file"):
        load(link)


def test_a_symlink_to_a_router_file_loads(tmp_path):
    from metarouter_econml import GoldOnlyRouter
    from metarouter_econml.datasets import make_routing_data

    split = make_routing_data(300, 6, random_state=0).split(n_test=50, n_gold=60, random_state=0)
    router = GoldOnlyRouter(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)
    router.save(tmp_path / "router.mr")
    link = tmp_path / "link.mr"
    try:
        link.symlink_to(tmp_path / "router.mr")
    except (OSError, NotImplementedError):
        pytest.skip("no symlinks here")
    assert (load(link).predict(split.X_test) == router.predict(split.X_test)).all()
