"""The skops payload as a zip archive, checked member by member before skops reads any of it.

skops reads each member of its archive whole (``schema.json``, one ``.npy`` file per array),
and numpy allocates an array of the shape that a ``.npy`` header declares before it reads the
data. :func:`check_payload_archive` therefore reads the whole payload once, in chunks, within
the limits of :mod:`._archive`, and returns ``schema.json``:

* the archive's directory passes :func:`._archive.zip_end_problem`;
* no two members share a name, each is stored or deflated, declares at most
  :data:`._archive.MAX_PAYLOAD_BYTES` and so do all together, and none inflates past its limit;
* ``schema.json`` holds at most :data:`MAX_SCHEMA_BYTES` (64 MiB: the schema of a default
  MetaRouter fitted on 100,000 rows of 50 features is 0.58 MB, nearly all of it the text of
  its LightGBM trees; skops' parsed schema and node tree take about five times its size);
* every other member is a ``.npy`` file, the only other kind skops writes for a router, in
  format 1 or 2, of a dtype without Python objects, whose header declares no more data than
  the member holds. (A member of another kind, such as a nested ``.npz`` archive that a sparse
  matrix would be read from, is refused.)

:func:`parse_schema` then bounds the nesting of the parsed schema by :data:`MAX_SCHEMA_DEPTH`
before skops walks it recursively.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterable

import numpy as np

from . import _archive
from ._archive import (
    PAYLOAD_NAME,
    READ_ERRORS,
    ZIP_TAIL_BYTES,
    json_depth,
    member_chunks,
    zip_end_problem,
)

__all__ = [
    "MAX_SCHEMA_BYTES",
    "MAX_SCHEMA_DEPTH",
    "SCHEMA_NAME",
    "check_payload_archive",
    "parse_schema",
]

SCHEMA_NAME = "schema.json"
MAX_SCHEMA_BYTES = 64 << 20
# A router's schema nests 15 to 17 levels (router, sections, estimator, its state, ...); 20 with
# a VotingRegressor router model (its parts' states one list deeper).
MAX_SCHEMA_DEPTH = 64
_ARRAY_SUFFIX = ".npy"
_HEAD_BYTES = 1 << 16


def check_payload_archive(payload: bytes, source: str) -> bytes:
    """Check the payload's zip archive and every member in it; return its ``schema.json``.

    Parameters
    ----------
    payload : bytes
        The payload, read within its limit.
    source : str
        Where it comes from, for the messages (a file name, or "this router" when saving).

    Returns
    -------
    bytes
        The contents of ``schema.json``.

    Raises
    ------
    ValueError
        If a check of the module docstring fails.
    """
    bad = f"{source} has a malformed payload"
    problem = zip_end_problem(payload[-ZIP_TAIL_BYTES:])
    if problem is not None:
        raise ValueError(f"{bad}: {problem}.")
    where = f"{source}: {PAYLOAD_NAME}"
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            return _check_members(archive, where, bad)
    except READ_ERRORS as exc:
        raise ValueError(f"{bad}: it cannot be read ({exc}).") from None


def _check_members(archive: zipfile.ZipFile, where: str, bad: str) -> bytes:
    infos = archive.infolist()
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise ValueError(f"{bad}: two of its members have the same name.")
    if SCHEMA_NAME not in names:
        raise ValueError(f"{bad}: it has no {SCHEMA_NAME}.")
    others = [name for name in names if name != SCHEMA_NAME and not name.endswith(_ARRAY_SUFFIX)]
    if others:
        raise ValueError(
            f"{bad}: members {others[:3]} are neither {SCHEMA_NAME} nor .npy arrays, the only "
            "members of a router's payload."
        )
    total = sum(info.file_size for info in infos)
    if total > _archive.MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"{where}: its members declare {total} bytes uncompressed together, more than the "
            f"limit of {_archive.MAX_PAYLOAD_BYTES} bytes; they were not read."
        )
    schema = b""
    for info in infos:
        if info.filename == SCHEMA_NAME:
            buffer = io.BytesIO()
            for chunk in member_chunks(archive, info, MAX_SCHEMA_BYTES, where):
                buffer.write(chunk)
            schema = buffer.getvalue()
        else:
            _check_array(member_chunks(archive, info, _archive.MAX_PAYLOAD_BYTES, where), info, bad)
    return schema


def _check_array(chunks: Iterable[bytes], info: zipfile.ZipInfo, bad: str) -> None:
    """Read one ``.npy`` member in chunks: its header must fit the data that follows it."""
    head, size = b"", 0
    for chunk in chunks:  # the first chunk holds the header: numpy limits it to 10,000 bytes
        head = head or chunk[:_HEAD_BYTES]
        size += len(chunk)
    array = f"{bad}: member {info.filename!r} is not a valid .npy array"
    stream = io.BytesIO(head)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"format version {version} (only 1.0 and 2.0 are read)")
    except ValueError as exc:
        raise ValueError(f"{array} ({exc}).") from None
    if dtype.hasobject:
        raise ValueError(f"{array}: its dtype {dtype} holds Python objects.")
    if any(dim < 0 for dim in shape):
        raise ValueError(f"{array}: its shape {shape} has a negative dimension.")
    declared = math.prod(shape) * dtype.itemsize
    if declared > size - stream.tell():
        raise ValueError(
            f"{array}: its header declares {declared} bytes of data ({dtype} of shape {shape}) "
            f"but it holds {size - stream.tell()}."
        )


def parse_schema(schema: bytes, source: str) -> object:
    """``schema.json`` parsed, refused if it is not JSON or nests deeper than the limit."""
    bad = f"{source} has a malformed payload"
    too_deep = f"{bad}: its {SCHEMA_NAME} nests deeper than the limit of {MAX_SCHEMA_DEPTH} levels."
    try:
        parsed = json.loads(schema)
    except RecursionError:
        raise ValueError(too_deep) from None
    except ValueError as exc:
        raise ValueError(f"{bad}: {exc}") from None
    if json_depth(parsed) > MAX_SCHEMA_DEPTH:
        raise ValueError(too_deep)
    return parsed
