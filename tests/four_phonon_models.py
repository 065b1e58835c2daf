"""Models and deliberately naive references for the four-phonon tests.

* :func:`lj_model`: a Lennard-Jones crystal with analytic FC2 and FC4 (pair-potential
  derivatives folded into the supercell), dense FC4 kept alongside the sparse one.
* :func:`naive_phi4`: Φ4 in the atomic basis from the dense FC4 with periodic images
  found by brute force (no phase tables, no sparsity, no numba).
* :func:`naive_linewidths`: γ_4ph from the three process classes written out the way
  the rates are usually stated (splitting with 1/3!, redistribution and
  recombination with 1/2! over ordered final/initial pairs, rate 1/τ = 2·Γ), plain
  loops over q-points; independent of the seven-sign-pattern form of the module.
  Processes in which a phonon is both destroyed and created (an emitted phonon at the
  q-point of λ or of an absorbed partner and degenerate with it) are left out.
"""

from __future__ import annotations

import itertools

import numpy as np

from aiida_wigner.physics.units import AMU, ANGSTROM, EV, HBAR, KB_EV, PLANCK_EV_THZ

EPS_AR = 0.0104  # eV
SIGMA_AR = 3.4  # Å
R0 = 2 ** (1 / 6) * SIGMA_AR


def _lj_h(s, eps=EPS_AR, sig=SIGMA_AR):
    """Derivatives h^(n)(s), n = 1..4, of φ(r) = 4ε((σ/r)^12 − (σ/r)^6) with s = r²/2."""
    a = 4 * eps * sig**12 / 64.0
    b = 4 * eps * sig**6 / 8.0
    return (
        -6 * a * s**-7 + 3 * b * s**-4,
        42 * a * s**-8 - 12 * b * s**-5,
        -336 * a * s**-9 + 60 * b * s**-6,
        3024 * a * s**-10 - 360 * b * s**-7,
    )


def pair_tensors(r, third=False):
    """(T2 (3,3), T4 (3,3,3,3)): 2nd and 4th derivatives of φ(|r|) with respect to r.

    With ``third``: (T2, T3 (3,3,3), T4).
    """
    s = 0.5 * r @ r
    h1, h2, h3, h4 = _lj_h(s)
    d = np.eye(3)
    t2 = h2 * np.outer(r, r) + h1 * d
    rr = np.einsum("a,b->ab", r, r)
    t3 = h3 * np.einsum("a,b,c->abc", r, r, r) + h2 * (
        np.einsum("ab,c->abc", d, r) + np.einsum("ac,b->abc", d, r) + np.einsum("bc,a->abc", d, r)
    )
    t4 = h4 * np.einsum("a,b,c,d->abcd", r, r, r, r)
    t4 = t4 + h3 * (
        np.einsum("ab,cd->abcd", d, rr)
        + np.einsum("ac,bd->abcd", d, rr)
        + np.einsum("ad,bc->abcd", d, rr)
        + np.einsum("bc,ad->abcd", d, rr)
        + np.einsum("bd,ac->abcd", d, rr)
        + np.einsum("cd,ab->abcd", d, rr)
    )
    t4 = t4 + h2 * (
        np.einsum("ab,cd->abcd", d, d)
        + np.einsum("ac,bd->abcd", d, d)
        + np.einsum("ad,bc->abcd", d, d)
    )
    return (t2, t3, t4) if third else (t2, t4)


