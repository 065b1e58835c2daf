"""Fast whitespace-separated number parsing for large text force-constant files."""

from __future__ import annotations

import re
import warnings

import numpy as np
from numpy.typing import NDArray

from .errors import ForceConstantsFileError, file_label

_FORTRAN_EXPONENT = re.compile(r"(?<=[0-9.])[dD](?=[+-]?[0-9])")


def _fast(text: str) -> NDArray[np.float64] | None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return np.fromstring(text, sep=" ")  # C parser, no per-token Python objects
        except (ValueError, Warning):
            return None


def parse_numbers(text: str, path=None) -> NDArray[np.float64]:
    """All numbers of ``text`` (any whitespace between them) as a float array.

    Fortran exponents (``1.0D-03``) are accepted.  A token that is not a number raises
    :class:`ForceConstantsFileError` naming the file and the token.
    """
    if not text.strip():
        return np.zeros(0)
    out = _fast(text)
    if out is None and _FORTRAN_EXPONENT.search(text):
        text = _FORTRAN_EXPONENT.sub("e", text)
        out = _fast(text)
    if out is not None:
        return out
    for k, token in enumerate(text.split()):
        try:
            float(token)
        except ValueError:
            raise ForceConstantsFileError(
                f"{file_label(path)}: expected a number, found {token[:40]!r} (entry {k + 1})"
            ) from None
    return np.array(text.split(), dtype=float)
