"""tunegym/AcceleratorDesign-v0: default design and targets, invalid designs, workloads
per split, mixed-workload batches against single evaluations, bad input."""

import math

import gymnasium
import numpy as np
import pytest
import torch

import tunegym  # noqa: F401  (registers the ids)
from tunegym.envs.accelerator_design import DEFAULT_DESIGN, AcceleratorDesignEnv
from tunegym.simulators.accelerator import Accelerator, LayerTable, evaluate
from tunegym.simulators.workloads import workload_layers

ALL = ["alexnet", "resnet18", "mobilenetv2", "resnet50", "transformer"]


def step_all(env, design, seeds):
    env.reset(torch.as_tensor(seeds))
    action = torch.as_tensor(np.stack([env.encode(design)] * env.num_envs))
    return env.step(action)


def test_the_default_design_sits_at_ratio_one_and_earns_the_archgym_distance():
    env = AcceleratorDesignEnv(num_envs=16, workload=ALL)
    _, reward, terminated, truncated, info = step_all(env, DEFAULT_DESIGN, range(16))
    for key in ("energy_vs_default", "latency_vs_default", "area_vs_default"):
        torch.testing.assert_close(info[key], torch.ones(16, dtype=torch.float64))
    expected = -(0.3 / 0.7 + 0.2 / 0.8 + 0.15 / 0.85)
    torch.testing.assert_close(reward, torch.full((16,), expected, dtype=torch.float32))
    assert not terminated.any() and not truncated.any()
    assert set(env.state["workload"].tolist()) == set(range(5))          # all drawn
    torch.testing.assert_close(info["latency_s"], info["cycles"] / 200e6)
    assert (info["invalid_reason"] == 0).all()


def test_metrics_are_the_simulators_summed_over_the_layers():
    design = {**DEFAULT_DESIGN, "pe_rows": 16, "global_buffer_kib": 256,
              "dataflow": "output_stationary"}
    env = AcceleratorDesignEnv(workload="resnet50")
    _, _, _, _, info = step_all(env, design, [3])
    knobs = {key: value for key, value in design.items() if key != "global_buffer_kib"}
    accelerator = Accelerator.build(**knobs, global_buffer_bytes=256 * 1024)
    costs = evaluate(LayerTable(workload_layers("resnet50")), accelerator)
    assert info["energy_j"].item() == pytest.approx(costs.energy_pj.sum().item() * 1e-12,
                                                    rel=1e-12)
    assert info["cycles"].item() == pytest.approx(costs.cycles.sum().item(), rel=1e-12)
    assert info["area_mm2"].item() == pytest.approx(accelerator.area_mm2().item(), rel=1e-12)
    assert info["energy_j"].item() == pytest.approx(
        info["energy_vs_default"].item() * env.default_energy_j.item(), rel=1e-12)


def test_a_mixed_workload_batch_equals_one_env_per_workload():
    mixed = AcceleratorDesignEnv(num_envs=32, workload=ALL)
    mixed.reset(torch.arange(32))
    generator = torch.Generator().manual_seed(0)
    nvec = torch.as_tensor(mixed.single_action_space.nvec)
    action = (torch.rand(32, len(nvec), generator=generator) * nvec).long()
    _, reward, _, _, info = mixed.step(action)
    for index, name in enumerate(ALL):
        rows = (mixed.state["workload"] == index).nonzero()[:, 0]
        alone = AcceleratorDesignEnv(num_envs=len(rows), workload=name)
        alone.reset(rows)
        _, alone_reward, _, _, alone_info = alone.step(action[rows])
        assert torch.equal(alone_reward, reward[rows])
        for key, value in alone_info.items():
            assert torch.equal(value, info[key][rows]), key


@pytest.mark.parametrize("change, reason", [
    ({"global_buffer_kib": 4}, "global buffer too small for one tile"),
    ({"input_spad_bytes": 16}, "input scratchpad too small for one tile"),
    ({"weight_spad_bytes": 128, "dataflow": "weight_stationary"},
     "weight scratchpad too small for one tile")])