def lj_model(kind="bct2", supercell=(2, 2, 2), cutoff=4.5, a_nn=R0, dense=True, fc3=False):
    """(ForceConstants, dense compact FC4 or None) for a nearest-neighbour LJ crystal.

    ``kind``: "bct2" = fcc in its 2-atom body-centred tetragonal cell with Ar and Kr
    on the two sites (B = 6); "fcc1" = primitive fcc argon (B = 3); "cub4" = the
    conventional fcc cube with Ar on the corner and Kr on the face centres (L1₂, 4
    atoms, B = 12); "tet8" = the conventional fcc cube doubled along z, Ar and Kr
    layers (8 atoms, B = 24).  ``fc3``: also the analytic dense FC3.
    """
    from aiida_wigner.physics.cell import Cell, SupercellSetup
    from aiida_wigner.physics.forceconstants import ForceConstants, SparseForceConstants

    if kind == "bct2":
        lat = np.diag([a_nn, a_nn, np.sqrt(2) * a_nn])
        unit = Cell(lat, [[0, 0, 0], [0.5, 0.5, 0.5]], [18, 36])
    elif kind == "fcc1":
        a = np.sqrt(2) * a_nn
        unit = Cell(0.5 * a * (np.ones((3, 3)) - np.eye(3)), [[0, 0, 0]], [18])
    elif kind == "cub4":
        a = np.sqrt(2) * a_nn
        pos = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
        unit = Cell(np.diag([a, a, a]), pos, [18, 36, 36, 36])
    elif kind == "tet8":
        a = np.sqrt(2) * a_nn
        base = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
        pos = np.concatenate([base * [1, 1, 0.5], base * [1, 1, 0.5] + [0, 0, 0.5]])
        unit = Cell(np.diag([a, a, 2 * a]), pos, [18] * 4 + [36] * 4)
    else:
        raise ValueError(kind)
    setup = SupercellSetup.build(unit, np.diag(supercell))
    sc = setup.supercell
    N, n = setup.n_super, setup.n_prim
    cart = sc.cartesian_positions
    shifts = np.array(list(itertools.product(range(-2, 3), repeat=3))) @ sc.lattice
    fc2 = np.zeros((n, N, 3, 3))
    fc3d = np.zeros((n, N, N, 3, 3, 3)) if fc3 else None
    clusters: dict = {}
    for ia, a in enumerate(setup.p2s):
        for j in range(N):
            for r in cart[j] - cart[a] + shifts:
                dist = np.linalg.norm(r)
                if dist < 1e-6 or dist > cutoff:
                    continue
                t2, t3, t4 = pair_tensors(r, third=True)
                fc2[ia, a] += t2
                fc2[ia, j] -= t2
                sign = {a: -1.0, j: 1.0}
                if fc3:
                    for k1, k2 in itertools.product((a, j), repeat=2):
                        fc3d[ia, k1, k2] -= sign[k1] * sign[k2] * t3
                for k in itertools.product((a, j), repeat=3):
                    key = (a,) + k
                    val = -sign[k[0]] * sign[k[1]] * sign[k[2]] * t4
                    clusters[key] = clusters.get(key, 0.0) + val
    atoms = np.array(list(clusters), dtype=np.int64)
    sparse = SparseForceConstants(4, atoms, np.array(list(clusters.values())))
    fc = ForceConstants(setup, fc2, fc3=fc3d, fc4=sparse, source={"format": "LJ (test)"})
    return fc, (sparse.to_dense_compact(setup.p2s, N) if dense else None)


def image_phases(setup, q):
    """(n_prim, N) Σ_images w e^{2πi q·r_{a→j}} by brute force over supercell shifts."""
    key = (id(setup), tuple(np.round(q, 12)))
    if key not in _PHASE_CACHE:
        _PHASE_CACHE[key] = _image_phases(setup, q)
    return _PHASE_CACHE[key]


_PHASE_CACHE: dict = {}


def _image_phases(setup, q):
    sc = setup.supercell
    prim_inv = np.linalg.inv(setup.primitive.lattice)
    cart = sc.cartesian_positions
    shifts = np.array(list(itertools.product(range(-2, 3), repeat=3))) @ sc.lattice
    out = np.zeros((setup.n_prim, setup.n_super), dtype=complex)
    for ia, a in enumerate(setup.p2s):
        for j in range(setup.n_super):
            vecs = cart[j] - cart[a] + shifts
            d = np.linalg.norm(vecs, axis=1)
            near = vecs[d < d.min() + 1e-5]
            out[ia, j] = np.mean(np.exp(2j * np.pi * (near @ prim_inv) @ q))
    return out


def naive_phi4(fc, dense_fc4, quad):
    """Φ4(q0..q3) (3n,)*4 from dense compact FC4 (n, N, N, N, 3,3,3,3), masses applied."""
    setup = fc.setup
    n = setup.n_prim
    tau = setup.primitive.positions
    m = setup.primitive.masses
    q0, q1, q2, q3 = quad
    G = q0 + q1 + q2 + q3
    onehot = np.eye(n)[setup.s2pp]  # (N, n): supercell atom j belongs to primitive atom b
    p1, p2, p3 = (image_phases(setup, q) for q in (q1, q2, q3))
    out = np.zeros((n, 3, n, 3, n, 3, n, 3), dtype=complex)
    for a in range(n):
        pre = np.exp(2j * np.pi * G @ tau[a])
        out[a] = pre * np.einsum(
            "jklwxyz,jb,kc,ld->wbxcydz",
            dense_fc4[a],
            p1[a][:, None] * onehot,
            p2[a][:, None] * onehot,
            p3[a][:, None] * onehot,
            optimize=True,
        )
    out /= np.sqrt(np.einsum("a,b,c,d->abcd", m, m, m, m))[:, None, :, None, :, None, :, None]
    return out.reshape((3 * n,) * 4)


