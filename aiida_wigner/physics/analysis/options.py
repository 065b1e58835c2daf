"""Option dataclasses of the analyses built from plain dictionaries.

Plain dictionaries are what AiiDA ``Dict`` nodes and the CLI hold; unknown keys and bad
values get one message.
"""

from __future__ import annotations

import dataclasses


def from_dict(cls, values, what: str):
    """Return ``cls(**values)`` for a dataclass ``cls``; ValueError naming the accepted keys."""
    if not isinstance(values, dict):
        raise ValueError(f"{what} must be a dictionary, got {type(values).__name__}")
    names = sorted(f.name for f in dataclasses.fields(cls))
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"unknown {what} setting(s) {unknown}; accepted keys: {names}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ValueError(f"invalid {what}: {exc}") from exc
