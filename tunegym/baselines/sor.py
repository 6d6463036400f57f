"""Fixed heuristics and oracles for the SOR family.

Every policy has the agents' interface: ``act(observation (B, d)) -> actions`` and a
no-op ``update``. Those that need the simulator read the batched env they were
built with (``tunegym.envs.sor.SOREnv``).

* :class:`FixedOmega`: always the same omega (Gauss-Seidel is omega = 1);
* :class:`YoungModelProblem`: Young's optimal omega 2/(1 + sqrt(1 - rho_J^2)) for
  the unshifted model problem (5-point Laplacian, rho_J = cos(pi h)), fixed;
* :class:`YoungPerInstance`: Young's formula with each instance's own Jacobi
  spectral radius computed from its context (exact for shifted_poisson and heat,
  the constant-coefficient value for variable_diffusion);
* :class:`InstanceOptimal`: solves the current instance with every grid omega and
  plays the best (lowest index on ties): the per-instance oracle;
* :func:`best_fixed_arm_in_hindsight`: the grid omega with the lowest total
  iterations over a whole recorded sequence.
"""

from __future__ import annotations

import torch

from tunegym.envs.sor import CONTINUOUS_OMEGA_RANGE, SOREnv
from tunegym.simulators.sor import young_optimal_omega


class _Policy:
    """Fixed policies: ``update`` ignores feedback.

    Args:
        env: the batched SOR env the policy reads (spaces, problem, state).
        num_envs: how many envs the policy acts for (default: all of ``env``'s).
    """

    def __init__(self, env: SOREnv, num_envs: int | None = None) -> None:
        self.env = env
        self.num_envs = env.num_envs if num_envs is None else num_envs

    def update(self, observation: torch.Tensor, actions: torch.Tensor,
               rewards: torch.Tensor) -> None:
        """No learning."""

    def _omega_actions(self, omega: torch.Tensor) -> torch.Tensor:
        """Actions (B, 1) float32 for omegas (B,), clamped into the continuous action Box."""
        if self.env.action_type != "continuous":
            raise ValueError("this baseline sets omega directly: build the env with "
                             "action_type='continuous'")
        return omega.clamp(*CONTINUOUS_OMEGA_RANGE).to(torch.float32).reshape(-1, 1)


class FixedOmega(_Policy):
    """Always the same arm (discrete env) or omega (continuous env).

    Args:
        env: the batched SOR env.
        omega: the relaxation factor; on a discrete env it must be a grid value.
    """

    def __init__(self, env: SOREnv, omega: float = 1.0, num_envs: int | None = None) -> None:
        super().__init__(env, num_envs)
        self.omega = float(omega)
        if env.action_type == "discrete":
            matches = torch.nonzero(torch.isclose(env.omegas, torch.tensor(
                self.omega, dtype=torch.float64, device=env.device))).flatten()
            if matches.numel() == 0:
                raise ValueError(f"omega must be one of the env's grid values "
                                 f"{env.omegas.tolist()}, got {omega}")
            self.arm = int(matches[0])

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        """Actions (B,) int64 arm indices, or (B, 1) float32 omegas."""
        count = observation.shape[0]
        if self.env.action_type == "discrete":
            return torch.full((count,), self.arm, dtype=torch.int64, device=self.env.device)
        return self._omega_actions(torch.full((count,), self.omega, dtype=torch.float64,
                                              device=self.env.device))


class YoungModelProblem(_Policy):
    """Young's omega for the unshifted 5-point Laplacian on the env's grid (continuous env)."""

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        omega = young_optimal_omega(self.env.problem.model_jacobi_spectral_radius())
        return self._omega_actions(torch.full((observation.shape[0],), omega,
                                              dtype=torch.float64, device=self.env.device))


class YoungPerInstance(_Policy):
    """Young's omega from each instance's Jacobi spectral radius (continuous env with
    ``context=True``)."""

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        if not self.env.use_context:
            raise ValueError("YoungPerInstance needs the context: build the env with context=True")
        radius = self.env.problem.jacobi_spectral_radius(observation.to(torch.float64))
        return self._omega_actions(young_optimal_omega(radius.clamp(0.0, 1.0 - 1e-12)))


class InstanceOptimal(_Policy):
    """Per-instance oracle over the env's omega grid (discrete env)."""

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        state = self.env.state
        instance = self.env.problem.instance(state["episode_key"], state["step"], state,
                                             state["context"])
        return self.env.grid_iterations(instance).argmin(dim=1)


def gauss_seidel(env: SOREnv) -> FixedOmega:
    """Gauss-Seidel: omega = 1 on every system (the family record's ``gauss_seidel``)."""
    return FixedOmega(env, 1.0)


def young_grid_omega(env: SOREnv) -> FixedOmega:
    """Young's model-problem omega rounded to the nearest omega of the env's discrete
    grid (the family record's ``young_model_problem``)."""
    young = young_optimal_omega(env.problem.model_jacobi_spectral_radius())
    return FixedOmega(env, float(env.omegas[(env.omegas - young).abs().argmin()]))


def best_fixed_arm_in_hindsight(iterations: torch.Tensor) -> torch.Tensor:
    """Arm with the lowest total iterations.

    Args:
        iterations: (T, B, K) iterations of arm k on instance t of sequence b.

    Returns:
        int64 (B,) best arm per sequence (lowest index on ties).
    """
    return iterations.sum(dim=0).argmin(dim=1)
