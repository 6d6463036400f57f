"""The quantum architecture search comparison: rows, learning curve and files."""

import json

from tunegym.reproduce.quantum_arch_search import AGENT, compare


def test_compare_writes_rows_curve_and_files(tmp_path):
    outcome = compare("tunegym/QuantumArchSearch-v0", num_seeds=2, output_dir=tmp_path,
                      timesteps=512, eval_every=256, num_envs=4, max_gates=4,
                      optimiser_steps=5, curriculum=True)
    summary = json.loads((tmp_path / "tunegym_QuantumArchSearch-v0_results.json").read_text())
    assert set(summary["rows"]) == {"random legal gates", "hardware-efficient ansatz (1 layer)",
                                    "greedy gate by gate", AGENT}
    assert [point["env_steps"] for point in summary["curve"]] == [256, 512]
    for row in summary["rows"].values():
        assert 0.0 <= row["success_rate"] <= 1.0 and 1 <= row["mean_gates"] <= 4
    assert (tmp_path / "tunegym_QuantumArchSearch-v0_learning_curve.png").stat().st_size > 0
    assert AGENT in outcome["table"]
