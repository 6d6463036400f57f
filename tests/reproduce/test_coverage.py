"""The coverage comparison: every policy runs and is scored; files are written."""

import json

import pytest

from tunegym.reproduce.coverage import compare, run_comparison

SMALL = {"height": 8, "width": 8, "horizon": 12}


def test_subpo_learns_beyond_random_and_modular_ppo_is_scored():
    outcome = run_comparison("tunegym/Coverage-v0", num_seeds=32, subpo_updates=30,
                             subpo_batch=128, ppo_timesteps=2048, **SMALL)
    values = {name: float(value.mean()) for name, value in outcome["values"].items()}
    assert set(values) == {"Random walk", "Greedy marginal gain", "SubPO (markov)",
                           "SubPO (history)", "Modular RL (PPO, additive reward)"}
    assert values["Greedy marginal gain"] > values["Random walk"]
    assert values["SubPO (markov)"] > 1.5 * values["Random walk"]
    assert values["SubPO (history)"] > 1.5 * values["Random walk"]
    # F at most every cell of the 8 x 8 grid covered
    assert max(values.values()) <= 64 + 1e-9
    assert outcome["curves"]["SubPO (markov)"][-1][0] == 30 * 128 * 12


def test_compare_writes_table_json_and_png(tmp_path):
    outcome = compare("tunegym/ItemCollection-v0", num_seeds=4, output_dir=tmp_path,
                      subpo_updates=2, subpo_batch=16, ppo_timesteps=1024, horizon=6)
    assert "| Greedy marginal gain |" in outcome["table"]
    summary = json.loads((tmp_path / "tunegym_ItemCollection-v0_results.json").read_text())
    assert len(summary["objective_values"]["Random walk"]) == 4
    assert (tmp_path / "tunegym_ItemCollection-v0_training.png").read_bytes()[:4] == b"\x89PNG"


def test_unknown_kwargs_are_rejected():
    with pytest.raises(TypeError):
        run_comparison("tunegym/Coverage-v0", num_seeds=2, sequence_length=3)
