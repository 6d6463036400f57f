"""``tunegym/SOR-v0``: choose SOR's relaxation factor across a sequence of linear systems.

After Khodak, Chow, Balcan, Talwalkar, "Learning to Relax: Setting Solver Parameters
Across a Sequence of Linear System Instances" (ICLR 2024). An episode is a sequence
of ``sequence_length`` related systems (default 1000; the paper uses 5000). At step
k the observation is the context of instance k, the action picks omega, the
simulator solves instance k with it, and the reward is:

    reward = -iterations / max_iters       (in [-1, 0])

i.e. minus the fraction of the iteration budget used. A run that does not reach
``tol`` within ``max_iters`` (including divergence) gets exactly -1, the documented
penalty. The episode is truncated (``truncated=True``) after the last instance.

Kwargs (stable names): ``problem`` ("shifted_poisson" | "heat" | "variable_diffusion"),
``variance`` ("high" | "low", shifted_poisson only), ``grid_size`` (interior points
per side; default 10 / 24 / 32 by problem), ``sequence_length``, ``tol`` (relative
residual), ``max_iters``, ``solver`` ("sor" | "ssor_pcg" | "cg": plain conjugate
gradients, which ignores omega: the heat experiment's baseline), ``context`` (observe the
instance's context features, else a constant 0), ``action_type`` ("discrete": arm k
means omega = linspace(1, 1.95, num_omegas)[k]; "continuous": Box [1, 1.99]),
``num_omegas`` (default 20, the paper's grid), ``split``, ``device``,
``compute_oracle`` (also solve with every grid omega and report the best), ``ordering``
(unknown ordering of the solver: "red_black" or "natural"; default None picks
"red_black" for SOR, which has the same asymptotic rate as the paper's lexicographic SOR
(Young) at a fraction of the cost, and "natural" for SSOR-PCG, where the ordering decides
whether omega matters at all: red-black SSOR is best at omega = 1 almost always),
``start`` (heat only: "random", the seed draws the start time and the source's angle,
or "paper", every episode is the paper's simulation from t = 0).

``tunegym/SORLearningToRelax-v0`` is the paper's setting (section 5): a 10 x 10 grid,
lexicographic (natural-order) SOR, 5000 systems per sequence, tol 1e-8, cap 10 000.

Info keys: ``iterations``, ``omega``, ``converged``, and with ``compute_oracle``
``oracle_iterations`` and ``oracle_omega`` (best grid omega, lowest on ties).
"""

from __future__ import annotations

import gymnasium
import numpy as np
import torch

from tunegym.core import BatchedEnv, FamilyRecord, check_choice, check_integer, derive_envs
from tunegym.core.random import hash_keys
from tunegym.simulators.sor import ORDERINGS, solve_sor, solve_ssor_pcg
from tunegym.simulators.sor_problems import (
    PROBLEMS,
    Heat,
    ShiftedPoisson,
    SORProblem,
    instance_keys,
)


def solve_cg(stencil, rhs, omega, **kwargs):
    """Unpreconditioned conjugate gradients (the heat experiment's baseline): omega is
    accepted for the solver interface and ignored."""
    return solve_ssor_pcg(stencil, rhs, omega, preconditioner="none", **kwargs)


SOLVERS = {"sor": solve_sor, "ssor_pcg": solve_ssor_pcg, "cg": solve_cg}
#: The unknown ordering each solver uses unless the ``ordering`` kwarg says otherwise.
DEFAULT_ORDERINGS = {"sor": "red_black", "ssor_pcg": "natural", "cg": "natural"}
ACTION_TYPES = ("discrete", "continuous")
#: Range of the omega grid (the paper's linspace(1, 1.95, 20)) and of the continuous action.
OMEGA_GRID_RANGE = (1.0, 1.95)
CONTINUOUS_OMEGA_RANGE = (1.0, 1.99)


