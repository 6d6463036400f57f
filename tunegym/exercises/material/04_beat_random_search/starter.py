"""Exercise 4: beat uniform random search on AcceleratorDesign at an equal budget.

Write `search`: any search agent (local search, simulated annealing, a genetic
algorithm, a bandit per knob, ...) that finds a better accelerator design than uniform
random search does with the same number of evaluations. README.md has the problem,
the interface and the grading.

    python starter.py                          # try it on a train workload
    tunegym exercise check 4 starter.py        # grade it (test workloads)

Only `evaluate` may cost designs: calling the env or the simulator yourself is not
allowed (the grader counts evaluations through `evaluate` alone).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

import torch

from tunegym.envs.accelerator_design import DEFAULT_DESIGN, DESIGN_SPACE
from tunegym.exercises.beat_random_search import make_evaluator

#: The Eyeriss-like reference design as choice indices, int64 (9,): a known-good start.
EYERISS_DESIGN = torch.as_tensor(DESIGN_SPACE.encode(DEFAULT_DESIGN))
#: Choices per knob, K = 9, in column order (what the grader passes as knob_sizes).
KNOB_SIZES = tuple(int(size) for size in DESIGN_SPACE.nvec)
#: Knob names in column order; every knob but the last (dataflow) has its choices sorted
#: by value, so index i + 1 is the next larger size.
KNOB_NAMES = DESIGN_SPACE.knob_names

#: The train workload `python starter.py` tries your search on (alexnet and mobilenetv2
#: are train workloads too, with less room above random search).
TRY_WORKLOAD = "resnet18"

Evaluate = Callable[[torch.Tensor], torch.Tensor]


def random_designs(knob_sizes: Sequence[int], count: int,
                   generator: torch.Generator) -> torch.Tensor:
    """``count`` designs drawn uniformly: int64 (count, K), column k in [0, knob_sizes[k])."""
    sizes = torch.tensor(knob_sizes)
    return (torch.rand(count, len(knob_sizes), generator=generator) * sizes).long()


def random_search(evaluate: Evaluate, knob_sizes: Sequence[int], budget: int,
                  seed: int) -> torch.Tensor:
    """The baseline to beat: ``budget`` uniform designs, the best one returned."""
    generator = torch.Generator().manual_seed(seed)
    designs = random_designs(knob_sizes, budget, generator)
    rewards = evaluate(designs)
    return designs[rewards.argmax()]


def search(evaluate: Evaluate, knob_sizes: Sequence[int], budget: int,
           seed: int) -> torch.Tensor:
    """Search the design space with at most ``budget`` evaluations.

    Args:
        evaluate: ``evaluate(designs)`` costs a batch of designs, int64 (n, K) choice
            indices, and returns their rewards, float64 (n,): minus the relative distance
            to the target spec (0 is perfect; -10 marks a design the model cannot
            build); maximised. Every design counts against the budget, repeats too;
            ``evaluate.remaining`` says how many are left, and asking for more raises.
        knob_sizes: K = 9 choice counts; knob k takes the indices 0 .. knob_sizes[k] - 1.
        budget: evaluations allowed (200 when graded).
        seed: draw every random number from a generator seeded with it, so that the
            same seed gives the same design.

    Returns:
        int64 (K,): the best design you evaluated.
    """
    # TODO: spend the budget better than random_search does, drawing random numbers from
    # torch.Generator().manual_seed(seed). One way (local search):
    #   1. evaluate a first batch (EYERISS_DESIGN and some random designs) and keep the
    #      best one as the incumbent;
    #   2. while evaluate.remaining > 0: evaluate a batch of neighbours of the incumbent
    #      (one or two knobs moved to a nearby choice) that you have not evaluated
    #      yet, and move the incumbent when a neighbour is better; when no new
    #      neighbour turns up for a while, stop (or restart elsewhere), or the loop
    #      never ends;
    #   3. return the incumbent.
    raise NotImplementedError("TODO: write your search agent")


if __name__ == "__main__":
    # Tune on a train workload; the grader measures on the test ones (resnet50, transformer).
    medians = {}
    for name, agent in (("random search", random_search), ("your search", search)):
        distances = []
        for seed in range(8):
            design = agent(make_evaluator(TRY_WORKLOAD, budget=200), KNOB_SIZES, 200, seed)
            # A separate evaluator with a budget of 1 scores the returned design.
            score = make_evaluator(TRY_WORKLOAD, budget=1)(torch.as_tensor(design)[None, :])
            distances.append(-float(score[0]))
        medians[name] = statistics.median(distances)
        print(f"{name}: median distance to the target spec on {TRY_WORKLOAD} "
              f"{medians[name]:.3f}")
    print(f"ratio {medians['your search'] / medians['random search']:.2f} (graded on the "
          "test workloads against 64 random-search runs; pass <= 0.75)")
