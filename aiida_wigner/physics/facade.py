"""``Wigner(fc)``: one force-constant model for interactive and notebook use.

A convergence study runs :func:`~.kappa.compute_kappa` many times on the same crystal: over
q-meshes, smearing widths, scattering channels, conventions.  :class:`Wigner` keeps what those
runs share, per instance:

* the dynamical-matrix set-up of the harmonic FC2 (one per model);
* per q-mesh (and phonon model): the q-mesh with its irreducible points, the phonons on the
  whole mesh, the velocity operator at the irreducible points and, when a run needs them, the
  full-mesh group velocities — a scan over σ or the smearing kind on one mesh solves the
  harmonic problem once;
* renormalizations (SCP / SCPB) per settings, and the per-temperature phonons on them;
* the linewidths per everything they depend on, so a run that changes only ``convention`` or
  ``frequency_bins`` reuses them.

Not kept: the interaction strengths |V3|² (each new σ recomputes the linewidths).

The numbers are those of :func:`~.kappa.compute_kappa` with the same settings, bit for bit:
both run the same steps of :mod:`.kappa`.  What was computed is counted in :attr:`Wigner.counts`.
Units: THz, K, W/(m·K) (docs/conventions.md); docs/api.md has a worked example.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import TYPE_CHECKING, Any, Literal

from . import kappa as _kappa
from .forceconstants import ForceConstants
from .kappa import KappaResult, KappaSettings

if TYPE_CHECKING:
    from .renormalization import Renormalization

#: KappaSettings fields that the linewidths do not depend on (only the Wigner step reads them).
_WIGNER_ONLY = ("convention", "frequency_bins")


class Wigner:
    """Conductivity runs on one force-constant model, sharing their phonons and linewidths.

    Parameters
    ----------
    fc : ForceConstants
        The model (FC2, and FC3/FC4 for the scattering channels that need them), e.g. from
        :func:`~aiida_wigner.physics.io.load_force_constants`.

    Examples
    --------
    >>> w = Wigner(load_force_constants(cell="phono3py_params.yaml", fc2="fc2.hdf5",
    ...                                 fc3="fc3.hdf5"))          # doctest: +SKIP
    >>> for sigma in (0.05, 0.1, 0.2):                              # doctest: +SKIP
    ...     print(sigma, w.kappa((8, 8, 8), [300.0], sigma=sigma).kappa[0].trace() / 3)
    """

    def __init__(self, fc: ForceConstants):
        if not isinstance(fc, ForceConstants):
            raise TypeError(
                f"Wigner needs a ForceConstants model (load_force_constants), got "
                f"{type(fc).__name__}"
            )
        self.fc = fc
        #: How many times each step ran: 'phonons' (mesh solves), 'linewidths', 'kappa',
        #: 'renormalization'.
        self.counts: Counter = Counter()
        self._builder = None
        self._phonons: dict[tuple, Any] = {}
        self._linewidths: dict[tuple, Any] = {}
        self._renormalizations: dict[tuple, Any] = {}

    @classmethod
    def from_files(cls, **files) -> Wigner:
        """Build from force-constant files: ``Wigner(load_force_constants(**files))``.

        Parameters
        ----------
        **files
            The keywords of :func:`~aiida_wigner.physics.io.load_force_constants` (cell,
            structure, supercell, fc2, fc3, fc4, fcp, ...).

        Returns
        -------
        Wigner
            The facade on the loaded model.
        """
        from .io import load_force_constants

        return cls(load_force_constants(**files))

    # -- settings ------------------------------------------------------------------------------

    @staticmethod
    def settings(mesh, temperatures, **options) -> KappaSettings:
        """Return ``KappaSettings(mesh, temperatures, **options)``.

        ``three_phonon`` defaults to on, as there; ValueError for a setting it refuses.
        """
        return KappaSettings(mesh=tuple(mesh), temperatures=tuple(temperatures), **options)

    # -- the cached steps ------------------------------------------------------------------------

    def mesh_phonons(self, settings: KappaSettings, model=None):
        """Return the phonons of ``model`` on the mesh of ``settings`` (cached).

        ``model`` None is the harmonic FC2.  The phonons come with the smearing and the
        full-mesh velocities that ``settings`` needs; they are cached per mesh, symmetry,
        cutoff and model.  Raises ``UnstablePhononsError`` for imaginary modes.
        """
        key = (settings.mesh, settings.use_symmetry, settings.cutoff_frequency, id(model))
        if key not in self._phonons:
            builder = model if model is not None else self._harmonic_builder()
            self._phonons[key] = _kappa._MeshPhonons.build(self.fc, settings, builder)
            self.counts["phonons"] += 1
        return self._phonons[key].for_settings(self.fc, settings)

    def linewidths(self, settings: KappaSettings, models=None) -> _kappa.Linewidths:
        """Return the half widths γ (THz) at the irreducible points of ``settings`` (cached).

        At every temperature of ``settings``, as :func:`~.kappa.compute_linewidths` gives them.
        """
        _kappa._check_orders(self.fc, settings)

        def one(s, model, _index):
            key = (_linewidth_key(s), id(model))
            if key not in self._linewidths:
                mp = self.mesh_phonons(s, model)
                self._linewidths[key] = _kappa._linewidths(self.fc, s, mp, mp.qmesh.ir_grid)
                self.counts["linewidths"] += 1
            return self._linewidths[key]

        return _kappa._per_temperature(settings, models, one, _kappa._stack_linewidths)

    def kappa(
        self,
        mesh=None,
        temperatures=None,
        settings: KappaSettings | None = None,
        renormalization=None,
        **options,
    ) -> KappaResult:
        """Compute the Wigner κ (Eq. 5): :func:`~.kappa.compute_kappa` with the work shared.

        Parameters
        ----------
        mesh : sequence of 3 int, optional
            Γ-centred q-mesh (with ``temperatures`` and ``options``, or give ``settings``).
        temperatures : sequence of float, optional
            K.
        settings : KappaSettings, optional
            All settings at once, instead of ``mesh``, ``temperatures`` and ``options``.
        renormalization : Renormalization, optional
            From :meth:`renormalize` (or :func:`~.renormalization.renormalize`): each
            temperature then runs on its renormalized phonons, which must cover it.
        **options
            Any other :class:`~.kappa.KappaSettings` field: ``sigma`` THz, ``smearing``,
            ``isotope``, ``four_phonon``, ``convention``, ...

        Returns
        -------
        KappaResult
            κ_P, κ_C, κ (T, 3, 3) in W/(m·K) and the mode-resolved arrays.
        """
        if settings is None:
            if mesh is None or temperatures is None:
                raise ValueError("give mesh and temperatures (or settings=KappaSettings(...))")
            settings = self.settings(mesh, temperatures, **options)
        elif mesh is not None or temperatures is not None or options:
            raise ValueError("give either settings or mesh, temperatures and options, not both")
        models = None
        if renormalization is not None:
            models = self._models(renormalization, settings.temperatures)
        linewidths = self.linewidths(settings, models)

        def one(s, model, index):
            lw = linewidths if index is None else linewidths.at_temperature(index)
            return _kappa._assemble(self.fc, s, self.mesh_phonons(s, model), lw)

        self.counts["kappa"] += 1
        return _kappa._per_temperature(settings, models, one, KappaResult.stack)

    def renormalize(
        self,
        mesh,
        inner_mesh,
        temperatures,
        bubble: Literal["none", "static", "onshell", "qp"] = "none",
        bubble_epsilon: float = 0.05,
        **scp_options,
    ) -> Renormalization:
        """Renormalize the phonons at ``temperatures`` (K): SCP, optionally the bubble.

        :func:`~.renormalization.renormalize` with ``RenormalizationSettings.from_dict``,
        cached per settings; pass the result to :meth:`kappa`.

        Parameters
        ----------
        mesh, inner_mesh : sequence of 3 int
            The outer SCP mesh and the inner q' mesh (a multiple of it).
        temperatures : sequence of float
            K.
        bubble : {"none", "static", "onshell", "qp"}
            The bubble correction on top of SCP (needs FC3).
        bubble_epsilon : float
            The ε of the bubble, THz.
        **scp_options
            Further :class:`~.renormalization.SCPSettings` fields (mixing, tolerance, ...).

        Returns
        -------
        Renormalization
            Its ``kind`` is ``"scp"`` or ``"scpb-<bubble>"``.
        """
        from .renormalization import RenormalizationSettings, renormalize

        settings = RenormalizationSettings.from_dict(
            {
                "mesh": list(mesh),
                "inner_mesh": list(inner_mesh),
                "temperatures": list(temperatures),
                "bubble": bubble,
                "bubble_epsilon": bubble_epsilon,
                **scp_options,
            }
        )
        key = repr(settings)
        if key not in self._renormalizations:
            self._renormalizations[key] = (renormalize(self.fc, settings), {})
            self.counts["renormalization"] += 1
        return self._renormalizations[key][0]

    # -- helpers ---------------------------------------------------------------------------------

    def _harmonic_builder(self):
        if self._builder is None:
            from .harmonic import DynamicalMatrixBuilder

            self._builder = DynamicalMatrixBuilder(self.fc)
        return self._builder

    def _models(self, renormalization, temperatures) -> list:
        """Return the models of ``renormalization`` at ``temperatures``.

        One object per temperature, kept for the life of this instance (so that their
        phonons are cached).
        """
        cache = next(
            (models for ren, models in self._renormalizations.values() if ren is renormalization),
            None,
        )
        if cache is None:
            self._renormalizations[("given", id(renormalization))] = (renormalization, {})
            cache = self._renormalizations[("given", id(renormalization))][1]
        missing = tuple(t for t in temperatures if t not in cache)
        if missing:
            cache.update(zip(missing, renormalization.models(self.fc, missing), strict=True))
        return [cache[t] for t in temperatures]


def _linewidth_key(settings: KappaSettings) -> tuple:
    """Return the settings the linewidths depend on (all but :data:`_WIGNER_ONLY`)."""
    values = dataclasses.asdict(settings)
    return tuple((name, values[name]) for name in sorted(values) if name not in _WIGNER_ONLY)
