"""Exercise 2: EXP3 picks the SOR relaxation factor omega, one linear system after another.

An SOR solve of each system of a sequence must use one omega from a grid of K values;
after the solve you see only how many iterations *that* omega took (bandit feedback).
Fill in the four TODOs of :class:`EXP3`; README.md has the maths and the exact variant
that is graded. ``python starter.py`` plays a training sequence of tunegym/SOR-v0 with
your EXP3; ``tunegym exercise check 2 starter.py`` grades it.
"""

from __future__ import annotations

import math

import torch

from tunegym.envs.sor import omega_grid
from tunegym.exercises.exp3_sor import iterations_table, play_sequence


class EXP3:
    """EXP3 with the anytime learning rate and no extra exploration, on losses.

    Round t = 1, 2, ... samples arm A_t from p_t = softmax(-eta_t * L_hat) with
    eta_t = sqrt(ln K / (t K)); after the loss of A_t is seen, only
    L_hat[A_t] grows, by loss / p_t[A_t].

    Attributes:
        num_arms: K, the number of arms (omega grid values).
        cumulative_loss_estimates: L_hat, float64 (K,), the importance-weighted sum of
            the losses seen so far, per arm.
        rounds_played: the number of update() calls so far (t - 1 during round t).
        generator: the torch.Generator that act() draws from, seeded with ``seed``.

    Args:
        num_arms: K >= 1.
        seed: seed of ``generator`` (the same seed must give the same arms).
    """

    def __init__(self, num_arms: int, seed: int = 0) -> None:
        self.num_arms = num_arms
        self.cumulative_loss_estimates = torch.zeros(num_arms, dtype=torch.float64)
        self.rounds_played = 0
        self.generator = torch.Generator().manual_seed(seed)

    def learning_rate(self) -> float:
        """eta_t = sqrt(ln K / (t K)) of the coming round t = rounds_played + 1."""
        # TODO 1: one line of math.sqrt and math.log; the round is t = rounds_played + 1.
        raise NotImplementedError("TODO 1: the anytime learning rate eta_t")

    def probabilities(self) -> torch.Tensor:
        """p_t(i) = exp(-eta_t L_hat(i)) / sum_j exp(-eta_t L_hat(j)): float64 (K,).

        Must stay finite however large L_hat grows: exp(-eta_t L_hat) underflows to 0
        for every arm once eta_t * min(L_hat) exceeds ~745.
        """
        # TODO 2: exponential weights of -eta_t * L_hat, normalised. Shift the exponents
        # first (subtracting min(L_hat) changes no ratio), or let torch.softmax do it.
        raise NotImplementedError("TODO 2: exponential weights")

    def act(self) -> int:
        """Draw an arm from probabilities() with ``generator``: an int in [0, K).

        Changes no learned state (only the generator advances).
        """
        # TODO 3: one draw from probabilities(), with self.generator (torch.multinomial
        # takes a generator= argument); return it as a Python int.
        raise NotImplementedError("TODO 3: sample an arm")

    def update(self, arm: int, loss: float) -> None:
        """Learn from one round: ``arm`` was played and its ``loss`` (>= 0) seen.

        Only the played arm's estimate changes, by loss / p_t(arm), with p_t the
        distribution the arm was drawn from (before this update); then t advances.
        """
        # TODO 4: read p_t(arm) BEFORE changing anything, add the importance-weighted
        # loss to the played arm's estimate only, then count the round.
        raise NotImplementedError("TODO 4: the importance-weighted update")


def main(sequence_length: int = 600, seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    """Play one training sequence of tunegym/SOR-v0 with EXP3 from a few seeds; print the
    iterations paid and the regret against the best fixed omega in hindsight."""
    torch.set_num_threads(1)   # the fastest setting for these small CPU tensors
    # iterations[t, k]: SOR iterations of omega_k on system t, for every k (computed
    # once, batched); a run only ever reads the entry of the omega it played.
    iterations = iterations_table(split="train", seed=0, sequence_length=sequence_length)
    omegas = omega_grid(iterations.shape[1])
    totals_per_omega = iterations.sum(dim=0)
    best_arm = int(totals_per_omega.argmin())
    best_total = float(totals_per_omega[best_arm])
    uniform_total = float(iterations.mean(dim=1).sum())
    print(f"{sequence_length} systems; best fixed omega {omegas[best_arm]:.2f} in hindsight: "
          f"{best_total:.0f} iterations; uniform random play: {uniform_total:.0f} on average")
    for seed in seeds:
        agent = EXP3(iterations.shape[1], seed=seed)
        total = play_sequence(agent, iterations)
        favourite = int(agent.probabilities().argmax())
        print(f"EXP3 seed {seed}: {total:.0f} iterations, regret {total - best_total:.0f}; "
              f"favours omega {omegas[favourite]:.2f} at the end")


if __name__ == "__main__":
    main()
