"""The baselines of every registered env as replayable policies on the test split.

:func:`play_baseline` plays a baseline for one episode per seed on a registered id's
**test** split and returns rows in exactly the evaluation protocol's format
(:data:`tunegym.evaluation.protocol.FIELDS`), with ``agent`` = ``"baseline:<name>"`` and
``checkpoint`` = None. Every registered id has ``baseline:random``, plus its family's
fixed baselines (the modules of :mod:`tunegym.baselines` do the work):

| family | baselines |
| --- | --- |
| every id | ``random``: uniform random actions from the action space (only legal actions where the env has ``action_masks``); on the coverage family this is the random walk |
| sor | ``gauss_seidel`` (omega = 1), ``young_model_problem`` (Young's omega of the unshifted model problem, rounded to the nearest omega of the env's discrete grid), ``instance_optimal`` (the per-instance oracle over the grid) |
| coverage | ``greedy`` (one-step marginal gain) |
| solver_schedule | the fixed solvers of :data:`tunegym.baselines.solver_schedule.FIXED_SOLVERS` (``ddim``, ``dpm_solver++(2m)``, ``dpm_solver++(3m)``, ``unipc_2(bh1)``, ``unipc_2(bh2)``, ``unip_3(bh1)``) on the uniform log-SNR spacing, the one the sequential env's timestep choice f = 1 makes; an episode whose NFE budget is drawn gets the solver at its budget |
| quantum_arch_search | ``hardware_efficient_ansatz`` (one layer, cut at the gate budget), ``greedy`` (gate by gate on the energy after the inner loop) |

``baseline:greedy`` names the one-step greedy heuristic of both coverage and quantum
architecture search, so the leaderboard aggregates it over the envs of both.

A family without an entry in :data:`FAMILY_BASELINES` has ``baseline:random`` only, and
the leaderboard cannot normalise its scores until it has a baseline that beats random.

Episodes are played batched (one env with ``num_envs`` = the number of seeds), except
the coverage greedy policy, which plays one episode at a time because its tie-breaking
generator is seeded by the episode seed. Every baseline is a pure function of
(id, episode seed): the random policy draws from counter-based hashes of (episode seed,
step), and the envs are batch-invariant, so :func:`replay_mismatches` (called by
``tunegym validate``) replays a row by re-running its baseline. ``wall_seconds`` of a
row is the batch's wall time divided by its episodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from importlib.metadata import version

import gymnasium
import torch

import tunegym
from tunegym.baselines.architecture_design import FixedDesign
from tunegym.baselines.coverage import GreedyMarginalGain
from tunegym.baselines.quantum_arch_search import greedy_search, hardware_efficient_ansatz
from tunegym.baselines.solver_schedule import FIXED_SOLVERS, fixed_solver_episodes
from tunegym.baselines.sor import FixedOmega, InstanceOptimal
from tunegym.core import BatchedEnv, check_integer
from tunegym.core.random import hash_keys, uniform
from tunegym.evaluation.protocol import BASELINE_PREFIX, spec_hash
from tunegym.simulators.sor import young_optimal_omega

RANDOM = BASELINE_PREFIX + "random"
#: Key mixed into the random policy's hashes, apart from every instance stream.
_RANDOM_POLICY_KEY = 0x5A4D

#: Per episode: return (B,) float64, length (B,) int64, raw metric at the end (B,) float64.
Outcome = dict[str, torch.Tensor]
Baseline = Callable[[str, torch.Tensor], Outcome]


def batched_class(env_id: str) -> type[BatchedEnv]:
    """The family class of a registered ``env_id``; ValueError naming the registered
    ids otherwise."""
    if env_id not in tunegym.registered_ids():
        raise ValueError(f"env_id must be one of {tunegym.registered_ids()}, got {env_id!r}")
    return type(gymnasium.make(env_id).unwrapped.batched)


def make_test_env(env_id: str, num_envs: int) -> BatchedEnv:
    """The batched env of a registered ``env_id`` (its registered kwargs) on the test
    split with ``num_envs`` envs."""
    return batched_class(env_id)(num_envs=num_envs, split="test",
                                 **gymnasium.spec(env_id).kwargs)


def _play(env: BatchedEnv, seeds: torch.Tensor,
          act: Callable[[torch.Tensor, int], torch.Tensor]) -> Outcome:
    """One episode per seed in ``env`` (num_envs = len(seeds)), actions from
    ``act(observation, step)``; envs whose episode ended keep stepping until all have,
    and what they do then is ignored."""
    observation = env.reset(seeds)
    total = torch.zeros(seeds.shape[0], dtype=torch.float64, device=env.device)
    length = torch.zeros(seeds.shape[0], dtype=torch.int64, device=env.device)
    metric = torch.zeros_like(total)
    done = torch.zeros(seeds.shape[0], dtype=torch.bool, device=env.device)
    step = 0
    while not bool(done.all()):
        observation, reward, terminated, truncated, info = env.step(act(observation, step))
        running = ~done
        total = total + torch.where(running, reward.to(torch.float64), 0.0)
        length = length + running.long()
        metric = torch.where(running, info[env.raw_metric].to(torch.float64), metric)
        done = done | terminated | truncated
        step += 1
    return {"episode_return": total, "episode_length": length, "raw_metric_value": metric}


def random_actions(env: BatchedEnv, step: int) -> torch.Tensor:
    """Uniform random actions (B, *action_shape) for step ``step`` of the env's current
    episodes, drawn from counter-based hashes of (episode seed, step): the same in any
    batch layout. Only actions allowed by ``env.action_masks()`` are drawn where the env
    has one. Supports Discrete and MultiDiscrete action spaces."""
    space = env.single_action_space
    keys = hash_keys(_RANDOM_POLICY_KEY, env.episode_seeds(), step)
    if isinstance(space, gymnasium.spaces.Discrete):
        draws = uniform(keys, (int(space.n),), stream=0)
        if hasattr(env, "action_masks"):
            draws = draws * env.action_masks()          # illegal actions draw 0: never the max
        return draws.argmax(dim=1) + int(space.start)
    if isinstance(space, gymnasium.spaces.MultiDiscrete):
        sizes = torch.as_tensor(space.nvec.reshape(-1), device=env.device)
        draws = uniform(keys, (sizes.numel(),), stream=0)
        choices = (draws * sizes).long().clamp(max=sizes - 1)
        starts = torch.as_tensor(space.start.reshape(-1), device=env.device)
        return (choices + starts).reshape(-1, *space.shape)
    raise ValueError(f"the random baseline supports Discrete and MultiDiscrete action "
                     f"spaces, got {space}")


def _random(env_id: str, seeds: torch.Tensor) -> Outcome:
    env = make_test_env(env_id, seeds.numel())
    return _play(env, seeds, lambda observation, step: random_actions(env, step))


def _policy_baseline(make_policy: Callable) -> Baseline:
    """A baseline playing the policy ``make_policy(env)`` (an object with ``act``, e.g. of
    :mod:`tunegym.baselines.sor` or :mod:`tunegym.baselines.architecture_design`)."""
    def baseline(env_id: str, seeds: torch.Tensor) -> Outcome:
        env = make_test_env(env_id, seeds.numel())
        policy = make_policy(env)
        return _play(env, seeds, lambda observation, step: policy.act(observation))

    return baseline


def _young_grid_omega(env) -> FixedOmega:
    """Young's model-problem omega rounded to the nearest omega of the env's grid."""
    young = young_optimal_omega(env.problem.model_jacobi_spectral_radius())
    return FixedOmega(env, float(env.omegas[(env.omegas - young).abs().argmin()]))


def _coverage_greedy(env_id: str, seeds: torch.Tensor) -> Outcome:
    outcomes = []
    for seed in seeds.tolist():
        env = make_test_env(env_id, 1)
        policy = GreedyMarginalGain(env, seed=seed)
        outcomes.append(_play(env, torch.tensor([seed]),
                              lambda observation, step, policy=policy: policy.act(observation)))
    return {key: torch.cat([outcome[key] for outcome in outcomes]) for key in outcomes[0]}


def _qas(play: Callable) -> Baseline:
    """A baseline from a :mod:`tunegym.baselines.quantum_arch_search` player."""
    def baseline(env_id: str, seeds: torch.Tensor) -> Outcome:
        outcome = play(make_test_env(env_id, seeds.numel()), seeds)
        return {"episode_return": outcome["episode_return"],
                "episode_length": outcome["n_gates"].long(),
                "raw_metric_value": outcome["energy_error_ha"].to(torch.float64)}

    return baseline


def _fixed_solver(solver: str) -> Baseline:
    """The fixed solver ``solver`` at each episode's NFE budget (see module docstring)."""
    def baseline(env_id: str, seeds: torch.Tensor) -> Outcome:
        records = fixed_solver_episodes(solver, env_id, seeds)
        return {"episode_return": records.returns, "episode_length": records.lengths,
                "raw_metric_value": records.raw_metric_values}

    return baseline


