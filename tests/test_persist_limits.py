"""Zip bombs and other oversized router files are refused before they fill the memory.

Each bomb is small and the limits are lowered by patching the module constants, so that the
tests stay fast and light; one test per container uses the real limits with a declared size
that lies. Peak memory is measured with tracemalloc (zlib's and zipfile's buffers are Python
objects, so an inflated member would show).
"""

import io
import json
import struct
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from metarouter_econml import MetaRouter, PooledRouter, load
from metarouter_econml._persist import _archive, _payload
from metarouter_econml.datasets import make_routing_data

MiB = 1 << 20


@pytest.fixture(scope="module")
def split():
    data = make_routing_data(n_samples=400, n_features=6, random_state=0)
    return data.split(n_test=100, n_gold=60, random_state=0)


@pytest.fixture(scope="module")
def router(split):
    return PooledRouter(random_state=0).fit(split.X_train, split.y_train, gold=split.gold_train)


@pytest.fixture(scope="module")
def meta_router(split):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return MetaRouter(learner="r", cv=2, random_state=0).fit(
            split.X_train, split.y_train, gold=split.gold_train
        )


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members, compression=zipfile.ZIP_DEFLATED):
    """A zip archive of ``members`` (name -> bytes), in this order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _router_file(path, payload, header=None):
    """A router file around ``payload`` with a valid header and digest (an attacker's file)."""
    header = header or {
        "format": _archive.FORMAT,
        "format_version": _archive.FORMAT_VERSION,
        "class": "PooledRouter",
        "versions": _archive.current_versions(),
        "dropped_params": {},
    }
    header["sha256"] = _archive.digest(header, payload)
    path.write_bytes(
        _zip({_archive.HEADER_NAME: json.dumps(header).encode(), "router.skops": payload})
    )
    return path


def _declare_size(archive, name, size):
    """``archive`` (bytes) with ``name``'s uncompressed size set to ``size`` in both headers."""
    data = bytearray(archive)
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        info = opened.getinfo(name)
    struct.pack_into("<L", data, info.header_offset + 22, size)  # local file header
    encoded = name.encode()
    start = 0
    while (start := data.find(b"PK\x01\x02", start + 1)) >= 0:  # central directory entries
        length = struct.unpack_from("<H", data, start + 28)[0]
        if data[start + 46 : start + 46 + length] == encoded:
            struct.pack_into("<L", data, start + 24, size)
    return bytes(data)


def _peak_while(function):
    """Run ``function``; return its exception and the peak memory tracemalloc saw meanwhile."""
    tracemalloc.start()
    try:
        function()
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        error = exc
    else:
        error = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return error, peak


def _payload_of(router_file):
    return _members(router_file)["router.skops"]


def _with_inner(payload, **members):
    """``payload`` (a skops archive) with members replaced or added, deflated."""
    with zipfile.ZipFile(io.BytesIO(payload)) as inner:
        contents = {name: inner.read(name) for name in inner.namelist()}
    contents.update(members)
    return _zip(contents)


# -- the router file ---------------------------------------------------------------------------
def test_a_payload_declared_larger_than_the_limit_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(_archive, "MAX_PAYLOAD_BYTES", MiB)
    path = _router_file(tmp_path / "bomb.mr", bytes(64 * MiB))  # 64 MiB of zeros, ~64 KiB on disk
    assert path.stat().st_size < MiB
    error, peak = _peak_while(lambda: load(path))
    assert isinstance(error, ValueError)
    assert str(error) == (
        f"{path}: member 'router.skops' declares {64 * MiB} bytes uncompressed, more than its "
        f"limit of {MiB} bytes; it was not read."
    )
    assert peak < 4 * MiB


def test_a_header_that_inflates_past_its_declared_size_is_never_inflated(tmp_path):
    # the header declares 368 bytes and inflates to 64 MiB: zipfile stops at the declared size
    header = b"{" + b" " * (64 * MiB) + b"}"
    archive = _declare_size(
        _zip({_archive.HEADER_NAME: header, "router.skops": b""}), _archive.HEADER_NAME, 368
    )
    path = tmp_path / "bomb.mr"
    path.write_bytes(archive)
    error, peak = _peak_while(lambda: load(path))
    assert isinstance(error, ValueError)
    assert "is not a metarouter_econml router file" in str(error)
    assert "its contents cannot be read" in str(error)  # the CRC of the first 368 bytes fails
    assert peak < 4 * MiB


def test_the_real_limits_refuse_a_declared_size_before_reading(router, tmp_path, monkeypatch):
    path = tmp_path / "router.mr"
    router.save(path)
    members = _members(path)
    lie = 0xF0000000  # 3.75 GiB, below the ZIP64 marker
    for name, limit in (
        (_archive.HEADER_NAME, _archive.MAX_HEADER_BYTES),
        ("router.skops", _archive.MAX_PAYLOAD_BYTES),
    ):
        path.write_bytes(_declare_size(_zip(members), name, lie))

        def opened_unless_lying(archive, member, *args, opened=zipfile.ZipFile.open, name=name):
            if getattr(member, "filename", member) == name:
                raise AssertionError(f"{name} was opened")
            return opened(archive, member, *args)

        with monkeypatch.context() as patch:
            patch.setattr(zipfile.ZipFile, "open", opened_unless_lying)
            with pytest.raises(ValueError) as info:
                load(path)
        assert str(info.value) == (
            f"{path}: member {name!r} declares {lie} bytes uncompressed, more than its limit of "
            f"{limit} bytes; it was not read."
        )
    assert _archive.MAX_PAYLOAD_BYTES == 256 * MiB and _archive.MAX_HEADER_BYTES == MiB


def test_reading_stops_one_chunk_past_the_limit(monkeypatch):
    monkeypatch.setattr(_archive, "READ_CHUNK_BYTES", 4)
    stream = io.BytesIO(b"x" * 100)
    with pytest.raises(ValueError, match="^data inflates to more than its limit of 10 bytes"):
        list(_archive.capped_chunks(stream, 10, "data"))
    assert stream.tell() == 12
    assert b"".join(_archive.capped_chunks(io.BytesIO(b"x" * 10), 10, "data")) == b"x" * 10


@pytest.mark.parametrize(
    ("edit", "problem"),
    [("append", "a zip archive with a comment or data after its end"), ("truncate", "not a zip")],
)
def test_data_after_the_end_record_or_no_end_record_is_refused(router, tmp_path, edit, problem):
    path = tmp_path / "router.mr"
    router.save(path)
    data = path.read_bytes()
    path.write_bytes(data + b"trailing" if edit == "append" else data[:-22])
    with pytest.raises(
        ValueError, match=f"router.mr is not a metarouter_econml router file .*: it is {problem}"
    ):
        load(path)


def test_a_zip_with_a_comment_is_refused(router, tmp_path):
    path = tmp_path / "router.mr"
    router.save(path)
    members = _members(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.comment = b"a comment"
        for name, content in members.items():
            archive.writestr(name, content)
    with pytest.raises(ValueError, match="a zip archive with a comment or data after its end"):
        load(path)


def test_zip64_archives_are_refused(router, tmp_path):
    # zipfile reads a ZIP64 end record when its locator is right before the end record
    path = tmp_path / "router.mr"
    router.save(path)
    data = path.read_bytes()
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 1)
    path.write_bytes(data[:-22] + locator + data[-22:])
    with pytest.raises(ValueError, match="it is a ZIP64 archive, which router files never are"):
        load(path)


def test_a_large_zip_directory_is_refused_before_it_is_parsed(router, tmp_path, monkeypatch):
    path = tmp_path / "router.mr"
    router.save(path)
    monkeypatch.setattr(_archive, "MAX_DIRECTORY_BYTES", 64)
    with pytest.raises(
        ValueError,
        match=r"its zip directory lists 2 members in \d+ bytes, more than the limits of 65535 "
        "members and 64 bytes",
    ):
        load(path)


def test_extra_members_and_other_compression_are_refused(router, tmp_path):
    path = tmp_path / "router.mr"
    router.save(path)
    members = _members(path)
    path.write_bytes(_zip({**members, "extra.txt": b"hello"}))
    with pytest.raises(ValueError, match="it has 3 members; a router file has exactly"):
        load(path)
    path.write_bytes(_zip(members, compression=zipfile.ZIP_BZIP2))
    with pytest.raises(ValueError, match="member 'metarouter.json' uses compression method 12"):
        load(path)


def test_save_refuses_a_payload_that_load_would_refuse(router, tmp_path, monkeypatch):
    monkeypatch.setattr(_archive, "MAX_PAYLOAD_BYTES", 10_000)
    with pytest.raises(
        ValueError,
        match=r"Cannot save this PooledRouter: its payload would hold \d+ bytes, more than the "
        "10000 bytes that `load` reads",
    ):
        router.save(tmp_path / "router.mr")
    monkeypatch.undo()
    monkeypatch.setattr(_payload, "MAX_SCHEMA_BYTES", 10_000)
    with pytest.raises(
        ValueError,
        match=r"Cannot save this PooledRouter: `load` would refuse its payload .*"
        "schema.json' declares",
    ):
        router.save(tmp_path / "router.mr")
    assert not list(tmp_path.iterdir())


# -- the payload, itself a zip archive ------------------------------------------------------------
def test_an_inner_array_bomb_is_refused_unread(meta_router, tmp_path, monkeypatch):
    path = tmp_path / "router.mr"
    meta_router.save(path)
    payload = _payload_of(path)
    with zipfile.ZipFile(io.BytesIO(payload)) as inner:
        array = next(name for name in inner.namelist() if name.endswith(".npy"))
    _router_file(path, _with_inner(payload, **{array: bytes(64 * MiB)}), _header(path))
    assert path.stat().st_size < MiB
    monkeypatch.setattr(_archive, "MAX_PAYLOAD_BYTES", 2 * MiB)
    error, peak = _peak_while(lambda: load(path))
    assert isinstance(error, ValueError)
    assert str(error) == (
        f"{path}: router.skops: its members declare {64 * MiB + _sizes(payload, but=array)} bytes "
        f"uncompressed together, more than the limit of {2 * MiB} bytes; they were not read."
    )
    assert peak < 8 * MiB


def test_inner_members_are_checked_at_the_real_limits(meta_router, tmp_path):
    path = tmp_path / "router.mr"
    meta_router.save(path)
    payload = _payload_of(path)
    with zipfile.ZipFile(io.BytesIO(payload)) as inner:
        array = next(name for name in inner.namelist() if name.endswith(".npy"))
    lie = 0xF0000000
    _router_file(path, _declare_size(_with_inner(payload), array, lie), _header(path))
    with pytest.raises(ValueError) as info:
        load(path)
    assert str(info.value) == (
        f"{path}: router.skops: its members declare {lie + _sizes(payload, but=array)} bytes "
        f"uncompressed together, more than the limit of {256 * MiB} bytes; they were not read."
    )
    _router_file(path, _declare_size(_with_inner(payload), "schema.json", 65 * MiB), _header(path))
    with pytest.raises(ValueError) as info:
        load(path)
    assert str(info.value) == (
        f"{path}: router.skops: member 'schema.json' declares {65 * MiB} bytes uncompressed, "
        f"more than its limit of {64 * MiB} bytes; it was not read."
    )


def test_an_array_header_larger_than_its_data_is_refused(meta_router, tmp_path):
    path = tmp_path / "router.mr"
    meta_router.save(path)
    payload = _payload_of(path)
    with zipfile.ZipFile(io.BytesIO(payload)) as inner:
        array = next(name for name in inner.namelist() if name.endswith(".npy"))
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    header["shape"] = (10**9,)
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, header)
    lying = out.getvalue() + np.zeros(1).tobytes()
    _router_file(path, _with_inner(payload, **{array: lying}), _header(path))
    with pytest.raises(
        ValueError,
        match=rf"malformed payload: member '{array}' is not a valid .npy array: its header "
        r"declares 8000000000 bytes of data \(float64 of shape \(1000000000,\)\) but it holds 8",
    ):
        load(path)


