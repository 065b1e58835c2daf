"""Launch script: Wigner κ of existing force constants, recorded in AiiDA.

    verdi run workflows/kappa_from_files.py [examples/cu3au]

Reads phono3py_params.yaml, fc2.hdf5 and fc3.hdf5 from the folder, stores them as a
ForceConstantsData node and runs the ``wigner.kappa`` calcfunction on a 10×10×10 mesh at
100, 300 and 700 K with isotope scattering and σ = 0.1 THz; prints κ_P, κ_C, κ (xx, zz).
"""

import sys
from pathlib import Path

from aiida import orm

from aiida_wigner.calculations.kappa import compute_kappa_calcfunction
from aiida_wigner.data.force_constants import ForceConstantsData
from aiida_wigner.physics.io import load_force_constants

folder = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/cu3au")
fc = load_force_constants(
    cell=folder / "phono3py_params.yaml", fc2=folder / "fc2.hdf5", fc3=folder / "fc3.hdf5"
)
node = ForceConstantsData.from_force_constants(fc).store()
settings = orm.Dict(
    {"mesh": [10, 10, 10], "temperatures": [100.0, 300.0, 700.0], "sigma": 0.1, "isotope": True}
)
outputs = compute_kappa_calcfunction(node, settings)
kappa = outputs["kappa"]
print(f"force constants pk={node.pk}, kappa pk={kappa.pk}  (W/(m K))")
for t, kp, kc in zip(
    kappa.get_array("temperatures"),
    kappa.get_array("kappa_P"),
    kappa.get_array("kappa_C"),
    strict=True,
):
    print(
        f"T={t:6.1f} K  kappa_P xx={kp[0, 0]:.4f} zz={kp[2, 2]:.4f}   "
        f"kappa_C xx={kc[0, 0]:.4f} zz={kc[2, 2]:.4f}"
    )
