"""Physical check of four-phonon scattering: Lennard-Jones argon (Feng & Ruan 2016).

Feng & Ruan, PRB 93, 045202 (2016) (abstract): "κ of Lennard-Jones argon is reduced by
more than 60% at 80 K when four-phonon scattering is included", i.e. κ(3+4ph)/κ(3ph)
< 0.4 at 80 K, with four-phonon rates growing as T² against T for three-phonon ones,
so that the reduction is weak at low T.  They use the lattice constant of each
temperature (thermal expansion makes the 80 K crystal more anharmonic); here the
lattice is fixed at a = 5.30 Å (LJ argon at about 20–50 K), which weakens four-phonon
scattering at 80 K.  Accepted: κ_P(3+4ph)/κ_P(3ph) at 80 K in [0.30, 0.65] (brackets
the published < 0.4 and the weaker anharmonicity of the smaller lattice; the 8³ mesh of
examples/argon gives 0.47), above 0.75 at 20 K, and decreasing with T.  FC2/FC3/FC4
are fitted with hiphive to ASE's LennardJones (tests/four_phonon_models.argon_fcp).
"""

from __future__ import annotations

import numpy as np
import pytest
from four_phonon_models import argon_fcp, argon_force_constants

from aiida_wigner.physics.kappa import KappaSettings, compute_kappa

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def argon(tmp_path_factory):
    path = tmp_path_factory.mktemp("argon") / "argon.fcp"
    rmse, n_dofs = argon_fcp(path)
    return argon_force_constants(path), rmse


def test_argon_fit_quality(argon):
    fc, rmse = argon
    assert rmse < 2e-3  # eV/Å; forces in the training set are ~0.05 eV/Å
    assert fc.fc3 is not None and fc.fc4 is not None


def test_argon_four_phonon_reduction(argon):
    fc, _ = argon
    temps = (20.0, 50.0, 80.0)
    base = dict(mesh=(6, 6, 6), temperatures=temps, smearing="adaptive")
    r3 = compute_kappa(fc, KappaSettings(**base))
    r34 = compute_kappa(fc, KappaSettings(**base, four_phonon="exhaustive"))
    kp3 = np.trace(r3.kappa_P, axis1=1, axis2=2) / 3
    kp34 = np.trace(r34.kappa_P, axis1=1, axis2=2) / 3
    ratio = kp34 / kp3
    assert np.all(np.diff(ratio) < 0)
    assert ratio[0] > 0.75
    assert 0.30 <= ratio[2] <= 0.65
    # four-phonon rates grow faster with T than three-phonon ones (T² vs T classically)
    ok = r34.gamma_3ph[0] > 0
    growth4 = np.median(r34.gamma_4ph[2][ok] / r34.gamma_4ph[1][ok])
    growth3 = np.median(r34.gamma_3ph[2][ok] / r34.gamma_3ph[1][ok])
    assert growth4 > growth3 > 1.0
    # the coherence term is a correction (26 % of κ_P at 80 K on the 8³ mesh with 3+4ph)
    k34 = np.trace(r34.kappa, axis1=1, axis2=2) / 3
    assert np.all(k34 >= kp34) and np.all(k34 < 1.5 * kp34)
