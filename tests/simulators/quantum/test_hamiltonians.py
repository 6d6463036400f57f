"""Shipped molecular Hamiltonians and user Pauli sums (tunegym.simulators.quantum.hamiltonians).

Independent of the circuit simulator: dense matrices are built here with numpy Kronecker
products (qubit 0 = leftmost factor = most significant bit) and diagonalised with eigvalsh.
"""

from __future__ import annotations

import dataclasses
import math
from functools import reduce
from importlib import resources

import numpy as np
import pytest

from tunegym.simulators.quantum.hamiltonians import (
    DEFAULT_N_QUBITS,
    Hamiltonian,
    available_hamiltonians,
    load_hamiltonian,
)

PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}


def kron_matrix(terms, constant, n):
    mat = constant * np.eye(2**n, dtype=complex)
    for c, s in terms:
        mat = mat + c * reduce(np.kron, [PAULI[ch] for ch in s])
    return mat


def basis_bits(n):
    idx = np.arange(2**n)
    return np.stack([(idx >> (n - 1 - q)) & 1 for q in range(n)], axis=1)


def electron_numbers(bits, meta):
    """(n_alpha, n_beta) of basis states, decoded from the file's mapping metadata."""
    m = meta["n_active_spatial_orbitals"]
    n_modes = 2 * m
    mapping = meta["mapping"]
    if mapping == "jordan_wigner":
        occ = bits
    elif mapping == "checksum_even":
        occ = np.concatenate([bits, bits.sum(axis=1, keepdims=True) % 2], axis=1)
    elif mapping == "parity_two_qubit_reduction":
        na, nb = meta["n_alpha"], meta["n_beta"]
        keep = [i for i in range(n_modes) if i not in (m - 1, n_modes - 1)]
        parity = np.zeros((bits.shape[0], n_modes), dtype=int)
        parity[:, keep] = bits
        parity[:, m - 1] = na % 2
        parity[:, n_modes - 1] = (na + nb) % 2
        prev = np.concatenate([np.zeros((bits.shape[0], 1), dtype=int), parity[:, :-1]], axis=1)
        occ = parity ^ prev
    else:
        raise AssertionError(f"unknown mapping {mapping}")
    assert occ.shape[1] == n_modes
    if meta["spin_orbital_ordering"] == "interleaved":
        return occ[:, 0::2].sum(axis=1), occ[:, 1::2].sum(axis=1)
    assert meta["spin_orbital_ordering"] == "block"
    return occ[:, :m].sum(axis=1), occ[:, m:].sum(axis=1)


def all_shipped():
    return [
        (mol, n, r)
        for mol, forms in available_hamiltonians().items()
        for n, bonds in forms.items()
        for r in bonds
    ]


# --------------------------------------------------------------------------- catalogue
def test_catalogue_contents():
    av = available_hamiltonians()
    assert set(av) == {"H2", "LiH", "H2O"}
    assert set(av["H2"]) == {2, 3, 4}
    assert set(av["LiH"]) == {4, 6}
    assert set(av["H2O"]) == {8}
    h2 = list(av["H2"][4])
    for r in (0.7414, 0.70, 2.63, 0.3, 3.0):
        assert any(abs(x - r) < 1e-9 for x in h2)
    assert 15 <= len(h2) <= 25 and min(h2) == pytest.approx(0.3) and max(h2) == pytest.approx(3.0)
    assert av["H2"][2] == h2 == av["H2"][3]
    for r in (1.2, 2.2, 3.4):
        assert any(abs(x - r) < 1e-9 for x in av["LiH"][4])
    assert av["LiH"][4] == av["LiH"][6]
    assert all(bonds == sorted(bonds) for forms in av.values() for bonds in forms.values())
    # a fresh copy each call
    av["H2"][4].clear()
    assert available_hamiltonians()["H2"][4] == h2


def test_default_forms():
    assert DEFAULT_N_QUBITS == {"H2": 4, "LiH": 4, "H2O": 8}
    assert load_hamiltonian("H2", 0.7414).n_qubits == 4
    assert load_hamiltonian("LiH", 2.2).n_qubits == 4
    assert load_hamiltonian("H2O", 0.96).n_qubits == 8
    assert load_hamiltonian("h2", 0.7414, 2).n_qubits == 2
    assert load_hamiltonian("lih", 2.2, n_qubits=6).n_qubits == 6


