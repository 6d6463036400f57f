"""The benchmark scripts run and print one JSON line with a well-formed headline (tiny
sizes: the ``--quick`` arguments of ``tunegym bench``; figures are not checked)."""

import importlib.util
import json
import subprocess
import sys

import pytest

from tunegym.cli.bench import (
    BENCHMARKS,
    BENCHMARKS_DIRECTORY,
    check_headline_entry,
    parse_benchmark_output,
)


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_benchmark_prints_one_json_line_with_a_headline(name):
    benchmark = BENCHMARKS[name]
    completed = subprocess.run([sys.executable, str(BENCHMARKS_DIRECTORY / benchmark.script),
                                *benchmark.quick_arguments],
                               capture_output=True, text=True, check=True, timeout=300)
    lines = completed.stdout.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["torch_threads"] == 1 and figures["results"]
    assert figures["date"] and figures["device"] == "cpu"
    assert parse_benchmark_output(completed.stdout)["headline"] == figures["headline"]
    for entry in figures["headline"]:
        assert check_headline_entry(entry)["ratio"] is not None   # every reference ran


def test_headline_entry_computes_the_ratio_and_refuses_bad_figures():
    spec = importlib.util.spec_from_file_location("benchmarks_machine",
                                                  BENCHMARKS_DIRECTORY / "machine.py")
    machine = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(machine)
    entry = machine.headline_entry("things/s (B=4)", "things/s", 10.0, 4.0, "one at a time")
    assert entry == {"figure": "things/s (B=4)", "ours": 10.0, "reference": 4.0,
                     "reference_name": "one at a time", "ratio": 2.5, "unit": "things/s"}
    assert machine.headline_entry("things/s", "things/s", 10.0)["ratio"] is None
    with pytest.raises(ValueError, match="reference must be a positive finite number"):
        machine.headline_entry("things/s", "things/s", 10.0, 0.0, "one at a time")
    with pytest.raises(ValueError, match="ours must be a positive finite number"):
        machine.headline_entry("things/s", "things/s", None, 4.0, "one at a time")
    with pytest.raises(ValueError, match="reference_name must be a non-empty string"):
        machine.headline_entry("things/s", "things/s", 10.0, 4.0)
