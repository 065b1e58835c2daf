"""The package's one exit-code table agrees with the docs and with every process spec."""

from __future__ import annotations

import pathlib
import re

import pytest

from aiida_wigner.exit_codes import EXIT_CODES, label_of, status

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "exit_codes.md"


def test_statuses_unique_and_in_their_ranges():
    codes = [code for code, _ in EXIT_CODES.values()]
    assert len(codes) == len(set(codes))
    assert all(300 <= code < 500 for code in codes)
    assert label_of(status("ERROR_UNSTABLE_PHONONS")) == "ERROR_UNSTABLE_PHONONS"
    assert label_of(999) is None


def test_docs_list_every_code():
    rows = dict(re.findall(r"^\| (\d{3}) \| (ERROR_\w+) \|", DOC.read_text(), flags=re.M))
    assert {int(k): v for k, v in rows.items()} == {c: lab for lab, (c, _) in EXIT_CODES.items()}


def _process_classes():
    from importlib.metadata import entry_points

    classes = []
    for group in ("aiida.workflows", "aiida.calculations"):
        for ep in entry_points(group=group):
            if ep.name.startswith("wigner."):
                classes.append(ep.load())
    return classes


@pytest.mark.parametrize(
    "process", _process_classes(), ids=lambda p: getattr(p, "__name__", str(p))
)
def test_process_specs_use_the_table(process):
    spec = process.spec() if hasattr(process, "spec") else process.process_class.spec()
    for label, code in spec.exit_codes.items():
        if code.status < 300:  # aiida-core's own codes (1xx) are not ours
            continue
        assert label in EXIT_CODES, f"{process}: {label} is not in aiida_wigner.exit_codes"
        assert EXIT_CODES[label][0] == code.status
