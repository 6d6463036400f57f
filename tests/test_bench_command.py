"""``tunegym bench``: one table (or JSON list) of every script's headline figures; a
failing or misbehaving script is reported as a row, never a crash."""

import json

import pytest

from tunegym.cli import main
from tunegym.cli.bench import (
    BENCHMARKS,
    HEADLINE_KEYS,
    MACHINE_KEYS,
    Benchmark,
    check_headline_entry,
    format_table,
    run_benchmarks,
)

GOOD_ENTRY = {"figure": "things/s (B=4)", "ours": 10.0, "reference": 4.0,
              "reference_name": "one at a time", "ratio": 2.5, "unit": "things/s"}


def _script(tmp_path, name: str, body: str) -> Benchmark:
    path = tmp_path / name
    path.write_text(body)
    return Benchmark(str(path))


def test_bench_prints_a_table_and_reports_a_failing_script(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(BENCHMARKS, "broken", _script(
        tmp_path, "bench_broken.py", "raise RuntimeError('broken on purpose')\n"))
    assert main(["bench", "--quick", "--only", "broken", "schedules"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "| benchmark | figure | ours | reference | ratio | device | threads |"
    assert lines[2] == ("| broken | FAILED: exit status 1: RuntimeError: broken on purpose "
                        "| - | - | - | cpu | - |")
    cells = lines[3].strip("| ").split(" | ")
    assert cells[0] == "schedules"
    assert cells[1] == "diffusion schedule evaluations/s (S=3, 16 samples, d=3, NFE 4)"
    assert cells[3].endswith("(sample() once per schedule)") and cells[4].endswith("x")
    assert cells[5:] == ["cpu", "1"]
    assert len(lines) == 7                   # header, rule, 2 rows, blank, note, machine
    assert lines[-1].startswith("Machine: ")
    assert "running broken" in captured.err and "running schedules" in captured.err


def test_bench_json_rows(capsys):
    assert main(["bench", "--quick", "--only", "schedules", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    row = rows[0]
    check_headline_entry({key: row[key] for key in HEADLINE_KEYS})
    assert row["benchmark"] == "schedules" and row["script"] == "bench_schedules.py"
    assert row["device"] == "cpu" and row["torch_threads"] == 1 and row["error"] is None
    assert set(row["machine"]) == set(MACHINE_KEYS)


@pytest.mark.parametrize("stdout, error", [
    ("", "expected one JSON line on stdout, got 0 lines"),
    ("{}\n{}", "expected one JSON line on stdout, got 2 lines"),
    ("figures follow", "stdout is not JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
    ('{"device": "cpu"}', "the JSON lacks headline, torch_threads, date"),
])
def test_malformed_output_is_reported_as_a_row(tmp_path, stdout, error):
    body = f"print({stdout!r}, end='')\n"
    rows = run_benchmarks(["odd"], benchmarks={"odd": _script(tmp_path, "odd.py", body)})
    assert len(rows) == 1 and rows[0]["error"].startswith(f"bad output: {error}")
    assert all(rows[0][key] is None for key in (*HEADLINE_KEYS, "torch_threads", "machine"))
    assert "| odd | FAILED: bad output: " in format_table(rows)


def test_a_bad_headline_is_reported_with_the_reason(tmp_path):
    figures = {"headline": [{**GOOD_ENTRY, "ratio": 3.0}], "device": "cpu",
               "torch_threads": 1, **dict.fromkeys(MACHINE_KEYS, "x")}
    body = f"import json\nprint(json.dumps({figures!r}))\n"
    rows = run_benchmarks(benchmarks={"odd": _script(tmp_path, "odd.py", body)})
    assert rows[0]["error"].startswith("bad output: headline ratio must be ours / reference")


@pytest.mark.parametrize("change, message", [
    ({"figure": ""}, "figure must be a non-empty string"),
    ({"unit": None}, "unit must be a non-empty string"),
    ({"ours": 0.0}, "ours must be a positive finite number"),
    ({"ours": float("nan")}, "ours must be a positive finite number"),
    ({"ours": True}, "ours must be a positive finite number"),
    ({"reference": -1.0}, "reference must be a positive finite number or null"),
    ({"reference_name": None}, "reference_name must be a non-empty string"),
    ({"ratio": None}, "ratio must be ours / reference"),
    ({"reference": None}, "without a reference value must have null reference_name"),
    ({"extra": 1}, "exactly the keys"),
])
def test_malformed_headline_entries_are_refused(change, message):
    assert check_headline_entry(dict(GOOD_ENTRY)) == GOOD_ENTRY
    with pytest.raises(ValueError, match=message):
        check_headline_entry({**GOOD_ENTRY, **change})


def test_a_headline_without_reference_is_tabulated_with_dashes():
    entry = {**GOOD_ENTRY, "reference": None, "reference_name": None, "ratio": None}
    machine = {"date": "2026-01-01", "cpu": "CPU", "cpu_count": 2, "cuda_device": None,
               "torch_version": "2.0"}
    table = format_table([{"benchmark": "quantum", "script": "bench_quantum.py",
                           **check_headline_entry(entry), "device": "cpu",
                           "torch_threads": 1, "machine": machine, "error": None}])
    assert "| quantum | things/s (B=4) | 10 | - | - | cpu | 1 |" in table
    assert table.endswith("Machine: CPU (2 CPUs), torch 2.0, 2026-01-01.")


def test_unknown_names_and_devices_are_refused(capsys):
    with pytest.raises(ValueError, match="unknown benchmark.*'nope'.*known: sor_sweeps"):
        run_benchmarks(["nope"])
    with pytest.raises(ValueError, match="device must be one of cpu, cuda, got 'tpu'"):
        run_benchmarks(device="tpu")
    with pytest.raises(SystemExit):
        main(["bench", "--only", "nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err
