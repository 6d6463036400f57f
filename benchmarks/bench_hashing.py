"""Counter-based hashing: the compiled (numba) kernels of tunegym.core.random vs its torch path.

Usage::

    python benchmarks/bench_hashing.py                        # 1 thread, SOR-v0 B = 20, 200 steps
    python benchmarks/bench_hashing.py --steps 50 --repeats 3

Candidates, the same calls on the same inputs with ``tunegym.core.random.COMPILED`` set
to True (``compiled``: one numba kernel per call, CPU tensors) or False (``torch``: the
reference chain of elementwise torch ops, on ``--device``):

* ``hash_keys(a, b)`` of two int64 key tensors of shape (20,), (400,) and (20, 100);
* ``uniform(keys, (100,), stream=3)``, keys (20,), float64;
* ``standard_normal(keys, (100,), stream=3)``, keys (20,), float64;
* a tunegym/SOR-v0 rollout: ``make_batched_env("tunegym/SOR-v0", B, split="test")``,
  ``reset`` to seeds 0..B-1 and ``--steps`` steps of random discrete actions (a fixed
  generator) with autoresets, env construction included. The env runs on the CPU in both
  candidates (the compiled kernels serve CPU tensors only), so only the hashing differs.

Every time is a median over ``--repeats`` runs after one warm-up round, the two
candidates timed in rotation (``machine.interleaved_medians``). A function run makes
``--calls`` calls (compiled) or ``--calls // 20`` calls (torch, about 20x slower); rates
are calls/s, and env-steps/s (B x steps / seconds) for the rollout. The first compiled call
of the process (importing numba and compiling, or loading numba's on-disk cache) is timed
on its own as ``compiled_first_call_s``. Both candidates' outputs are compared with
``torch.equal`` (the script fails unless all are identical): ``identical`` is always true.

Headline (``tunegym bench``): the four function rates and the SOR-v0 env-steps/s,
compiled vs the torch path.

Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import numba
import torch
from machine import (
    add_machine_arguments,
    apply_machine_arguments,
    headline_entry,
    interleaved_medians,
    machine_facts,
)

import tunegym
import tunegym.core.random as random_module
from tunegym.core.random import hash_keys, standard_normal, uniform

ENV_ID = "tunegym/SOR-v0"


def first_compiled_call_seconds() -> float:
    """Wall time of the first compiled ``hash_keys`` call in this process."""
    random_module.COMPILED = True
    start = time.perf_counter()
    hash_keys(1, torch.arange(2))
    return time.perf_counter() - start


def function_cases(generator: torch.Generator) -> list[dict]:
    """(name, label, function, CPU arguments) of the timed function calls."""
    def keys(*shape):
        return torch.randint(0, 2**62, shape, generator=generator, dtype=torch.int64)

    cases = [{"name": f"hash_keys_2_keys_{'x'.join(map(str, shape))}",
              "label": f"hash_keys of 2 keys {shape}", "function": hash_keys,
              "arguments": (keys(*shape), keys(*shape))}
             for shape in ((20,), (400,), (20, 100))]
    cases.append({"name": "uniform_20_keys_x_100", "label": "uniform keys (20,) x (100,)",
                  "function": uniform, "arguments": (keys(20), (100,), 3)})
    cases.append({"name": "standard_normal_20_keys_x_100",
                  "label": "standard_normal keys (20,) x (100,)",
                  "function": standard_normal, "arguments": (keys(20), (100,), 3)})
    return cases


def on_device(argument, device: torch.device):
    return argument.to(device) if isinstance(argument, torch.Tensor) else argument


def bench_function(case: dict, calls: int, repeats: int, device: torch.device) -> dict:
    function, arguments = case["function"], case["arguments"]
    device_arguments = tuple(on_device(argument, device) for argument in arguments)
    torch_calls = max(1, calls // 20)
    outputs = {}

    def compiled_run():
        random_module.COMPILED = True
        for _ in range(calls):
            outputs["compiled"] = function(*arguments)

    def torch_run():
        random_module.COMPILED = False
        for _ in range(torch_calls):
            outputs["torch"] = function(*device_arguments)
        random_module.COMPILED = True

    seconds = interleaved_medians({"compiled": compiled_run, "torch": torch_run}, repeats,
                                  device)
    identical = torch.equal(outputs["compiled"], outputs["torch"].cpu())
    assert identical, f"{case['name']}: compiled and torch results differ"
    compiled_rate, torch_rate = calls / seconds["compiled"], torch_calls / seconds["torch"]
    return {"name": case["name"], "label": case["label"],
            "compiled_calls_per_run": calls, "torch_calls_per_run": torch_calls,
            "compiled_seconds_per_call": seconds["compiled"] / calls,
            "torch_seconds_per_call": seconds["torch"] / torch_calls,
            "compiled_calls_per_s": compiled_rate, "torch_calls_per_s": torch_rate,
            "ratio_compiled_over_torch": compiled_rate / torch_rate,
            "identical": identical}


def rollout(num_envs: int, steps: int) -> list[torch.Tensor]:
    """Observations, rewards and iteration counts of a seeded SOR-v0 rollout (CPU)."""
    env = tunegym.make_batched_env(ENV_ID, num_envs, split="test")
    generator = torch.Generator().manual_seed(0)
    record = [env.reset(torch.arange(num_envs))]
    for _ in range(steps):
        action = torch.randint(0, env.single_action_space.n, (num_envs,), generator=generator)
        observation, reward, terminated, truncated, info = env.step(action)
        record += [observation, reward, info["iterations"]]
        done = terminated | truncated
        if bool(done.any()):
            record.append(env.autoreset(done))
    return record


def bench_env(num_envs: int, steps: int, repeats: int) -> dict:
    outputs = {}

    def run(compiled: bool):
        def timed():
            random_module.COMPILED = compiled
            outputs[compiled] = rollout(num_envs, steps)
            random_module.COMPILED = True
        return timed

    seconds = interleaved_medians({"compiled": run(True), "torch": run(False)}, repeats,
                                  torch.device("cpu"))
    identical = len(outputs[True]) == len(outputs[False]) and all(
        torch.equal(ours, theirs) for ours, theirs in zip(outputs[True], outputs[False]))
    assert identical, "SOR-v0 rollouts differ between the compiled and the torch path"
    env_steps = num_envs * steps
    return {"env_id": ENV_ID, "num_envs": num_envs, "steps": steps,
            "compiled_seconds": seconds["compiled"], "torch_seconds": seconds["torch"],
            "compiled_env_steps_per_s": env_steps / seconds["compiled"],
            "torch_env_steps_per_s": env_steps / seconds["torch"],
            "ratio_compiled_over_torch": seconds["torch"] / seconds["compiled"],
            "identical": identical}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=20, help="SOR-v0 batch size B")
    parser.add_argument("--steps", type=int, default=200, help="SOR-v0 steps per rollout")
    parser.add_argument("--calls", type=int, default=2000,
                        help="compiled calls per function run (the torch path makes 1/20)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (median taken)")
    add_machine_arguments(parser)
    args = parser.parse_args()
    device = apply_machine_arguments(parser, args)
    if min(args.num_envs, args.steps, args.calls, args.repeats) < 1:
        parser.error("need --num-envs, --steps, --calls and --repeats >= 1")
    if not random_module.compiled_available():
        parser.error("numba is not importable: there is no compiled path to time")

    first_call = first_compiled_call_seconds()
    generator = torch.Generator().manual_seed(0)
    functions = [bench_function(case, args.calls, args.repeats, device)
                 for case in function_cases(generator)]
    env = bench_env(args.num_envs, args.steps, args.repeats)
    reference_name = f"tunegym.core.random torch path (COMPILED=False, {device.type})"
    headline = [headline_entry(f"{entry['label']} calls/s (compiled kernel)", "calls/s",
                               entry["compiled_calls_per_s"], entry["torch_calls_per_s"],
                               reference_name) for entry in functions]
    headline.append(headline_entry(
        f"SOR-v0 env-steps/s (B={args.num_envs}, {args.steps} steps, compiled hashing)",
        "env-steps/s", env["compiled_env_steps_per_s"], env["torch_env_steps_per_s"],
        "the same rollout with tunegym.core.random's torch path (COMPILED=False, cpu)"))
    print(json.dumps({
        "benchmark": "hashing",
        "reference": "tunegym.core.random with COMPILED=False (chains of torch ops)",
        "unit": "calls/s; env-steps/s (B x steps / median seconds)",
        "repeats": args.repeats,
        "timing": f"median of {args.repeats} interleaved runs after 1 warm-up round",
        "compiled_device": "cpu",
        "compiled_first_call_s": first_call,
        "identical": all(entry["identical"] for entry in functions) and env["identical"],
        "results": {"functions": functions, "env": env},
        "headline": headline,
        "numba_version": numba.__version__,
        **machine_facts(device),
    }))


if __name__ == "__main__":
    main()