def _occ(nu, T):
    x = PLANCK_EV_THZ * nu / (KB_EV * T)
    return 1.0 / np.expm1(x)


def _gauss(x, sigma):
    u = x / sigma
    return np.where(np.abs(u) < 6.0, np.exp(-0.5 * u * u) / (np.sqrt(2 * np.pi) * sigma), 0.0)


def naive_linewidths(fc, dense_fc4, qmesh, phonons, grid_points, temperatures, sigma, cutoff=1e-3):
    """γ_4ph (T, n_gp, B) in THz, process by process (see module docstring)."""
    freqs, vecs = phonons.frequencies, phonons.eigenvectors
    addr, mesh, n_q = qmesh.addresses, qmesh.mesh, qmesh.n_q
    qs = qmesh.qpoints
    # Golden-rule rate 1/τ = (π ħ² / 8 N²) × Σ (counting) |V|²/(ω0ω1ω2ω3) F δ(ω), SI.
    unit = (EV / (ANGSTROM**4 * AMU**2)) ** 2
    w = 2 * np.pi * 1e12  # THz → rad/s
    pref = np.pi * HBAR**2 / 8.0 * unit / w**4 / w  # δ(ω) = δ(ν)/w
    temps = np.atleast_1d(temperatures)
    out = np.zeros((len(temps), len(grid_points), freqs.shape[1]))

    def idx(g):
        g = np.mod(g, mesh)
        return g[0] + mesh[0] * (g[1] + mesh[1] * g[2])

    for ig, gp in enumerate(grid_points):
        nu0 = freqs[gp]
        for i1 in range(n_q):
            for i2 in range(n_q):
                # splitting λ → 1 + 2 + 3: q1 + q2 + q3 = q0
                # redistribution λ + 1 → 2 + 3: q0 + q1 = q2 + q3
                # recombination λ + 1 + 2 → 3: q0 + q1 + q2 = q3
                for kind in ("split", "redist", "recomb"):
                    if kind == "split":
                        i3 = idx(addr[gp] - addr[i1] - addr[i2])
                        s = (-1, -1, -1)  # outgoing legs enter V with −q
                    elif kind == "redist":
                        i3 = idx(addr[gp] + addr[i1] - addr[i2])
                        s = (1, -1, -1)
                    else:
                        i3 = idx(addr[gp] + addr[i1] + addr[i2])
                        s = (1, 1, -1)
                    legs = (i1, i2, i3)
                    quad = [qs[gp]] + [sk * qs[i] for sk, i in zip(s, legs, strict=True)]
                    es = [vecs[gp]] + [
                        vecs[i] if sk > 0 else vecs[i].conj() for sk, i in zip(s, legs, strict=True)
                    ]
                    phi = naive_phi4(fc, dense_fc4, np.array(quad))
                    v = np.einsum("ijkl,ia,jb,kc,ld->abcd", phi, *es, optimize=True)
                    f1, f2, f3 = (freqs[i] for i in legs)
                    ok = (
                        (nu0 > cutoff)[:, None, None, None]
                        & (f1 > cutoff)[None, :, None, None]
                        & (f2 > cutoff)[None, None, :, None]
                        & (f3 > cutoff)[None, None, None, :]
                    )
                    f0b, f1b = nu0[:, None, None, None], f1[None, :, None, None]
                    f2b, f3b = f2[None, None, :, None], f3[None, None, None, :]
                    # leave out processes in which a phonon is both destroyed and created:
                    # an emitted phonon at the q of λ or of an absorbed one and degenerate
                    # with it (frequencies within 1e-4 THz)
                    fb = np.broadcast_arrays(f0b, f1b, f2b, f3b)
                    absorbed = [k for k, sk in enumerate(s) if sk > 0]
                    emitted = [k for k, sk in enumerate(s) if sk < 0]
                    for e in emitted:
                        same = (legs[e] == gp) & (np.abs(fb[e + 1] - fb[0]) < 1e-4)
                        for a in absorbed:
                            same = same | (
                                (legs[e] == legs[a]) & (np.abs(fb[e + 1] - fb[a + 1]) < 1e-4)
                            )
                        ok = ok & ~same
                    with np.errstate(divide="ignore", invalid="ignore"):
                        amp = np.where(ok, np.abs(v) ** 2 / (f0b * f1b * f2b * f3b), 0.0)
                    for it, T in enumerate(temps):
                        n1, n2, n3 = (_occ(np.where(f > cutoff, f, 1.0), T) for f in (f1, f2, f3))
                        n1 = n1[None, :, None, None]
                        n2 = n2[None, None, :, None]
                        n3 = n3[None, None, None, :]
                        if kind == "split":
                            F = (1 + n1) * (1 + n2) * (1 + n3) - n1 * n2 * n3
                            dlt = _gauss(f0b - f1b - f2b - f3b, sigma) / 6.0
                        elif kind == "redist":
                            F = n1 * (1 + n2) * (1 + n3) - (1 + n1) * n2 * n3
                            dlt = _gauss(f0b + f1b - f2b - f3b, sigma) / 2.0
                        else:
                            F = n1 * n2 * (1 + n3) - (1 + n1) * (1 + n2) * n3
                            dlt = _gauss(f0b + f1b + f2b - f3b, sigma) / 2.0
                        rate = pref * np.sum(amp * F * dlt, axis=(1, 2, 3)) / n_q**2
                        out[it, ig] += rate / (4 * np.pi) / 1e12  # γ = 1/(4πτ), THz
    return out


