"""Exercise 5: the VQE inner loop for H2 (see README.md).

Fill in the two TODOs, run `python starter.py` to watch your optimisation, then grade it:

    tunegym exercise check 5 starter.py

The problem is fixed and imported: ``h2_energy(theta)`` is the energy in hartree of the
hardware-efficient ansatz (8 RY angles, a CNOT ladder) on the Hartree-Fock state of H2,
computed by tunegym's state-vector simulator. Angles are float64 tensors of shape (8,),
in radians.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from tunegym.exercises.vqe_h2 import (
    EVALUATION_BUDGET,
    NUM_PARAMETERS,
    START_SEEDS,
    exact_ground_energy,
    h2_energy,
    starting_theta,
)

Energy = Callable[[torch.Tensor], float]
Gradient = Callable[[torch.Tensor], torch.Tensor]


def parameter_shift_gradient(energy: Energy, theta: torch.Tensor) -> torch.Tensor:
    """dE/dtheta by the parameter-shift rule.

    Every angle theta_k sits in exactly one gate exp(-i theta_k Y / 2), so

        dE/dtheta_k = [E(theta + pi/2 e_k) - E(theta - pi/2 e_k)] / 2,

    exactly, with e_k the k-th unit vector.

    Args:
        energy: theta (P,) -> energy in hartree (a float); call it 2 P times.
        theta: (P,) float64 angles, rad. Do not change it in place.

    Returns:
        (P,) float64 gradient, Ha/rad.
    """
    raise NotImplementedError("TODO: the parameter-shift gradient (2 energy calls per angle)")


def minimise_energy(energy: Energy, gradient: Gradient, initial_theta: torch.Tensor,
                    max_evaluations: int) -> torch.Tensor:
    """The VQE loop: lower ``energy`` from ``initial_theta`` by gradient steps.

    Args:
        energy: theta (P,) -> energy in hartree; each call costs 1 evaluation.
        gradient: theta (P,) -> (P,) dE/dtheta in Ha/rad; each call costs 2 P
            evaluations (it is the parameter-shift rule's price).
        initial_theta: (P,) float64 starting angles, rad.
        max_evaluations: the evaluation budget: calls of ``energy`` plus 2 P per call of
            ``gradient`` must not exceed it.

    Returns:
        (P,) float64 optimised angles, rad.
    """
    # Gradient descent (theta <- theta - learning_rate * gradient) or Adam both work;
    # count your evaluations so that the loop stops within max_evaluations.
    raise NotImplementedError("TODO: the optimisation loop (gradient descent or Adam)")


def main() -> None:
    """Optimise from the first graded start with your own gradient and print the error."""
    ground = exact_ground_energy()
    theta = starting_theta(START_SEEDS[0])
    print(f"start: energy {h2_energy(theta):.6f} Ha, exact ground {ground:.6f} Ha")
    theta = minimise_energy(h2_energy, lambda angles: parameter_shift_gradient(h2_energy, angles),
                            theta, EVALUATION_BUDGET)
    error_mha = (h2_energy(theta) - ground) * 1e3
    print(f"end:   energy {h2_energy(theta):.6f} Ha, error {error_mha:.3f} mHa "
          f"(chemical accuracy 1.6 mHa), {NUM_PARAMETERS} angles in units of pi: "
          f"{(theta / math.pi).round(decimals=3).tolist()}")


if __name__ == "__main__":
    main()
