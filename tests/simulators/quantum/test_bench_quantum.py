"""benchmarks/bench_quantum.py runs at a tiny size and prints one JSON line (figures are
not checked), with PennyLane and with PennyLane made unimportable."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_quantum.py"
ARGUMENTS = ["--batch", "4", "--qubits", "2", "--reference-circuits", "1",
             "--reference-noisy-circuits", "1", "--scaling-statevector-qubits", "2", "3",
             "--scaling-noisy-qubits", "2", "2", "--repeats", "1"]
# Runs the script with pennylane blocked (an import of it raises ImportError).
WITHOUT_PENNYLANE = ("import runpy, sys; sys.modules['pennylane'] = None; "
                     "sys.path.insert(0, sys.argv[1]); sys.argv = sys.argv[1:]; "
                     "runpy.run_path(sys.argv[0] + '/bench_quantum.py', run_name='__main__')")


@pytest.mark.parametrize("block_pennylane", [False, True])
def test_bench_quantum_prints_one_json_line(block_pennylane):
    pennylane_importable = importlib.util.find_spec("pennylane") is not None
    command = ([sys.executable, "-c", WITHOUT_PENNYLANE, str(SCRIPT.parent)] if block_pennylane
               else [sys.executable, str(SCRIPT)])
    completed = subprocess.run(command + ARGUMENTS, capture_output=True, text=True, check=True,
                               timeout=300)
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["torch_threads"] == 1 and figures["device"] == "cpu"
    setting = figures["results"]["2_qubits"]["statevector_vs_default_qubit"]
    assert setting["batched_evaluations_per_s"] > 0
    assert set(figures["scaling"]["statevector_seconds_per_batch"]) == {"2", "3"}
    missing = block_pennylane or not pennylane_importable
    assert (figures["reference"] is None) == missing
    assert (figures["reference_missing"] is not None) == missing
    assert (setting["ratio_batched_over_reference"] is None) == missing
