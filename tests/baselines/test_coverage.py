"""Coverage baselines: brute-force optimum bounds every policy; greedy beats random."""

import pytest
import torch

from tunegym.baselines.coverage import GreedyMarginalGain, RandomMoves, brute_force_optimum
from tunegym.envs.coverage import CoverageEnv


def episode_return(env, policy, seeds):
    observation = env.reset(seeds)
    total = torch.zeros(seeds.numel(), dtype=torch.float64)
    for _ in range(env.horizon):
        observation, reward, _, _, _ = env.step(policy.act(observation))
        total += reward.to(torch.float64)
    return total


@pytest.mark.parametrize("task", ["coverage_constant", "informative_path", "d_optimal",
                                  "items"])
def test_brute_force_optimum_bounds_greedy_and_random(task):
    kwargs = {"task": task, "height": 5, "width": 5, "horizon": 5, "split": "test"}
    for seed in range(3):
        best, actions = brute_force_optimum(kwargs, seed)
        replay = CoverageEnv(num_envs=1, **kwargs)
        replay.reset(torch.tensor([seed]))
        replayed = sum(replay.step(action[None])[1].item() for action in actions)
        assert replayed == pytest.approx(best, rel=1e-6)
        greedy_env = CoverageEnv(num_envs=1, **kwargs)
        greedy = episode_return(greedy_env, GreedyMarginalGain(greedy_env), torch.tensor([seed]))
        random_env = CoverageEnv(num_envs=32, **kwargs)
        walks = episode_return(random_env, RandomMoves(32), torch.full((32,), seed))
        assert greedy.item() <= best + 1e-9
        assert walks.max().item() <= best + 1e-9


def test_greedy_first_step_is_the_best_single_step():
    kwargs = {"task": "biodiversity", "height": 9, "width": 9, "horizon": 1}
    for seed in range(4):
        best, _ = brute_force_optimum(kwargs, seed)
        env = CoverageEnv(num_envs=1, **kwargs)
        env.reset(torch.tensor([seed]))
        assert GreedyMarginalGain(env).one_step_gains().max().item() == pytest.approx(best)


def test_greedy_beats_random_walk_on_the_test_split():
    seeds = torch.arange(32)
    env = CoverageEnv(num_envs=32, split="test")
    greedy = episode_return(env, GreedyMarginalGain(env), seeds).mean()
    walks = episode_return(env, RandomMoves(32), seeds).mean()
    assert greedy > 2.0 * walks


def test_brute_force_optimum_bounds_a_trained_subpo_agent():
    from tunegym.agents.subpo import SubPO

    kwargs = {"task": "coverage_bimodal", "height": 5, "width": 5, "horizon": 5}
    train = CoverageEnv(num_envs=128, split="train", **kwargs)
    agent = SubPO(train.single_observation_space.shape[0], seed=0)
    for update in range(15):
        agent.train_step(train, torch.arange(update * 128, (update + 1) * 128))
    test = CoverageEnv(num_envs=1, split="test", **kwargs)
    for seed in range(4):
        best, _ = brute_force_optimum({**kwargs, "split": "test"}, seed)
        achieved = agent.evaluate(test, torch.tensor([seed]))
        assert achieved.item() <= best + 1e-5
