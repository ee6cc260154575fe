"""The router file container: a zip archive of a JSON header and a skops payload.

The header (:data:`HEADER_NAME`) names the format and its version, the router class, the
versions of the libraries that wrote the file (:data:`RECORDED_PACKAGES`), the parameters that
could not be saved, and a SHA-256 digest of the header and the payload (:data:`PAYLOAD_NAME`)
together. This module knows nothing of routers or of what the payload holds.

Versions
    :data:`FORMAT_VERSION` is the newest format; a file is written in the oldest version that
    holds its contents, so that older releases keep reading what they can, and every version in
    :data:`READABLE_FORMAT_VERSIONS` is read. Version 1: the first format. Version 2 (this
    release): a payload may also hold a MetaRouter's CATE final stage as a featurizer and a
    final model, or as an EconML forest's arrays (:mod:`._standin`); nothing else changed, so
    version 1 files load as before.

Limits
    A file is read only as far as these limits allow, and refused with a ``ValueError`` naming
    the file, the member and the limit as soon as one is passed: sizes declared in the zip
    directory are checked before a member is opened, and members are inflated in chunks of
    :data:`READ_CHUNK_BYTES`, counting, so that no more than a limit is ever held in memory.
    The same limits and readers serve the payload, itself a zip archive (:mod:`._payload`).

    * :data:`MAX_HEADER_BYTES` (1 MiB): a header holds a few hundred bytes, plus the reprs of
      the parameters that could not be saved (scikit-learn shortens each to a few hundred
      characters). :data:`MAX_HEADER_DEPTH` (8): the header nests two levels (``versions``,
      ``dropped_params``); deeper JSON is refused once parsed, before anything else walks it
      (and JSON too deep for the parser's recursion is refused as such).
    * :data:`MAX_PAYLOAD_BYTES` (256 MiB), for the payload and for the total of its members:
      a default :class:`~metarouter_econml.MetaRouter` fitted on 100,000 rows of 50 features
      has a 1.4 MB payload, half of it the text of its 300 LightGBM trees, which does not grow
      with the rows, and half ``propensity_``, 8 bytes per training row (17 with
      ``overlap="trim"``). The limit holds routers fitted on about 30 million rows (15
      million with ``overlap="trim"``); loading a payload holds at most about three copies of
      it in memory (the payload, a member read by skops, the array built from it).
    * :data:`MAX_DIRECTORY_BYTES` (8 MiB) and :data:`MAX_MEMBERS` (65,535): the zip directory
      is parsed whole when an archive is opened, so its size is checked first, from the end
      record, which must end the file (no archive comment, no trailing data) and must not be a
      ZIP64 one (router files never need it). A router file has two members; a payload has one
      per array, four per tree of a scikit-learn forest.
    * Members are stored or deflated, never encrypted. Other compression methods (bzip2, LZMA)
      are refused: Python's zipfile inflates them without an output bound.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import platform
import stat
import struct
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import IO, Any

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "HEADER_NAME",
    "MAX_DIRECTORY_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_DEPTH",
    "MAX_MEMBERS",
    "MAX_PAYLOAD_BYTES",
    "PAYLOAD_NAME",
    "READABLE_FORMAT_VERSIONS",
    "READ_CHUNK_BYTES",
    "READ_ERRORS",
    "ZIP_TAIL_BYTES",
    "RECORDED_PACKAGES",
    "check_path",
    "current_versions",
    "digest",
    "json_depth",
    "read_archive",
    "capped_chunks",
    "member_chunks",
    "read_member",
    "warn_on_version_change",
    "write_archive",
    "zip_end_problem",
]

FORMAT = "metarouter_econml.router"
FORMAT_VERSION = 2
READABLE_FORMAT_VERSIONS = (1, 2)
HEADER_NAME = "metarouter.json"
PAYLOAD_NAME = "router.skops"

MAX_HEADER_BYTES = 1 << 20
MAX_HEADER_DEPTH = 8
MAX_PAYLOAD_BYTES = 256 << 20
MAX_DIRECTORY_BYTES = 8 << 20
MAX_MEMBERS = 0xFFFF
READ_CHUNK_BYTES = 1 << 20

# What reading a damaged member can raise: a CRC mismatch or bad header (BadZipFile), a corrupt
# deflate stream (zlib.error), a truncated one (EOFError).
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)

# Distribution names whose versions a file records; a difference at load time warns.
RECORDED_PACKAGES = (
    "metarouter-econml",
    "scikit-learn",
    "numpy",
    "scipy",
    "econml",
    "lightgbm",
    "skops",
)

# The zip end-of-central-directory record (APPNOTE 4.3.16) and the ZIP64 locator's signature.
_END_RECORD = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
# How much of a file's end zip_end_problem reads: the end record, an archive comment of at most
# 64 KiB, and the ZIP64 locator before the record.
ZIP_TAIL_BYTES = _END_RECORD.size + 0xFFFF + _ZIP64_LOCATOR.size
_READABLE_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_path(path: Any, *, for_writing: bool) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path`, refusing one that cannot be written or read.

    For reading, the path must name a regular file: its ``stat`` (which follows symlinks) is
    read before anything opens it, so a FIFO is never opened (that would block) and a device
    such as ``/dev/zero`` is never read (that would not end).

    Parameters
    ----------
    path : str or path-like
        The router file.
    for_writing : bool
        Whether the file is about to be written (its directory must exist and it must not be a
        directory) or read (it must be an existing regular file).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    TypeError
        If ``path`` is neither a str nor path-like.
    FileNotFoundError
        If the file (or, for writing, its directory) does not exist, or for reading, if the
        path is a symlink loop.
    IsADirectoryError
        If the path is a directory.
    ValueError
        For reading, if the path is a FIFO, a device or a socket.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or path-like; got {type(path).__name__}.")
    path = Path(path)
    if for_writing:
        if not path.parent.is_dir():
            raise FileNotFoundError(
                f"Cannot save to {path}: the directory {path.parent} does not exist."
            )
        if path.is_dir():
            raise IsADirectoryError(f"Cannot save to {path}: it is a directory; give a file name.")
        return path
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileNotFoundError(
                f"Cannot load {path}: it is a symlink loop (following its symlinks leads back "
                "to them), so it names no file."
            ) from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise FileNotFoundError(f"Cannot load {path}: no such file.") from None
        raise
    _refuse_non_regular(path, mode)
    return path


def _refuse_non_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"Cannot load {path}: it is a directory, not a router file.")
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    raise ValueError(
        f"Cannot load {path}: it is {kind}, not a regular file; router files are regular files "
        "(written by `router.save`)."
    )


def current_versions() -> dict[str, str | None]:
    """Versions of Python and of :data:`RECORDED_PACKAGES` in this environment (None: absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def digest(header: dict, payload: bytes) -> str:
    """SHA-256 of the header (without its ``sha256`` field, as canonical JSON) and the payload.

    The digest detects corruption and casual edits; it is not a signature: someone who rewrites
    the file can rewrite the digest too.
    """
    fields = {key: value for key, value in header.items() if key != "sha256"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical + b"\0" + payload).hexdigest()


def write_archive(
    path: Path,
    class_name: str,
    payload: bytes,
    dropped_params: dict,
    *,
    format_version: int = FORMAT_VERSION,
) -> None:
    """Write a router file atomically: a complete new file or the old one, never half of one.

    Parameters
    ----------
    path : pathlib.Path
        Destination, already checked by :func:`check_path`; an existing file is replaced.
    class_name : str
        Name of the router class, recorded in the header.
    payload : bytes
        The skops payload.
    dropped_params : dict
        Names and reprs of the parameters that could not be saved.
    format_version : int, default=FORMAT_VERSION
        The version recorded in the header, one of :data:`READABLE_FORMAT_VERSIONS`: the oldest
        that holds the payload's contents (the caller knows them).

    Raises
    ------
    ValueError
        If the payload or the header is larger than :func:`read_archive` reads, or the version
        is not one that it reads.
    """
    if format_version not in READABLE_FORMAT_VERSIONS:
        raise ValueError(
            f"`format_version` must be one of {READABLE_FORMAT_VERSIONS}; got {format_version!r}."
        )
    header = {
        "format": FORMAT,
        "format_version": format_version,
        "class": class_name,
        "versions": current_versions(),
        "dropped_params": dropped_params,
    }
    header["sha256"] = digest(header, payload)
    header_bytes = json.dumps(header, indent=1).encode()
    for name, data, limit in (
        (HEADER_NAME, header_bytes, MAX_HEADER_BYTES),
        (PAYLOAD_NAME, payload, MAX_PAYLOAD_BYTES),
    ):
        if len(data) > limit:
            raise ValueError(
                f"Cannot save to {path}: its {name} would hold {len(data)} bytes, more than the "
                f"{limit} bytes that `load` reads."
            )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in ((HEADER_NAME, header_bytes), (PAYLOAD_NAME, payload)):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def zip_end_problem(tail: bytes) -> str | None:
    """Why a zip archive ending with ``tail`` is not opened, or None if its directory is fine.

    ``tail`` is the last :data:`ZIP_TAIL_BYTES` bytes of the archive (all of a shorter one).
    Python's zipfile reads the directory whose size and offset the end record gives, whole,
    when an archive is opened; this reads that record as zipfile does when the record ends the
    archive, and checks the directory's size and number of entries against
    :data:`MAX_DIRECTORY_BYTES` and :data:`MAX_MEMBERS`. Archives whose end record does not end
    them (an archive comment or trailing data, where zipfile searches for it) and ZIP64
    archives are refused: router files are neither.

    Parameters
    ----------
    tail : bytes

    Returns
    -------
    str or None
        A phrase such as ``"it is not a zip archive"``, for the caller's message.
    """
    size = _END_RECORD.size
    if len(tail) < size or _END_SIGNATURE not in tail[-size - 0xFFFF :]:
        return "it is not a zip archive"
    signature, _, _, _, entries, directory, _, comment = _END_RECORD.unpack(tail[-size:])
    if signature != _END_SIGNATURE or comment:
        return (
            "it is a zip archive with a comment or data after its end, which router files "
            "never have"
        )
    locator = tail[-size - _ZIP64_LOCATOR.size : -size]
    if locator.startswith(_ZIP64_LOCATOR_SIGNATURE):
        return "it is a ZIP64 archive, which router files never are"
    if directory > MAX_DIRECTORY_BYTES or entries > MAX_MEMBERS:
        return (
            f"its zip directory lists {entries} members in {directory} bytes, more than the "
            f"limits of {MAX_MEMBERS} members and {MAX_DIRECTORY_BYTES} bytes"
        )
    return None


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str) -> bytes:
    """The contents of one member of ``archive``, never more than ``limit`` bytes of them.

    Parameters
    ----------
    archive : zipfile.ZipFile
    info : zipfile.ZipInfo
        One of its members.
    limit : int
        Most bytes the member may hold.
    where : str
        The archive, for the messages (e.g. the file name).

    Returns
    -------
    bytes

    Raises
    ------
    ValueError, zipfile.BadZipFile, zlib.error, EOFError
        As :func:`member_chunks`.
    """
    buffer = io.BytesIO()
    for chunk in member_chunks(archive, info, limit, where):
        buffer.write(chunk)
    return buffer.getvalue()


