"""``tunegym reproduce`` on a family registered from the test suite: the baselines and a
trained config become rows, and ``reproduce``'s table is the leaderboard's on those rows."""

import json

import gymnasium
import numpy as np
import pytest
import torch

from tunegym.cli import main
from tunegym.core import BatchedEnv, FamilyRecord, derive_envs, register_family
from tunegym.core.random import hash_keys, uniform
from tunegym.evaluation.leaderboard import build_leaderboard
from tunegym.reproduce import comparison_configs, reproduce

TOY_ID = "tunegymtest/Dial-v0"
#: The dial positions; the hidden target of a round is one of them.
POSITIONS = 6


class Leftmost:
    """Always the position 0 (the family's fixed baseline)."""

    def __init__(self, env):
        self.env = env

    def act(self, observation):
        return torch.zeros(self.env.num_envs, dtype=torch.int64, device=self.env.device)


class DialEnv(BatchedEnv):
    """Turn a dial to a hidden target: ``rounds`` rounds, reward -|action - target|; the
    target of every round is position 0 with probability 1/2, else uniform (so position 0
    is the best fixed action)."""

    family = "dial"
    raw_metric = "distance"
    reward_description = "-|action - target|"
    record = FamilyRecord(name="dial", title="Dial (a toy family)",
                          short_episode_kwargs={"rounds": 2},
                          baselines={"leftmost": Leftmost})

    def __init__(self, num_envs=1, device="cpu", split="train", rounds=4):
        super().__init__(num_envs, device, split)
        self.rounds = rounds
        self.single_observation_space = gymnasium.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.single_action_space = gymnasium.spaces.Discrete(POSITIONS)

    @property
    def max_episode_steps(self):
        return self.rounds

    def initial_state(self, seeds):
        return {"key": hash_keys(self.split_key, seeds), "round": torch.zeros_like(seeds)}

    def target(self, state):
        """The target of each env's current round, int64 (b,)."""
        draws = uniform(hash_keys(state["key"], state["round"]), (2,), stream=1)
        uniform_target = (draws[:, 1] * POSITIONS).long().clamp(max=POSITIONS - 1)
        return torch.where(draws[:, 0] < 0.5, 0, uniform_target)

    def observe(self, state):
        return torch.zeros(state["round"].shape[0], 1, dtype=torch.float32,
                           device=state["round"].device)

    def transition(self, state, action):
        distance = (action.long() - self.target(state)).abs().to(torch.float64)
        next_round = state["round"] + 1
        truncated = next_round >= self.rounds
        return ({**state, "round": next_round}, (-distance).to(torch.float32),
                torch.zeros_like(truncated), truncated, {"distance": distance})


DialGymEnv, DialVectorEnv = derive_envs(DialEnv)


@pytest.fixture(scope="module")
def toy_family(tmp_path_factory):
    register_family(TOY_ID, __name__, "Dial", {"rounds": 4})
    folder = tmp_path_factory.mktemp("dial")
    config = folder / "dial_exp3.yaml"
    config.write_text(json.dumps({"env": TOY_ID, "agent": "EXP3", "timesteps": 640,
                                  "num_envs": 16, "seeds": [0, 1]}))
    yield config
    gymnasium.registry.pop(TOY_ID)


def expected_return(env_id, action_of_round, seed):
    """The return of one test episode by hand: the targets from the env's own draws."""
    env = DialEnv(num_envs=1, split="test", rounds=4)
    state = env.initial_state(torch.tensor([seed]))
    total = 0.0
    for round_number in range(4):
        target = int(env.target({**state, "round": torch.tensor([round_number])})[0])
        total -= abs(action_of_round(round_number) - target)
    return total


def test_reproduce_ranks_its_rows_as_the_leaderboard_does(toy_family, tmp_path, capsys):
    result = reproduce(TOY_ID, num_seeds=8, output_dir=tmp_path, configs=[str(toy_family)],
                       reps=100)
    agents = {row["agent"] for row in result.rows}
    assert agents == {"baseline:random", "baseline:leftmost", "dial_exp3"}
    by_agent = {agent: [row for row in result.rows if row["agent"] == agent]
                for agent in agents}
    assert len(by_agent["dial_exp3"]) == 16                        # 2 training seeds x 8
    assert len({row["checkpoint"] for row in by_agent["dial_exp3"]}) == 2
    for row in by_agent["baseline:leftmost"]:                      # against the hand count
        assert row["episode_return"] == expected_return(TOY_ID, lambda _: 0, row["seed"])
    assert result.paper is None                                    # the toy family has none
    # the same rows through the leaderboard (code and command) give the same table
    again = build_leaderboard([result.rows_file], tmp_path / "again", include_shipped=False,
                              reps=100)
    assert (tmp_path / "again" / "leaderboard.md").read_text() == result.table
    assert again["tables"] == result.leaderboard["tables"]
    assert main(["leaderboard", str(result.rows_file), "--no-shipped", "--reps", "100",
                 "--output-dir", str(tmp_path / "command")]) == 0
    assert result.table in capsys.readouterr().out
    (table,) = result.leaderboard["tables"]
    assert table["family"] == "dial" and table["envs"] == [TOY_ID]
    leftmost = next(summary for summary in table["agents"]
                    if summary["agent"] == "baseline:leftmost")
    assert leftmost["mean"]["point"] == pytest.approx(1.0)        # the anchor scores 1
    assert "anchored on the baseline rows of the results" in result.table


def test_reproduce_command_and_bad_input(toy_family, tmp_path, capsys):
    assert main(["reproduce", TOY_ID, "--seeds", "4", "--configs", str(toy_family),
                 "--timesteps", "320", "--train-seeds", "3", "--reps", "50",
                 "--output-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "## Dial (a toy family): tunegymtest/Dial-v0" in printed
    rows = [json.loads(line) for line in
            (tmp_path / "tunegymtest_Dial-v0_rows.jsonl").read_text().splitlines()]
    assert {row["checkpoint"].split("/")[-2] for row in rows if row["checkpoint"]} == {"seed_3"}
    with pytest.raises(ValueError, match="config 'nope' is not shipped|does not exist"):
        comparison_configs(TOY_ID, ["nope"])
    with pytest.raises(ValueError, match="trains on tunegym/SOR-v0, not on an env of"):
        comparison_configs(TOY_ID, ["sor_chebcb"])
    with pytest.raises(SystemExit, match="num_seeds must be an integer >= 1"):
        main(["reproduce", TOY_ID, "--seeds", "0", "--configs", str(toy_family)])
