"""tunegym/DRAMController-v0: knobs, metrics against the simulator, targets, instances
per seed and split, custom traces, bad input."""

import gymnasium
import numpy as np
import pytest
import torch

import tunegym  # noqa: F401  (registers the ids)
from tunegym.envs.dram_controller import DESIGN_SPACE, DRAMControllerEnv
from tunegym.simulators import dram

KNOBS = ("page_policy", "scheduler", "scheduler_buffer", "request_buffer_size",
         "response_queue", "refresh_policy", "refresh_max_postponed", "refresh_max_pulledin",
         "arbiter", "max_active_transactions")
#: DRAMSys' default-like controller of ArchGym's policy.json (one-request bank buffers).
ARCHGYM_POLICY = {"page_policy": "Open", "scheduler": "Fifo", "scheduler_buffer": "Bankwise",
                  "request_buffer_size": 1, "response_queue": "Fifo",
                  "refresh_policy": "NoRefresh", "refresh_max_postponed": 1,
                  "refresh_max_pulledin": 1, "arbiter": "Simple", "max_active_transactions": 1}
FAST = {**ARCHGYM_POLICY, "scheduler": "FrFcfs", "request_buffer_size": 128,
        "refresh_policy": "AllBank", "refresh_max_postponed": 8}


def step_with(env, designs, seeds):
    env.reset(torch.as_tensor(seeds))
    return env.step(torch.as_tensor(np.stack([env.encode(design) for design in designs])))


def test_knobs_have_the_dramsys_names_and_archgym_ranges():
    env = gymnasium.make("tunegym/DRAMController-v0")
    assert env.unwrapped.knob_names == KNOBS
    assert DESIGN_SPACE.knobs[3].choices == (1, 2, 4, 8, 16, 32, 64, 128)
    assert DESIGN_SPACE.knobs[6].choices == tuple(range(1, 9))
    assert list(env.action_space.nvec) == [4, 3, 3, 8, 2, 2, 8, 8, 3, 8]
    assert env.unwrapped.decode(env.unwrapped.encode(FAST)) == FAST
    with pytest.raises(ValueError, match="knob 'page_policy' must be one of .*'Open'"):
        env.unwrapped.encode({**FAST, "page_policy": "open"})
    with pytest.raises(ValueError, match="knob 'request_buffer_size' must be one of"):
        env.unwrapped.encode({**FAST, "request_buffer_size": 3})


def test_metrics_are_the_simulators_on_the_episode_trace():
    env = DRAMControllerEnv(num_envs=2, num_requests=3000)
    observation, reward, terminated, truncated, info = step_with(env, [FAST, ARCHGYM_POLICY],
                                                                 [5, 6])
    for row in range(2):
        instance = (int(env.state["trace_index"][row]), int(env.state["trace_variant"][row]))
        action = torch.as_tensor(env.encode([FAST, ARCHGYM_POLICY][row]))[None]
        knobs = {name: action[:, column] if name in dram.CATEGORICAL_KNOBS
                 else DESIGN_SPACE.values(action, name, dtype=torch.int64)
                 for column, name in enumerate(KNOBS)}
        expected = dram.simulate(env.trace(*instance), knobs)
        for key in ("latency_s", "energy_j", "power_w", "energy_refresh_j",
                    "energy_background_j"):
            assert info[key][row].item() == expected[key].item()
        distance = (abs(expected["latency_s"].item() - 53e-6) / 53e-6
                    + abs(expected["power_w"].item() - 2.95) / 2.95)
        assert reward[row].item() == pytest.approx(-distance, rel=1e-6)
        assert observation[row, 0].item() == pytest.approx(
            np.log10(expected["latency_s"].item() / 1e-4), rel=1e-6)
    assert (info["invalid_reason"] == 0).all() and not terminated.any() and not truncated.any()
    assert info["energy_refresh_j"][0] > 0 and info["energy_refresh_j"][1] == 0