def member_chunks(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str
) -> Iterator[bytes]:
    """The contents of one member of ``archive`` in chunks of at most :data:`READ_CHUNK_BYTES`.

    The declared (uncompressed) size, compression method and encryption flag are checked
    before the member is opened; reading stops as soon as more than ``limit`` bytes have come
    out. (Python's zipfile also stops at the declared size, and then checks the CRC, so a
    member that inflates to more than it declares fails as damaged.)

    Parameters
    ----------
    archive : zipfile.ZipFile
    info : zipfile.ZipInfo
        One of its members.
    limit : int
        Most bytes the member may hold.
    where : str
        The archive, for the messages (e.g. the file name).

    Yields
    ------
    bytes

    Raises
    ------
    ValueError
        If the member is encrypted, compressed otherwise than stored or deflated, or declares
        or inflates to more than ``limit`` bytes.
    zipfile.BadZipFile, zlib.error, EOFError
        If it is damaged (:data:`READ_ERRORS`).
    """
    member = f"{where}: member {info.filename!r}"
    if info.flag_bits & 0x1:
        raise ValueError(f"{member} is encrypted; router files are not.")
    if info.compress_type not in _READABLE_COMPRESSION:
        raise ValueError(
            f"{member} uses compression method {info.compress_type}; router files are stored "
            "or deflated only."
        )
    if info.file_size > limit:
        raise ValueError(
            f"{member} declares {info.file_size} bytes uncompressed, more than its limit of "
            f"{limit} bytes; it was not read."
        )
    with archive.open(info) as stream:
        yield from capped_chunks(stream, limit, member)


