"""The compare job: every policy runs, oracles bound the grid policies, files are written."""

import json

import torch

from tunegym.cli import main
from tunegym.reproduce.sor import compare, run_comparison, run_heat_comparison


def test_comparison_orders_oracles_and_policies_consistently():
    runs = {run.name: run for run in run_comparison("tunegym/SOR-v0", num_seeds=2,
                                                    sequence_length=40)}
    expected = {"Gauss-Seidel (omega=1)", "Best fixed omega in hindsight",
                "Instance-optimal omega", "Young, model problem", "Young, per instance",
                "Tsallis-INF", "EXP3", "UCB1", "Tsallis-INF-CB", "ChebCB"}
    assert set(runs) == expected
    oracle = runs["Instance-optimal omega"].iterations
    for run in runs.values():
        assert run.iterations.shape == (40, 2)
        if run.kind == "agent" or run.name.startswith(("Gauss", "Best")):
            # every grid policy pays at least the per-instance minimum over the grid
            assert bool((run.iterations >= oracle).all()), run.name
    assert bool((runs["Best fixed omega in hindsight"].totals
                 <= runs["Gauss-Seidel (omega=1)"].totals).all())


def test_same_seed_same_numbers():
    first = run_comparison("tunegym/SOR-v0", num_seeds=1, sequence_length=15)
    second = run_comparison("tunegym/SOR-v0", num_seeds=1, sequence_length=15)
    for a, b in zip(first, second):
        assert a.name == b.name and torch.equal(a.iterations, b.iterations)


