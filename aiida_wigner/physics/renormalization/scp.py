"""Self-consistent phonons with the quartic loop (seed Eq. 1), per temperature.

Algorithm (ALAMODE's outer/inner-mesh scheme, Tadano & Tsuneyuki PRB 92, 054301):

* the renormalization ΔD(q) is solved for on the Γ-centred *outer* mesh;
* the inner mesh q' (a multiple of the outer one) provides the correlation G(q'); its
  dynamical matrices are D_harm(q') + ΔD interpolated from the outer mesh
  (:mod:`.effective_fc2`);
* one iteration: inner phonons → g_s (Bose–Einstein or classical) → G(q') → ΔΦ
  (:class:`.loop.QuarticLoop`) → ΔD_new(q) on the outer mesh → linear mixing
  ΔD ← α ΔD_new + (1 − α) ΔD;
* convergence: max over outer q and bands of |ν(D_harm + ΔD_new) − ν(D_harm + ΔD)|
  below ``tolerance`` (THz), i.e. the frequencies are a fixed point of the map.

Full matrix self-energy (off-diagonal polarization mixing, default) or diagonal-only:
the loop matrix is expressed in the harmonic eigenbasis of each outer q and only its
elements inside degenerate harmonic subspaces are kept (degenerate blocks keep the
result independent of the arbitrary basis inside a subspace), so the eigenvectors stay
the harmonic ones at the outer points.

Imaginary modes: wherever an inner mode is imaginary (harmonic start or a not yet
stabilized iteration) its weight is evaluated at ω = max(|ν|, ``frequency_floor``);
the three translations at Γ and modes below 1e-4 THz carry no weight.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ..forceconstants import ForceConstants
from ..harmonic import DynamicalMatrixBuilder, degenerate_block_ids, frequencies_from_eigenvalues
from ..mesh import QMesh, grid_addresses
from .common import (
    ZERO_FREQUENCY_CUTOFF,
    mode_weights,
    project_out_translations,
    renormalization_kind,
    translation_mask,
)
from .effective_fc2 import EffectiveHarmonicModel, FC2Transform, MeshInterpolator
from .loop import QuarticLoop, StoredLoopKernel, correlation_matrices


class SCPError(ValueError):
    """Inconsistent SCP settings."""


@dataclass(frozen=True)
class SCPSettings:
    """Settings of a self-consistent phonon run.

    Parameters
    ----------
    mesh : tuple of 3 int
        Outer Γ-centred mesh on which Eq. 1 is solved (seed: 4 4 2).
    inner_mesh : tuple of 3 int
        Mesh of q' (seed: 8 8 4); must be a multiple of ``mesh``.
    temperatures : tuple of float
        K; solved from the highest down with warm starts (:func:`run_scp`).
    off_diagonal : bool
        Keep the off-diagonal (polarization-mixing) loop elements.
    classical : bool
        Classical statistics g = k_B T/ω² instead of ħ(2n+1)/(2ω).
    mixing : float
        Mixing parameter α of ΔD between iterations (0 < α ≤ 1).
    mixing_scheme : {"anderson", "linear"}
        Anderson/Pulay acceleration with ``mixing`` as the damping and history
        ``anderson_history``, or linear mixing ΔD ← α ΔD_new + (1−α) ΔD.
    anderson_history : int
        Number of previous iterates the Anderson scheme uses.
    tolerance : float
        THz, on the largest frequency change of one SCP map application.
    max_iterations : int
        Per temperature.
    frequency_floor : float
        THz, lower bound of |ν| for imaginary modes in the weights.
    warm_start : bool
        Start each temperature from the converged ΔD of the next higher one.
    kernel : {"factorized", "stored"}
        FFT of the correlation (default), or Φ4(q,−q,q',−q') stored per pair and rotated
        each iteration (ALAMODE-like; small systems only).
    """

    mesh: tuple[int, int, int]
    inner_mesh: tuple[int, int, int]
    temperatures: tuple[float, ...]
    off_diagonal: bool = True
    classical: bool = False
    mixing: float = 0.5
    mixing_scheme: Literal["anderson", "linear"] = "anderson"
    anderson_history: int = 6
    tolerance: float = 1e-5
    max_iterations: int = 300
    frequency_floor: float = 0.0
    warm_start: bool = True
    kernel: Literal["factorized", "stored"] = "factorized"

    def __post_init__(self):
        """Normalize meshes and temperatures to tuples and check every setting."""
        mesh = tuple(int(m) for m in self.mesh)
        inner = tuple(int(m) for m in self.inner_mesh)
        if len(mesh) != 3 or len(inner) != 3 or min(mesh + inner) < 1:
            raise SCPError(
                f"meshes must be three positive integers, got {self.mesh!r}, {self.inner_mesh!r}"
            )
        if any(i % m for i, m in zip(inner, mesh, strict=True)):
            raise SCPError(f"the inner mesh {inner} must be a multiple of the outer mesh {mesh}")
        temps = tuple(float(t) for t in np.atleast_1d(self.temperatures))
        if not temps or min(temps) < 0:
            raise SCPError("temperatures must be given and non-negative (K)")
        if not 0 < self.mixing <= 1:
            raise SCPError(f"mixing must be in (0, 1], got {self.mixing}")
        if self.tolerance <= 0 or self.max_iterations < 1:
            raise SCPError("tolerance must be positive and max_iterations at least 1")
        if self.frequency_floor < 0:
            raise SCPError("frequency_floor must be non-negative (THz)")
        if self.mixing_scheme not in ("anderson", "linear"):
            raise SCPError(
                f"mixing_scheme must be 'anderson' or 'linear', got {self.mixing_scheme!r}"
            )
        if self.kernel not in ("factorized", "stored"):
            raise SCPError(f"kernel must be 'factorized' or 'stored', got {self.kernel!r}")
        object.__setattr__(self, "mesh", mesh)
        object.__setattr__(self, "inner_mesh", inner)
        object.__setattr__(self, "temperatures", temps)


@dataclass
class SCPResult:
    """Renormalized phonons on the outer mesh, one entry per temperature (input order).

    Attributes
    ----------
    settings : SCPSettings
        The settings of the run.
    fc : ForceConstants
        The bare model.
    qpoints : ndarray of float64, shape (n_q, 3)
        Reduced coordinates of all outer-mesh points (:func:`.mesh.grid_addresses` order).
    ir_grid, weights : ndarray of int64, shape (n_ir,)
        Irreducible points and their multiplicities.
    frequencies_harmonic : ndarray of float64, shape (n_q, B)
        THz.
    frequencies : ndarray of float64, shape (n_T, n_q, B)
        THz, negative = imaginary.
    eigenvectors : ndarray of complex128, shape (n_T, n_q, B, B)
        Columns.
    delta_dynmat : ndarray of complex128, shape (n_T, n_q, B, B)
        ΔD = D_SCP − D_harm, THz².
    converged, iterations, residual, seconds : ndarray, shape (n_T,)
        Convergence per temperature (bool, int64, THz, wall seconds).
    routes : tuple of str, length n_T
        The mixing / fallback steps taken (:func:`run_scp`).
    """

    settings: SCPSettings
    fc: ForceConstants = field(repr=False)
    qpoints: NDArray[np.float64]
    ir_grid: NDArray[np.int64]
    weights: NDArray[np.int64]
    frequencies_harmonic: NDArray[np.float64]
    frequencies: NDArray[np.float64]
    eigenvectors: NDArray[np.complex128] = field(repr=False)
    delta_dynmat: NDArray[np.complex128] = field(repr=False)
    converged: NDArray[np.bool_]
    iterations: NDArray[np.int64]
    residual: NDArray[np.float64]
    seconds: NDArray[np.float64]
    routes: tuple[str, ...] = ()

    @property
    def temperatures(self) -> tuple[float, ...]:
        """The temperatures of the settings, K."""
        return self.settings.temperatures

    def model(self, index: int) -> EffectiveHarmonicModel:
        """Return the effective harmonic model (Fourier interpolation) at temperature ``index``."""
        return EffectiveHarmonicModel(
            self.fc,
            np.array(self.settings.mesh),
            self.delta_dynmat[index],
            self.temperatures[index],
            renormalization_kind("none"),
        )

    def to_dict(self, irreducible: bool = True) -> dict:
        """Return the JSON of ``aiida-wigner renormalize --output`` (docs/scp.md)."""
        sel = self.ir_grid if irreducible else np.arange(len(self.qpoints))
        return {
            "temperatures": list(self.temperatures),
            "qpoints": self.qpoints[sel].tolist(),
            "weights": (self.weights if irreducible else np.ones(len(sel), int)).tolist(),
            "frequencies_harmonic": self.frequencies_harmonic[sel].tolist(),
            "frequencies": self.frequencies[:, sel].tolist(),
            "converged": [bool(c) for c in self.converged],
            "iterations": [int(i) for i in self.iterations],
            "residual": [float(r) for r in self.residual],
            "settings": asdict(self.settings),
            "units": "THz",
        }


class SCPSolver:
    """The SCP map of one model and pair of meshes; :meth:`solve` per temperature.

    Set up once: harmonic phonons on both meshes, the Fourier interpolation from the outer
    to the inner mesh and the loop kernel.

    Parameters
    ----------
    fc : ForceConstants
        The bare model, with FC4.
    settings : SCPSettings
        Meshes and solver settings (its temperatures are not used here).
    """

    def __init__(self, fc: ForceConstants, settings: SCPSettings):
        self.fc = fc
        self.cell = fc.setup.primitive
        self.settings = s = settings
        self.outer = QMesh.build(fc.setup.primitive, s.mesh)
        self.q_out = self.outer.qpoints
        self.q_in = grid_addresses(np.array(s.inner_mesh)) / np.array(s.inner_mesh)
        builder = DynamicalMatrixBuilder(fc)
        self.d_out = builder.dynamical_matrices(self.q_out)
        self.d_in = builder.dynamical_matrices(self.q_in)
        w2, self.e_out = np.linalg.eigh(self.d_out)
        self.freq_harm_out = frequencies_from_eigenvalues(w2)
        self.e_in = np.linalg.eigh(self.d_in)[1]
        self.blocks = degenerate_block_ids(self.freq_harm_out)
        self.same_block = self.blocks[:, :, None] == self.blocks[:, None, :]
        self.interpolate = MeshInterpolator(fc.setup.primitive, s.mesh, self.q_in)
        self.to_outer = FC2Transform(fc.setup, self.q_out)
        if s.kernel == "stored":
            self.loop = None
            self.stored = StoredLoopKernel(fc, self.q_out, s.inner_mesh, self.e_out, self.e_in)
        else:
            self.loop = QuarticLoop(fc, s.inner_mesh)
            self.stored = None
        self._zero = np.zeros_like(self.d_out)

    # -- one application of the SCP map ---------------------------------------------
    def inner_phonons(self, delta_out: NDArray) -> tuple[NDArray, NDArray]:
        """Return frequencies (THz) and eigenvectors on the inner mesh for ΔD on the outer one."""
        w2, e = np.linalg.eigh(self.d_in + self.interpolate(delta_out))
        return frequencies_from_eigenvalues(w2), e

    def loop_update(self, delta_out: NDArray, temperature: float) -> NDArray[np.complex128]:
        """ΔD_new(q) on the outer mesh for the inner phonons implied by ``delta_out``."""
        s = self.settings
        freqs, e = self.inner_phonons(delta_out)
        g = mode_weights(
            freqs,
            temperature,
            s.classical,
            s.frequency_floor,
            translation_mask(self.cell, self.q_in, e),
        )
        if self.stored is not None:
            c = np.einsum("qai,qaj->qij", self.e_in.conj(), e)
            new = self.stored.delta_dynmat(c, g)
        else:
            G = correlation_matrices(e, g)
            new = self.to_outer(self.loop.delta_fc2(G))
        if not s.off_diagonal:
            lam = np.einsum("qai,qab,qbj->qij", self.e_out.conj(), new, self.e_out, optimize=True)
            lam = np.where(self.same_block, lam, 0.0)
            new = np.einsum("qai,qij,qbj->qab", self.e_out, lam, self.e_out.conj(), optimize=True)
        new = project_out_translations(self.cell, self.q_out, new)
        return 0.5 * (new + new.conj().transpose(0, 2, 1))

    def frequencies(self, delta_out: NDArray) -> tuple[NDArray, NDArray]:
        """Return frequencies (THz) and eigenvectors of D_harm + ``delta_out`` on the outer mesh."""
        w2, e = np.linalg.eigh(self.d_out + delta_out)
        return frequencies_from_eigenvalues(w2), e

    def residual(self, a: NDArray, b: NDArray) -> float:
        """Largest frequency difference (THz) between two ΔD, Γ translations left out.

        The translations are found by their eigenvectors in each spectrum
        (:func:`.common.translation_mask`), never by band position, and the remaining
        bands are compared in ascending order.
        """
        rest = []
        for x in (a, b):
            f, e = self.frequencies(x)
            rest.append(
                np.sort(np.where(translation_mask(self.cell, self.q_out, e), np.inf, f), axis=1)
            )
        diff = np.subtract(
            rest[0],
            rest[1],
            out=np.zeros_like(rest[0]),
            where=np.isfinite(rest[0]) & np.isfinite(rest[1]),
        )
        return float(np.max(np.abs(diff)))

    def solve(
        self,
        temperature: float,
        start: NDArray | None = None,
        mixing_scheme: str | None = None,
        mixing: float | None = None,
    ) -> dict:
        """Iterate Eq. 1 at one temperature; returns ΔD, frequencies and convergence info.

        ``mixing_scheme`` / ``mixing`` override the settings (the fallback of
        :func:`run_scp` uses them); with ``mixing`` given, the first update from the
        harmonic start is mixed too (otherwise it is taken in full).
        """
        s = self.settings
        scheme = mixing_scheme or s.mixing_scheme
        alpha = s.mixing if mixing is None else mixing
        t0 = time.perf_counter()
        x = self._zero.copy() if start is None else np.array(start, dtype=complex)
        converged, residual, it = False, np.inf, 0
        history, xs, fs = [], [], []
        for it in range(1, s.max_iterations + 1):
            fx = self.loop_update(x, temperature)
            residual = self.residual(fx, x)
            history.append(residual)
            if residual < s.tolerance:
                x, converged = fx, True
                break
            if it == 1 and start is None and mixing is None:
                x = fx  # the first update from the harmonic start is taken in full
                continue
            x = self._mix(x, fx, xs, fs, scheme, alpha)
        freqs, vecs = self.frequencies(x)
        # a fixed point with an imaginary mode is no SCP solution (its weight used |ν|)
        imaginary = bool(
            np.any(
                (freqs < -ZERO_FREQUENCY_CUTOFF) & ~translation_mask(self.cell, self.q_out, vecs)
            )
        )
        return {
            "delta": x,
            "frequencies": freqs,
            "eigenvectors": vecs,
            "converged": converged and not imaginary,
            "imaginary_fixed_point": converged and imaginary,
            "iterations": it,
            "residual": residual,
            "history": history,
            "seconds": time.perf_counter() - t0,
        }

    def _mix(
        self, x: NDArray, fx: NDArray, xs: list, fs: list, scheme: str, alpha: float
    ) -> NDArray:
        s = self.settings
        f = fx - x
        if scheme == "linear":
            return x + alpha * f
        xv, fv = x.ravel().view(float), f.ravel().view(float)
        xs.append(xv.copy())
        fs.append(fv.copy())
        if len(xs) > s.anderson_history + 1:
            xs.pop(0)
            fs.pop(0)
        if len(xs) == 1:
            return x + alpha * f
        dx = np.diff(np.array(xs), axis=0).T  # (n, m)
        df = np.diff(np.array(fs), axis=0).T
        gamma, *_ = np.linalg.lstsq(df, fv, rcond=1e-10)
        new = xv + alpha * fv - (dx + alpha * df) @ gamma
        out = new.view(complex).reshape(x.shape)
        return 0.5 * (out + out.conj().transpose(0, 2, 1))


#: Linear mixing parameter of the fallback (see :func:`run_scp`).
FALLBACK_MIXING = 0.1
#: Halvings of the temperature step tried by the continuation fallback.
CONTINUATION_DEPTH = 3


def _solve_with_fallback(
    solver: SCPSolver, temperature: float, start: NDArray | None, start_temperature: float | None
) -> dict:
    """One temperature with the fallbacks of :func:`run_scp`; records the route taken."""
    s = solver.settings
    res = solver.solve(temperature, start)
    route = [f"{s.mixing_scheme} α={s.mixing:g}"]
    total = res["iterations"]
    if (
        not res["converged"]
        and not res["imaginary_fixed_point"]
        and (s.mixing_scheme, s.mixing) != ("linear", FALLBACK_MIXING)
    ):
        res = solver.solve(temperature, start, "linear", min(FALLBACK_MIXING, s.mixing))
        route.append(f"linear α={min(FALLBACK_MIXING, s.mixing):g}")
        total += res["iterations"]
    if not res["converged"] and s.warm_start and start_temperature is not None:
        # continuation: reach T from the converged neighbour in halved steps
        for depth in range(1, CONTINUATION_DEPTH + 1):
            steps = np.linspace(start_temperature, temperature, 2**depth + 1)[1:]
            x, ok = start, True
            for t in steps:
                step = solver.solve(float(t), x)
                total += step["iterations"]
                if not step["converged"]:
                    ok = False
                    break
                x = step["delta"]
            route.append(
                f"continuation {start_temperature:g}→{temperature:g} K in {2**depth} steps"
            )
            if ok:
                res = step
                break
    res["route"] = "; ".join(route)
    res["iterations"] = total
    return res


def run_scp(
    fc: ForceConstants, settings: SCPSettings, solver: SCPSolver | None = None
) -> SCPResult:
    """Solve the self-consistent phonons (quartic loop) at every temperature of ``settings``.

    Temperatures are solved from the highest down (thermal fluctuations, and with them the
    stabilization of harmonically unstable modes, are largest there), each starting from
    the converged ΔD of its higher neighbour (``warm_start``; the highest from harmonic).
    Fallback where the iteration does not converge within ``max_iterations``: again from
    the same start with linear mixing α = min(0.1, ``mixing``); then, with a converged
    neighbour, continuation from it in 2, 4, 8 equal temperature steps.  The route
    taken is recorded per temperature (:attr:`SCPResult.routes`); ``iterations`` counts
    every iteration spent on that temperature.

    Parameters
    ----------
    fc : ForceConstants
        The bare model, with FC4.
    settings : SCPSettings
        Meshes, temperatures and solver settings.
    solver : SCPSolver, optional
        A solver already set up for ``fc`` and ``settings`` (reuses its phonons).

    Returns
    -------
    SCPResult
        Frequencies, ΔD (THz²) and convergence per temperature, in the input order.
    """
    solver = solver or SCPSolver(fc, settings)
    temps = np.array(settings.temperatures)
    order = np.argsort(-temps, kind="stable")
    n_t, (n_q, b) = len(temps), solver.freq_harm_out.shape
    out = {
        "frequencies": np.zeros((n_t, n_q, b)),
        "eigenvectors": np.zeros((n_t, n_q, b, b), complex),
        "delta": np.zeros((n_t, n_q, b, b), complex),
        "converged": np.zeros(n_t, bool),
        "iterations": np.zeros(n_t, np.int64),
        "residual": np.zeros(n_t),
        "seconds": np.zeros(n_t),
    }
    routes = [""] * n_t
    start, start_t = None, None
    for it in order:
        t0 = time.perf_counter()
        res = _solve_with_fallback(solver, float(temps[it]), start, start_t)
        res["seconds"] = time.perf_counter() - t0
        for key in out:
            out[key][it] = res[key]
        routes[it] = res["route"]
        if settings.warm_start and res["converged"]:
            start, start_t = res["delta"], float(temps[it])
    return SCPResult(
        settings,
        fc,
        solver.q_out,
        solver.outer.ir_grid,
        solver.outer.weights,
        solver.freq_harm_out,
        out["frequencies"],
        out["eigenvectors"],
        out["delta"],
        out["converged"],
        out["iterations"],
        out["residual"],
        out["seconds"],
        tuple(routes),
    )


def not_converged_advice(
    temperature: float,
    temperatures,
    converged,
    frequencies,
    qpoints,
    iterations: int,
    residual: float,
) -> str:
    """Say what to change when SCP did not converge at ``temperature`` (one sentence).

    ``temperatures``/``converged`` of the whole run; ``frequencies`` (Q, B) THz of the last
    iterate at that temperature on the outer ``qpoints``.  Two cases: a mode that is
    still imaginary (first-order SCP with these force constants has no stable solution
    there: the fallbacks of :func:`run_scp` were tried) or an oscillation without one.
    """
    temps = np.asarray(temperatures, dtype=float)
    ok = temps[np.asarray(converged, dtype=bool)]
    iq, band = np.unravel_index(np.argmin(frequencies), np.shape(frequencies))
    lowest = float(np.asarray(frequencies)[iq, band])
    head = (
        f"SCP did not converge at {temperature:g} K ({iterations} iterations with the "
        f"mixing and continuation fallbacks, residual {residual:.2g} THz)"
    )
    if lowest < -1e-3:
        q = np.round(np.asarray(qpoints)[iq], 4).tolist()
        where = (
            f"the lowest converged temperature is {ok.min():g} K"
            if len(ok)
            else "no temperature converged"
        )
        return (
            f"{head}: the mode at q = {q} (band {band}) stays imaginary ({lowest:.3g} THz), "
            f"so the quartic terms do not stabilize it at this temperature; remove "
            f"{temperature:g} K from the temperatures ({where}), or check the quartic force "
            f"constants (e.g. a fit with more training structures or a larger cutoff)"
        )
    return (
        f"{head} without an imaginary mode: raise max_iterations (--max-iterations) to "
        f"{2 * iterations} or lower mixing (--mixing) to 0.05"
    )
