"""Exercise 1: your own tuning env on the tunegym contract.

The agent picks the step size of each gradient-descent step on a random quadratic
f(x) = 1/2 x^T A x - b^T x. Fill in the five TODOs; README.md has the exact spec.
Try it with `python starter.py`, grade it with `tunegym exercise check 1 starter.py`.
"""

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
        super().__init__(num_envs, device, split)   # checks num_envs, device and split
        # TODO 1: validate the four kwargs (an integer dimension >= 1, a real
        # condition_number >= 1, an integer horizon >= 1, a real tolerance in (0, 1)) with
        # errors that name the argument: check_integer and check_real do that for you.
        self.dimension = dimension
        self.condition_number = condition_number
        self.horizon = horizon
        self.tolerance = tolerance
        self.single_observation_space = gymnasium.spaces.Box(-np.inf, np.inf, shape=(3,),
                                                             dtype=np.float32)
        # A normalised action a in [-1, 1] (as SB3 recommends) maps to a step size
        # 10 ** (1.5 a - 1.5) in [1e-3, 1]: see step_size_of.
        self.single_action_space = gymnasium.spaces.Box(-1.0, 1.0, shape=(1,),
                                                        dtype=np.float32)

    def initial_state(self, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        """Fresh episodes for b seeds (b,) int64: a dict of float64 tensors with leading
        dim b. Keys: "hessian" (b, d, d), "linear" (b, d), "position" (b, d) and
        whatever else you need later (the optimal value, the starting suboptimality and
        gradient norm, the step count)."""
        keys = hash_keys(self.split_key, seeds.to(self.device))
        # TODO 2: draw the instance from `keys` only (never from a global generator):
        #   eigenvalues  exp(u * log(kappa)) with u = uniform(keys, (d,), stream=0),
        #   rotation     Q of the QR factorisation of standard_normal(keys, (d, d), stream=1),
        #   hessian      Q diag(eigenvalues) Q^T, symmetrised,
        #   linear       standard_normal(keys, (d,), stream=2),
        #   position     standard_normal(keys, (d,), stream=3).
        raise NotImplementedError("TODO 2: initial_state")

    def observe(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """Observation (b, 3) float32: log10 of the suboptimality and of the gradient norm,
        each relative to its episode start, and the step count / horizon."""
        # TODO 3: compute the three features from the state (see README.md).
        raise NotImplementedError("TODO 3: observe")

    def transition(self, state: dict[str, torch.Tensor], action: torch.Tensor):
        """One gradient step with step size step_size_of(action[:, 0]) in every env.

        Returns:
            (new state, reward (b,) float32, terminated (b,) bool, truncated (b,) bool,
            info {"suboptimality": (b,) float64}). Build new tensors; never modify the
            tensors of ``state`` in place.
        """
        # TODO 4: x <- x - step_size * grad f(x); reward log(f(x) - f*) - log(f(x') - f*);
        # terminated when f(x') - f* <= tolerance * (f(x0) - f*); truncated when the step
        # count reaches the horizon (and the episode did not terminate).
        raise NotImplementedError("TODO 4: transition")


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
    # TODO 5: one call to register_family, with this module's __name__ and the class
    # name prefix "GDStepSize" (derive_envs named the classes above).
    raise NotImplementedError("TODO 5: register")


if __name__ == "__main__":
    register()
    env = gymnasium.make(ENV_ID)
    observation, _ = env.reset(seed=0)
    for _ in range(5):
        observation, reward, terminated, truncated, info = env.step(np.array([-0.3],
                                                                             np.float32))
        print(observation, reward, info["suboptimality"])
