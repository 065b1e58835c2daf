"""Importers and exporters of structures and force constants (no AiiDA import).

Formats: VASP POSCAR, CIF, phonopy/phono3py yaml; phonopy FORCE_CONSTANTS and
fc2.hdf5, phono3py fc3.hdf5, ShengBTE FORCE_CONSTANTS_3RD, FourPhonon
FORCE_CONSTANTS_4TH, hiphive .fcp/.fcs.  Units: Å, amu, eV/Å^n.  Arrays come back in
the compact form of :mod:`aiida_wigner.physics.forceconstants` (rows of the primitive
atoms, supercell atoms in phonopy's order).  Every problem with a file raises
:class:`ForceConstantsFileError`, whose message starts with the file name.
"""

from .errors import ForceConstantsFileError
from .hiphive_format import read_hiphive
from .load import detect_format, load_force_constants
from .phonopy_format import (
    parse_force_constants_text,
    read_fc2_hdf5,
    read_fc3_hdf5,
    read_force_constants_text,
    write_fc2_hdf5,
    write_fc3_hdf5,
    write_force_constants,
)
from .shengbte import (
    parse_shengbte_blocks,
    read_fourphonon_fc4,
    read_shengbte_fc3,
    write_fourphonon_fc4,
    write_shengbte_fc3,
)
from .structure import (
    PhonopyYamlInfo,
    read_phonopy_yaml,
    read_phonopy_yaml_info,
    read_structure,
    resolve_primitive_matrix,
)

__all__ = [
    "ForceConstantsFileError",
    "PhonopyYamlInfo",
    "detect_format",
    "load_force_constants",
    "parse_force_constants_text",
    "parse_shengbte_blocks",
    "read_fc2_hdf5",
    "read_fc3_hdf5",
    "read_force_constants_text",
    "read_fourphonon_fc4",
    "read_hiphive",
    "read_phonopy_yaml",
    "read_phonopy_yaml_info",
    "read_shengbte_fc3",
    "read_structure",
    "resolve_primitive_matrix",
    "write_fc2_hdf5",
    "write_fc3_hdf5",
    "write_force_constants",
    "write_fourphonon_fc4",
    "write_shengbte_fc3",
]