def _solver_slug(solver: str) -> str:
    """"DPM-Solver++(2M)" -> "dpm_solver++(2m)"."""
    return solver.lower().replace(" ", "").replace("-", "_")


#: family -> {agent name: baseline}, ``baseline:random`` excluded (every family has it).
FAMILY_BASELINES: dict[str, dict[str, Baseline]] = {
    "sor": {BASELINE_PREFIX + "gauss_seidel": _policy_baseline(lambda env: FixedOmega(env, 1.0)),
            BASELINE_PREFIX + "young_model_problem": _policy_baseline(_young_grid_omega),
            BASELINE_PREFIX + "instance_optimal": _policy_baseline(InstanceOptimal)},
    "coverage": {BASELINE_PREFIX + "greedy": _coverage_greedy},
    "architecture_design": {BASELINE_PREFIX + "default_design": _policy_baseline(FixedDesign)},
    "solver_schedule": {BASELINE_PREFIX + _solver_slug(solver): _fixed_solver(solver)
                        for solver in FIXED_SOLVERS},
    "quantum_arch_search": {
        BASELINE_PREFIX + "hardware_efficient_ansatz": _qas(hardware_efficient_ansatz),
        BASELINE_PREFIX + "greedy": _qas(greedy_search)},
}


def _baselines(env_id: str) -> dict[str, Baseline]:
    return {RANDOM: _random, **FAMILY_BASELINES.get(batched_class(env_id).family, {})}


