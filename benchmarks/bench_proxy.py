"""Proxy (surrogate) models of the design envs: held-out accuracy and designs/s vs the simulator.

Usage::

    python benchmarks/bench_proxy.py                       # both design envs, 20k designs, MLP
    python benchmarks/bench_proxy.py --env-ids tunegym/DRAMController-v0 --model forest
    python benchmarks/bench_proxy.py --device cuda --batch 65536

For each env id (default ``tunegym/DRAMController-v0`` and
``tunegym/AcceleratorDesign-v0``, default kwargs, train split):

1. ``collect_random_designs(env_id, --designs, --seed)``: uniform random designs,
   evaluated by the env's batched simulator in batches of ``--batch``;
2. ``fit_proxy(dataset, --model, holdout=--holdout, seed=--seed)``: per metric over the
   held-out designs the simulator found valid, the RMSE of the relative error
   ``sqrt(mean(((proxy - simulator) / simulator)**2))`` (ArchGym's figure: 0.61 % for
   their DRAMSys proxy) and the plain RMSE in the metric's unit; the fraction of
   held-out designs whose validity is predicted right;
3. speed: the env (``make_batched_env``) and its proxy env (``make_proxy_batched_env``),
   each with ``--batch`` envs reset to the same episode seeds and stepped with the
   same random designs for ``--steps`` steps (after one untimed warm-up step and a
   reset); designs/s = batch x steps / seconds, step and autoreset included on both
   sides. The proxy's rewards on those designs are compared with the simulator's
   (Spearman rank correlation, mean absolute difference).

ArchGym reports its proxy 2000x faster than DRAMSys, a cycle-accurate C++ simulator run
one design at a time. The reference here is tunegym's own batched analytical
simulator, already thousands of designs per second on one thread, so expect a far
smaller ratio (below 1 where the simulator is cheaper than an MLP forward pass).

Headline (the JSON's ``headline``, shown by ``tunegym bench``): per env, the proxy env's
designs/s vs the simulator env's, ratio ``speedup_proxy_over_simulator``.

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

from tunegym.core.registration import make_batched_env
from tunegym.proxy.dataset import collect_random_designs
from tunegym.proxy.model import MODELS, fit_proxy, make_proxy_batched_env

DESIGN_ENV_IDS = ("tunegym/DRAMController-v0", "tunegym/AcceleratorDesign-v0")
ARCHGYM = {"relative_rmse_percent": 0.61, "speedup": 2000,
           "reference": "DRAMSys (cycle-accurate C++), one design at a time"}


def ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n-1 (float64) of values (n,) (ties in order of appearance)."""
    return torch.argsort(torch.argsort(values)).to(torch.float64)


def timed_rollout(env, designs: torch.Tensor, seeds: torch.Tensor, device: torch.device
                  ) -> tuple[float, torch.Tensor]:
    """(seconds, rewards (steps, B)) of stepping ``env`` with designs (steps, B, K) after
    a warm-up step and a reset to ``seeds`` (B,)."""
    env.reset(seeds)
    env.step(designs[0])
    env.reset(seeds)
    rewards = []
    synchronise(device)
    start = time.perf_counter()
    for batch in designs:
        _observation, reward, terminated, truncated, _info = env.step(batch)
        env.autoreset(terminated | truncated)
        rewards.append(reward)
    synchronise(device)
    return time.perf_counter() - start, torch.stack(rewards).cpu()


def bench(env_id: str, args, device: torch.device) -> dict:
    began = time.perf_counter()
    dataset = collect_random_designs(env_id, args.designs, args.seed, args.batch,
                                     device=str(device))
    collect_seconds = time.perf_counter() - began
    proxy = fit_proxy(dataset, args.model, args.holdout, args.seed, epochs=args.epochs,
                      device=device)
    report = proxy.report

    simulator = make_batched_env(env_id, num_envs=args.batch, device=str(device))
    proxy_env = make_proxy_batched_env(proxy, num_envs=args.batch, device=str(device))
    generator = torch.Generator().manual_seed(args.seed + 1)
    designs = torch.stack([torch.randint(int(choices), (args.steps, args.batch),
                                         generator=generator)
                           for choices in simulator.design_space.nvec], dim=2).to(device)
    seeds = torch.arange(args.seed, args.seed + args.batch, device=device)
    simulator_seconds, simulator_rewards = timed_rollout(simulator, designs, seeds, device)
    proxy_seconds, proxy_rewards = timed_rollout(proxy_env, designs, seeds, device)
    simulator_rate = args.batch * args.steps / simulator_seconds
    proxy_rate = args.batch * args.steps / proxy_seconds
    rank_correlation = torch.corrcoef(torch.stack([ranks(simulator_rewards.flatten()),
                                                   ranks(proxy_rewards.flatten())]))[0, 1]
    return {
        "env_id": env_id, "designs": len(dataset),
        "valid_fraction": float(dataset.valid.to(torch.float64).mean()),
        "collect_s": collect_seconds, "fit_s": report["fit_seconds"],
        "train_rows": report["train_rows"], "holdout_rows": report["holdout_rows"],
        "holdout_valid_rows": report["holdout_valid_rows"],
        "relative_rmse_percent": {key: 100 * value
                                  for key, value in report["relative_rmse"].items()},
        "rmse": report["rmse"], "validity_accuracy": report["validity_accuracy"],
        "unmodelled_metrics": report["unmodelled_metrics"],
        "simulator_designs_per_s": simulator_rate, "proxy_designs_per_s": proxy_rate,
        "speedup_proxy_over_simulator": proxy_rate / simulator_rate,
        "reward_rank_correlation": float(rank_correlation),
        "reward_mean_abs_difference": float((proxy_rewards - simulator_rewards).abs().mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-ids", nargs="+", default=list(DESIGN_ENV_IDS))
    parser.add_argument("--designs", type=int, default=20_000,
                        help="random designs collected per env")
    parser.add_argument("--model", choices=MODELS, default="mlp")
    parser.add_argument("--epochs", type=int, default=200, help="MLP training epochs")
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=4096,
                        help="envs per batched step (collection and timing)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per env")
    parser.add_argument("--seed", type=int, default=0)
    add_machine_arguments(parser)
    args = parser.parse_args()
    device = apply_machine_arguments(parser, args)
    if min(args.designs, args.batch, args.steps, args.epochs) < 1:
        parser.error("need --designs, --batch, --steps and --epochs >= 1")
    results = [bench(env_id, args, device) for env_id in args.env_ids]
    headline = [headline_entry(f"{entry['env_id']} proxy designs/s ({args.model}, "
                               f"B={args.batch})", "designs/s",
                               entry["proxy_designs_per_s"], entry["simulator_designs_per_s"],
                               "the env's batched simulator (same designs)")
                for entry in results]
    print(json.dumps({
        "benchmark": "proxy", "model": args.model, "designs": args.designs,
        "holdout": args.holdout, "batch": args.batch, "steps": args.steps,
        "epochs": args.epochs, "seed": args.seed,
        "reference": "the same env with its batched simulator; ArchGym's 2000x was against "
                     "DRAMSys run one design at a time",
        "archgym": ARCHGYM, "results": results, "headline": headline,
        **machine_facts(device)}))


if __name__ == "__main__":
    main()
