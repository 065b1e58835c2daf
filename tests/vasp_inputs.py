"""Inputs of the VASP engine on the stand-in VASP (shared by the engine and restart tests)."""

from aiida import orm

FAMILY = "FAKE.54"  # the fake POTCAR family of the ``stand_in`` fixture (conftest.py)


def vasp_engine_inputs(code, **spec):
    calc = {
        "name": "vasp",
        "potential_family": FAMILY,
        "kpoints_mesh": [2, 2, 2],
        "incar": {
            "encut": 300,
            "ediff": 1e-6,
            "ismear": 0,
            "sigma": 0.05,
            "lwave": False,
            "lcharg": False,
        },
        "options": {
            "resources": {"num_machines": 1, "num_mpiprocs_per_machine": 1},
            "max_wallclock_seconds": 600,
        },
    }
    calc.update(spec)
    return {"calculator": orm.Dict(calc), "code": code}
