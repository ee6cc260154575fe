"""The router file container: a zip archive of a JSON header and a skops payload.

The header (:data:`HEADER_NAME`) names the format and its version, the router class, the
versions of the libraries that wrote the file (:data:`RECORDED_PACKAGES`), the parameters that
could not be saved, and a SHA-256 digest of the header and the payload (:data:`PAYLOAD_NAME`)
together. This module knows nothing of routers or of what the payload holds.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tempfile
import warnings
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "HEADER_NAME",
    "PAYLOAD_NAME",
    "RECORDED_PACKAGES",
    "check_path",
    "current_versions",
    "digest",
    "read_archive",
    "warn_on_version_change",
    "write_archive",
]

FORMAT = "metarouter_econml.router"
FORMAT_VERSION = 1
HEADER_NAME = "metarouter.json"
PAYLOAD_NAME = "router.skops"
MAX_HEADER_BYTES = 1 << 20

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


def check_path(path: Any, *, for_writing: bool) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path`, refusing one that cannot be written or read.

    Parameters
    ----------
    path : str or path-like
        The router file.
    for_writing : bool
        Whether the file is about to be written (its directory must exist and it must not be a
        directory) or read (it must be an existing file).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    TypeError
        If ``path`` is neither a str nor path-like.
    FileNotFoundError, IsADirectoryError
        If the file cannot be written or read there.
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
    elif not path.is_file():
        raise FileNotFoundError(f"Cannot load {path}: no such file.")
    return path


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


def write_archive(path: Path, class_name: str, payload: bytes, dropped_params: dict) -> None:
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
    """
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": class_name,
        "versions": current_versions(),
        "dropped_params": dropped_params,
    }
    header["sha256"] = digest(header, payload)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in (
            (HEADER_NAME, json.dumps(header, indent=1).encode()),
            (PAYLOAD_NAME, payload),
        ):
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


def read_archive(path: Path) -> tuple[dict, bytes]:
    """Read the header and payload of a router file, refusing anything else.

    Parameters
    ----------
    path : pathlib.Path
        An existing file, checked by :func:`check_path`.

    Returns
    -------
    header : dict
        The header, in this format and version, whose digest matches.
    payload : bytes
        The skops payload, not yet inspected.

    Raises
    ------
    ValueError
        If the file is not a zip archive, lacks the header or the payload, has a header larger
        than :data:`MAX_HEADER_BYTES` or in another format or version, or fails its digest.
    """
    not_ours = f"{path} is not a metarouter_econml router file (written by `router.save`)"
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(
            f"{not_ours}: it is not a zip archive (a pickle or joblib file?)."
        ) from None
    with archive:
        members = set(archive.namelist())
        if HEADER_NAME not in members or PAYLOAD_NAME not in members:
            hint = " It looks like a bare skops file." if "schema.json" in members else ""
            raise ValueError(f"{not_ours}: it has no {HEADER_NAME} and {PAYLOAD_NAME}.{hint}")
        if archive.getinfo(HEADER_NAME).file_size > MAX_HEADER_BYTES:
            raise ValueError(
                f"{not_ours}: its {HEADER_NAME} is larger than {MAX_HEADER_BYTES} bytes."
            )
        try:
            header = json.loads(archive.read(HEADER_NAME))
            payload = archive.read(PAYLOAD_NAME)
        except (ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{not_ours}: its contents cannot be read ({exc}).") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{not_ours}: its header does not name the format {FORMAT!r}.")
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} is in router file format version {header.get('format_version')!r}; this "
            f"metarouter_econml reads version {FORMAT_VERSION}. Use the version that wrote it."
        )
    if header.get("sha256") != digest(header, payload):
        raise ValueError(
            f"{path} failed its integrity check: the SHA-256 digest of its contents does not match "
            "the one recorded when it was saved, so it was modified or corrupted. It was not "
            "loaded."
        )
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
