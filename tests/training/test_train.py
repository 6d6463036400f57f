"""Training configs: validation errors name the key; a run writes TensorBoard tags,
checkpoints and a summary; resume continues the step count with no lost steps; every
shipped config loads."""

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tunegym.training import TrainConfig, train

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TINY = {"env": "tunegym/SOR-v0", "agent": "PPO", "timesteps": 256, "num_envs": 4,
        "env_kwargs": {"sequence_length": 4}, "checkpoint_every": 128,
        "agent_kwargs": {"n_steps": 32, "batch_size": 64}}


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda path: path.name)
def test_shipped_configs_load(path):
    config = TrainConfig.load(path)
    assert config.name == path.stem and config.timesteps >= 1


@pytest.mark.parametrize("change, message", [
    ({"timestep": 10}, "unknown config key 'timestep'; did you mean 'timesteps'"),
    ({"env": "tunegym/SOR-v1"}, "unknown env id 'tunegym/SOR-v1'; did you mean 'tunegym/SOR-v0'"),
    ({"agent": "PP0"}, "unknown agent 'PP0'; did you mean 'PPO'"),
    ({"timesteps": "many"}, "'timesteps' must be int"),
    ({"timesteps": 0}, "'timesteps' must be >= 1"),
    ({"seeds": [0, -1]}, "'seeds'"),
    ({"agent": "SAC"}, "SAC cannot act on"),
    ({"env_kwargs": {"variance": "huge"}}, "'env_kwargs' is rejected"),
    ({"curriculum": {"initial": 0.1}}, "'curriculum' applies to SB3 agents on quantum"),
])
def test_bad_configs_are_rejected_naming_the_key(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig.from_mapping({**TINY, **change})


def test_missing_keys_and_files():
    with pytest.raises(ValueError, match="missing the required key"):
        TrainConfig.from_mapping({"env": "tunegym/SOR-v0"})
    with pytest.raises(ValueError, match="does not exist"):
        TrainConfig.load("no_such_config.yaml")


def test_a_run_logs_checkpoints_and_resumes_without_lost_steps(tmp_path):
    config = TrainConfig.from_mapping(TINY, name="tiny")
    (summary,) = train(config, output_dir=tmp_path)
    run = tmp_path / "tiny" / "seed_0"
    assert summary["env_steps"] == 256 and not summary["resumed"]
    assert (run / "checkpoint.zip").is_file() and not list(run.glob(".*"))
    assert json.loads((run / "summary.json").read_text())["env_steps"] == 256
    tags = set()
    for events in (run / "tensorboard").rglob("events.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    assert {"episode/reward", "episode/iterations", "rollout/ep_rew_mean"} <= tags
    longer = TrainConfig.from_mapping({**TINY, "timesteps": 384}, name="tiny")
    (resumed,) = train(longer, output_dir=tmp_path, resume=True)
    assert resumed["resumed"] and resumed["env_steps"] == 384


def test_cli_trains_evaluates_and_validates(tmp_path, capsys):
    from tunegym.cli import main

    config = tmp_path / "cli.yaml"
    config.write_text("env: tunegym/SolverSchedule-v0\nagent: PPO\ntimesteps: 64\n"
                      "num_envs: 4\nagent_kwargs: {n_steps: 16, batch_size: 32}\n")
    runs, results = tmp_path / "runs", tmp_path / "results" / "cli"
    assert main(["train", str(config), "--output-dir", str(runs)]) == 0
    assert json.loads(capsys.readouterr().out)["env_steps"] == 64
    checkpoint = runs / "cli" / "seed_0" / "checkpoint.zip"
    assert main(["evaluate", "--env", "tunegym/SolverSchedule-v0", "--agent", str(checkpoint),
                 "--seeds", "2", "--output", str(results)]) == 0
    assert main(["validate", str(results) + ".jsonl"]) == 0
    assert "all rows replay" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="tunegym train: unknown config key 'agnt'"):
        config.write_text("env: tunegym/SOR-v0\nagnt: PPO\n")
        main(["train", str(config)])


def test_a_killed_run_resumes_to_its_budget(tmp_path):
    """Kill `tunegym train` after its first checkpoint; --resume finishes the budget from
    the checkpoint's step count, and no partial checkpoint is left behind."""
    import signal
    import subprocess
    import sys
    import time

    config = tmp_path / "killed.yaml"
    config.write_text("env: tunegym/SolverSchedule-v0\nagent: PPO\ntimesteps: 1536\n"
                      "num_envs: 4\ncheckpoint_every: 64\n"
                      "agent_kwargs: {n_steps: 16, batch_size: 32}\n")
    command = [sys.executable, "-m", "tunegym.cli", "train", str(config), "--output-dir",
               str(tmp_path / "runs")]
    run = tmp_path / "runs" / "killed" / "seed_0"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run / "checkpoint.zip").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (run / "checkpoint.zip").is_file() and not (run / "summary.json").is_file()
    from stable_baselines3 import PPO

    saved = PPO.load(run / "checkpoint.zip").num_timesteps
    assert 0 < saved < 1536
    completed = subprocess.run(command + ["--resume"], capture_output=True, text=True,
                               check=True, timeout=300)
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    assert summary["resumed"] and summary["env_steps"] == 1536
    assert not list(run.glob(".*"))


def test_an_sb3_run_records_the_best_design_it_evaluated(tmp_path):
    import gymnasium
    import numpy as np

    config = TrainConfig.from_mapping(
        {"env": "tunegym/AcceleratorDesign-v0", "env_kwargs": {"workload": "alexnet"},
         "agent": "PPO", "timesteps": 128, "num_envs": 8,
         "agent_kwargs": {"n_steps": 16, "batch_size": 64}}, name="design")
    (summary,) = train(config, output_dir=tmp_path)
    env = gymnasium.make("tunegym/AcceleratorDesign-v0", workload="alexnet")
    env.reset(seed=0)
    _, reward, _, _, _ = env.step(np.array(summary["best_action"]))
    assert reward == summary["best_reward"] > -10.0