def baseline_names(env_id: str) -> tuple[str, ...]:
    """The agent names of ``env_id``'s baselines, ``baseline:random`` first."""
    return tuple(_baselines(env_id))


def play_baseline(env_id: str, agent: str, seeds: Iterable[int]) -> list[dict]:
    """Play baseline ``agent`` for one test episode per seed of ``env_id``.

    Args:
        env_id: a registered tunegym id.
        agent: one of :func:`baseline_names` of ``env_id``, e.g. "baseline:random".
        seeds: episode seeds, non-negative ints (the protocol's default is 0..9).

    Returns:
        One row per seed, in the seeds' order, with the fields of
        :data:`tunegym.evaluation.protocol.FIELDS` (``checkpoint`` None).
    """
    baselines = _baselines(env_id)
    if agent not in baselines:
        raise ValueError(f"agent must be one of {tuple(baselines)} for {env_id}, got {agent!r}")
    seeds = [check_integer("seeds", seed, minimum=0) for seed in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one episode seed")
    start = time.perf_counter()
    outcome = baselines[agent](env_id, torch.tensor(seeds, dtype=torch.int64))
    wall_seconds = (time.perf_counter() - start) / len(seeds)
    common = {"env_id": env_id, "env_spec_sha256": spec_hash(env_id),
              "tunegym_version": version("tunegym"), "agent": agent, "checkpoint": None}
    raw_metric = batched_class(env_id).raw_metric
    return [{**common, "seed": seed, "instance_id": seed,
             "episode_return": float(outcome["episode_return"][index]),
             "episode_length": int(outcome["episode_length"][index]),
             "raw_metric": raw_metric,
             "raw_metric_value": float(outcome["raw_metric_value"][index]),
             "wall_seconds": wall_seconds}
            for index, seed in enumerate(seeds)]


def replay_mismatches(rows: list[dict], tolerance: float) -> list[dict]:
    """Replay baseline rows (each (env, agent) group's seeds in one batch); returns the
    rows whose return differs by more than ``tolerance``, with ``replayed_return`` and
    ``reason`` added, in the rows' order."""
    groups: dict[tuple[str, str], list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault((row["env_id"], row["agent"]), []).append(index)
    replayed = [0.0] * len(rows)
    for (env_id, agent), indices in groups.items():
        for index, new in zip(indices, play_baseline(env_id, agent,
                                                     [rows[index]["seed"] for index in indices])):
            replayed[index] = new["episode_return"]
    return [{**row, "replayed_return": value, "reason": "return differs"}
            for row, value in zip(rows, replayed)
            if abs(value - row["episode_return"]) > tolerance]