# -- Lennard-Jones argon fitted with hiphive (Feng & Ruan's test case) ----------------------

ARGON_LATTICE = 5.30  # Å, conventional cubic; LJ argon near 20–50 K (see docs/four_phonon.md)
ARGON_CUTOFF = 8.5  # Å, LJ cutoff (energy shifted to zero there, ASE's smooth=False)


def argon_fcp(
    path,
    a=ARGON_LATTICE,
    cutoffs=(8.45, 5.5, 4.0),
    n_structures=(12, 12),
    rattle_std=(0.03, 0.08),
    seed=7,
):
    """Fit FC2/FC3/FC4 of fcc LJ argon with hiphive and write the ``.fcp`` to ``path``.

    ASE ``LennardJones(epsilon=0.0104 eV, sigma=3.40 Å, rc=8.5 Å)`` on the 4×4×4
    conventional supercell (256 atoms); training set: Gaussian-rattled structures
    (``n_structures[i]`` with standard deviation ``rattle_std[i]`` Å per Cartesian
    component); cluster-space cutoffs ``cutoffs`` = (2nd, 3rd, 4th order) in Å (five,
    two and one neighbour shells); ordinary least squares.  Returns the fit's force RMSE
    (eV/Å) and the number of parameters.
    """
    from ase.build import bulk
    from ase.calculators.lj import LennardJones
    from hiphive import ClusterSpace, ForceConstantPotential, StructureContainer
    from hiphive.utilities import prepare_structures
    from trainstation import Optimizer

    prim = bulk("Ar", "fcc", a=a)
    ideal = bulk("Ar", "fcc", a=a, cubic=True).repeat(4)
    calc = LennardJones(epsilon=EPS_AR, sigma=SIGMA_AR, rc=ARGON_CUTOFF, smooth=False)
    rng = np.random.default_rng(seed)
    structures = []
    for n, std in zip(n_structures, rattle_std, strict=False):
        for _ in range(n):
            s = ideal.copy()
            s.positions += rng.normal(scale=std, size=s.positions.shape)
            structures.append(s)
    structures = prepare_structures(structures, ideal, calc=calc)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # hiphive prints its cluster space
        cs = ClusterSpace(prim, list(cutoffs))
        sc = StructureContainer(cs)
        for s in structures:
            sc.add_structure(s)
    opt = Optimizer(sc.get_fit_data(), train_size=1.0)
    opt.train()
    fcp = ForceConstantPotential(cs, opt.parameters)
    fcp.write(str(path))
    return float(opt.rmse_train), int(cs.n_dofs)


def argon_force_constants(path, supercell=(6, 6, 6)):
    """ForceConstants of the fitted argon on a ``supercell`` of the primitive fcc cell."""
    from aiida_wigner.physics.io.load import load_force_constants

    return load_force_constants(fcp=str(path), supercell=list(supercell))
