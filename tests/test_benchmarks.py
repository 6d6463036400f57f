"""The benchmark scripts run and print one JSON line (tiny sizes; figures are not checked)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script, arguments", [
    ("bench_sor_sweeps.py", ["--batch", "4", "--grid", "8", "--sweeps", "3", "--repeats", "1"]),
    ("bench_vector_env.py", ["--num-envs", "8", "--steps", "2", "--sync-steps", "1"]),
    ("bench_vector_env.py", ["--env-id", "tunegym/Coverage-v0", "--num-envs", "8", "--steps",
                             "2", "--sync-steps", "1"]),
    ("bench_subpo.py", ["--episodes", "8", "--reference-episodes", "1", "--repeats", "1"]),
    ("bench_schedules.py", ["--schedules", "3", "--reference-schedules", "2", "--samples",
                            "16", "--dimension", "3", "--nfe", "4"]),
])
def test_benchmark_prints_one_json_line(script, arguments):
    completed = subprocess.run([sys.executable, str(BENCHMARKS / script), *arguments],
                               capture_output=True, text=True, check=True, timeout=300)
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["torch_threads"] == 1 and figures["results"]
    assert figures["date"] and figures["device"] == "cpu"