def omega_grid(num_omegas: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The discrete action set: linspace(1, 1.95, num_omegas), float64 (num_omegas,)."""
    return torch.linspace(*OMEGA_GRID_RANGE, num_omegas, dtype=torch.float64, device=device)


def make_problem(problem: str, grid_size: int | None, variance: str,
                 device: torch.device, start: str = "random") -> SORProblem:
    """Build the problem generator named ``problem`` (``variance``: shifted_poisson
    only; ``start``: heat only, see :class:`~tunegym.simulators.sor_problems.Heat`)."""
    check_choice("problem", problem, tuple(PROBLEMS))
    check_choice("variance", variance, ("high", "low"))
    check_choice("start", start, Heat.STARTS)
    if start != "random" and problem != Heat.name:
        raise ValueError(f"start={start!r} is a heat option; problem {problem!r} takes "
                         f"start='random' only")
    if problem == ShiftedPoisson.name:
        return ShiftedPoisson(grid_size, device, variance=variance)
    if problem == Heat.name:
        return Heat(grid_size, device, start=start)
    return PROBLEMS[problem](grid_size, device)


class SOREnv(BatchedEnv):
    """Batched SOR tuning env (see module docstring for kwargs, reward and info)."""

    family = "sor"
    raw_metric = "iterations"
    reward_description = "-iterations/max_iters of the solve with the chosen omega"
    record = FamilyRecord(
        name="sor", title="SOR (Learning to Relax, Khodak et al., ICLR 2024)",
        short_episode_kwargs={"sequence_length": 3},
        baselines={"gauss_seidel": "tunegym.baselines.sor:gauss_seidel",
                   "young_model_problem": "tunegym.baselines.sor:young_grid_omega",
                   "instance_optimal": "tunegym.baselines.sor:InstanceOptimal"},
        comparison=("sor_chebcb", "sor_dqn"))

    def __init__(self, num_envs: int = 1, device: str = "cpu", split: str = "train",
                 problem: str = "shifted_poisson", variance: str = "high",
                 grid_size: int | None = None, sequence_length: int = 1000, tol: float = 1e-8,
                 max_iters: int = 10_000, solver: str = "sor", context: bool = True,
                 action_type: str = "discrete", num_omegas: int = 20,
                 compute_oracle: bool = False, ordering: str | None = None,
                 start: str = "random") -> None:
        super().__init__(num_envs, device, split)
        self.problem = make_problem(problem, grid_size, variance, self.device, start)
        self.sequence_length = check_integer("sequence_length", sequence_length)
        if not isinstance(tol, (int, float)) or not 0 < tol < 1:
            raise ValueError(f"tol must be a float in (0, 1), got {tol!r}")
        self.tol = float(tol)
        self.max_iters = check_integer("max_iters", max_iters)
        check_choice("solver", solver, tuple(SOLVERS))
        check_choice("ordering", ordering, (None, *ORDERINGS))
        self.solver_name, self.solver = solver, SOLVERS[solver]
        self.ordering = DEFAULT_ORDERINGS[solver] if ordering is None else ordering
        check_choice("context", context, (True, False))
        self.use_context = context
        check_choice("action_type", action_type, ACTION_TYPES)
        self.action_type = action_type
        self.omegas = omega_grid(check_integer("num_omegas", num_omegas, minimum=2),
                                 self.device)
        check_choice("compute_oracle", compute_oracle, (True, False))
        self.compute_oracle = compute_oracle

        if context:
            low, high = self.problem.context_bounds
            self.single_observation_space = gymnasium.spaces.Box(
                np.array(low, dtype=np.float32), np.array(high, dtype=np.float32))
        else:
            self.single_observation_space = gymnasium.spaces.Box(0.0, 1.0, (1,), np.float32)
        if action_type == "discrete":
            self.single_action_space = gymnasium.spaces.Discrete(num_omegas)
        else:
            self.single_action_space = gymnasium.spaces.Box(*CONTINUOUS_OMEGA_RANGE, (1,),
                                                            np.float32)

    @property
    def max_episode_steps(self) -> int:
        """One step per system of the sequence: ``sequence_length``."""
        return self.sequence_length

    # ------------------------------------------------------------------ hooks
    def initial_state(self, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        episode_keys = hash_keys(self.split_key, seeds)
        step = torch.zeros_like(seeds)
        state = {"episode_key": episode_keys, "step": step,
                 "instance_key": instance_keys(episode_keys, step),
                 **self.problem.episode_state(episode_keys)}
        state["context"] = self.problem.context(episode_keys, step, state)
        return state

    def observe(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        if not self.use_context:
            return torch.zeros(state["step"].shape[0], 1, dtype=torch.float32,
                               device=self.device)
        return state["context"].to(torch.float32)

    def action_to_omega(self, action: torch.Tensor) -> torch.Tensor:
        """omega (B,) float64 for a batch of actions (B,) arm indices or (B, 1) floats."""
        if self.action_type == "discrete":
            return self.omegas[action.long()]
        return action.reshape(-1).to(torch.float64)

    def transition(self, state, action):
        omega = self.action_to_omega(action)
        episode_keys, step = state["episode_key"], state["step"]
        instance = self.problem.instance(episode_keys, step, state, state["context"])
        result = self.solve(instance.stencil, instance.rhs, omega, instance.initial_guess)
        info = {"iterations": result.iterations, "omega": omega, "converged": result.converged}
        if self.compute_oracle:
            info["oracle_iterations"], info["oracle_omega"] = self.oracle(instance)
        next_step = step + 1
        new_state = {**self.problem.advance(state, result.solution), "step": next_step,
                     "instance_key": instance_keys(episode_keys, next_step)}
        truncated = next_step >= self.sequence_length
        new_state["context"] = self.problem.context(episode_keys, next_step, new_state)
        reward = (-result.iterations.to(torch.float32) / self.max_iters)
        terminated = torch.zeros_like(truncated)
        return new_state, reward, terminated, truncated, info

    def solve(self, stencil, rhs: torch.Tensor, omega: torch.Tensor,
              initial_guess: torch.Tensor | None):
        """Run the env's solver (its tol, max_iters, ordering) on B systems."""
        return self.solver(stencil, rhs, omega, tol=self.tol, max_iters=self.max_iters,
                           initial_guess=initial_guess, ordering=self.ordering)

    # ----------------------------------------------------------------- oracle
    def grid_iterations(self, instance) -> torch.Tensor:
        """Iterations (B, K) of every grid omega on each of the B systems of ``instance``."""
        count = self.omegas.numel()
        stencil = instance.stencil
        repeated = type(stencil)(*(torch.repeat_interleave(getattr(stencil, name), count, 0)
                                   for name in ("center", "north", "south", "west", "east")),
                                 grid_size=stencil.grid_size)
        guess = (None if instance.initial_guess is None
                 else torch.repeat_interleave(instance.initial_guess, count, 0))
        result = self.solve(repeated, torch.repeat_interleave(instance.rhs, count, 0),
                            self.omegas.repeat(stencil.batch_size), guess)
        return result.iterations.reshape(stencil.batch_size, count)

    def oracle(self, instance) -> tuple[torch.Tensor, torch.Tensor]:
        """(iterations (B,), omega (B,)) of the best grid omega per system."""
        iterations = self.grid_iterations(instance)
        best_iterations, best_index = iterations.min(dim=1)
        return best_iterations, self.omegas[best_index]


SORGymEnv, SORVectorEnv = derive_envs(SOREnv)
