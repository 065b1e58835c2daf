"""Launch script: structure -> force constants -> renormalized phonons -> kappa_P + kappa_C (T).

    verdi run workflows/conductivity.py examples/cscu4se3/CsCu4Se3.cif \
        [--engine sevennet] [--protocol fast] [--temperatures 300 500 700] [--harmonic] \
        [--force-constants PK] [--submit]

Same pipeline as ``aiida-wigner run`` (the ``wigner.conductivity`` workflow); prints the PK
and the kappa table (W/(m K)) per temperature.
"""

import argparse

from aiida import orm
from aiida.engine import run_get_node, submit
from ase.io import read

from aiida_wigner.workflows.conductivity import WignerConductivityWorkChain

parser = argparse.ArgumentParser()
parser.add_argument("structure", nargs="?")
parser.add_argument("--engine", default="sevennet")
parser.add_argument("--protocol", default="fast")
parser.add_argument("--temperatures", type=float, nargs="+", default=None, help="K")
parser.add_argument("--harmonic", action="store_true", help="no SCP renormalization")
parser.add_argument(
    "--force-constants",
    type=str,
    default=None,
    help="PK/UUID of a ForceConstantsData: skip the fitting",
)
parser.add_argument("--submit", action="store_true", help="submit to the daemon")
args = parser.parse_args()

builder = WignerConductivityWorkChain.get_builder_from_protocol(
    orm.StructureData(ase=read(args.structure)) if args.structure else None,
    engine=args.engine,
    protocol=args.protocol,
    temperatures=args.temperatures,
    force_constants=orm.load_node(args.force_constants) if args.force_constants else None,
    overrides={"renormalization": None} if args.harmonic else None,
)
if args.submit:
    print(f"submitted <{submit(builder).pk}>")
else:
    results, node = run_get_node(builder)
    print(
        f"WignerConductivityWorkChain <{node.pk}> exit status {node.exit_status} "
        f"{node.exit_message or ''}"
    )
    if "summary" in results:
        print(
            f"{'T (K)':>8} {'kP_xx':>9} {'kP_zz':>9} {'kC_xx':>9} {'kC_zz':>9} {'k_xx':>9} "
            f"{'k_zz':>9}   W/(m K)"
        )
        for r in results["summary"]["rows"]:
            print(
                f"{r['T']:8.1f} {r['kappa_P_xx']:9.4f} {r['kappa_P_zz']:9.4f} "
                f"{r['kappa_C_xx']:9.4f} {r['kappa_C_zz']:9.4f} {r['kappa_xx']:9.4f} "
                f"{r['kappa_zz']:9.4f}"
            )
