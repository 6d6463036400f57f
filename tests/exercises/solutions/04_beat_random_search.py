"""Reference solution of exercise 4 (tests only, not shipped): local search from the Eyeriss-like
design, one or two knobs stepped at a time, never evaluating a design twice.

Exercise 4: beat uniform random search on AcceleratorDesign at an equal budget.

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


#: Random designs evaluated with EYERISS_DESIGN in the first batch.
FIRST_RANDOM_DESIGNS = 7
#: Neighbours of the incumbent proposed per batch.
NEIGHBOURS_PER_BATCH = 8
#: Batches with no new design after which the search stops (a local optimum whose whole
#: neighbourhood is evaluated).
MAX_STALLED_BATCHES = 20


def neighbours(design: torch.Tensor, knob_sizes: Sequence[int], count: int,
               generator: torch.Generator) -> torch.Tensor:
    """``count`` neighbours of ``design`` (K,): each moves one knob, or two with probability
    1/2, drawn uniformly; an ordered knob steps to the next smaller or larger choice
    (inward at the ends), the dataflow (last knob) to another dataflow. int64 (count, K)."""
    sizes = torch.tensor(knob_sizes)
    num_knobs = len(knob_sizes)
    moved = torch.zeros(count, num_knobs, dtype=torch.bool)
    moved[torch.arange(count), torch.randint(num_knobs, (count,), generator=generator)] = True
    second = torch.randint(num_knobs, (count,), generator=generator)
    moved[torch.arange(count), second] |= torch.rand(count, generator=generator) < 0.5
    step = torch.where(torch.rand(count, num_knobs, generator=generator) < 0.5, -1, 1)
    stepped = design + step
    stepped = torch.where(stepped < 0, design + 1, stepped)
    stepped = torch.where(stepped >= sizes, design - 1, stepped)
    # The dataflow is categorical: any other value, offset 1 or 2 modulo 3.
    other = (design[-1] + 1 + torch.randint(int(sizes[-1]) - 1, (count,),
                                            generator=generator)) % sizes[-1]
    stepped[:, -1] = other
    return torch.where(moved, stepped, design.expand(count, -1))


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
    generator = torch.Generator().manual_seed(seed)
    seen: dict[tuple[int, ...], float] = {}      # design -> reward, to never pay twice

    def evaluate_new(designs: torch.Tensor) -> None:
        fresh = [design for design in dict.fromkeys(map(tuple, designs.tolist()))
                 if design not in seen][:evaluate.remaining]
        if fresh:
            rewards = evaluate(torch.tensor(fresh))
            seen.update(zip(fresh, rewards.tolist()))

    # Start from the Eyeriss-like design and a few random ones, to see other regions.
    evaluate_new(torch.cat([EYERISS_DESIGN[None, :],
                            random_designs(knob_sizes, FIRST_RANDOM_DESIGNS, generator)]))
    stalled = 0
    while evaluate.remaining > 0 and stalled < MAX_STALLED_BATCHES:
        incumbent = torch.tensor(max(seen, key=seen.get))
        used = len(seen)
        evaluate_new(neighbours(incumbent, knob_sizes, NEIGHBOURS_PER_BATCH, generator))
        stalled = stalled + 1 if len(seen) == used else 0
    return torch.tensor(max(seen, key=seen.get))


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
