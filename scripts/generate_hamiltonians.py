#!/usr/bin/env python
"""Generate the molecular qubit Hamiltonians shipped in ``tunegym/simulators/quantum/data/``.

This script is run offline, in a separate environment holding the packages pinned in
``scripts/requirements-qchem.txt`` (PySCF for the integrals, OpenFermion for the
fermion-to-qubit mappings)::

    python -m venv .venv-qchem
    .venv-qchem/bin/pip install -r scripts/requirements-qchem.txt
    .venv-qchem/bin/python scripts/generate_hamiltonians.py          # writes the JSON files
    .venv-qchem/bin/python scripts/generate_hamiltonians.py --check  # regenerate, compare, write nothing

tunegym itself never imports PySCF or OpenFermion: it only reads the JSON files.

What is computed, per molecule / qubit form / bond length
--------------------------------------------------------
1. Restricted Hartree-Fock (PySCF, STO-3G, closed shell, ``conv_tol=1e-12``) at the geometry.
2. An active space of canonical RHF orbitals (see ``FORMS`` below).  Doubly occupied frozen
   orbitals are folded into an effective one-body operator; their energy plus the nuclear
   repulsion goes into the identity coefficient (``constant``), so every energy in the files
   is a total molecular energy in Hartree.
3. The second-quantised active-space Hamiltonian
   ``H = E_core + sum h_pq a+_p a_q + 1/2 sum (pq|rs) a+_ps a+_rt a_st a_qs`` as an OpenFermion
   ``FermionOperator`` over spin orbitals, in one of two spin-orbital orderings:
   * ``interleaved``: spin orbital ``2p`` = spatial orbital ``p`` alpha, ``2p+1`` = beta
     (OpenFermion / PennyLane convention);
   * ``block``: ``p`` = alpha, ``M+p`` = beta for ``M`` active spatial orbitals
     (Qiskit convention, needed for the two-qubit reduction).
4. A qubit mapping:
   * ``jordan_wigner`` (``openfermion.jordan_wigner``), qubit ``j`` = occupation of spin orbital j;
   * ``checksum_even`` (H2, 3 qubits, as in CRLQAS): ``openfermion.checksum_code(4, 0)``,
     qubit ``j`` = occupation of spin orbital ``j < 3``, spin orbital 3 = parity of the others;
   * ``parity`` + two-qubit reduction: ``openfermion.binary_code_transform`` with
     ``openfermion.parity_code`` (qubit ``j`` holds the parity of spin orbitals ``0..j``), block
     ordering, then qubits ``M-1`` (alpha-electron parity) and ``2M-1`` (total parity) -- which
     only carry ``I`` or ``Z`` -- are replaced by their eigenvalues ``(-1)**n_alpha`` and
     ``(-1)**(n_alpha+n_beta)`` and removed.  This is the same operator as Qiskit Nature's
     ``ParityMapper(num_particles=...)`` (formerly ``two_qubit_reduction=True``).
5. Pauli strings: character ``i`` acts on qubit ``i``.  Coefficients rounded to 12 decimals,
   terms with ``|c| < 1e-10`` dropped, the identity coefficient stored as ``constant``.
6. ``ground_energy``: the lowest eigenvalue (``numpy.linalg.eigvalsh`` of the dense matrix of the
   *rounded* operator) restricted to the neutral sector ``(n_alpha, n_beta)`` of the molecule's
   active electrons; it is cross-checked against PySCF's CASCI/FCI energy (agreement < 1e-8).
   ``fock_space_min_energy`` (lowest eigenvalue of the whole qubit operator, any particle
   number the encoding allows) is stored next to it.
   ``hf_energy`` = PySCF RHF total energy, cross-checked against the diagonal element of the
   operator at ``hf_bitstring`` (the RHF determinant in the qubit encoding, ``'1'`` = qubit in
   ``|1>``).

Verification done when the files were made (not part of this script): the LiH 4-qubit and H2
2-qubit operators agree term by term (to 2e-8, the SCF convergence level) with qiskit-nature
0.8.0 ``ParityMapper(num_particles)`` after ``FreezeCoreTransformer(freeze_core=True,
remove_orbitals=[3, 4])``; the LiH 6-qubit operator has the same spectrum (to 3e-10) as
qiskit-nature's block-ordered Jordan-Wigner operator of that active space (its terms differ
because the spin-orbital ordering differs).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import platform
import sys
from dataclasses import dataclass
from importlib import metadata as _md
from pathlib import Path

import numpy as np

try:
    import openfermion as of
    from pyscf import ao2mo, gto, mcscf, scf, symm
except ImportError as exc:  # pragma: no cover - offline tool
    raise SystemExit(
        f"{exc}\nThis generator needs PySCF and OpenFermion; install them in a separate venv:\n"
        "  python -m venv .venv-qchem && .venv-qchem/bin/pip install -r scripts/requirements-qchem.txt"
    ) from exc

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "tunegym" / "simulators" / "quantum" / "data"
FORMAT_VERSION = 1
DECIMALS = 12
DROP_BELOW = 1e-10
TOL_CHECK = 1e-8

# --------------------------------------------------------------------------------------------
# Geometries (Angstrom).  "bond_length" is the H-H, Li-H or O-H distance.
# --------------------------------------------------------------------------------------------
H2O_ANGLE_DEG = 104.5


def geometry(molecule: str, r: float) -> list[tuple[str, tuple[float, float, float]]]:
    if molecule == "H2":
        return [("H", (0.0, 0.0, 0.0)), ("H", (0.0, 0.0, r))]
    if molecule == "LiH":
        return [("Li", (0.0, 0.0, 0.0)), ("H", (0.0, 0.0, r))]
    if molecule == "H2O":
        half = math.radians(H2O_ANGLE_DEG) / 2.0
        x, z = r * math.sin(half), r * math.cos(half)
        return [("O", (0.0, 0.0, 0.0)), ("H", (x, 0.0, z)), ("H", (-x, 0.0, z))]
    raise ValueError(molecule)


GEOMETRY_TEXT = {
    "H2": "H (0, 0, 0); H (0, 0, R)",
    "LiH": "Li (0, 0, 0); H (0, 0, R)  (bond along z)",
    "H2O": (
        f"O (0, 0, 0); H (R sin(a/2), 0, R cos(a/2)); H (-R sin(a/2), 0, R cos(a/2)); "
        f"a = {H2O_ANGLE_DEG} deg fixed, R = O-H distance (symmetric stretch)"
    ),
}

H2_BONDS = [
    0.30,
    0.40,
    0.50,
    0.60,
    0.70,
    0.7414,
    0.80,
    0.90,
    1.00,
    1.10,
    1.20,
    1.40,
    1.60,
    1.80,
    2.00,
    2.20,
    2.40,
    2.63,
    2.80,
    3.00,
]
LIH_BONDS = [1.0, 1.2, 1.4, 1.5, 1.6, 1.8, 2.0, 2.2, 2.6, 3.0, 3.4, 4.0]
H2O_BONDS = [0.80, 0.90, 0.96, 1.00, 1.10, 1.20, 1.40, 1.60, 1.80, 2.00]


# --------------------------------------------------------------------------------------------
# Active spaces
# --------------------------------------------------------------------------------------------
def _lih_active(mol, mf) -> tuple[list[int], list[int], list[int]]:
    """Li 1s frozen; the two pi (Li 2px/2py-like) virtuals removed; 3 active orbitals left."""
    labels = mol.ao_labels()
    pxy = [
        i for i, lab in enumerate(labels) if lab.split()[0] == "0" and ("px" in lab or "py" in lab)
    ]
    weight = (mf.mo_coeff[pxy, :] ** 2).sum(axis=0)  # AO-space weight on Li px/py
    removed = sorted(int(i) for i in np.argsort(-weight)[:2])
    if not all(weight[i] > 0.99 for i in removed):
        raise RuntimeError(f"LiH: pi orbitals not clean: weights {weight}")
    nocc = mol.nelectron // 2
    if any(i < nocc for i in removed):
        raise RuntimeError("LiH: a removed pi orbital is occupied")
    frozen = [0]  # Li 1s (lowest canonical orbital)
    active = [i for i in range(mf.mo_coeff.shape[1]) if i not in frozen and i not in removed]
    return frozen, active, removed


def _h2o_active(mol, mf) -> tuple[list[int], list[int], list[int]]:
    """CAS(4e, 4o) of the two O-H bonds: 1b2, 3a1 (occupied) and 4a1, 2b2 (virtual), by C2v label.

    Picking orbitals by irrep (not by canonical energy order) keeps the same active space along
    the whole symmetric stretch: near R = 1.5 A the energy order of 1b1, 1b2 and 3a1 changes.
    """
    labels = list(symm.label_orb_symm(mol, mol.irrep_name, mol.symm_orb, mf.mo_coeff))

    def nth(irrep: str, k: int) -> int:
        return [i for i, lab in enumerate(labels) if lab == irrep][k - 1]

    active = sorted([nth("B2", 1), nth("A1", 3), nth("A1", 4), nth("B2", 2)])
    frozen = sorted([nth("A1", 1), nth("A1", 2), nth("B1", 1)])
    nocc = mol.nelectron // 2
    if sorted(frozen + active[:2]) != list(range(nocc)) or active[2:] != [nocc, nocc + 1]:
        raise RuntimeError(f"H2O: unexpected orbital order {labels}")
    return frozen, active, []


def _all_active(mol, mf) -> tuple[list[int], list[int], list[int]]:
    return [], list(range(mf.mo_coeff.shape[1])), []


@dataclass(frozen=True)
class Form:
    file: str
    molecule: str
    n_qubits: int
    mapping: str  # "jordan_wigner" | "parity_two_qubit_reduction"
    ordering: str  # "interleaved" | "block"
    bonds: list
    active_fn: object
    active_space_text: str


FORMS = [
    Form(
        "h2_4q_jw.json",
        "H2",
        4,
        "jordan_wigner",
        "interleaved",
        H2_BONDS,
        _all_active,
        "full space: 2 electrons in 2 spatial orbitals (sigma_g, sigma_u) = 4 spin orbitals; "
        "no frozen or removed orbitals",
    ),
    Form(
        "h2_2q_parity.json",
        "H2",
        2,
        "parity_two_qubit_reduction",
        "block",
        H2_BONDS,
        _all_active,
        "full space: 2 electrons in 2 spatial orbitals = 4 spin orbitals; parity mapping with "
        "two-qubit reduction removes 2 qubits",
    ),
    Form(
        "h2_3q_checksum.json",
        "H2",
        3,
        "checksum_even",
        "interleaved",
        H2_BONDS,
        _all_active,
        "full space: 2 electrons in 2 spatial orbitals = 4 spin orbitals; OpenFermion "
        "checksum_code(4, 0) (even total occupation) removes 1 qubit (the CRLQAS 3-qubit H2)",
    ),
    Form(
        "lih_4q_parity.json",
        "LiH",
        4,
        "parity_two_qubit_reduction",
        "block",
        LIH_BONDS,
        _lih_active,
        "Li 1s frozen (doubly occupied, folded into the constant); the two degenerate pi "
        "virtual orbitals (Li 2px/2py-like, picked by their AO weight > 0.99 on Li px/py, "
        "= canonical MOs 3 and 4: Ostaszewski et al.'s Qiskit-Aqua remove_list=[-3, -2], "
        "qiskit-nature 0.8 FreezeCoreTransformer(freeze_core=True, remove_orbitals=[3, 4])) "
        "removed; active: "
        "2 electrons in 3 spatial orbitals (sigma bonding, sigma*, Li 2pz-like) = 6 spin "
        "orbitals; parity mapping with two-qubit reduction -> 4 qubits "
        "(CRLQAS / Ostaszewski et al. 2021 LiH setting)",
    ),
    Form(
        "lih_6q_jw.json",
        "LiH",
        6,
        "jordan_wigner",
        "interleaved",
        LIH_BONDS,
        _lih_active,
        "same active space as the 4-qubit form (Li 1s frozen, two pi virtuals removed, 2 "
        "electrons in 3 spatial orbitals = 6 spin orbitals), Jordan-Wigner without tapering "
        "-> 6 qubits; same ground energy as the 4-qubit form",
    ),
    Form(
        "h2o_8q_jw.json",
        "H2O",
        8,
        "jordan_wigner",
        "interleaved",
        H2O_BONDS,
        _h2o_active,
        "CAS(4e, 4o) of the two O-H bonds: canonical RHF orbitals 1a1 (O 1s), 2a1 (O 2s-like) "
        "and 1b1 (out-of-plane O 2p lone pair) frozen (doubly occupied, folded into the "
        "constant); active = 1b2, 3a1 (occupied O-H bonding) and 4a1, 2b2 (O-H antibonding), "
        "chosen by C2v irrep so the space is the same at every R; active orbitals ordered by "
        "orbital energy (occupied first) = 8 spin orbitals, Jordan-Wigner -> 8 qubits; "
        "no orbitals removed (STO-3G has 7 orbitals)",
    ),
]


# --------------------------------------------------------------------------------------------
# Fermion operator and qubit mappings
# --------------------------------------------------------------------------------------------
def fermion_operator(h1: np.ndarray, eri: np.ndarray, ecore: float, ordering: str):
    m = h1.shape[0]

    def so(p: int, s: int) -> int:
        return 2 * p + s if ordering == "interleaved" else p + s * m

    op = of.FermionOperator((), float(ecore))
    for p in range(m):
        for q in range(m):
            if abs(h1[p, q]) > 1e-14:
                for s in (0, 1):
                    op += of.FermionOperator(((so(p, s), 1), (so(q, s), 0)), float(h1[p, q]))
    for p in range(m):
        for q in range(m):
            for r in range(m):
                for t in range(m):
                    v = eri[p, q, r, t]  # chemists' (pq|rt)
                    if abs(v) < 1e-14:
                        continue
                    for s1 in (0, 1):
                        for s2 in (0, 1):
                            a, b = so(p, s1), so(r, s2)
                            if a == b:
                                continue
                            c, d = so(t, s2), so(q, s1)
                            if c == d:
                                continue
                            op += of.FermionOperator(
                                ((a, 1), (b, 1), (c, 0), (d, 0)), 0.5 * float(v)
                            )
    return op


def qubit_terms(qop, n: int) -> dict[str, complex]:
    out: dict[str, complex] = {}
    for term, coeff in qop.terms.items():
        chars = ["I"] * n
        for q, p in term:
            chars[q] = p
        key = "".join(chars)
        out[key] = out.get(key, 0.0) + complex(coeff)
    return out


def map_to_qubits(fop, form: Form, n_modes: int, n_alpha: int, n_beta: int) -> dict[str, float]:
    if form.mapping == "jordan_wigner":
        terms = qubit_terms(of.jordan_wigner(fop), n_modes)
    elif form.mapping == "parity_two_qubit_reduction":
        full = qubit_terms(of.binary_code_transform(fop, of.parity_code(n_modes)), n_modes)
        m = n_modes // 2
        drop = (m - 1, n_modes - 1)
        eig = {m - 1: (-1) ** n_alpha, n_modes - 1: (-1) ** (n_alpha + n_beta)}
        terms = {}
        for key, c in full.items():
            for q in drop:
                if key[q] in "XY":
                    raise RuntimeError(f"qubit {q} is not Z2-symmetric in term {key}")
                if key[q] == "Z":
                    c = c * eig[q]
            new = "".join(ch for i, ch in enumerate(key) if i not in drop)
            terms[new] = terms.get(new, 0.0) + c
    elif form.mapping == "checksum_even":
        terms = qubit_terms(
            of.binary_code_transform(fop, of.checksum_code(n_modes, 0)), n_modes - 1
        )
    else:
        raise ValueError(form.mapping)
    real: dict[str, float] = {}
    for key, c in terms.items():
        if abs(c.imag) > 1e-10:
            raise RuntimeError(f"complex coefficient {c} for {key}")
        real[key] = c.real
    return real


def hf_bitstring(form: Form, n_modes: int, n_alpha: int, n_beta: int) -> str:
    m = n_modes // 2
    occ = [0] * n_modes
    for p in range(n_alpha):
        occ[2 * p if form.ordering == "interleaved" else p] = 1
    for p in range(n_beta):
        occ[2 * p + 1 if form.ordering == "interleaved" else m + p] = 1
    if form.mapping == "jordan_wigner":
        bits = occ
    elif form.mapping == "checksum_even":
        if sum(occ) % 2:
            raise ValueError("checksum_even encodes even occupation only")
        bits = occ[:-1]
    else:
        parity = list(np.cumsum(occ) % 2)
        bits = [b for i, b in enumerate(parity) if i not in (m - 1, n_modes - 1)]
    return "".join(str(int(b)) for b in bits)


def occupations(bits: np.ndarray, form: Form, n_modes: int, n_alpha: int, n_beta: int):
    """(n_alpha, n_beta) of computational basis states (rows of bits; column i = qubit i)."""
    m = n_modes // 2
    if form.mapping == "jordan_wigner":
        occ = bits
    elif form.mapping == "checksum_even":
        occ = np.concatenate([bits, bits.sum(axis=1, keepdims=True) % 2], axis=1)
    else:
        full = np.zeros((bits.shape[0], n_modes), dtype=int)
        keep = [i for i in range(n_modes) if i not in (m - 1, n_modes - 1)]
        full[:, keep] = bits
        full[:, m - 1] = n_alpha % 2
        full[:, n_modes - 1] = (n_alpha + n_beta) % 2
        occ = full ^ np.concatenate([np.zeros((bits.shape[0], 1), dtype=int), full[:, :-1]], axis=1)
    if form.ordering == "interleaved":
        return occ[:, 0::2].sum(axis=1), occ[:, 1::2].sum(axis=1)
    return occ[:, :m].sum(axis=1), occ[:, m:].sum(axis=1)


# --------------------------------------------------------------------------------------------
# Dense matrices (numpy only; qubit 0 = most significant bit / leftmost kron factor)
# --------------------------------------------------------------------------------------------
def dense(terms: dict[str, float], constant: float, n: int) -> np.ndarray:
    dim = 2**n
    idx = np.arange(dim)
    mat = np.zeros((dim, dim), dtype=complex)
    mat[idx, idx] += constant
    for key, c in terms.items():
        flip = 0
        phase = np.ones(dim, dtype=complex)
        for q, ch in enumerate(key):
            bit = (idx >> (n - 1 - q)) & 1
            if ch in "XY":
                flip |= 1 << (n - 1 - q)
            if ch == "Z":
                phase *= 1 - 2 * bit
            elif ch == "Y":
                phase *= 1j * (1 - 2 * bit)  # Y|0> = i|1>, Y|1> = -i|0>
        mat[idx ^ flip, idx] += c * phase
    return mat


def basis_bits(n: int) -> np.ndarray:
    idx = np.arange(2**n)
    return np.array([(idx >> (n - 1 - q)) & 1 for q in range(n)]).T


# --------------------------------------------------------------------------------------------
def compute_point(form: Form, r: float) -> dict:
    atoms = geometry(form.molecule, r)
    # H2O: C2v symmetry on, only to label orbitals (PySCF may reorient the frame; energies and
    # integrals over the chosen orbitals are unaffected).
    mol = gto.M(
        atom=[[a, xyz] for a, xyz in atoms],
        basis="sto-3g",
        unit="Angstrom",
        charge=0,
        spin=0,
        symmetry=form.molecule == "H2O",
        verbose=0,
    )
    mf = scf.RHF(mol)
    mf.conv_tol = 1e-12
    mf.conv_tol_grad = 1e-9
    mf.kernel()
    if not mf.converged:
        raise RuntimeError(f"RHF not converged for {form.molecule} at {r}")
    frozen, active, removed = form.active_fn(mol, mf)
    ncas = len(active)
    nelecas = mol.nelectron - 2 * len(frozen)
    n_alpha = n_beta = nelecas // 2
    mc = mcscf.CASCI(mf, ncas, nelecas)
    mo = mc.sort_mo([i + 1 for i in active])  # sort_mo is 1-based by default
    mc.fcisolver.conv_tol = 1e-12
    e_casci = float(mc.kernel(mo)[0])
    h1, ecore = mc.get_h1eff(mo)
    eri = ao2mo.restore(1, mc.get_h2eff(mo), ncas)
    fop = fermion_operator(np.asarray(h1), np.asarray(eri), float(ecore), form.ordering)
    n_modes = 2 * ncas
    raw = map_to_qubits(fop, form, n_modes, n_alpha, n_beta)
    n = len(next(iter(raw)))
    if n != form.n_qubits:
        raise RuntimeError(f"{form.file}: got {n} qubits")
    ident = "I" * n
    constant = round(raw.pop(ident, 0.0), DECIMALS)
    terms = {}
    for key in sorted(raw):
        c = round(raw[key], DECIMALS)
        if abs(c) >= DROP_BELOW:
            terms[key] = c

    mat = dense(terms, constant, n)
    assert np.allclose(mat, mat.conj().T)
    bits = basis_bits(n)
    na, nb = occupations(bits, form, n_modes, n_alpha, n_beta)
    sector = np.flatnonzero((na == n_alpha) & (nb == n_beta))
    ground = float(np.linalg.eigvalsh(mat[np.ix_(sector, sector)])[0])
    fock_min = float(np.linalg.eigvalsh(mat)[0])
    hf_bits = hf_bitstring(form, n_modes, n_alpha, n_beta)
    hf_diag = float(mat[int(hf_bits, 2), int(hf_bits, 2)].real)
    if abs(ground - e_casci) > TOL_CHECK:
        raise RuntimeError(f"{form.file} r={r}: sector min {ground} != CASCI {e_casci}")
    if abs(hf_diag - mf.e_tot) > TOL_CHECK:
        raise RuntimeError(f"{form.file} r={r}: HF diag {hf_diag} != RHF {mf.e_tot}")
    # OpenFermion's own sparse matrix of the unrounded operator as a cross-check of `dense`.
    qop = of.QubitOperator((), constant)
    for key, c in terms.items():
        qop += of.QubitOperator(" ".join(f"{ch}{i}" for i, ch in enumerate(key) if ch != "I"), c)
    ofmat = of.get_sparse_operator(qop, n_qubits=n).toarray()
    if not np.allclose(ofmat, mat, atol=1e-12):
        raise RuntimeError("dense matrix convention mismatch with OpenFermion")

    return {
        "bond_length": r,
        "geometry": [[a, list(xyz)] for a, xyz in atoms],
        "n_qubits": n,
        "constant": constant,
        "ground_energy": round(ground, DECIMALS),
        "hf_energy": round(float(mf.e_tot), DECIMALS),
        "hf_bitstring": hf_bits,
        "casci_energy_pyscf": round(e_casci, DECIMALS),
        "fock_space_min_energy": round(fock_min, DECIMALS),
        "nuclear_repulsion": round(float(mol.energy_nuc()), DECIMALS),
        "core_energy": round(float(ecore), DECIMALS),
        "frozen_orbitals": frozen,
        "active_orbitals": active,
        "removed_orbitals": removed,
        "mo_energies": [round(float(e), 8) for e in mf.mo_energy],
        **(
            {
                "mo_irreps": [
                    str(x)
                    for x in symm.label_orb_symm(mol, mol.irrep_name, mol.symm_orb, mf.mo_coeff)
                ]
            }
            if mol.symmetry
            else {}
        ),
        "n_terms": len(terms),
        "terms": [[c, key] for key, c in terms.items()],
    }


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("pyscf", "openfermion", "numpy", "scipy"):
        try:
            out[pkg] = _md.version(pkg)
        except _md.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def build(form: Form, *, generated: str) -> dict:
    points = [compute_point(form, r) for r in form.bonds]
    n_act = len(points[0]["active_orbitals"])
    mol_el = {"H2": 2, "LiH": 4, "H2O": 10}[form.molecule]
    n_el = mol_el - 2 * len(points[0]["frozen_orbitals"])
    if form.ordering == "interleaved":
        ordering_text = "interleaved: spin orbital 2p = spatial orbital p alpha, 2p+1 = beta"
    else:
        ordering_text = (
            f"block: spin orbital p = spatial orbital p alpha, {n_act}+p = beta "
            f"(p = 0..{n_act - 1} over active orbitals in energy order)"
        )
    if form.mapping == "jordan_wigner":
        mapping_text = (
            "Jordan-Wigner (openfermion.jordan_wigner); qubit j = occupation of spin orbital j"
        )
        tapered = []
    elif form.mapping == "checksum_even":
        mapping_text = (
            "checksum code with even total occupation (openfermion.binary_code_transform with "
            f"openfermion.checksum_code({2 * n_act}, 0)): qubit j = occupation of spin orbital "
            f"j for j < {2 * n_act - 1}; spin orbital {2 * n_act - 1} is occupied iff the "
            "other occupations sum to an odd number"
        )
        tapered = []
    else:
        mapping_text = (
            "parity mapping (openfermion.binary_code_transform with openfermion.parity_code: "
            "qubit j = parity of spin orbitals 0..j) with two-qubit reduction: qubits "
            f"{n_act - 1} (alpha parity) and {2 * n_act - 1} (total parity) replaced by their "
            "eigenvalues (-1)**n_alpha and (-1)**(n_alpha+n_beta) and removed; the remaining "
            "qubits keep their order (equivalent to Qiskit Nature's ParityMapper(num_particles))"
        )
        tapered = [n_act - 1, 2 * n_act - 1]
    meta = {
        "molecule": form.molecule,
        "basis": "sto-3g",
        "charge": 0,
        "multiplicity": 1,
        "reference": "restricted Hartree-Fock (PySCF RHF, canonical orbitals, conv_tol 1e-12)",
        "mapping": form.mapping,
        "mapping_description": mapping_text,
        "spin_orbital_ordering": form.ordering,
        "spin_orbital_ordering_description": ordering_text,
        "tapered_qubits_before_reduction": tapered,
        "active_space": form.active_space_text,
        "n_active_electrons": n_el,
        "n_active_spatial_orbitals": n_act,
        "n_alpha": n_el // 2,
        "n_beta": n_el // 2,
        "geometry": GEOMETRY_TEXT[form.molecule],
        "bond_length_definition": {
            "H2": "H-H distance",
            "LiH": "Li-H distance",
            "H2O": "O-H distance (both bonds)",
        }[form.molecule],
        "units": {"energy": "Hartree", "length": "Angstrom"},
        "nuclear_repulsion_included": True,
        "frozen_core_energy_included": True,
        "constant_definition": (
            "identity coefficient = nuclear repulsion + frozen-core energy + identity part of "
            "the mapped electronic operator; energies are total molecular energies"
        ),
        "pauli_string_convention": (
            "character i acts on qubit i; 'I','X','Y','Z'; the identity term is folded into "
            "'constant' and absent from 'terms'"
        ),
        "hf_bitstring_convention": (
            "character i is the computational-basis value of qubit i ('1' = |1>, Z eigenvalue "
            "-1); the RHF determinant in this qubit encoding"
        ),
        "ground_energy_definition": (
            "lowest eigenvalue of the qubit operator restricted to the (n_alpha, n_beta) "
            "sector of the neutral singlet-reference molecule (= CASCI/FCI energy within the "
            "active space, checked against PySCF to 1e-8); 'fock_space_min_energy' is the "
            "lowest eigenvalue over all particle numbers the encoding allows"
        ),
        "point_fields": {
            "constant": "identity coefficient (Hartree)",
            "ground_energy": "see ground_energy_definition",
            "hf_energy": "PySCF RHF total energy (= diagonal element at hf_bitstring)",
            "casci_energy_pyscf": "PySCF CASCI (FCI for H2) total energy in the active space",
            "fock_space_min_energy": "lowest eigenvalue of the whole qubit operator",
            "nuclear_repulsion": "nuclear repulsion energy (Hartree)",
            "core_energy": "nuclear repulsion + frozen-core electronic energy (Hartree)",
            "frozen_orbitals/active_orbitals/removed_orbitals": "0-based canonical RHF MO "
            "indices (energy order)",
            "mo_energies": "canonical RHF orbital energies (Hartree)",
            "geometry": "atoms and Cartesian coordinates (Angstrom)",
        },
        "rounding": f"coefficients rounded to {DECIMALS} decimals; |c| < {DROP_BELOW:g} dropped",
        "generator": "scripts/generate_hamiltonians.py",
        "generator_versions": versions(),
        "generated": generated,
    }
    return {
        "format_version": FORMAT_VERSION,
        "molecule": form.molecule,
        "n_qubits": form.n_qubits,
        "metadata": meta,
        "points": points,
    }


def dumps(doc: dict) -> str:
    """Compact JSON: one line per point field, one term per line (diff-friendly, small)."""
    lines = ["{"]
    head = {k: doc[k] for k in ("format_version", "molecule", "n_qubits")}
    for k, v in head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v)},")
    lines.append(
        f'  "metadata": {json.dumps(doc["metadata"], indent=2, sort_keys=True)},'.replace(
            "\n", "\n  "
        )
    )
    lines.append('  "points": [')
    for i, p in enumerate(doc["points"]):
        lines.append("    {")
        items = [(k, v) for k, v in p.items() if k != "terms"]
        for k, v in items:
            lines.append(f"      {json.dumps(k)}: {json.dumps(v)},")
        lines.append('      "terms": [')
        tl = [f"        [{json.dumps(c)},{json.dumps(s)}]" for c, s in p["terms"]]
        lines.append(",\n".join(tl))
        lines.append("      ]")
        lines.append("    }" + ("," if i < len(doc["points"]) - 1 else ""))
    lines.append("  ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    json.loads(text)  # sanity
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    ap.add_argument(
        "--check",
        action="store_true",
        help="regenerate and compare numbers with the shipped files; write nothing",
    )
    ap.add_argument("--only", nargs="*", help="file names to (re)generate")
    args = ap.parse_args(argv)
    generated = _dt.date.today().isoformat()
    bad = 0
    for form in FORMS:
        if args.only and form.file not in args.only:
            continue
        doc = build(form, generated=generated)
        path = args.out / form.file
        if args.check:
            old = json.loads(path.read_text())
            for po, pn in zip(old["points"], doc["points"], strict=True):
                same = (
                    abs(po["ground_energy"] - pn["ground_energy"]) < 1e-9
                    and abs(po["hf_energy"] - pn["hf_energy"]) < 1e-9
                    and po["hf_bitstring"] == pn["hf_bitstring"]
                    and {s: c for c, s in po["terms"]}.keys()
                    == {s: c for c, s in pn["terms"]}.keys()
                )
                bad += not same
                print(f"{form.file} R={pn['bond_length']}: {'ok' if same else 'DIFFERS'}")
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(doc))
        print(f"wrote {path} ({path.stat().st_size} bytes)")
        for p in doc["points"]:
            print(
                f"  R={p['bond_length']:<7} terms={p['n_terms']:<4} E0={p['ground_energy']:.10f} "
                f"EHF={p['hf_energy']:.10f} fock_min={p['fock_space_min_energy']:.10f} "
                f"hf={p['hf_bitstring']} removed={p['removed_orbitals']}"
            )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
