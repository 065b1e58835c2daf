"""examples/cscu4se3/RESULTS.md's κ table is what `aiida-wigner results` prints from the archive.

The study's archive (``examples/cscu4se3/study/cscu4se3.aiida``, made by docs/tutorial.md §5)
is imported into an empty profile; ``results --formula CsCu4Se3 --format markdown`` must print,
character for character, the table between the ``kappa-table`` markers of RESULTS.md (runs
are named by UUID, which an import keeps).  So the numbers of RESULTS.md cannot drift from
the provenance they came from.
"""

from __future__ import annotations

import pathlib
import re

from click.testing import CliRunner

from aiida_wigner.cli import cmd_root

STUDY = pathlib.Path(__file__).parents[1] / "examples" / "cscu4se3"
ARCHIVE = STUDY / "study" / "cscu4se3.aiida"
TABLE = re.compile(r"<!-- kappa-table:begin -->\n(.*?)\n<!-- kappa-table:end -->", re.S)


def test_results_md_table_is_the_archive(aiida_profile_clean):
    from aiida.tools.archive import import_archive

    import_archive(ARCHIVE)
    written = TABLE.search((STUDY / "RESULTS.md").read_text(encoding="utf-8"))
    assert written, "RESULTS.md has no kappa-table block"
    out = CliRunner().invoke(cmd_root, ["results", "--formula", "CsCu4Se3", "--format", "markdown"])
    assert out.exit_code == 0, out.output
    assert out.output.strip() == written.group(1).strip()