def capped_chunks(stream: IO[bytes], limit: int, what: str) -> Iterator[bytes]:
    """Read ``stream`` to its end in chunks, refusing it as soon as it passes ``limit`` bytes.

    Parameters
    ----------
    stream : binary file-like
    limit : int
    what : str
        Start of the message.

    Yields
    ------
    bytes
        Chunks of at most :data:`READ_CHUNK_BYTES`.

    Raises
    ------
    ValueError
        If the stream holds more than ``limit`` bytes (at most one chunk past the limit is
        read).
    """
    total = 0
    while chunk := stream.read(READ_CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            raise ValueError(
                f"{what} inflates to more than its limit of {limit} bytes; reading stopped there."
            )
        yield chunk


def json_depth(obj: object) -> int:
    """How deeply lists and dicts nest in a parsed JSON value (0 for a scalar); no recursion."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def read_archive(path: Path) -> tuple[dict, bytes]:
    """Read the header and payload of a router file, refusing anything else.

    The file is opened without blocking and checked to be a regular file once open (it may
    have changed since :func:`check_path`); its zip directory is checked before zipfile reads
    it (:func:`zip_end_problem`), and each member is read within its limit
    (:func:`read_member`).

    Parameters
    ----------
    path : pathlib.Path
        An existing file, checked by :func:`check_path`.

    Returns
    -------
    header : dict
        The header, in this format and one of :data:`READABLE_FORMAT_VERSIONS`, whose digest
        matches.
    payload : bytes
        The skops payload, not yet inspected.

    Raises
    ------
    ValueError
        If the file is not a zip archive with exactly the header and the payload as members,
        passes one of the limits (module docstring), has a header that is not JSON or in
        another format or version, or fails its digest.
    """
    not_ours = f"{path} is not a metarouter_econml router file (written by `router.save`)"
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(path, flags), "rb") as handle:
        _refuse_non_regular(path, os.fstat(handle.fileno()).st_mode)
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - ZIP_TAIL_BYTES))
        problem = zip_end_problem(handle.read(ZIP_TAIL_BYTES))
        if problem is not None:
            hint = " (a pickle or joblib file?)" if problem == "it is not a zip archive" else ""
            raise ValueError(f"{not_ours}: {problem}{hint}.")
        handle.seek(0)
        try:
            archive = zipfile.ZipFile(handle)
        except (*READ_ERRORS, ValueError) as exc:
            raise ValueError(f"{not_ours}: its zip directory cannot be read ({exc}).") from None
        with archive:
            header, payload = _read_members(archive, path, not_ours)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{not_ours}: its header does not name the format {FORMAT!r}.")
    version = header.get("format_version")
    if not (type(version) is int and version in READABLE_FORMAT_VERSIONS):
        raise ValueError(
            f"{path} is in router file format version {version!r:.40}; this metarouter_econml "
            f"reads versions {list(READABLE_FORMAT_VERSIONS)}. Use the version that wrote it."
        )
    if header.get("sha256") != digest(header, payload):
        raise ValueError(
            f"{path} failed its integrity check: the SHA-256 digest of its contents does not match "
            "the one recorded when it was saved, so it was modified or corrupted. It was not "
            "loaded."
        )
    return header, payload


def _read_members(archive: zipfile.ZipFile, path: Path, not_ours: str) -> tuple[object, bytes]:
    """The parsed header and the payload bytes of an open router file, within their limits."""
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if HEADER_NAME not in names or PAYLOAD_NAME not in names:
        hint = " It looks like a bare skops file." if "schema.json" in names else ""
        raise ValueError(f"{not_ours}: it has no {HEADER_NAME} and {PAYLOAD_NAME}.{hint}")
    if len(infos) != 2:
        raise ValueError(
            f"{not_ours}: it has {len(infos)} members; a router file has exactly {HEADER_NAME} "
            f"and {PAYLOAD_NAME}."
        )
    try:
        header_bytes = read_member(
            archive, archive.getinfo(HEADER_NAME), MAX_HEADER_BYTES, str(path)
        )
        header = json.loads(header_bytes)
    except RecursionError:
        raise ValueError(
            f"{not_ours}: its {HEADER_NAME} nests deeper than {MAX_HEADER_DEPTH} levels."
        ) from None
    except (*READ_ERRORS, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{not_ours}: its contents cannot be read ({exc}).") from None
    if json_depth(header) > MAX_HEADER_DEPTH:
        raise ValueError(
            f"{not_ours}: its {HEADER_NAME} nests deeper than {MAX_HEADER_DEPTH} levels."
        )
    try:
        payload = read_member(archive, archive.getinfo(PAYLOAD_NAME), MAX_PAYLOAD_BYTES, str(path))
    except READ_ERRORS as exc:
        raise ValueError(f"{not_ours}: its contents cannot be read ({exc}).") from None
    return header, payload


def warn_on_version_change(path: Path, recorded: object, *, stacklevel: int) -> None:
    """Warn, naming them, when the recorded versions differ from :func:`current_versions`.

    Parameters
    ----------
    path : pathlib.Path
        The file, for the message.
    recorded : object
        The header's ``versions`` field.
    stacklevel : int
        Passed to :func:`warnings.warn`, counted from this function.

    Raises
    ------
    ValueError
        If ``recorded`` is not a mapping.
    """
    if not isinstance(recorded, dict):
        raise ValueError(f"{path} has a malformed header: no record of the versions that wrote it.")
    changed = {
        name: (recorded.get(name), now)
        for name, now in current_versions().items()
        if recorded.get(name) != now
    }
    if changed:
        listing = ", ".join(f"{name} {saved} -> {now}" for name, (saved, now) in changed.items())
        warnings.warn(
            f"{path} was saved with other versions than the ones installed ({listing}). It "
            "loads, but predictions may differ from the saved router's; refit and save under "
            "these versions, or install the saved ones, for identical results.",
            UserWarning,
            stacklevel=stacklevel,
        )