def test_compare_writes_table_json_and_png(tmp_path):
    outcome = compare("tunegym/SOR-v0", num_seeds=1, output_dir=tmp_path, sequence_length=10)
    assert "| ChebCB | agent |" in outcome["table"]
    summary = json.loads((tmp_path / "tunegym_SOR-v0_results.json").read_text())
    assert summary["sequence_length"] == 10 and summary["variances"] == ["high"]
    assert len(summary["total_iterations"]["high"]) == 10
    for name in ("cumulative", "regret"):
        assert (tmp_path / f"tunegym_SOR-v0_{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temp files


def test_cli_compare_runs_end_to_end(tmp_path, capsys):
    assert main(["compare", "tunegym/SORHeat-v0", "--paper-only", "--paper-seeds", "1",
                 "--sequence-length", "5", "--output-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "Instance-optimal omega" in captured.out and "wrote" in captured.out
    assert "tunegym compare is now `tunegym reproduce`" in captured.err


def test_cli_passes_env_kwargs_and_rejects_bad_ones(tmp_path, capsys):
    import pytest

    assert main(["reproduce", "tunegym/SOR-v0", "--paper-only", "--paper-seeds", "1",
                 "--output-dir", str(tmp_path),
                 "--env-kwargs", '{"sequence_length": 4, "grid_size": 6}']) == 0
    summary = json.loads((tmp_path / "tunegym_SOR-v0_results.json").read_text())
    assert summary["env_overrides"] == {"sequence_length": 4, "grid_size": 6}
    with pytest.raises(SystemExit, match="JSON object"):
        main(["reproduce", "tunegym/SOR-v0", "--paper-only", "--env-kwargs", "[1]"])
    with pytest.raises(SystemExit, match="grid_size"):
        main(["reproduce", "tunegym/SOR-v0", "--paper-only", "--env-kwargs",
              '{"grid_size": 1}'])
    with pytest.raises(SystemExit, match="has no paper experiment"):
        main(["reproduce", "tunegym/DRAMController-v0", "--paper-only"])


def test_cli_rejects_an_unknown_env_id():
    import pytest

    with pytest.raises(SystemExit, match="is not registered"):
        main(["compare", "tunegym/Nope-v0"])


def test_rollout_updates_policies_with_the_context_they_acted_on():
    from tunegym.envs.sor import SOREnv
    from tunegym.reproduce.sor import _iterations

    class Recorder:
        num_envs = 2

        def __init__(self):
            self.acted, self.updated = [], []

        def act(self, observation):
            self.acted.append(observation.clone())
            return torch.zeros(2, dtype=torch.int64)

        def update(self, observation, actions, rewards):
            self.updated.append(observation.clone())

    recorder = Recorder()
    env = SOREnv(num_envs=2, sequence_length=4)
    _iterations(env, torch.arange(2), [recorder])
    assert len(recorder.acted) == 4
    for acted, updated in zip(recorder.acted, recorder.updated):
        assert torch.equal(acted, updated)
    assert not torch.equal(recorder.acted[0], recorder.acted[1])


def test_learners_reproduce_the_papers_qualitative_result():
    """On 500 shifted-Poisson instances: by the last fifth ChebCB beats the best fixed
    omega in hindsight (it has learned the shift -> omega map), and every learner's
    cost per instance falls between the first and the last fifth of the sequence."""
    runs = {run.name: run for run in run_comparison("tunegym/SOR-v0", num_seeds=2,
                                                    sequence_length=500)}
    last_fifth = {name: float(run.iterations[-100:].to(torch.float64).mean())
                  for name, run in runs.items()}
    assert last_fifth["ChebCB"] < 0.9 * last_fifth["Best fixed omega in hindsight"]
    for name in ("Tsallis-INF", "EXP3", "UCB1", "Tsallis-INF-CB", "ChebCB"):
        iterations = runs[name].iterations.to(torch.float64)
        assert float(iterations[-100:].mean()) < 0.8 * float(iterations[:100].mean()), name


def test_paper_setting_runs_both_shift_distributions_and_writes_the_regret_plot(tmp_path):
    outcome = compare("tunegym/SORLearningToRelax-v0", num_seeds=1, output_dir=tmp_path,
                      sequence_length=12)
    assert "**high variance**" in outcome["table"] and "**low variance**" in outcome["table"]
    summary = json.loads((tmp_path / "tunegym_SORLearningToRelax-v0_results.json").read_text())
    assert summary["variances"] == ["high", "low"] and summary["num_seeds"] == 1
    high, low = (summary["total_iterations"][v]["Best fixed omega in hindsight"][0]
                 for v in ("high", "low"))
    assert low < high            # low-variance shifts sit further from singularity
    for name in ("regret", "cumulative"):
        path = tmp_path / f"tunegym_SORLearningToRelax-v0_{name}.png"
        assert path.read_bytes()[:4] == b"\x89PNG"


def test_paper_learner_settings_reach_the_learners():
    from tunegym.agents.bandits import TsallisINFContextBins
    from tunegym.reproduce import sor

    built = []
    original = TsallisINFContextBins.__init__

    def recording(self, *arguments, **kwargs):
        built.append(kwargs.get("num_bins"))
        original(self, *arguments, **kwargs)

    with __import__("pytest").MonkeyPatch.context() as patch:
        patch.setattr(TsallisINFContextBins, "__init__", recording)
        sor.run_comparison("tunegym/SORLearningToRelax-v0", num_seeds=1, sequence_length=2)
        sor.run_heat_comparison("tunegym/SORHeat-v0", num_seeds=1, sequence_length=2)
    assert built == [5, None]           # contextual.m's 5 bins; h2d.m's 6 (the default)


def test_heat_experiment_orders_policies_and_times_them():
    runs = {run.name: run for run in run_heat_comparison(
        "tunegym/SORHeat-v0", num_seeds=2, sequence_length=30, start="paper", grid_size=15)}
    oracle = runs["Instance-optimal omega"]
    assert oracle.iterations.shape == (30, 1)          # one simulation: start="paper"
    assert runs["ChebCB"].iterations.shape == (30, 2)  # the learners' two trials
    for name, run in runs.items():
        if name != "CG (no preconditioner)":
            # every SSOR-PCG policy pays at least the per-step minimum over the grid
            assert bool((run.iterations >= oracle.iterations[:, :1]).all()), name
        assert (run.seconds_per_sequence is None) == (run.kind == "oracle"
                                                      and name.startswith("Instance"))
    best = next(run for name, run in runs.items() if name.startswith("Best fixed"))
    assert float(best.totals[0]) <= float(runs["omega = 1"].totals[0])
    # SSOR preconditioning pays for itself in iterations against plain CG.
    assert float(best.totals[0]) < float(runs["CG (no preconditioner)"].totals[0])


def test_heat_experiment_rejects_a_non_heat_id():
    import pytest

    with pytest.raises(ValueError, match="not a heat-problem id"):
        run_heat_comparison("tunegym/SOR-v0", num_seeds=1, sequence_length=2)


def test_cli_full_reproduce_keeps_row_seeds_and_paper_seeds_apart(tmp_path, capsys):
    """--seeds (rows) and --paper-seeds (the paper experiment) in one full run."""
    assert main(["reproduce", "tunegym/SOR-v0", "--seeds", "2", "--timesteps", "64",
                 "--train-seeds", "0", "--configs", "sor_chebcb", "--paper-seeds", "1",
                 "--sequence-length", "6", "--reps", "50", "--output-dir", str(tmp_path)]) == 0
    rows = [json.loads(line) for line in
            (tmp_path / "tunegym_SOR-v0_rows.jsonl").read_text().splitlines()]
    assert sorted({row["seed"] for row in rows}) == [0, 1]
    summary = json.loads((tmp_path / "tunegym_SOR-v0_results.json").read_text())
    assert summary["num_seeds"] == 1 and summary["sequence_length"] == 6
