"""Protocols: one YAML file per workflow, the aiida-quantumespresso way.

Each file (``force_constants.yaml``, ``conductivity.yaml``) holds::

    default_protocol: fast
    default_inputs: {...}          # shaped like the workflow's input ports
    protocols:
      fast: {description: "...", ...}   # what this protocol changes in default_inputs
      balanced: {...}
      paper: {...}

:class:`ProtocolMixin` reads it: ``get_available_protocols()``, ``get_default_protocol()``
and ``get_protocol_inputs(protocol, overrides)``, where ``overrides`` has the same shape as the
inputs (and as the ports of the workflow's builder).  Dictionaries are merged key by key, except
that a fit's ``cutoffs`` is replaced as a whole (its keys are the orders of the fit) and a value
``None`` replaces what was there (``renormalization: null`` makes a run harmonic).
"""

from __future__ import annotations

import copy
import functools
import pathlib
from typing import Any, ClassVar

import yaml

PROTOCOL_DIR = pathlib.Path(__file__).parent

#: Keys whose value is replaced as a whole by an override instead of merged key by key.
REPLACED_KEYS = ("cutoffs",)


def recursive_merge(base: dict, overrides: dict | None) -> dict:
    """``base`` updated with ``overrides``: nested dicts merged, :data:`REPLACED_KEYS` and
    non-dict values replaced; neither argument is modified."""
    out = dict(base)
    for key, value in (overrides or {}).items():
        nested = (
            isinstance(value, dict) and isinstance(out.get(key), dict) and key not in REPLACED_KEYS
        )
        out[key] = recursive_merge(out[key], value) if nested else value
    return out


@functools.cache
def _read(filename: str) -> dict:
    return yaml.safe_load((PROTOCOL_DIR / filename).read_text())


class ProtocolMixin:
    """Protocol methods for a WorkChain whose protocol file is ``_protocol_file``.

    ``_namespaces`` maps an input namespace to the inputs it takes, so that an override put
    at the wrong level (``relax: {fmax: ...}`` for ``relax: {parameters: {fmax: ...}}``) is
    refused instead of ignored.
    """

    _protocol_file: ClassVar[str]
    _namespaces: ClassVar[dict[str, tuple[str, ...]]] = {}

    @classmethod
    def get_protocol_filepath(cls) -> pathlib.Path:
        """The YAML file of this workflow's protocols."""
        return PROTOCOL_DIR / cls._protocol_file

    @classmethod
    def _load_protocol_file(cls) -> dict:
        return _read(cls._protocol_file)

    @classmethod
    def get_default_protocol(cls) -> str:
        """Name of the protocol used when none is given."""
        return cls._load_protocol_file()["default_protocol"]

    @classmethod
    def get_available_protocols(cls) -> dict[str, dict[str, str]]:
        """``{name: {"description": ...}}`` of every protocol of this workflow."""
        return {
            name: {"description": spec["description"]}
            for name, spec in cls._load_protocol_file()["protocols"].items()
        }

    @classmethod
    def get_protocol_inputs(
        cls, protocol: str | None = None, overrides: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The inputs of ``protocol`` (default: :meth:`get_default_protocol`) with
        ``overrides`` merged in (:func:`recursive_merge`); raises ``ValueError`` for an
        unknown protocol, naming the available ones."""
        data = cls._load_protocol_file()
        protocol = protocol or data["default_protocol"]
        if protocol not in data["protocols"]:
            raise ValueError(
                f"unknown protocol {protocol!r}; available: {sorted(data['protocols'])}"
            )
        cls._check_overrides(overrides or {}, data)
        spec = {k: v for k, v in data["protocols"][protocol].items() if k != "description"}
        inputs = recursive_merge(recursive_merge(data["default_inputs"], spec), overrides)
        return copy.deepcopy(inputs)

    @classmethod
    def _check_overrides(cls, overrides: dict, data: dict) -> None:
        """ValueError for an override that is not one of the protocol inputs."""
        known = set(data["default_inputs"]).union(
            *(set(spec) - {"description"} for spec in data["protocols"].values())
        )
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(
                f"unknown protocol input(s) {unknown}; the inputs of "
                f"{cls.__name__} are {sorted(known)} (overrides are shaped like "
                f"the input ports)"
            )
        for namespace, allowed in cls._namespaces.items():
            value = overrides.get(namespace)
            extra = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
            if extra:
                raise ValueError(
                    f"override {namespace}: {extra} is not an input of the "
                    f"{namespace!r} namespace, which takes {list(allowed)} (e.g. "
                    f"{namespace}: {{parameters: {{{extra[0]}: ...}}}})"
                )
