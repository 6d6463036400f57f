"""The solver-schedule comparison: every row is scored at every NFE; files are written."""

import json

from tunegym.baselines.solver_schedule import FIXED_SOLVERS
from tunegym.reproduce.solver_schedule import PPO, SEARCHED, compare

TINY = {"nfes": (3, 4), "search_instances": 2, "search_samples": 16, "search_rounds": 1,
        "ppo_timesteps": 512, "num_samples": 16, "dimension": 3}


def test_compare_scores_every_solver_and_writes_files(tmp_path):
    outcome = compare("tunegym/SolverSchedule-v0", num_seeds=4, output_dir=tmp_path, **TINY)
    summary = json.loads((tmp_path / "tunegym_SolverSchedule-v0_results.json").read_text())
    rows = summary["mean_errors"]
    assert len(rows) == len(FIXED_SOLVERS) * 3 + 2 and SEARCHED in rows and PPO in rows
    assert all(set(row) == {"3", "4"} and all(value > 0 for value in row.values())
               for row in rows.values())
    assert "| search / best fixed |" in outcome["table"]
    assert len(summary["searched_schedules"]["4"]) == 5 * 4
    assert (tmp_path / "tunegym_SolverSchedule-v0_errors.png").read_bytes()[:4] == b"\x89PNG"