def test_default_targets_are_far_for_archgyms_default_and_near_for_a_good_design():
    env = DRAMControllerEnv(num_envs=2)
    _, reward, _, _, info = step_with(env, [FAST, ARCHGYM_POLICY], [1, 2])
    assert env.targets == {"latency_s": 53e-6, "power_w": 2.95}
    assert reward[0] > -0.1 and reward[1] < -1.0
    assert info["latency_s"][1] > 1.5 * info["latency_s"][0]


def test_instances_are_pure_functions_of_the_seed_and_splits_differ():
    first = DRAMControllerEnv(num_envs=3, trace=["stream", "cloud-2"], num_requests=500)
    second = DRAMControllerEnv(num_envs=3, trace=["stream", "cloud-2"], num_requests=500)
    test = DRAMControllerEnv(num_envs=3, trace=["stream", "cloud-2"], num_requests=500,
                             split="test")
    for env in (first, second, test):
        env.reset(torch.tensor([0, 1, 2]))
    assert torch.equal(first.state["trace_index"], second.state["trace_index"])
    for row in range(3):
        instance = (int(first.state["trace_index"][row]), int(first.state["trace_variant"][row]))
        assert torch.equal(first.trace(*instance).address, second.trace(*instance).address)
        assert not torch.equal(first.trace(*instance).address, test.trace(*instance).address)
    many = DRAMControllerEnv(num_envs=64, trace=["stream", "cloud-2"], num_requests=500)
    many.reset(torch.arange(64))
    assert set(many.state["trace_index"].tolist()) == {0, 1}
    assert set(many.state["trace_variant"].tolist()) == {0, 1, 2, 3}
    per_split = DRAMControllerEnv(trace={"train": "stream", "test": ["random", "cloud-1"]},
                                  split="test")
    assert per_split.trace_names == ("random", "cloud-1")


def test_custom_traces_are_replayed_and_validated():
    rows = np.arange(200) % 7
    columns = {"address": (rows << 16).tolist(), "is_write": (np.arange(200) % 3 == 0).tolist(),
               "arrival_cycle": list(range(0, 400, 2))}
    env = DRAMControllerEnv(num_envs=2, trace="mine", custom_traces={"mine": columns})
    _, reward, _, _, info = step_with(env, [FAST, FAST], [0, 9])
    assert reward[0] == reward[1] and info["energy_write_j"][0] > 0
    with pytest.raises(ValueError, match=r"custom_traces\['mine'\]: arrival_cycle must be "
                                         "non-decreasing"):
        DRAMControllerEnv(trace="mine", custom_traces={
            "mine": {**columns, "arrival_cycle": columns["arrival_cycle"][::-1]}})
    with pytest.raises(ValueError, match=r"custom_traces\['mine'\] must be a dict with"):
        DRAMControllerEnv(trace="mine", custom_traces={"mine": {"address": [0]}})
    with pytest.raises(ValueError, match="must not reuse the built-in trace name"):
        DRAMControllerEnv(custom_traces={"stream": columns})


def test_bad_kwargs_and_actions_raise_clear_errors():
    with pytest.raises(ValueError, match="trace must be one of"):
        DRAMControllerEnv(trace="zipf")
    with pytest.raises(ValueError, match="memory has an unknown field"):
        DRAMControllerEnv(memory={"tcl": 11})
    with pytest.raises(ValueError, match="banks must be a power of two"):
        DRAMControllerEnv(memory={"banks": 6})
    with pytest.raises(ValueError, match="targets has unknown metric"):
        DRAMControllerEnv(targets={"latency_ns": 1.0})
    env = DRAMControllerEnv(num_requests=100)
    env.reset(torch.tensor([0]))
    with pytest.raises(ValueError, match="action entries must lie"):
        env.step(torch.tensor([[4, 0, 0, 0, 0, 0, 0, 0, 0, 0]]))


def test_memory_overrides_reach_the_simulator():
    slow = DRAMControllerEnv(num_requests=2000, memory={"cl": 11, "trcd": 11, "trp": 11})
    fast = DRAMControllerEnv(num_requests=2000)
    slow_info = step_with(slow, [ARCHGYM_POLICY], [0])[4]
    fast_info = step_with(fast, [ARCHGYM_POLICY], [0])[4]
    assert slow_info["latency_s"] > fast_info["latency_s"]