def test_impossible_designs_earn_the_invalid_reward_with_a_reason(change, reason):
    """AlexNet's conv1 (11 x 11 filters, 227 x 227 inputs) needs a 22-byte input window,
    242 bytes of weights per PE under weight stationary and 2673 GLB words."""
    env = AcceleratorDesignEnv(num_envs=2, workload="alexnet", invalid_reward=-7.0)
    observation, reward, _, _, info = step_all(env, {**DEFAULT_DESIGN, **change}, [0, 1])
    assert reward.tolist() == [-7.0, -7.0]
    assert [env.invalid_reasons[code] for code in info["invalid_reason"].tolist()] == [reason] * 2
    assert all(info[key][0] == math.inf for key in env.metric_keys)
    assert observation[:, len(env.metric_keys)].tolist() == [1.0, 1.0]     # invalid flag


def test_workloads_per_split_and_instances_from_the_seed():
    seeds = torch.arange(200)
    for split, names in (("train", {"alexnet", "resnet18", "mobilenetv2"}),
                         ("test", {"resnet50", "transformer"})):
        env = AcceleratorDesignEnv(num_envs=200, split=split)
        env.reset(seeds)
        assert {env.workloads[index] for index in env.state["workload"].tolist()} == names
    first, second = (AcceleratorDesignEnv(num_envs=200, workload=ALL) for _ in range(2))
    first.reset(seeds)
    second.reset(seeds.flip(0))
    assert torch.equal(first.state["workload"], second.state["workload"].flip(0))


def test_absolute_targets_and_at_most_mode():
    env = AcceleratorDesignEnv(workload="transformer", targets={"energy_j": 1.0},
                               target_mode="at_most")
    _, reward, _, _, info = step_all(env, DEFAULT_DESIGN, [0])
    assert info["energy_j"].item() < 1.0 and reward.item() == 0.0


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="did you mean 'resnet50'"):
        AcceleratorDesignEnv(workload="resnet-50")
    with pytest.raises(ValueError, match="did you mean 'mobilenetv2'"):
        AcceleratorDesignEnv(workload={"train": ["mobilenet_v2"], "test": "resnet50"})
    env = gymnasium.make("tunegym/AcceleratorDesign-v0")
    with pytest.raises(ValueError, match="did you mean 'row_stationary'"):
        env.unwrapped.encode({**DEFAULT_DESIGN, "dataflow": "row_stationery"})
    with pytest.raises(ValueError, match="must be one of"):
        env.unwrapped.encode({**DEFAULT_DESIGN, "global_buffer_kib": 100})
    with pytest.raises(ValueError, match="did you mean 'energy_vs_default'"):
        AcceleratorDesignEnv(targets={"energy_vs_defualt": 0.7})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action entries must lie"):
        env.step(np.full(len(DEFAULT_DESIGN), 9))


def test_decode_round_trips_through_the_gymnasium_env():
    env = gymnasium.make("tunegym/AcceleratorDesign-v0")
    action = env.unwrapped.encode(DEFAULT_DESIGN)
    assert env.unwrapped.decode(action) == DEFAULT_DESIGN
    assert env.unwrapped.knob_names == tuple(DEFAULT_DESIGN)


def test_the_observation_names_the_workload_from_the_first_step():
    env = AcceleratorDesignEnv(num_envs=1, workload="alexnet")
    observation = env.reset(torch.tensor([0]))
    # AlexNet's 724 406 816 MACs (Sze et al. 2017), as log10(MACs) - 9.
    assert math.isclose(float(observation[0, -3]), math.log10(724_406_816) - 9.0,
                        rel_tol=1e-6)
    other = AcceleratorDesignEnv(num_envs=1, workload="resnet50").reset(torch.tensor([0]))
    assert not torch.equal(observation[0, -3:], other[0, -3:])
