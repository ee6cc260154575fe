"""Reading the data files packaged with the library (shared by the real-data loaders)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np

__all__ = ["damaged", "packaged_file", "read_packaged_array"]


def packaged_file(name: str) -> Any:
    """Return a traversable handle on a packaged data file."""
    return resources.files(__package__) / "data" / name


def damaged(name: str, detail: str) -> RuntimeError:
    """The error of a packaged file that does not hold what the loader expects."""
    return RuntimeError(
        f"The packaged file {name} is damaged: {detail}. Reinstall metarouter_econml."
    )


def read_packaged_array(
    name: str, shape: tuple[int, ...], opener: Callable[[str], Any] = packaged_file
) -> np.ndarray:
    """Read a packaged ``.npy`` file (no pickles) as float64, checking its shape."""
    with opener(name).open("rb") as handle:
        array = np.load(handle, allow_pickle=False)
    if array.shape != shape:
        raise damaged(name, f"expected shape {shape}; got {array.shape}")
    return array.astype(np.float64)
