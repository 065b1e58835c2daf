"""``aiida-wigner reproduce``: an exported conductivity workflow, imported into a second
profile, re-runs bit-identically; a tampered input (another four-phonon seed) is caught.

Workflow on given force constants: renormalize (SCPB-qp) → kappa with 3ph + *sampled* 4ph
(seed 3) → summary, so the sampled step's reproducibility from its stored seed is part of the
check.  Tolerance 0: these steps are deterministic on one machine with one thread count (the
re-run happens in this process).
"""

from __future__ import annotations

import pytest
from aiida import orm
from click.testing import CliRunner

from aiida_wigner.cli import cmd_root


def invoke(*args):
    return CliRunner().invoke(cmd_root, [str(a) for a in args])


@pytest.fixture
def archive(aiida_profile_clean, cu3au_fc, tmp_path):
    """(archive path, uuids of the workflow and of its kappa calculation)."""
    from aiida.tools.archive import create_archive
    from conductivity_runs import conductivity_workflow, store_fc4_model

    workflow = conductivity_workflow(store_fc4_model(cu3au_fc))
    path = tmp_path / "run.aiida"
    create_archive([workflow], filename=path)
    return path, workflow.uuid, workflow.outputs.kappa.creator.uuid


@pytest.fixture
def second_profile(aiida_config_factory, aiida_profile_factory, tmp_path):
    """Another, empty profile in another configuration directory, loaded for the test."""
    with aiida_config_factory(tmp_path / "elsewhere") as config:
        with aiida_profile_factory(config) as profile:
            yield profile


def _set_attribute(node, key, value):
    """Change an attribute of a *stored* node behind AiiDA's back (what tampering would do)."""
    from sqlalchemy.orm.attributes import flag_modified

    model = node.backend_entity.bare_model
    model.attributes = dict(model.attributes, **{key: value})
    flag_modified(model, "attributes")
    node.backend_entity.backend.get_session().commit()


def test_imported_run_reproduces_and_tampering_is_caught(archive, second_profile):
    from aiida.tools.archive import import_archive

    path, workflow_uuid, kappa_uuid = archive
    assert orm.QueryBuilder().append(orm.Node).count() == 0  # really another profile
    import_archive(path)
    count = orm.QueryBuilder().append(orm.Node).count()

    result = invoke("reproduce", workflow_uuid)
    assert result.exit_code == 0, result.output
    headers = [line for line in result.output.splitlines() if "values compared" in line]
    assert [line.split(" <")[0] for line in headers] == [
        "wigner.renormalize",
        "wigner.kappa",
        "wigner.summarize_conductivity",
    ]  # in run order
    assert all(line.endswith("all within rtol=0") for line in headers)
    assert "Reproduced 3 calculation(s) within rtol=0." in result.output
    for array in ("delta_dynmat", "gamma_4ph", "kappa_C_map", "attribute rows[]/kappa_C_avg"):
        assert array in result.output
    assert orm.QueryBuilder().append(orm.Node).count() == count  # nothing was stored

    kappa = orm.load_node(kappa_uuid)
    _set_attribute(kappa.inputs.settings, "four_phonon_seed", 4)
    assert orm.load_node(kappa.inputs.settings.pk).get_dict()["four_phonon_seed"] == 4
    result = invoke("reproduce", kappa_uuid)  # one calcfunction
    assert result.exit_code == 1, result.output
    assert "wigner.kappa" in result.output and "wigner.renormalize" not in result.output
    assert "outputs differ beyond rtol=0" in result.output and "Traceback" not in result.output
    rows = {
        line.split()[1]: line.split()
        for line in result.output.splitlines()
        if line.startswith(("kappa ", "modes "))
    }
    assert float(rows["gamma_4ph"][-1]) > 1e-6  # another sample of the four-phonon processes
    assert float(rows["gamma_3ph"][-1]) == 0.0 and float(rows["frequency"][-1]) == 0.0
    # a loose enough tolerance accepts the statistical difference; the seed still differs
    assert invoke("reproduce", kappa_uuid, "--rtol", 1.0).exit_code == 0


def test_usage_errors(aiida_profile_clean, cu3au_fc):
    from conductivity_runs import store_fc4_model

    node = store_fc4_model(cu3au_fc)
    result = invoke("reproduce", node.pk)
    assert result.exit_code == 1 and "ForceConstantsData" in result.output
    result = invoke("reproduce", 999999)
    assert result.exit_code == 1 and "no single node" in result.output
    result = invoke("reproduce", node.pk, "--rtol", -1)
    assert result.exit_code == 2


def test_tar_files_compare_by_member_content():
    """A hiphive .fcp is a tar of tars: rewriting it changes only time stamps, which must not
    count; a changed member must."""
    import io
    import tarfile

    from aiida_wigner.cli.reproduce import _file_digests

    def tar(members: dict, mtime: float) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), mtime
                archive.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    first = tar({"orbits_0": tar({"a": b"123"}, 1.0), "attributes": b"x"}, 1.0)
    again = tar({"orbits_0": tar({"a": b"123"}, 2.0), "attributes": b"x"}, 2.0)
    changed = tar({"orbits_0": tar({"a": b"124"}, 1.0), "attributes": b"x"}, 1.0)
    assert first != again
    assert _file_digests("f", first) == _file_digests("f", again)
    assert set(_file_digests("f", first)) == {"f:orbits_0:a", "f:attributes"}
    assert _file_digests("f", first)["f:orbits_0:a"] != _file_digests("f", changed)["f:orbits_0:a"]
    assert list(_file_digests("f", b"plain")) == ["f"]
