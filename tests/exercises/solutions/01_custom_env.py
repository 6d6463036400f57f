"""Exercise 1 reference solution: the step size of gradient descent on random quadratics,
written on the tunegym contract (a BatchedEnv with three batched hooks)."""

from __future__ import annotations

import math

import gymnasium
import numpy as np
import torch

from tunegym.core import BatchedEnv, check_integer, check_real, derive_envs, register_family
from tunegym.core.random import hash_keys, standard_normal, uniform

#: The id your env is registered under.
ENV_ID = "student/GDStepSize-v0"


class GDStepSizeEnv(BatchedEnv):
    """Pick the step size of each gradient-descent step on f(x) = 1/2 x^T A x - b^T x.

    Args:
        num_envs: batch size B.
        device: torch device.
        split: "train" or "test".
        dimension: d, the number of unknowns.
        condition_number: kappa; the eigenvalues of A lie in [1, kappa].
        horizon: gradient steps per episode.
        tolerance: the episode terminates once the suboptimality falls below
            ``tolerance`` times its starting value.
    """

    family = "gradient_descent"
    reward_description = "log-suboptimality decrease per step (nats)"
    raw_metric = "suboptimality"

    def __init__(self, num_envs: int = 1, device: str = "cpu", split: str = "train",
                 dimension: int = 4, condition_number: float = 100.0, horizon: int = 20,
                 tolerance: float = 1e-6) -> None:
        super().__init__(num_envs, device, split)
        self.dimension = check_integer("dimension", dimension)
        self.condition_number = check_real("condition_number", condition_number, low=1.0)
        self.horizon = check_integer("horizon", horizon)
        self.tolerance = check_real("tolerance", tolerance, low=0.0, high=1.0,
                                    low_inclusive=False, high_inclusive=False)
        self.single_observation_space = gymnasium.spaces.Box(-np.inf, np.inf, shape=(3,),
                                                             dtype=np.float32)
        # A normalised action a in [-1, 1] (as SB3 recommends) maps to a step size
        # 10 ** (1.5 a - 1.5) in [1e-3, 1].
        self.single_action_space = gymnasium.spaces.Box(-1.0, 1.0, shape=(1,),
                                                        dtype=np.float32)

    def initial_state(self, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        keys = hash_keys(self.split_key, seeds.to(self.device))
        d = self.dimension
        # Eigenvalues log-uniform in [1, kappa], eigenvectors from the QR factorisation
        # of a Gaussian matrix (a uniformly random rotation up to signs).
        eigenvalues = torch.exp(uniform(keys, (d,), stream=0) * math.log(self.condition_number))
        rotation, _ = torch.linalg.qr(standard_normal(keys, (d, d), stream=1))
        hessian = rotation @ torch.diag_embed(eigenvalues) @ rotation.transpose(1, 2)
        hessian = (hessian + hessian.transpose(1, 2)) / 2
        linear = standard_normal(keys, (d,), stream=2)
        position = standard_normal(keys, (d,), stream=3)
        optimum = torch.linalg.solve(hessian, linear)
        optimal_value = -0.5 * (linear * optimum).sum(-1)
        value = quadratic_value(hessian, linear, position)
        gradient = torch.einsum("bij,bj->bi", hessian, position) - linear
        return {"hessian": hessian, "linear": linear, "position": position,
                "optimal_value": optimal_value,
                "initial_suboptimality": value - optimal_value,
                "initial_gradient_norm": gradient.norm(dim=-1),
                "step": torch.zeros(len(seeds), dtype=torch.int64, device=self.device)}

    def observe(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        suboptimality = (quadratic_value(state["hessian"], state["linear"], state["position"])
                         - state["optimal_value"])
        gradient = torch.einsum("bij,bj->bi", state["hessian"], state["position"]) \
            - state["linear"]
        return torch.stack([
            torch.log10(suboptimality.clamp_min(1e-300) / state["initial_suboptimality"]),
            torch.log10(gradient.norm(dim=-1).clamp_min(1e-300) / state["initial_gradient_norm"]),
            state["step"].to(torch.float64) / self.horizon,
        ], dim=-1).to(torch.float32)

    def transition(self, state, action):
        step_size = step_size_of(action[:, 0])
        hessian, linear, position = state["hessian"], state["linear"], state["position"]
        before = quadratic_value(hessian, linear, position) - state["optimal_value"]
        gradient = torch.einsum("bij,bj->bi", hessian, position) - linear
        new_position = position - step_size[:, None] * gradient
        after = quadratic_value(hessian, linear, new_position) - state["optimal_value"]
        reward = (torch.log(before.clamp_min(1e-300))
                  - torch.log(after.clamp_min(1e-300))).to(torch.float32)
        step = state["step"] + 1
        terminated = after <= self.tolerance * state["initial_suboptimality"]
        truncated = (step >= self.horizon) & ~terminated
        new_state = {**state, "position": new_position, "step": step}
        return new_state, reward, terminated, truncated, {"suboptimality": after}


def step_size_of(action: torch.Tensor) -> torch.Tensor:
    """Step size 10 ** (1.5 a - 1.5) of normalised actions a in [-1, 1]: (b,) -> (b,) float64."""
    return 10.0 ** (1.5 * action.to(torch.float64) - 1.5)


def quadratic_value(hessian: torch.Tensor, linear: torch.Tensor,
                    position: torch.Tensor) -> torch.Tensor:
    """f(x) = 1/2 x^T A x - b^T x. hessian (b, d, d), linear and position (b, d) -> (b,)."""
    return 0.5 * torch.einsum("bi,bij,bj->b", position, hessian, position) \
        - (linear * position).sum(-1)


GDStepSizeGymEnv, GDStepSizeVectorEnv = derive_envs(GDStepSizeEnv)


def register() -> None:
    """Register ENV_ID with gymnasium (single and vector entry points)."""
    register_family(ENV_ID, __name__, "GDStepSize")


if __name__ == "__main__":
    register()
    env = gymnasium.make(ENV_ID)
    observation, _ = env.reset(seed=0)
    for _ in range(5):
        observation, reward, terminated, truncated, info = env.step(np.array([-0.3],
                                                                             np.float32))
        print(observation, reward, info["suboptimality"])
