"""The shared design-env base: knob names <-> actions, the target-spec reward against
hand computations, invalid designs, observations, horizon, and forwarding of the knob
API to the gymnasium front ends."""

import math
from typing import ClassVar

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from tunegym.core import derive_envs
from tunegym.envs.design_space import DesignEnv, DesignSpace, Knob, target_distance

SPACE = DesignSpace([Knob("policy", ("Open", "Closed")), Knob("buffer", (1, 2, 4, 8), "entries"),
                     Knob("clock", (0.5, 1.0), "GHz")])


class ToyDesignEnv(DesignEnv):
    """latency = 8 / (buffer * clock) s, power = buffer * clock W (+1 W when Closed);
    buffer 1 with clock 0.5 is unrealisable."""

    design_space = SPACE
    metric_keys = ("latency_s", "power_w")
    metric_scales: ClassVar[dict[str, float]] = {"latency_s": 1.0, "power_w": 1.0}
    invalid_reasons = ("valid", "too slow to build")
    raw_metric = "latency_s"

    def default_targets(self):
        return {"latency_s": 2.0, "power_w": 4.0}

    def instance_state(self, seeds):
        return {}

    def evaluate_designs(self, state, designs):
        buffer = self.design_space.values(designs, "buffer")
        clock = self.design_space.values(designs, "clock")
        closed = designs[:, 0].double()
        metrics = {"latency_s": 8.0 / (buffer * clock), "power_w": buffer * clock + closed}
        invalid = ((buffer == 1) & (clock == 0.5)).long()
        return metrics, invalid


ToyDesignGymEnv, ToyDesignVectorEnv = derive_envs(ToyDesignEnv)


def test_encode_decode_round_trip_and_errors():
    for index in np.ndindex(*SPACE.nvec):
        action = np.array(index)
        assert np.array_equal(SPACE.encode(SPACE.decode(action)), action)
    assert SPACE.size == 16
    assert SPACE.decode([1, 2, 0]) == {"policy": "Closed", "buffer": 4, "clock": 0.5}
    with pytest.raises(ValueError, match="unknown knob 'bufer'; did you mean 'buffer'"):
        SPACE.encode({"policy": "Open", "bufer": 4, "clock": 1.0})
    with pytest.raises(ValueError, match="knob 'policy' must be one of .*did you mean 'Open'"):
        SPACE.encode({"policy": "open", "buffer": 4, "clock": 1.0})
    with pytest.raises(ValueError, match=r"design lacks the knobs \['clock'\]"):
        SPACE.encode({"policy": "Open", "buffer": 4})
    with pytest.raises(ValueError, match=r"action entries must lie in \[0, nvec\)"):
        SPACE.decode([0, 4, 0])
    with pytest.raises(ValueError, match="repeated choices"):
        Knob("x", (1, 1))


def test_target_distance_matches_hand_computation():
    metrics = {"latency_s": torch.tensor([1.0, 3.0]), "power_w": torch.tensor([4.0, 2.0])}
    targets = {"latency_s": 2.0, "power_w": 4.0}
    # match: |1-2|/2 + 0 and |3-2|/2 + |2-4|/4; at_most: 0 + 0 and 1/2 + 0.
    assert target_distance(metrics, targets, "match").tolist() == [0.5, 1.0]
    assert target_distance(metrics, targets, "at_most").tolist() == [0.0, 0.5]


def test_step_reward_info_observation_and_horizon():
    env = ToyDesignEnv(num_envs=3, horizon=2, targets={"latency_s": 2.0})
    env.reset(torch.arange(3))
    designs = torch.tensor([[0, 2, 1], [1, 0, 0], [0, 3, 1]])
    observation, reward, terminated, truncated, info = env.step(designs)
    # latency 2, invalid, 1 s: rewards -0, -10 (invalid), -|1 - 2|/2.
    assert reward.tolist() == [0.0, -10.0, -0.5]
    assert info["invalid_reason"].tolist() == [0, 1, 0]
    assert math.isinf(info["latency_s"][1]) and info["power_w"][2] == 8.0
    expected = [[math.log10(2.0), math.log10(4.0), 0.0, 0.5], [0.0, 0.0, 1.0, 0.5],
                [0.0, math.log10(8.0), 0.0, 0.5]]
    torch.testing.assert_close(observation, torch.tensor(expected, dtype=torch.float32))
    assert not terminated.any() and not truncated.any()
    _, _, _, truncated, _ = env.step(designs)
    assert truncated.all()


def test_gymnasium_front_ends_speak_knob_names():
    env = ToyDesignGymEnv()
    check_env(env, skip_render_check=True)
    assert env.knob_names == ("policy", "buffer", "clock")
    action = env.encode({"policy": "Closed", "buffer": 8, "clock": 1.0})
    env.reset(seed=0)
    _, reward, _, _, info = env.step(action)
    assert env.decode(action)["buffer"] == 8 and info["power_w"] == 9.0
    assert reward == -(abs(1.0 - 2.0) / 2.0 + abs(9.0 - 4.0) / 4.0)
    assert env.invalid_reasons[1] == "too slow to build"
    vector = ToyDesignVectorEnv(num_envs=2)
    assert vector.decode([0, 0, 0]) == {"policy": "Open", "buffer": 1, "clock": 0.5}
    with pytest.raises(AttributeError, match="no attribute 'state_of_the_art'"):
        _ = env.state_of_the_art
    assert isinstance(env.action_space, gymnasium.spaces.MultiDiscrete)


@pytest.mark.parametrize("kwargs, message", [
    ({"targets": {"latency": 1.0}}, "unknown metric 'latency'; did you mean 'latency_s'"),
    ({"targets": {"latency_s": -1.0}}, r"targets\['latency_s'\] must be a positive"),
    ({"targets": {}}, "targets must be a non-empty dict"),
    ({"target_mode": "below"}, "target_mode must be one of"),
    ({"invalid_reward": 1.0}, "invalid_reward must be a negative"),
    ({"horizon": 0}, "horizon must be an integer >= 1"),
])
def test_bad_kwargs_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ToyDesignEnv(**kwargs)