def test_data_files_are_package_resources():
    names = {
        e.name for e in resources.files("tunegym.simulators.quantum").joinpath("data").iterdir()
    }
    assert {
        "h2_4q_jw.json",
        "h2_2q_parity.json",
        "h2_3q_checksum.json",
        "lih_4q_parity.json",
        "lih_6q_jw.json",
        "h2o_8q_jw.json",
    } <= names


# --------------------------------------------------------------------------- exact energies
@pytest.mark.parametrize("mol,n,r", all_shipped())
def test_shipped_point_is_consistent(mol, n, r):
    h = load_hamiltonian(mol, r, n)
    meta = h.metadata
    assert (h.molecule, h.n_qubits) == (mol, n) and abs(h.bond_length - r) < 1e-12
    strings = [s for _, s in h.terms]
    assert len(set(strings)) == len(strings)
    assert all(len(s) == n and set(s) <= set("IXYZ") and s != "I" * n for s in strings)
    assert all(isinstance(c, float) and abs(c) >= 1e-10 for c, _ in h.terms)

    mat = kron_matrix(h.terms, h.constant, n)
    np.testing.assert_allclose(mat, mat.conj().T, atol=1e-14)
    np.testing.assert_allclose(h.to_matrix(), mat, atol=1e-12)
    # real orbitals: every term has an even number of Y, so the matrix is real symmetric
    assert all(s.count("Y") % 2 == 0 for s in strings) and not mat.imag.any()
    mat = mat.real
    evals = np.linalg.eigvalsh(mat)
    na, nb = electron_numbers(basis_bits(n), meta)
    sector = np.flatnonzero((na == meta["n_alpha"]) & (nb == meta["n_beta"]))
    sector_min = np.linalg.eigvalsh(mat[np.ix_(sector, sector)])[0]
    assert abs(h.ground_energy - sector_min) < 1e-8
    assert abs(meta["fock_space_min_energy"] - evals[0]) < 1e-8
    assert abs(meta["casci_energy_pyscf"] - h.ground_energy) < 1e-8

    hf_index = int(h.hf_bitstring, 2)
    assert hf_index in set(sector.tolist())
    assert abs(mat[hf_index, hf_index].real - h.hf_energy) < 1e-8
    assert abs(h.diagonal_expectation(h.hf_bitstring) - h.hf_energy) < 1e-8
    assert h.ground_energy <= h.hf_energy + 1e-10

    # metadata describes the point
    assert meta["basis"] == "sto-3g"
    assert meta["units"] == {"energy": "Hartree", "length": "Angstrom"}
    assert meta["nuclear_repulsion_included"] is True and meta["frozen_core_energy_included"]
    assert {"pyscf", "openfermion"} <= set(meta["generator_versions"])
    xyz = np.array([a[1] for a in meta["geometry"]])
    assert np.linalg.norm(xyz[1] - xyz[0]) == pytest.approx(r, abs=1e-9)
    assert meta["nuclear_repulsion"] > 0


# --------------------------------------------------------------------------- literature anchors
def test_h2_equilibrium_literature_values():
    h = load_hamiltonian("H2", 0.7414)
    # STO-3G H2 at 0.7414 A: FCI -1.137270 Ha, RHF -1.116684 Ha (e.g. OpenFermion/PennyLane).
    assert h.ground_energy == pytest.approx(-1.1372701747, abs=2e-6)
    assert h.hf_energy == pytest.approx(-1.1166843871, abs=2e-6)
    assert h.hf_bitstring == "1100"
    assert load_hamiltonian("H2", 0.7414, 2).hf_bitstring == "10"
    assert load_hamiltonian("H2", 0.7414, 3).hf_bitstring == "110"
    # nuclear repulsion 1/R in bohr is in the constant: constant = E_nuc + ...
    assert h.metadata["nuclear_repulsion"] == pytest.approx(0.529177210903 / 0.7414, rel=1e-6)


