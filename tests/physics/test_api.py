"""The public API of ``aiida_wigner.physics``: its names, a cheap AiiDA-free import, the
``Wigner`` facade against ``compute_kappa``, and the example of docs/api.md run as written."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import aiida_wigner.physics as physics
from aiida_wigner.physics import KappaSettings, Wigner, compute_kappa

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: Wigner runs the same steps as compute_kappa; measured: identical to the last bit.  1e-12
#: relative leaves room for a different BLAS summation order only.
RTOL = 1e-12
ARRAYS = (
    "kappa_P",
    "kappa_C",
    "kappa",
    "gamma",
    "gamma_3ph",
    "gamma_isotope",
    "frequencies",
    "group_velocities",
    "heat_capacities",
    "kappa_P_modes",
)


def assert_same(result, reference):
    for name in ARRAYS:
        np.testing.assert_allclose(
            getattr(result, name), getattr(reference, name), rtol=RTOL, atol=0, err_msg=name
        )
    for key, value in reference.spectra.items():
        np.testing.assert_allclose(result.spectra[key], value, rtol=RTOL, atol=0, err_msg=key)


def test_public_names_resolve_and_are_documented():
    assert physics.__all__ == sorted(physics.__all__)
    for name in physics.__all__:
        value = getattr(physics, name)
        assert (value.__doc__ or "").strip(), f"{name} has no docstring"
    assert set(physics.__all__) <= set(dir(physics))
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        physics.no_such_name  # noqa: B018
    api = (ROOT / "docs" / "api.md").read_text()
    missing = [name for name in physics.__all__ if f"`{name}`" not in api]
    assert not missing, f"docs/api.md does not list {missing}"


def test_import_is_cheap_and_aiida_free():
    """``import aiida_wigner.physics`` loads no AiiDA and none of the heavy libraries; using
    ``compute_kappa`` loads what it needs and still no AiiDA."""
    code = (
        "import sys; import aiida_wigner.physics as p; "
        "heavy = ('aiida', 'numba', 'phonopy', 'spglib', 'scipy', 'h5py'); "
        "print(sorted(m for m in heavy if m in sys.modules)); p.compute_kappa, p.Wigner; "
        "p.load_force_constants; print('aiida' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split("\n")
    assert out[:2] == ["[]", "False"]


@pytest.fixture(scope="module")
def cu3au_model():
    from aiida_wigner.physics import load_force_constants

    ex = ROOT / "examples" / "cu3au"
    return load_force_constants(
        cell=ex / "phono3py_params.yaml", fc2=ex / "fc2.hdf5", fc3=ex / "fc3.hdf5"
    )


def test_docs_example_runs_and_matches_compute_kappa(cu3au_model, capsys, monkeypatch):
    """The ```python block of docs/api.md, executed as it stands from the repository root."""
    text = (ROOT / "docs" / "api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(blocks[0], "docs/api.md", "exec"), namespace)  # noqa: S102
    printed = capsys.readouterr().out
    scan, temps = namespace["scan"], namespace["temperatures"]
    assert len(scan) == 4 and "kappa_P" in printed
    for (mesh, sigma), result in scan.items():
        ref = compute_kappa(cu3au_model, KappaSettings(mesh, temps, sigma=sigma, isotope=True))
        assert_same(result, ref)
        assert f"{ref.kappa_P[0].trace() / 3:7.3f}" in printed
    ref = compute_kappa(
        cu3au_model, KappaSettings((6, 6, 6), temps, sigma=0.2, isotope=True, convention="phono3py")
    )
    assert_same(namespace["phono3py_split"], ref)
    # the harmonic part once per mesh, linewidths once per (mesh, sigma); the convention
    # change reused the linewidths
    assert dict(namespace["w"].counts) == {"phonons": 2, "linewidths": 4, "kappa": 5}


def test_facade_from_files(cu3au_model):
    """``Wigner.from_files(**files)`` = ``Wigner(load_force_constants(**files))``."""
    ex = ROOT / "examples" / "cu3au"
    w = Wigner.from_files(
        cell=ex / "phono3py_params.yaml", fc2=ex / "fc2.hdf5", fc3=ex / "fc3.hdf5"
    )
    settings = KappaSettings((4, 4, 4), (300.0,), sigma=0.2)
    assert_same(w.kappa(settings=settings), compute_kappa(cu3au_model, settings))


def test_facade_smearing_kinds_and_errors(cu3au_model):
    w = Wigner(cu3au_model)
    for options in (
        {"smearing": "adaptive", "scale": 0.5},
        {"sigma": 0.15},
        {"smearing": "adaptive-shengbte", "scale": 1.0, "isotope": True},
    ):
        settings = KappaSettings((4, 4, 4), (300.0,), **options)
        assert_same(w.kappa(settings=settings), compute_kappa(cu3au_model, settings))
    assert w.counts["phonons"] == 1 and w.counts["linewidths"] == 3
    with pytest.raises(ValueError, match="give mesh and temperatures"):
        w.kappa((4, 4, 4))
    with pytest.raises(ValueError, match="not both"):
        w.kappa((4, 4, 4), settings=KappaSettings((4, 4, 4), (300.0,)))
    with pytest.raises(ValueError, match="sigma must be a positive width"):
        w.kappa((4, 4, 4), [300.0], sigma=-1.0)
    with pytest.raises(TypeError, match="needs a ForceConstants model"):
        Wigner("fc2.hdf5")
    from aiida_wigner.physics import ForceConstantsError

    harmonic = type(cu3au_model)(cu3au_model.setup, cu3au_model.fc2)
    with pytest.raises(ForceConstantsError, match="third-order force constants"):
        Wigner(harmonic).kappa((4, 4, 4), [300.0])


def test_facade_on_renormalized_phonons(cu3au_fc):
    """``renormalize`` then ``kappa(..., renormalization=r)`` equals compute_kappa with the
    models of the same renormalization; the SCP runs once for two κ runs."""
    from reference_models import pair_fc4

    from aiida_wigner.physics import ForceConstants, RenormalizationSettings, renormalize

    fc = ForceConstants(cu3au_fc.setup, cu3au_fc.fc2, cu3au_fc.fc3, pair_fc4(cu3au_fc.setup))
    w = Wigner(fc)
    r = w.renormalize((2, 2, 2), (2, 2, 2), [300.0, 600.0])
    assert w.renormalize((2, 2, 2), (2, 2, 2), [300.0, 600.0]) is r
    reference = renormalize(
        fc,
        RenormalizationSettings.from_dict(
            {"mesh": [2, 2, 2], "inner_mesh": [2, 2, 2], "temperatures": [300.0, 600.0]}
        ),
    )
    for sigma in (0.1, 0.2):
        settings = KappaSettings((4, 4, 4), (600.0, 300.0), sigma=sigma)
        assert_same(
            w.kappa(settings=settings, renormalization=r),
            compute_kappa(fc, settings, reference.models(fc, settings.temperatures)),
        )
    assert w.counts["renormalization"] == 1 and w.counts["phonons"] == 2  # one per T
