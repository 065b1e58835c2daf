"""Taylor coefficients of a hiphive ForceConstantPotential along a normal-mode pattern.

The physics (pattern, polynomial fit, per-order energies) is in
:mod:`aiida_wigner.physics.pes`; this module only evaluates the potential on a supercell
(``fcp.get_force_constants``, all orders it holds, up to 6) and returns its harmonic part
as :class:`~aiida_wigner.physics.forceconstants.ForceConstants` plus the order-n clusters.
"""

from __future__ import annotations

import numpy as np

from ..physics.cell import SupercellSetup
from ..physics.forceconstants import ForceConstants
from ..physics.pes import cluster_energy


class FCPSupercellForceConstants:
    """A ForceConstantPotential evaluated on ``setup.supercell`` (phonopy atom order).

    ``harmonic``: ForceConstants (FC2 only) for the normal modes; ``clusters[n]`` =
    (atoms (M, n), tensors (M, 3, …, 3)) with each sorted cluster once (hiphive's fc_dict),
    eV/Åⁿ; ``orders``: the orders present.
    """

    def __init__(self, fcp, setup: SupercellSetup):
        from ..physics.pes import PESError

        try:
            fcs = fcp.get_force_constants(setup.supercell.to_ase())
        except Exception as exc:  # hiphive raises bare Exceptions (e.g. supercell too small)
            raise PESError(
                f"cannot evaluate the force-constant potential on the "
                f"{setup.n_super}-atom supercell {setup.supercell_matrix.tolist()}: "
                f"{exc}"
            ) from exc
        self.setup = setup
        self.orders = sorted({int(o["order"]) for o in fcp.orbit_data})
        self.clusters = {}
        for n in self.orders:
            d = fcs.get_fc_dict(n)
            atoms = np.array(list(d.keys()), dtype=np.int64).reshape(-1, n)
            values = np.array(list(d.values()), dtype=float).reshape((-1,) + (3,) * n)
            self.clusters[n] = (atoms, values)
        self.harmonic = ForceConstants(setup, fcs.get_fc_array(2), source={"format": "hiphive-fcp"})

    def taylor_coefficients(self, u_per_q) -> dict[int, float]:
        """c_n of E_n(Q) = c_n Qⁿ (eV per (Å·√amu)ⁿ) for every order of the potential."""
        u = np.asarray(u_per_q, dtype=float)
        return {n: cluster_energy(*self.clusters[n], u, all_orderings=False) for n in self.orders}