def test_h2_forms_agree_and_curve_minimum():
    bonds = available_hamiltonians()["H2"][4]
    ground = []
    for r in bonds:
        e4 = load_hamiltonian("H2", r, 4)
        for n in (2, 3):
            other = load_hamiltonian("H2", r, n)
            assert abs(other.ground_energy - e4.ground_energy) < 1e-8
            assert abs(other.hf_energy - e4.hf_energy) < 1e-8
        ground.append(e4.ground_energy)
    r_min = bonds[int(np.argmin(ground))]
    assert abs(r_min - 0.74) < 0.05
    i = bonds.index(r_min)
    assert all(np.diff(ground[i:]) > 0) and all(np.diff(ground[: i + 1]) < 0)
    # dissociation limit: two H atoms in STO-3G, 2 x -0.466582 Ha
    assert ground[-1] == pytest.approx(2 * -0.4665819, abs=2e-3)


def test_lih_reduced_active_space_values():
    # Li 1s frozen, pi virtuals removed, parity + two-qubit reduction (CRLQAS / Ostaszewski).
    # Values found here (full-space STO-3G FCI, for comparison: -7.852431, -7.845684, -7.789499).
    expected = {1.2: -7.8506983776, 2.2: -7.8448790930, 3.4: -7.7890888981}
    for r, e in expected.items():
        h4 = load_hamiltonian("LiH", r)
        h6 = load_hamiltonian("LiH", r, 6)
        assert h4.ground_energy == pytest.approx(e, abs=1e-6)
        assert abs(h6.ground_energy - h4.ground_energy) < 1e-8
        assert abs(h6.hf_energy - h4.hf_energy) < 1e-8
        assert h4.hf_bitstring == "1100" and h6.hf_bitstring == "110000"
        assert h4.metadata["removed_orbitals"] == [3, 4]
        assert h4.metadata["frozen_orbitals"] == [0]
    assert load_hamiltonian("LiH", 2.2).hf_energy == pytest.approx(-7.807994, abs=1e-5)
    bonds = available_hamiltonians()["LiH"][4]
    ground = [load_hamiltonian("LiH", r).ground_energy for r in bonds]
    assert 1.45 <= bonds[int(np.argmin(ground))] <= 1.65


def test_h2o_curve():
    bonds = available_hamiltonians()["H2O"][8]
    hs = [load_hamiltonian("H2O", r) for r in bonds]
    ground = [h.ground_energy for h in hs]
    assert 0.9 <= bonds[int(np.argmin(ground))] <= 1.1
    assert all(-75.1 < e < -74.7 for e in ground)
    assert all(h.hf_bitstring == "11110000" for h in hs)
    assert hs[0].metadata["n_active_electrons"] == 4
    assert hs[0].metadata["n_active_spatial_orbitals"] == 4


# --------------------------------------------------------------------------- bad input
def test_load_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"molecule='He2'.*available molecules"):
        load_hamiltonian("He2", 1.0)
    with pytest.raises(ValueError, match="molecule"):
        load_hamiltonian(None, 1.0)
    with pytest.raises(ValueError, match=r"bond_length=0\.75.*available bond lengths: \[0\.3, "):
        load_hamiltonian("H2", 0.75)
    with pytest.raises(ValueError, match=r"n_qubits=5.*available: \[2, 3, 4\]"):
        load_hamiltonian("H2", 0.7414, 5)
    with pytest.raises(ValueError, match="n_qubits"):
        load_hamiltonian("H2", 0.7414, 4.0)
    with pytest.raises(ValueError, match="bond_length"):
        load_hamiltonian("H2", "0.7414")
    with pytest.raises(ValueError, match="bond_length"):
        load_hamiltonian("LiH", 2.2 + 2e-6)
    assert load_hamiltonian("LiH", 2.2 + 5e-7).bond_length == 2.2


def test_hamiltonian_is_frozen_and_metadata_private():
    h = load_hamiltonian("H2", 0.7414)
    with pytest.raises(dataclasses.FrozenInstanceError):
        h.constant = 0.0
    h.metadata["basis"] = "changed"
    assert load_hamiltonian("H2", 0.7414).metadata["basis"] == "sto-3g"
    assert hash(h) == hash(load_hamiltonian("H2", 0.7414))