def test_members_other_than_arrays_are_refused(meta_router, tmp_path):
    # a nested archive (a sparse matrix's .npz) would be inflated by scipy, unchecked
    path = tmp_path / "router.mr"
    meta_router.save(path)
    payload = _payload_of(path)
    _router_file(
        path, _with_inner(payload, **{"1.npz": _zip({"data.npy": bytes(100)})}), _header(path)
    )
    with pytest.raises(
        ValueError, match=r"members \['1.npz'\] are neither schema.json nor .npy arrays"
    ):
        load(path)


def test_a_schema_nested_too_deeply_is_refused(router, tmp_path):
    path = tmp_path / "router.mr"
    router.save(path)
    payload = _payload_of(path)
    for depth in (65, 200_000):  # json_depth refuses the first, json's RecursionError the second
        schema = b"[" * depth + b"]" * depth
        _router_file(path, _with_inner(payload, **{"schema.json": schema}), _header(path))
        with pytest.raises(
            ValueError,
            match="router.mr has a malformed payload: its schema.json nests deeper than the "
            "limit of 64 levels",
        ):
            load(path)


# -- the header (item: nested JSON raised RecursionError) ------------------------------------------
@pytest.mark.parametrize("depth", [9, 100_000])
def test_a_header_nested_too_deeply_is_a_value_error(tmp_path, depth):
    path = tmp_path / "router.mr"
    path.write_bytes(_zip({_archive.HEADER_NAME: b"[" * depth + b"]" * depth, "router.skops": b""}))
    with pytest.raises(
        ValueError,
        match="router.mr is not a metarouter_econml router file .*: its metarouter.json nests "
        "deeper than 8 levels",
    ):
        load(path)


def _header(path):
    header = json.loads(_members(path)[_archive.HEADER_NAME])
    header.pop("sha256")
    return header


def _sizes(payload, but):
    with zipfile.ZipFile(io.BytesIO(payload)) as inner:
        return sum(info.file_size for info in inner.infolist() if info.filename != but)


def test_router_files_still_load_after_these_checks(meta_router, split, tmp_path):
    path = tmp_path / "router.mr"
    meta_router.save(path)
    twin = load(path)
    np.testing.assert_array_equal(twin.predict(split.X_test), meta_router.predict(split.X_test))
    np.testing.assert_array_equal(
        twin.estimate_bias(split.X_test), meta_router.estimate_bias(split.X_test)
    )
