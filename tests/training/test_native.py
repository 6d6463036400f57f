"""tunegym's own agents trained from configs: the run equals the agent driven by hand on
the same episodes, writes the shared TensorBoard tags, checkpoints and resumes with no
lost steps, and its checkpoint plays as a policy."""

import copy

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import tunegym
from tunegym.agents.bandits import ChebCB, TsallisINF
from tunegym.agents.policies import load_policy
from tunegym.agents.subpo import SubPO
from tunegym.core import rollout
from tunegym.training import TrainConfig, train

SOR = {"env": "tunegym/SOR-v0", "num_envs": 3, "env_kwargs": {"sequence_length": 5}}
RUN_SEED_STRIDE = 1_000_000_007  # the native runner's episode seeds: seed * stride + steps


def scalar_tags(run_dir):
    tags = set()
    for events in (run_dir / "tensorboard").rglob("events.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    return tags


def bandit_by_hand(agent, env, steps, seed):
    """The online loop written out: act, step, learn, autoreset; returns the agent."""
    observation = env.reset(torch.arange(env.num_envs) + seed * RUN_SEED_STRIDE)
    for _ in range(steps):
        action = agent.act(observation)
        next_observation, reward, terminated, truncated, _ = env.step(action)
        agent.update(observation, action, reward)
        done = terminated | truncated
        observation = env.autoreset(done) if bool(done.any()) else next_observation
    return agent


@pytest.mark.parametrize("agent_class, name", [(TsallisINF, "TsallisINF"), (ChebCB, "ChebCB")])
def test_a_bandit_run_equals_the_loop_by_hand(tmp_path, agent_class, name):
    config = TrainConfig.from_mapping({**SOR, "agent": name, "timesteps": 36}, name="bandit")
    (summary,) = train(config, output_dir=tmp_path)
    run = tmp_path / "bandit" / "seed_0"
    assert summary["env_steps"] == 36 and summary["mean_iterations"] > 0
    assert {"episode/reward", "episode/iterations"} <= scalar_tags(run)
    assert not list(run.glob(".*"))
    trained = torch.load(run / "checkpoint.pt", weights_only=False)["agent"]
    env = tunegym.make_batched_env("tunegym/SOR-v0", 3, sequence_length=5)
    reference = bandit_by_hand(agent_class.from_spaces(env.single_observation_space,
                                                       env.single_action_space, num_envs=3,
                                                       seed=0), env, 12, seed=0)
    observation = torch.full((3, 1), 0.4, dtype=torch.float64)
    torch.testing.assert_close(trained.probabilities(observation),
                               reference.probabilities(observation), rtol=0, atol=0)


def test_a_resumed_bandit_run_loses_no_steps(tmp_path):
    first = TrainConfig.from_mapping({**SOR, "agent": "UCB1", "timesteps": 30}, name="ucb")
    train(first, output_dir=tmp_path)
    longer = TrainConfig.from_mapping({**SOR, "agent": "UCB1", "timesteps": 60}, name="ucb")
    (summary,) = train(longer, output_dir=tmp_path, resume=True)
    assert summary["resumed"] and summary["env_steps"] == 60
    agent = torch.load(tmp_path / "ucb" / "seed_0" / "checkpoint.pt", weights_only=False)["agent"]
    # 60 env steps over 3 envs: every copy played 20 rounds, none lost or repeated.
    assert agent.play_counts.sum(dim=1).tolist() == [20.0, 20.0, 20.0]


def test_a_subpo_run_equals_train_steps_by_hand(tmp_path):
    values = {"env": "tunegym/Coverage-v0", "agent": "SubPO", "num_envs": 8,
              "env_kwargs": {"horizon": 4}, "timesteps": 8 * 4 * 3}
    (summary,) = train(TrainConfig.from_mapping(values, name="subpo"), output_dir=tmp_path)
    assert summary["env_steps"] == 96 and summary["mean_objective_value"] > 0
    assert {"episode/reward", "episode/objective_value"} <= scalar_tags(
        tmp_path / "subpo" / "seed_0")
    trained = torch.load(tmp_path / "subpo" / "seed_0" / "checkpoint.pt",
                         weights_only=False)["agent"]
    env = tunegym.make_batched_env("tunegym/Coverage-v0", 8, horizon=4)
    reference = SubPO(env.single_observation_space.shape[0], seed=0)
    for update in range(3):
        reference.train_step(env, torch.arange(8) + update * 32)
    for ours, theirs in zip(trained.network.parameters(), reference.network.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_a_bandit_checkpoint_plays_online_and_replays(tmp_path):
    config = TrainConfig.from_mapping({**SOR, "agent": "EXP3", "timesteps": 15}, name="exp3")
    train(config, output_dir=tmp_path)
    factory, summary = load_policy(tmp_path / "exp3" / "seed_0" / "checkpoint.pt")
    assert summary["agent"] == "EXP3"
    policies = []

    def make(env):
        policies.append(factory(env))
        return policies[-1]

    def returns(seeds):
        return rollout("tunegym/SOR-v0", make, seeds, env_kwargs={"sequence_length": 5},
                       trace=("omega",))

    alone = returns([3])
    before = copy.deepcopy(policies[0].trained.cumulative_loss_estimates)
    batched = returns([4, 3])
    # an episode replays exactly, alone or beside another (each copy has its own generator)
    torch.testing.assert_close(batched.trace["omega"][:, 1], alone.trace["omega"][:, 0])
    assert batched.returns[1] == alone.returns[0]
    # it learns online: the second half of the sequence is played by an updated copy
    assert policies[1].copies[1].cumulative_loss_estimates.ne(before).any()
    # learning during an episode never leaks into the trained state the next one starts from
    torch.testing.assert_close(policies[1].trained.cumulative_loss_estimates, before)


@pytest.mark.parametrize("change, message", [
    ({"agent": "SubPO"}, "SubPO needs a coverage env"),
    ({"agent": "ChebCB", "policy": "MlpPolicy"}, "'policy' applies to SB3 agents only"),
    ({"agent": "ChebCB", "env": "tunegym/SORHeat-v0", "env_kwargs": {},
      "curriculum": {"initial": 0.1}}, "'curriculum' applies to SB3 agents"),
    ({"agent": "ScheduleSearch", "env": "tunegym/SolverSchedule-v0", "env_kwargs": {}},
     r"ScheduleSearch needs a solver_schedule \(OneShot\) env"),
    ({"agent": "TsallisINF", "env": "tunegym/SolverScheduleOneShot-v0", "env_kwargs": {}},
     "TsallisINF cannot act on"),
    ({"agent": "ChebCBB"}, "unknown agent 'ChebCBB'; did you mean 'ChebCB'"),
])
def test_bad_native_configs_name_the_key(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_mapping({**SOR, "timesteps": 10, "agent": "ChebCB", **change})


def test_schedule_search_runs_within_its_budget(tmp_path):
    values = {"env": "tunegym/SolverScheduleOneShot-v0", "agent": "ScheduleSearch",
              "num_envs": 1, "env_kwargs": {"nfe": 3, "num_samples": 16},
              "agent_kwargs": {"num_instances": 2, "initial_samples": 8, "evaluate_top": 4,
                               "generations": 2, "population": 16, "predictor_steps": 20},
              "timesteps": 2 * (8 + 2 * 4)}
    (summary,) = train(TrainConfig.from_mapping(values, name="s3"), output_dir=tmp_path)
    assert summary["env_steps"] <= values["timesteps"]
    factory, _ = load_policy(tmp_path / "s3" / "seed_0" / "checkpoint.pt")
    env = tunegym.make_batched_env(values["env"], 2, **values["env_kwargs"])
    assert factory(env).act(env.reset(torch.arange(2))).tolist() == [summary["best_design"]] * 2
    with pytest.raises(ValueError, match="must cover the 8 initial schedules"):
        train(TrainConfig.from_mapping({**values, "timesteps": 4}, name="s3"),
              output_dir=tmp_path)


def test_a_native_checkpoint_evaluates_and_validates(tmp_path, capsys):
    from tunegym.cli import main

    config = tmp_path / "subpo.yaml"
    config.write_text("env: tunegym/Coverage-v0\nagent: SubPO\ntimesteps: 640\nnum_envs: 8\n")
    runs, results = tmp_path / "runs", tmp_path / "results" / "subpo"
    assert main(["train", str(config), "--output-dir", str(runs)]) == 0
    checkpoint = runs / "subpo" / "seed_0" / "checkpoint.pt"
    assert main(["evaluate", "--env", "tunegym/Coverage-v0", "--agent", str(checkpoint),
                 "--seeds", "2", "--output", str(results)]) == 0
    assert main(["validate", str(results) + ".jsonl"]) == 0
    assert "all rows replay" in capsys.readouterr().out
