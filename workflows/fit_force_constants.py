"""Launch script: structure -> relaxed structure -> FC2 -> training set -> fitted FCs.

    verdi run workflows/fit_force_constants.py examples/cscu4se3/CsCu4Se3.cif \
        [--engine sevennet] [--protocol fast] [--supercell 3 3 1] [--submit]

Same pipeline as ``aiida-wigner fit``; prints the PK and the fit scores.
"""

import argparse

from aiida import orm
from aiida.engine import run_get_node, submit
from ase.io import read

from aiida_wigner.workflows.force_constants import ForceConstantsWorkChain

parser = argparse.ArgumentParser()
parser.add_argument("structure")
parser.add_argument("--engine", default="sevennet")
parser.add_argument("--protocol", default="fast")
parser.add_argument("--supercell", type=int, nargs=3, default=None)
parser.add_argument("--submit", action="store_true", help="submit to the daemon")
args = parser.parse_args()

builder = ForceConstantsWorkChain.get_builder_from_protocol(
    orm.StructureData(ase=read(args.structure)),
    engine=args.engine,
    protocol=args.protocol,
    supercell=args.supercell,
)
if args.submit:
    print(f"submitted <{submit(builder).pk}>")
else:
    results, node = run_get_node(builder)
    print(f"ForceConstantsWorkChain <{node.pk}> exit status {node.exit_status}")
    if "scores" in results:
        print(results["scores"].get_dict())
