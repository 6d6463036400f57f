"""Sweeps: a grid x seeds of seeded runs gives the same final rewards on Ray as locally;
an interrupted sweep resumes; grid keys are validated like config keys; the report
shows the spread; ``tunegym sweep`` parses typed grid values."""

import json

import pytest

from tests.evaluation.test_backends import ray_cluster  # noqa: F401  (a module fixture)
from tunegym.cli import main
from tunegym.training import TrainConfig
from tunegym.training.sweep import parse_grid, sweep

TINY = {"env": "tunegym/Coverage-v0", "env_kwargs": {"horizon": 3}, "agent": "PPO",
        "timesteps": 192, "num_envs": 4, "agent_kwargs": {"n_steps": 16, "batch_size": 32}}
GRID = {"agent_kwargs.learning_rate": [0.001, 0.0003]}
#: one of tunegym's own agents (a bandit), on a short SOR sequence
NATIVE = {"env": "tunegym/SOR-v0", "env_kwargs": {"sequence_length": 4}, "agent": "UCB1",
          "timesteps": 32, "num_envs": 4}
NATIVE_GRID = {"env_kwargs.sequence_length": [2, 4]}


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The 2 combinations x 2 seeds sweep of TINY, on the local backend."""
    return sweep(TrainConfig.from_mapping(TINY, name="tiny"), GRID, [0, 1],
                 tmp_path_factory.mktemp("sweep") / "local")


def test_a_sweep_writes_one_row_per_run_and_the_spread(local_sweep):
    rows = local_sweep.rows
    assert [(row["slug"], row["seed"]) for row in rows] == [
        ("learning_rate=0.001", 0), ("learning_rate=0.001", 1),
        ("learning_rate=0.0003", 0), ("learning_rate=0.0003", 1)]
    assert rows[0]["combo"] == {"agent_kwargs.learning_rate": 0.001}
    assert all(row["raw_metric"] == "objective_value" and row["final_reward"] is not None
               and not row["reused"] for row in rows)
    output = local_sweep.jsonl.parent
    summary = json.loads((output / "learning_rate=0.0003" / "seed_1" / "summary.json")
                         .read_text())
    assert summary["config_values"]["agent_kwargs"]["learning_rate"] == 0.0003
    assert summary["mean_episode_reward"] == rows[3]["final_reward"]
    assert [json.loads(line) for line in local_sweep.jsonl.read_text().splitlines()] == rows
    report = local_sweep.markdown.read_text()
    assert "| learning_rate=0.001 | 2/2 |" in report and "## Whole sweep" in report
    assert local_sweep.plot.read_bytes().startswith(b"\x89PNG")


def test_an_interrupted_sweep_resumes(local_sweep):
    output = local_sweep.jsonl.parent
    (output / "learning_rate=0.001" / "seed_1" / "summary.json").unlink()
    resumed = sweep(TrainConfig.from_mapping(TINY, name="tiny"), GRID, [0, 1], output)
    assert [row["reused"] for row in resumed.rows] == [True, False, True, True]
    assert [row["final_reward"] for row in resumed.rows] == \
        [row["final_reward"] for row in local_sweep.rows]      # seeded: the rerun agrees
    with pytest.raises(ValueError, match="holds a run of another config"):
        sweep(TrainConfig.from_mapping({**TINY, "timesteps": 256}, name="tiny"), GRID, [0],
              output)


def without_time(rows):
    return [{key: value for key, value in row.items() if key not in ("wall_seconds", "reused")}
            for row in rows]


@pytest.mark.usefixtures("ray_cluster")
def test_the_ray_backend_gives_the_local_results(local_sweep, tmp_path):
    remote = sweep(TrainConfig.from_mapping(TINY, name="tiny"), GRID, [0, 1],
                   tmp_path / "ray", backend="ray")
    assert without_time(remote.rows) == without_time(local_sweep.rows)   # exactly equal
    native = TrainConfig.from_mapping(NATIVE, name="ucb")
    assert without_time(sweep(native, NATIVE_GRID, [0], tmp_path / "native_ray",
                              backend="ray").rows) == \
        without_time(sweep(native, NATIVE_GRID, [0], tmp_path / "native").rows)


def test_tunegyms_own_agents_are_swept_too(tmp_path):
    rows = sweep(TrainConfig.from_mapping(NATIVE, name="ucb"), NATIVE_GRID, [0, 1],
                 tmp_path).rows
    assert [row["slug"] for row in rows] == ["sequence_length=2"] * 2 + ["sequence_length=4"] * 2
    assert all(row["raw_metric"] == "iterations" and row["final_reward"] is not None
               for row in rows)


@pytest.mark.parametrize("grid, message", [
    ({"timestep": [64]}, "grid key 'timestep': unknown config key 'timestep'; did you"),
    ({"agent_kwargs.learning_rat": [0.1]}, "PPO takes no argument 'learning_rat'; did you"),
    ({"agent_kwargs.seed": [1]}, "PPO takes no argument 'seed'"),
    ({"seeds": [[0]]}, "the sweep sets 'seeds' itself"),
    ({"timesteps.steps": [1]}, "only env_kwargs, agent_kwargs, curriculum take"),
    ({"agent_kwargs": [{}]}, "give one entry"),
    ({"timesteps": []}, "must map to a non-empty list"),
    ({"timesteps": [0]}, "'timesteps' must be >= 1"),
    ({"env_kwargs.horizon": [0]}, r"combination \{'env_kwargs.horizon': 0\}: config key"),
    ({"env_kwargs.reward": ["a b", "a-b"]}, "the same folder name"),
])
def test_bad_grids_are_refused_before_any_run(grid, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        sweep(TrainConfig.from_mapping(TINY, name="tiny"), grid, [0], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_seeds_and_backend_are_refused(tmp_path):
    config = TrainConfig.from_mapping(TINY, name="tiny")
    with pytest.raises(ValueError, match="seeds: config key 'seeds' must be a non-empty list"):
        sweep(config, GRID, [-1], tmp_path)
    with pytest.raises(ValueError, match="backend must be one of"):
        sweep(config, GRID, [0], tmp_path, backend="dask")


def test_grid_values_are_typed():
    assert parse_grid(["agent_kwargs.learning_rate=0.001,3e-4", "env_kwargs.nfe=[4, 5],6",
                       "agent_kwargs.normalize_advantage=true,false",
                       "env_kwargs.reward=modular"]) == {
        "agent_kwargs.learning_rate": [0.001, 0.0003], "env_kwargs.nfe": [[4, 5], 6],
        "agent_kwargs.normalize_advantage": [True, False], "env_kwargs.reward": ["modular"]}
    for bad, message in [("timesteps", "must be KEY=VALUE"), ("timesteps=1,,2", "must be KEY"),
                         ("env_kwargs.nfe=[4", "is not valid YAML")]:
        with pytest.raises(ValueError, match=message):
            parse_grid([bad])
    with pytest.raises(ValueError, match="given twice"):
        parse_grid(["timesteps=1", "timesteps=2"])


def test_the_sweep_command(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(json.dumps(TINY))      # JSON is YAML
    assert main(["sweep", str(config), "--grid", "timesteps=64,128",
                 "--output-dir", str(tmp_path / "out")]) == 0
    assert "| timesteps=128 | 1/1 |" in capsys.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "out" / "sweep.jsonl").read_text()
            .splitlines()]
    assert [(row["combo"], row["seed"]) for row in rows] == [({"timesteps": 64}, 0),
                                                             ({"timesteps": 128}, 0)]
