"""Qubit Hamiltonians (real Pauli sums) for quantum architecture search.

Two sources:

* Molecular Hamiltonians shipped with the package (``data/*.json``), made offline by
  ``scripts/generate_hamiltonians.py`` (PySCF + OpenFermion, STO-3G; versions in each file's
  metadata).  Load one with :func:`load_hamiltonian`; list them with
  :func:`available_hamiltonians`.

  | molecule | qubits | form |
  | --- | --- | --- |
  | ``"H2"`` | 4 (def.) | Jordan-Wigner, interleaved spin orbitals, full space |
  | ``"H2"`` | 2 | parity mapping + two-qubit reduction |
  | ``"LiH"`` | 4 (def.) | Li 1s frozen, 2 pi virtuals removed (3 active orbitals, 2 e), parity mapping + two-qubit reduction (CRLQAS / Ostaszewski et al.) |
  | ``"LiH"`` | 6 | same active space, Jordan-Wigner, no tapering |
  | ``"H2O"`` | 8 (def.) | CAS(4e, 4o) of the O-H bonds, Jordan-Wigner |

  All energies are total molecular energies in Hartree (``constant`` includes the nuclear
  repulsion and the frozen-core energy); bond lengths are in Angstrom.  ``ground_energy`` is
  the lowest eigenvalue in the molecule's neutral ``(n_alpha, n_beta)`` particle sector
  (= CASCI/FCI in the active space; for every shipped point it also equals the lowest
  eigenvalue of the whole qubit operator, stored as ``metadata["fock_space_min_energy"]``).

* Users' own Pauli sums: :meth:`Hamiltonian.from_terms`.

Conventions: in a Pauli string, character ``i`` acts on qubit ``i``; in a bitstring,
character ``i`` is the computational-basis value of qubit ``i`` (``'1'`` = ``|1>``, Z
eigenvalue ``-1``).  :meth:`Hamiltonian.to_matrix` puts qubit 0 in the most significant bit
(leftmost Kronecker factor), so basis state ``b`` has index ``int(b, 2)``.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from tunegym.simulators.quantum.observables import check_pauli_string, real_number

__all__ = [
    "DEFAULT_N_QUBITS",
    "Hamiltonian",
    "available_hamiltonians",
    "load_hamiltonian",
]

#: Default qubit form per shipped molecule (``n_qubits=None`` in :func:`load_hamiltonian`).
DEFAULT_N_QUBITS: dict[str, int] = {"H2": 4, "LiH": 4, "H2O": 8}

#: Bond lengths are matched to this tolerance (Angstrom).
BOND_LENGTH_TOL = 1e-6

#: ``from_terms`` computes the exact ground energy by dense diagonalisation up to this size.
EXACT_GROUND_MAX_QUBITS = 10

_DATA_PACKAGE = __package__ or "tunegym.simulators.quantum"


def _real_or_nan(x: Any, where: str) -> float:
    if isinstance(x, float) and math.isnan(x):
        return math.nan
    return real_number(x, where, "coefficient")


@dataclass(frozen=True)
class Hamiltonian:
    """A real Pauli sum ``constant * I + sum_k c_k P_k`` on ``n_qubits`` qubits.

    ``terms`` holds ``(coefficient, pauli_string)`` pairs with strings of length ``n_qubits``
    over ``IXYZ`` (character ``i`` acts on qubit ``i``), each string at most once and never the
    all-identity string (its coefficient is ``constant``).  For shipped molecules,
    ``ground_energy`` / ``hf_energy`` are total energies in Hartree and ``hf_bitstring`` is
    the Hartree-Fock determinant in the qubit encoding (start VQE there).
    """

    molecule: str
    bond_length: float
    n_qubits: int
    terms: tuple[tuple[float, str], ...]
    constant: float
    ground_energy: float
    hf_energy: float
    hf_bitstring: str
    metadata: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.n_qubits, bool) or not isinstance(self.n_qubits, numbers.Integral):
            message = f"n_qubits must be a positive int, got {self.n_qubits!r}"
            raise ValueError(message)  # noqa: TRY004
        if self.n_qubits < 1:
            raise ValueError(f"n_qubits must be >= 1, got {self.n_qubits}")
        n = int(self.n_qubits)
        identity = "I" * n
        seen: set[str] = set()
        clean: list[tuple[float, str]] = []
        for k, term in enumerate(self.terms):
            if not isinstance(term, (tuple, list)) or len(term) != 2:
                raise ValueError(
                    f"terms[{k}] must be a (coefficient, pauli_string) pair, got {term!r}"
                )
            c = real_number(term[0], f"terms[{k}]", "coefficient")
            s = check_pauli_string(term[1], f"terms[{k}]", n)
            if s == identity:
                raise ValueError(
                    f"terms[{k}] is the identity string; put its coefficient in 'constant' "
                    "(Hamiltonian.from_terms folds it automatically)"
                )
            if s in seen:
                raise ValueError(
                    f"terms[{k}]: Pauli string {s!r} appears twice (use from_terms to merge)"
                )
            seen.add(s)
            clean.append((c, s))
        if (
            not isinstance(self.hf_bitstring, str)
            or len(self.hf_bitstring) != n
            or set(self.hf_bitstring) - {"0", "1"}
        ):
            raise ValueError(
                f"hf_bitstring must be a str of {n} characters '0'/'1', got {self.hf_bitstring!r}"
            )
        object.__setattr__(self, "n_qubits", n)
        object.__setattr__(self, "terms", tuple(clean))
        object.__setattr__(self, "constant", real_number(self.constant, "constant", "coefficient"))
        if not isinstance(self.molecule, str):
            raise ValueError(f"molecule must be a str, got {self.molecule!r}")  # noqa: TRY004
        object.__setattr__(self, "bond_length", _real_or_nan(self.bond_length, "bond_length"))
        for name in ("ground_energy", "hf_energy"):
            object.__setattr__(self, name, _real_or_nan(getattr(self, name), name))
        if not isinstance(self.metadata, Mapping):
            raise ValueError(f"metadata must be a dict, got {self.metadata!r}")  # noqa: TRY004
        object.__setattr__(self, "metadata", dict(self.metadata))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_terms(
        cls,
        terms: Iterable[tuple[Any, Any]] | Mapping[str, Any],
        constant: float = 0.0,
        *,
        n_qubits: int | None = None,
        molecule: str = "custom",
        bond_length: float = math.nan,
        ground_energy: float | None = None,
        hf_energy: float | None = None,
        hf_bitstring: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        drop_below: float = 0.0,
    ) -> Hamiltonian:
        """Build a Hamiltonian from a user's Pauli sum, with validation.

        ``terms``: ``(coefficient, pauli_string)`` pairs (``(pauli_string, coefficient)`` is
        accepted too) or a mapping ``{pauli_string: coefficient}``.  Strings must all have the
        same length, over ``IXYZ`` (lower case accepted); coefficients must be real (a complex
        number with zero imaginary part, e.g. from ``SparsePauliOp.coeffs``, is accepted).
        Repeated strings are summed, all-identity strings are folded into ``constant``, and
        terms with ``|c| <= drop_below`` are dropped.

        ``ground_energy=None``: the lowest eigenvalue of the full ``2**n`` matrix when
        ``n_qubits <= EXACT_GROUND_MAX_QUBITS`` (dense ``eigvalsh``), else NaN.
        ``hf_bitstring=None``: all zeros.  ``hf_energy=None``: the diagonal expectation of
        ``hf_bitstring``.
        """
        if isinstance(terms, Mapping):
            pairs = [(c, s) for s, c in terms.items()]
        elif isinstance(terms, (str, bytes)) or not isinstance(terms, Iterable):
            raise ValueError(  # noqa: TRY004
                "terms must be an iterable of (coefficient, pauli_string) pairs or a "
                f"{{pauli_string: coefficient}} mapping, got {type(terms).__name__}"
            )
        else:
            pairs = []
            for k, term in enumerate(terms):
                if isinstance(term, (str, bytes)) or not isinstance(term, Iterable):
                    raise ValueError(  # noqa: TRY004
                        f"terms[{k}] must be a (coefficient, pauli_string) pair, got {term!r}"
                    )
                term = tuple(term)
                if len(term) != 2:
                    raise ValueError(
                        f"terms[{k}] must be a (coefficient, pauli_string) pair, got {term!r}"
                    )
                a, b = term
                pairs.append((b, a) if isinstance(a, str) and not isinstance(b, str) else (a, b))

        if n_qubits is not None and (
            isinstance(n_qubits, bool) or not isinstance(n_qubits, numbers.Integral) or n_qubits < 1
        ):
            raise ValueError(f"n_qubits must be a positive int, got {n_qubits!r}")
        n = None if n_qubits is None else int(n_qubits)
        if (
            isinstance(drop_below, bool)
            or not isinstance(drop_below, numbers.Real)
            or not drop_below >= 0
        ):
            raise ValueError(f"drop_below must be a real number >= 0, got {drop_below!r}")
        const = real_number(constant, "constant", "coefficient")
        merged: dict[str, float] = {}
        for k, (c, s) in enumerate(pairs):
            where = f"terms[{k}]"
            if isinstance(s, str):
                s = s.upper()
            s = check_pauli_string(s, where, n)
            if n is None:
                n = len(s)
            value = real_number(c, where, "coefficient")
            if set(s) == {"I"}:
                const += value
            else:
                merged[s] = merged.get(s, 0.0) + value
        if n is None:
            raise ValueError("terms is empty: pass n_qubits for a constant-only Hamiltonian")
        kept = tuple((c, s) for s, c in merged.items() if abs(c) > drop_below and c != 0.0)

        bits = "0" * n if hf_bitstring is None else hf_bitstring
        ham = cls(
            molecule=str(molecule),
            bond_length=bond_length,
            n_qubits=n,
            terms=kept,
            constant=const,
            ground_energy=math.nan,
            hf_energy=math.nan,
            hf_bitstring=bits,
            metadata={"source": "user", **dict(metadata or {})},
        )
        if ground_energy is None:
            ground = (
                float(np.linalg.eigvalsh(ham.to_matrix())[0])
                if n <= EXACT_GROUND_MAX_QUBITS
                else math.nan
            )
        else:
            ground = _real_or_nan(ground_energy, "ground_energy")
        hf = (
            ham.diagonal_expectation(bits)
            if hf_energy is None
            else _real_or_nan(hf_energy, "hf_energy")
        )
        return replace(ham, ground_energy=ground, hf_energy=hf)

    # ------------------------------------------------------------------ views
    @property
    def n_terms(self) -> int:
        """Number of non-identity Pauli terms."""
        return len(self.terms)

    @property
    def coefficients(self) -> np.ndarray:
        """Coefficients of ``terms`` as a float64 array (identity excluded)."""
        return np.array([c for c, _ in self.terms], dtype=np.float64)

    @property
    def pauli_strings(self) -> tuple[str, ...]:
        """Pauli strings of ``terms``, in order."""
        return tuple(s for _, s in self.terms)

    def diagonal_expectation(self, bitstring: str) -> float:
        """``<b|H|b>`` for a computational-basis state (only I/Z terms contribute)."""
        if (
            not isinstance(bitstring, str)
            or len(bitstring) != self.n_qubits
            or set(bitstring) - {"0", "1"}
        ):
            raise ValueError(
                f"bitstring must be a str of {self.n_qubits} characters '0'/'1', got {bitstring!r}"
            )
        total = self.constant
        for c, s in self.terms:
            if "X" in s or "Y" in s:
                continue
            ones = sum(1 for p, b in zip(s, bitstring) if p == "Z" and b == "1")
            total += -c if ones % 2 else c
        return float(total)

    def to_matrix(self, max_qubits: int = 12) -> np.ndarray:
        """Dense ``2**n x 2**n`` complex matrix; qubit 0 is the most significant bit."""
        n = self.n_qubits
        if n > max_qubits:
            raise ValueError(f"n_qubits={n} > max_qubits={max_qubits}: dense matrix too large")
        dim = 1 << n
        idx = np.arange(dim)
        mat = np.zeros((dim, dim), dtype=np.complex128)
        mat[idx, idx] = self.constant
        shifts = [n - 1 - q for q in range(n)]
        for c, s in self.terms:
            flip = 0
            phase = np.full(dim, c, dtype=np.complex128)
            for q, p in enumerate(s):
                if p == "I":
                    continue
                bit = (idx >> shifts[q]) & 1
                if p == "Z":
                    phase *= 1 - 2 * bit
                else:
                    flip |= 1 << shifts[q]
                    if p == "Y":  # Y|0> = i|1>, Y|1> = -i|0>
                        phase *= 1j * (1 - 2 * bit)
            mat[idx ^ flip, idx] += phase
        return mat

    def __repr__(self) -> str:
        return (
            f"Hamiltonian(molecule={self.molecule!r}, bond_length={self.bond_length}, "
            f"n_qubits={self.n_qubits}, n_terms={self.n_terms}, constant={self.constant:.10g}, "
            f"ground_energy={self.ground_energy:.10g}, hf_energy={self.hf_energy:.10g}, "
            f"hf_bitstring={self.hf_bitstring!r})"
        )


# ---------------------------------------------------------------------------------- shipped data
@lru_cache(maxsize=1)
def _catalog() -> dict[tuple[str, int], dict]:
    """(molecule, n_qubits) -> parsed JSON document, for every ``data/*.json`` file."""
    data_dir = resources.files(_DATA_PACKAGE).joinpath("data")
    catalog: dict[tuple[str, int], dict] = {}
    for entry in sorted(data_dir.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        doc = json.loads(entry.read_text(encoding="utf-8"))
        if doc.get("format_version") != 1:
            raise RuntimeError(
                f"{entry.name}: unsupported format_version {doc.get('format_version')!r}"
            )
        doc["_file"] = entry.name
        key = (doc["molecule"], int(doc["n_qubits"]))
        if key in catalog:
            raise RuntimeError(f"{entry.name}: duplicate Hamiltonian set {key}")
        catalog[key] = doc
    return catalog


def available_hamiltonians() -> dict[str, dict[int, list[float]]]:
    """Shipped Hamiltonians: ``{molecule: {n_qubits: [bond lengths in Angstrom, sorted]}}``."""
    out: dict[str, dict[int, list[float]]] = {}
    for (mol, n), doc in sorted(_catalog().items()):
        out.setdefault(mol, {})[n] = sorted(float(p["bond_length"]) for p in doc["points"])
    return out


def _canonical_molecule(molecule: Any) -> str:
    names = sorted({mol for mol, _ in _catalog()})
    if isinstance(molecule, str):
        for name in names:
            if name.lower() == molecule.strip().lower():
                return name
    raise ValueError(f"molecule={molecule!r} is not available; available molecules: {names}")


def load_hamiltonian(molecule: str, bond_length: float, n_qubits: int | None = None) -> Hamiltonian:
    """Load a shipped molecular Hamiltonian.

    ``molecule`` is case-insensitive (``"H2"``, ``"LiH"``, ``"H2O"``); ``bond_length`` in
    Angstrom must match a shipped geometry to 1e-6; ``n_qubits=None`` picks the molecule's
    default form (H2: 4, LiH: 4, H2O: 8).  The returned ``metadata`` holds the file's
    description (basis, mapping, active space, geometry, units, generator versions) plus this
    point's details (``geometry`` in Angstrom, ``nuclear_repulsion``, ``core_energy``,
    ``casci_energy_pyscf``, ``fock_space_min_energy``, orbital lists, ``source_file``).
    """
    name = _canonical_molecule(molecule)
    catalog = _catalog()
    forms = sorted(n for mol, n in catalog if mol == name)
    if n_qubits is None:
        n = DEFAULT_N_QUBITS.get(name, forms[0])
    elif isinstance(n_qubits, bool) or not isinstance(n_qubits, numbers.Integral):
        raise ValueError(
            f"n_qubits={n_qubits!r} must be an int or None; available for {name}: {forms}"
        )
    else:
        n = int(n_qubits)
    if (name, n) not in catalog:
        raise ValueError(f"n_qubits={n_qubits!r} is not available for {name}; available: {forms}")
    doc = catalog[(name, n)]
    if isinstance(bond_length, bool) or not isinstance(bond_length, numbers.Real):
        message = f"bond_length={bond_length!r} must be a real number (Angstrom)"
        raise ValueError(message)  # noqa: TRY004
    r = float(bond_length)
    available = sorted(float(p["bond_length"]) for p in doc["points"])
    matches = [p for p in doc["points"] if abs(float(p["bond_length"]) - r) <= BOND_LENGTH_TOL]
    if not matches:
        raise ValueError(
            f"bond_length={bond_length!r} Angstrom is not available for {name} with {n} qubits; "
            f"available bond lengths: {available}"
        )
    point = matches[0]
    meta = copy.deepcopy(doc["metadata"])
    extra = {
        k: copy.deepcopy(v)
        for k, v in point.items()
        if k
        not in {
            "terms",
            "constant",
            "ground_energy",
            "hf_energy",
            "hf_bitstring",
            "bond_length",
            "n_qubits",
        }
    }
    meta.update(extra)
    meta["source_file"] = doc["_file"]
    return Hamiltonian(
        molecule=name,
        bond_length=float(point["bond_length"]),
        n_qubits=int(point["n_qubits"]),
        terms=tuple((float(c), str(s)) for c, s in point["terms"]),
        constant=float(point["constant"]),
        ground_energy=float(point["ground_energy"]),
        hf_energy=float(point["hf_energy"]),
        hf_bitstring=str(point["hf_bitstring"]),
        metadata=meta,
    )
