"""SubPO update time per 1000 episodes: batched rollouts vs one episode at a time.

Usage::

    python benchmarks/bench_subpo.py                 # tunegym/Coverage-v0 defaults, 1 thread
    python benchmarks/bench_subpo.py --episodes 4096 --device cuda

One SubPO update = a rollout of ``--episodes`` whole episodes (30 x 30 grid, horizon 40)
in lockstep on one batched env, plus one gradient step. The reference is the same
update done one episode per env (B = 1), timed on ``--reference-episodes`` episodes and
scaled to 1000.

Headline (the JSON's ``headline``, shown by ``tunegym bench``): per policy (Markov,
history), episodes/s through SubPO updates, batched vs one episode at a time; the ratio
is the update speedup ``ratio_one_at_a_time_over_batched``.

Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from machine import (
    add_machine_arguments,
    apply_machine_arguments,
    headline_entry,
    machine_facts,
    synchronise,
)

from tunegym.agents.subpo import SubPO
from tunegym.envs.coverage import CoverageEnv


def seconds_per_update(policy: str, episodes: int, repeats: int, device: torch.device) -> float:
    """Median seconds of one SubPO update on ``episodes`` episodes."""
    env = CoverageEnv(num_envs=episodes, observe_map=policy == "history", device=str(device))
    agent = SubPO(env.single_observation_space.shape[0], policy=policy, device=device)
    seeds = torch.arange(episodes)
    agent.train_step(env, seeds)                                   # warm-up
    times = []
    for repeat in range(repeats):
        synchronise(device)
        start = time.perf_counter()
        agent.train_step(env, seeds + (repeat + 1) * episodes)
        synchronise(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--reference-episodes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    add_machine_arguments(parser)
    args = parser.parse_args()
    device = apply_machine_arguments(parser, args)
    results, headline = {}, []
    for policy in ("markov", "history"):
        batched = seconds_per_update(policy, args.episodes, args.repeats, device)
        single = seconds_per_update(policy, 1, args.reference_episodes, device)
        results[policy] = {
            "seconds_per_1000_episodes_batched": batched * 1000 / args.episodes,
            "seconds_per_1000_episodes_one_at_a_time": single * 1000,
            "ratio_one_at_a_time_over_batched": single * args.episodes / batched,
        }
        headline.append(headline_entry(
            f"SubPO update episodes/s ({policy} policy, {args.episodes} episodes)",
            "episodes/s", args.episodes / batched, 1.0 / single,
            "the same update, one episode at a time"))
    print(json.dumps({"benchmark": "subpo_update", "env": "tunegym/Coverage-v0 defaults",
                      "episodes_per_update": args.episodes,
                      "reference": "the same update with B = 1 episode, scaled to 1000",
                      "results": results, "headline": headline, **machine_facts(device)}))


if __name__ == "__main__":
    main()