# --------------------------------------------------------------------------- user Pauli sums
def test_from_terms_normalises_and_solves():
    h = Hamiltonian.from_terms(
        [(0.5, "ZI"), ("XX", -0.25), (0.1, "zi"), (1.0, "II"), (np.complex128(0.3), "YY")],
        constant=0.2,
    )
    assert h.n_qubits == 2 and h.molecule == "custom" and math.isnan(h.bond_length)
    assert {s: c for c, s in h.terms} == pytest.approx({"ZI": 0.6, "XX": -0.25, "YY": 0.3})
    assert h.constant == pytest.approx(1.2)
    mat = kron_matrix(h.terms, h.constant, 2)
    assert h.ground_energy == pytest.approx(np.linalg.eigvalsh(mat)[0], abs=1e-12)
    assert h.hf_bitstring == "00" and h.hf_energy == pytest.approx(mat[0, 0].real)
    assert h.metadata["source"] == "user"

    g = Hamiltonian.from_terms(
        {"ZZZ": 1.0, "XII": 0.5}, hf_bitstring="101", ground_energy=-3.0, metadata={"name": "toy"}
    )
    assert g.ground_energy == -3.0 and g.hf_energy == pytest.approx(1.0)
    assert g.metadata["name"] == "toy"

    # round trip of a shipped Hamiltonian (H2: full-space minimum = neutral ground state)
    s = load_hamiltonian("H2", 0.7414)
    r = Hamiltonian.from_terms(s.terms, s.constant)
    assert r.ground_energy == pytest.approx(s.ground_energy, abs=1e-10)
    assert r.terms == s.terms

    const = Hamiltonian.from_terms([], constant=-1.5, n_qubits=3)
    assert const.terms == () and const.ground_energy == -1.5


@pytest.mark.parametrize(
    "terms,kwargs,match",
    [
        ([(1.0, "ZI"), (1.0, "ZII")], {}, "length"),
        ([(1.0, "ZA")], {}, "characters"),
        ([(1j, "XY")], {}, "not real"),
        ([(1 + 0.5j, "XY")], {}, "not real"),
        ([(float("nan"), "ZZ")], {}, "finite"),
        ([(True, "ZZ")], {}, "real number"),
        ([("a", "ZZ")], {}, "real number"),
        ([(1.0, "")], {}, "empty"),
        ([], {}, "n_qubits"),
        ("ZZ", {}, "iterable"),
        ([(1.0, "ZZ", 3)], {}, "pair"),
        ([(1.0, "ZZ")], {"n_qubits": 3}, "length"),
        ([(1.0, "ZZ")], {"hf_bitstring": "012"}, "hf_bitstring"),
        ([(1.0, "ZZ")], {"constant": 1j}, "constant"),
        ([(1.0, "ZZ")], {"drop_below": -1.0}, "drop_below"),
        ([(1.0, "ZZ")], {"n_qubits": 0}, "n_qubits"),
        ([(1.0, "ZZ")], {"ground_energy": "low"}, "ground_energy"),
    ],
)
def test_from_terms_validation(terms, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Hamiltonian.from_terms(terms, **kwargs)


def test_direct_construction_is_validated():
    ok = {
        "molecule": "x",
        "bond_length": 0.0,
        "n_qubits": 2,
        "constant": 0.0,
        "ground_energy": 0.0,
        "hf_energy": 0.0,
        "hf_bitstring": "00",
    }
    with pytest.raises(ValueError, match="identity"):
        Hamiltonian(terms=((1.0, "II"),), **ok)
    with pytest.raises(ValueError, match="twice"):
        Hamiltonian(terms=((1.0, "ZI"), (2.0, "ZI")), **ok)
    with pytest.raises(ValueError, match="length"):
        Hamiltonian(terms=((1.0, "Z"),), **ok)
    with pytest.raises(ValueError, match="bitstring"):
        load_hamiltonian("H2", 0.7414).diagonal_expectation("11")
