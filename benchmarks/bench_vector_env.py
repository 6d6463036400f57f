"""Env steps per second: tunegym's batched vector env vs gymnasium's SyncVectorEnv.

Usage::

    python benchmarks/bench_vector_env.py                       # num_envs 1024 and 64, 1 thread
    python benchmarks/bench_vector_env.py --num-envs 4096 --steps 20 --device cuda

For each num_envs N the script builds

* ``vector``: ``gymnasium.make_vec("tunegym/SOR-v0", num_envs=N,
  vectorization_mode="vector_entry_point")``: all N envs stepped in one batched call;
* ``sync``: ``gymnasium.vector.SyncVectorEnv`` over N envs made by
  ``gymnasium.make("tunegym/SOR-v0")`` (default wrappers: order enforcing and the
  passive env checker): N Python-level single-env steps per vector step,

resets both with the same seed s (env i then plays episode seed s + i in both), and
plays the same random discrete actions (arms drawn uniformly, one array of shape
(steps, N) from ``--seed``). One SOR-v0 step solves one shifted Poisson system per env
(10 x 10 grid, tol 1e-8) to tolerance with the chosen omega.

The single env costs about 10-20 ms a step on a 2-core CPU, so the sync env is timed for
only ``--sync-steps`` steps (default 3) and the vector env for ``--steps`` (default 10);
the vector env is warmed up with one step on another seed and reset before timing. Both
must give identical rewards and observations on the steps they share (asserted).

Reported per N: env-steps/s (N x steps / seconds) of each, their ratio
(target >= 20 at N = 1024), and a same-work ratio: sync seconds / vector seconds over
the first ``--sync-steps`` steps only (identical actions and instances on both sides).

Headline (the JSON's ``headline``, shown by ``tunegym bench``): per N, the vector env's
env-steps/s vs the SyncVectorEnv's, ratio ``ratio_vector_over_sync``.

Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium
import numpy as np
import torch
from machine import headline_entry, machine_facts, synchronise

import tunegym  # noqa: F401  (registers tunegym/SOR-v0)

TARGET_RATIO = 20.0


def timed_steps(env, actions: np.ndarray, device: torch.device
                ) -> tuple[list[float], np.ndarray, np.ndarray, np.ndarray]:
    """Step ``env`` through ``actions`` (steps, N); returns (seconds per step,
    rewards (steps, N), observations (steps, N, ...), SOR iterations (steps, N))."""
    seconds, rewards, observations, iterations = [], [], [], []
    for action in actions:
        synchronise(device)
        start = time.perf_counter()
        observation, reward, _terminated, _truncated, info = env.step(action)
        synchronise(device)
        seconds.append(time.perf_counter() - start)
        rewards.append(np.array(reward, copy=True))
        observations.append(np.array(observation, copy=True))
        if "iterations" in info:
            iterations.append(np.array(info["iterations"], copy=True))
    return (seconds, np.stack(rewards), np.stack(observations),
            np.stack(iterations) if iterations else None)


def bench(env_id: str, num_envs: int, steps: int, sync_steps: int, seed: int,
          device: torch.device) -> dict:
    kwargs = {"device": str(device)}
    vector = gymnasium.make_vec(env_id, num_envs=num_envs,
                                vectorization_mode="vector_entry_point", **kwargs)
    num_arms = int(vector.single_action_space.n)
    actions = np.random.default_rng(seed).integers(0, num_arms, size=(steps, num_envs))

    # Vector env: warm-up step on another seed, then reset to the benchmark seed.
    vector.reset(seed=seed + 10 * num_envs + 12345)
    vector.step(actions[0])
    vector.reset(seed=seed)
    vector_seconds, vector_rewards, vector_observations, iterations = timed_steps(
        vector, actions, device)
    vector.close()

    # Sync env of N single envs; warm the single-env code path on a throwaway env first.
    warm = gymnasium.make(env_id, **kwargs)
    warm.reset(seed=seed + 10 * num_envs + 12345)
    warm.step(int(actions[0, 0]))
    warm.close()
    construction_start = time.perf_counter()
    sync = gymnasium.vector.SyncVectorEnv(
        [lambda: gymnasium.make(env_id, **kwargs) for _ in range(num_envs)])
    sync_construction_s = time.perf_counter() - construction_start
    sync.reset(seed=seed)
    sync_seconds, sync_rewards, sync_observations, _ = timed_steps(
        sync, actions[:sync_steps], device)
    sync.close()

    shared = min(sync_steps, steps)
    assert np.array_equal(vector_rewards[:shared], sync_rewards[:shared]), (
        f"num_envs={num_envs}: vector and sync rewards differ on the shared steps")
    assert np.array_equal(vector_observations[:shared], sync_observations[:shared]), (
        f"num_envs={num_envs}: vector and sync observations differ on the shared steps")

    vector_rate = num_envs * steps / sum(vector_seconds)
    sync_rate = num_envs * sync_steps / sum(sync_seconds)
    return {
        "num_envs": num_envs,
        "vector_steps": steps,
        "sync_steps": sync_steps,
        "vector_env_steps_per_s": vector_rate,
        "sync_env_steps_per_s": sync_rate,
        "ratio_vector_over_sync": vector_rate / sync_rate,
        "same_work_ratio_first_sync_steps": sum(sync_seconds[:shared])
                                            / sum(vector_seconds[:shared]),
        "vector_step_s": vector_seconds,
        "sync_step_s": sync_seconds,
        "sync_construction_s": sync_construction_s,
        **({} if iterations is None else {
            "sor_iterations_per_env_step_mean": float(iterations.mean()),
            "sor_iterations_per_env_step_max": int(iterations.max())}),
        "rewards_identical_on_shared_steps": True,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1024, 64],
                        help="numbers of envs N (several values allowed)")
    parser.add_argument("--env-id", default="tunegym/SOR-v0", help="a registered tunegym id")
    parser.add_argument("--steps", type=int, default=10, help="timed vector-env steps")
    parser.add_argument("--sync-steps", type=int, default=3, help="timed SyncVectorEnv steps")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="the envs' device kwarg")
    parser.add_argument("--seed", type=int, default=0,
                        help="reset seed s (env i gets s + i) and action seed")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda requested but CUDA is not available")
    if args.steps < 1 or args.sync_steps < 1 or min(args.num_envs) < 1:
        parser.error("need --steps >= 1, --sync-steps >= 1, --num-envs >= 1")

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    results = [bench(args.env_id, num_envs, args.steps, args.sync_steps, args.seed, device)
               for num_envs in args.num_envs]
    at_1024 = [entry["ratio_vector_over_sync"] for entry in results
               if entry["num_envs"] >= 1024]
    headline = [headline_entry(f"{args.env_id} env-steps/s (N={entry['num_envs']})",
                               "env-steps/s", entry["vector_env_steps_per_s"],
                               entry["sync_env_steps_per_s"], "gymnasium SyncVectorEnv")
                for entry in results]
    print(json.dumps({
        "benchmark": "vector_env",
        "env_id": args.env_id,
        "reference": "gymnasium.vector.SyncVectorEnv of gymnasium.make(env_id) envs",
        "unit": "env-steps/s (num_envs x steps / summed step seconds)",
        "actions": "uniform random discrete arms, numpy default_rng(seed), same for both",
        "results": results,
        "headline": headline,
        "target_ratio_at_1024_envs": TARGET_RATIO,
        "meets_target_at_1024_envs": (min(at_1024) >= TARGET_RATIO) if at_1024 else None,
        "gymnasium_version": gymnasium.__version__,
        **machine_facts(device),
    }))


if __name__ == "__main__":
    main()
