"""Quantum circuit energy evaluations per second: B circuits batched vs PennyLane one at a time.

Usage::

    python benchmarks/bench_quantum.py                    # B = 256, 4 and 8 qubits, 1 thread
    python benchmarks/bench_quantum.py --batch 1024 --device cuda

Each circuit has 20 to 40 random gates (rx, ry, rz, h, cnot, cz on random qubits; the
rest of the L = 40 positions is identity padding), measured against the Heisenberg chain
H = sum_i (X_i X_i+1 + Y_i Y_i+1 + Z_i Z_i+1) + 0.5 sum_i Z_i (4 n - 3 Pauli terms).

* statevector: ``energies`` on the whole batch vs PennyLane ``default.qubit``, one QNode
  call per circuit (``qml.expval`` of the same Hamiltonian);
* noisy: ``noisy_energies`` with the "crlqas_depolarizing" preset (depolarizing 5.22e-4
  after 1-qubit and 1.25e-2 after 2-qubit gates) vs ``default.mixed`` with
  DepolarizingChannel(3 p / 4) and a 16-Kraus QubitChannel after each gate.

The reference runs ``--reference-circuits`` of the same circuits (``--reference-noisy-
circuits`` for default.mixed) and the script asserts equal energies (1e-8). Timings are
medians of ``--repeats`` after a warm-up. ``scaling`` holds seconds per batch of B for
2..12 qubits (statevector) and 2..8 (noisy). Prints ONE JSON line; without PennyLane the
reference figures are null and ``reference_missing`` says why.

Headline (the JSON's ``headline``, shown by ``tunegym bench``): per qubit count and mode
(state vector, noisy), our energy evaluations/s vs PennyLane's, ratio
``ratio_batched_over_reference``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time

import numpy as np
import torch
from machine import (
    add_machine_arguments,
    apply_machine_arguments,
    headline_entry,
    machine_facts,
    synchronise,
)

from tunegym.simulators.quantum import (
    GATES,
    NOISE_PRESETS,
    Circuits,
    PauliSum,
    energies,
    noisy_energies,
    random_circuits,
)

NOISE = NOISE_PRESETS["crlqas_depolarizing"]


def heisenberg_terms(n_qubits: int) -> list[tuple[float, str]]:
    terms = []
    for qubit in range(n_qubits - 1):
        for letter in "XYZ":
            string = ["I"] * n_qubits
            string[qubit] = string[qubit + 1] = letter
            terms.append((1.0, "".join(string)))
    for qubit in range(n_qubits):
        terms.append((0.5, "".join("Z" if index == qubit else "I" for index in range(n_qubits))))
    return terms


def benchmark_circuits(batch_size: int, n_qubits: int, min_gates: int, max_gates: int,
                       seed: int, device: torch.device) -> Circuits:
    """B random circuits of min_gates..max_gates gates, padded to max_gates."""
    generator = torch.Generator().manual_seed(seed)
    circuits = random_circuits(batch_size, max_gates, n_qubits, generator)
    lengths = torch.randint(min_gates, max_gates + 1, (batch_size, 1), generator=generator)
    gates = torch.where(torch.arange(max_gates) < lengths, circuits.gates, 0)
    return Circuits(gates.to(device), circuits.qubits.to(device), circuits.angles.to(device))


def evaluate(circuits: Circuits, observable: PauliSum, noisy: bool) -> torch.Tensor:
    """(B,) energies of the batch, without autograd."""
    with torch.no_grad():
        if noisy:
            return noisy_energies(circuits, observable, NOISE)
        return energies(circuits, observable)


def median_seconds(function, repeats: int, device: torch.device) -> float:
    function()                                                          # warm-up
    times = []
    for _ in range(repeats):
        synchronise(device)
        start = time.perf_counter()
        function()
        synchronise(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def pennylane_reference(qml, n_qubits: int, terms, noisy: bool):
    """A function (gates, qubits, angles) -> energy running one circuit on PennyLane."""
    device = qml.device("default.mixed" if noisy else "default.qubit", wires=n_qubits)
    hamiltonian = qml.Hamiltonian([coefficient for coefficient, _ in terms],
                                  [qml.pauli.string_to_pauli_word(string) for _, string in terms])
    depolarizing_2q = []
    if noisy:
        paulis = [np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]),
                  np.diag([1.0, -1.0])]
        p = NOISE.depolarizing_2q
        depolarizing_2q = [np.sqrt((1 - 15 * p / 16) if (a, b) == (0, 0) else p / 16)
                           * np.kron(paulis[a], paulis[b]) for a in range(4) for b in range(4)]

    @qml.qnode(device)
    def energy(gates, qubits, angles):
        for code, (first, second), angle in zip(gates, qubits, angles):
            name = GATES[code]
            if name in ("rx", "ry", "rz"):
                getattr(qml, name.upper())(angle, wires=first)
            elif name == "h":
                qml.Hadamard(wires=first)
            elif name in ("cnot", "cz"):
                (qml.CNOT if name == "cnot" else qml.CZ)(wires=[first, second])
            else:
                continue
            if noisy and name in ("cnot", "cz"):
                qml.QubitChannel(depolarizing_2q, wires=[first, second])
            elif noisy:
                qml.DepolarizingChannel(0.75 * NOISE.depolarizing_1q, wires=first)
        return qml.expval(hamiltonian)
    return energy


def compare(qml, circuits: Circuits, observable: PauliSum, terms, noisy: bool, count: int,
            repeats: int, device: torch.device) -> dict:
    """Batched and one-at-a-time figures for one (qubits, statevector/noisy) setting."""
    ours = functools.partial(evaluate, circuits, observable, noisy)
    batched_seconds = median_seconds(ours, repeats, device)
    values = ours().cpu()
    figures = {"batched_evaluations_per_s": circuits.batch_size / batched_seconds,
               "batched_seconds_per_batch": batched_seconds}
    if qml is None:
        return {**figures, "reference_evaluations_per_s": None,
                "ratio_batched_over_reference": None}
    reference = pennylane_reference(qml, observable.n_qubits, terms, noisy)
    rows = [(circuits.gates[index].tolist(), circuits.qubits[index].tolist(),
             circuits.angles[index].tolist()) for index in range(count)]
    reference(*rows[0])                                                 # warm-up
    start = time.perf_counter()
    expected = [float(reference(*row)) for row in rows]
    reference_seconds = (time.perf_counter() - start) / count
    difference = float(np.abs(np.array(expected) - values[:count].numpy()).max())
    assert difference < 1e-8, difference
    return {**figures, "reference_evaluations_per_s": 1.0 / reference_seconds,
            "reference_circuits_timed": count,
            "ratio_batched_over_reference": reference_seconds * circuits.batch_size
            / batched_seconds,
            "max_abs_energy_difference": difference}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--qubits", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--min-gates", type=int, default=20)
    parser.add_argument("--max-gates", type=int, default=40)
    parser.add_argument("--reference-circuits", type=int, default=32)
    parser.add_argument("--reference-noisy-circuits", type=int, default=4)
    parser.add_argument("--scaling-statevector-qubits", type=int, nargs=2, default=[2, 12],
                        metavar=("MIN", "MAX"))
    parser.add_argument("--scaling-noisy-qubits", type=int, nargs=2, default=[2, 8],
                        metavar=("MIN", "MAX"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    add_machine_arguments(parser)
    args = parser.parse_args()
    device = apply_machine_arguments(parser, args)
    try:
        import pennylane as qml
        reference_name, reference_missing = f"pennylane {qml.__version__}", None
    except ImportError as error:
        qml, reference_name, reference_missing = None, None, f"pennylane not importable: {error}"

    results, headline = {}, []
    for n_qubits in args.qubits:
        terms = heisenberg_terms(n_qubits)
        observable = PauliSum(terms)
        circuits = benchmark_circuits(args.batch, n_qubits, args.min_gates, args.max_gates,
                                      args.seed + n_qubits, device)
        results[f"{n_qubits}_qubits"] = {
            "statevector_vs_default_qubit": compare(
                qml, circuits, observable, terms, False,
                min(args.reference_circuits, args.batch), args.repeats, device),
            "noisy_vs_default_mixed": compare(
                qml, circuits, observable, terms, True,
                min(args.reference_noisy_circuits, args.batch), args.repeats, device),
        }
        for mode, key, simulator in (("state vector", "statevector_vs_default_qubit",
                                      "default.qubit"),
                                     ("noisy", "noisy_vs_default_mixed", "default.mixed")):
            figures = results[f"{n_qubits}_qubits"][key]
            headline.append(headline_entry(
                f"energy evaluations/s ({n_qubits} qubits, {mode}, B={args.batch})",
                "energy evaluations/s", figures["batched_evaluations_per_s"],
                figures["reference_evaluations_per_s"],
                None if qml is None else f"PennyLane {simulator}, one circuit at a time"))

    scaling = {"statevector_seconds_per_batch": {}, "noisy_seconds_per_batch": {}}
    for key, (low, high), noisy in (
            ("statevector_seconds_per_batch", args.scaling_statevector_qubits, False),
            ("noisy_seconds_per_batch", args.scaling_noisy_qubits, True)):
        for n_qubits in range(low, high + 1):
            observable = PauliSum(heisenberg_terms(n_qubits))
            circuits = benchmark_circuits(args.batch, n_qubits, args.min_gates, args.max_gates,
                                          args.seed + 100 + n_qubits, device)
            scaling[key][str(n_qubits)] = median_seconds(
                functools.partial(evaluate, circuits, observable, noisy), args.repeats, device)

    print(json.dumps({
        "benchmark": "quantum_energy_evaluations", "batch": args.batch,
        "gates_per_circuit": [args.min_gates, args.max_gates],
        "hamiltonian": "Heisenberg chain + 0.5 sum Z (4 n - 3 terms)",
        "noise": "crlqas_depolarizing", "reference": reference_name,
        "reference_missing": reference_missing, "results": results, "headline": headline,
        "scaling": scaling,
        "load_average_1min": os.getloadavg()[0], **machine_facts(device)}))


if __name__ == "__main__":
    main()
