"""Grader of exercise 2: EXP3 choosing SOR's relaxation factor (task: material/02_exp3_sor).

The student writes ``EXP3(num_arms, seed)`` with ``probabilities() -> (K,)``,
``act() -> int`` and ``update(arm, loss)``: exponential weights on importance-weighted
loss estimates with the anytime learning rate eta_t = sqrt(ln K / (t K)), t = number
of updates so far + 1, and no extra exploration (Auer, Cesa-Bianchi, Freund and
Schapire, SIAM J. Comput. 2002; Bubeck and Cesa-Bianchi 2012, ch. 3). Each criterion
is its own report line, and a broken method fails only the lines that use it:

1. the file loads and ``EXP3(5, 0)`` has the three methods;
2. ``probabilities()`` is a distribution of shape (K,) and uniform before any update
   (K = 3 and 20; sum within 1e-9 of 1, uniform within 1e-12);
3. after each update of a scripted 40-round sequence (K = 5, losses in [0.1, 1.2], the
   arms those a correct EXP3 drew, so no played arm has p < 0.05) ``probabilities()``
   equals the closed form exp(-eta_t L_hat) / sum within 1e-9: float64 rounding gives
   ~1e-16 and every algorithmic slip >= 1e-2 on this script. On a mismatch the
   trajectory is compared with the usual slips (no 1/p, flipped sign, constant or
   shifted learning rate, 1/p of the next round's distribution, every arm updated) so
   that the report names the slip;
4. the same within 1e-9 when every exp(-eta_t L_hat) underflows in float64 (L_hat ~ 3e4,
   eta_4 L_hat ~ 9000): shifting the exponents gives the exact answer, the naive
   formula 0/0 = NaN;
5. ``act()`` samples ``probabilities()``: after four scripted updates (K = 5), over
   10,000 draws the total-variation distance between the arm frequencies and p is at
   most 0.04 (about 0.008 is expected; a greedy argmax is at 0.69 and uniform draws at
   0.18), ``act()`` leaves ``probabilities()`` unchanged, and the seed alone decides the
   arms (two seeds must differ within 50 draws when p is spread out enough to make a
   coincidence negligible);
6. regret on SOR-v0 (the 600 systems of test sequence 0, every omega's iterations
   precomputed in one batched solve, see :func:`iterations_table`): the regret against
   the best fixed omega in hindsight, averaged over the agent seeds 0..7, must be at most
   1.3x the shipped Tsallis-INF's (8 runs on the same sequence: 45,700) and at most 0.6x
   uniform random play's expected regret (112,800). A correct EXP3 averages 47,100
   (256 runs; standard deviation 4,000 per run, so 1,400 for a mean of 8) and 32 groups
   of 8 runs range over 44,400-49,100, so the bound 59,400 sits 8 standard deviations
   and 21 % above the worst group; the reference solution measures 45,200. A greedy
   act() (66,200) fails it; no 1/p (101,600), a flipped sign (153,800) or updating every
   arm (112,200) also fail the uniform bound, which separates "learns slowly" from
   "does not learn".

The driver (:func:`play_sequence`) feeds ``update`` the loss iterations / (running mean
of the iterations paid so far, this round's included): the scale-free loss of the
shipped agents (``tunegym.agents.bandits``), so that the shipped Tsallis-INF, given
raw iterations, learns from exactly the losses the student's EXP3 sees.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tunegym.agents.bandits import TsallisINF
from tunegym.envs.sor import SOREnv, omega_grid
from tunegym.exercises.grading import (
    CriterionResult,
    Grade,
    Measurement,
    StudentError,
    as_tensor,
    call_student,
    load_student_module,
    student_function,
)

#: Absolute tolerance of the closed-form checks (float64 rounding is ~1e-16).
CLOSED_FORM_TOLERANCE = 1e-9
#: Scripted rounds of the closed-form check (K = 5): the arm played and its loss. The
#: arms are those a correct EXP3 drew (seeded), so that no played arm has p < 0.05;
#: arm i's losses lie in [b_i, b_i + 0.3], b = (0.9, 0.7, 0.5, 0.3, 0.1).
SCRIPT_ARMS = (2, 0, 1, 1, 0, 4, 4, 3, 3, 4, 3, 3, 2, 1, 2, 0, 1, 3, 4, 2,
               3, 4, 3, 4, 3, 4, 4, 4, 2, 2, 3, 4, 4, 3, 1, 3, 3, 3, 4, 2)
SCRIPT_LOSSES = (0.60, 1.17, 0.75, 0.71, 1.15, 0.23, 0.28, 0.38, 0.33, 0.27,
                 0.51, 0.48, 0.79, 0.93, 0.63, 1.14, 0.81, 0.50, 0.30, 0.53,
                 0.45, 0.36, 0.57, 0.37, 0.37, 0.37, 0.35, 0.31, 0.71, 0.58,
                 0.42, 0.37, 0.13, 0.38, 0.90, 0.55, 0.59, 0.42, 0.19, 0.51)
SCRIPT_NUM_ARMS = 5
#: Rounds (K = 3) after which every exp(-eta_t L_hat) underflows: L_hat = (3e4, 30001,
#: 30002) since the played arm's probability is 1/3, then 1/2, then 1 (exactly, in float64).
UNDERFLOW_ARMS = (0, 1, 2)
UNDERFLOW_LOSSES = (1e4, 15000.5, 30002.0)
UNDERFLOW_NUM_ARMS = 3
#: Updates (K = 5) before the sampling check: p becomes about (0.09, 0.14, 0.20, 0.26,
#: 0.31), far from uniform yet far from degenerate, for EXP3 and its usual slips alike.
SAMPLING_ARMS, SAMPLING_LOSSES = (0, 1, 2, 3), (1.0, 0.8, 0.5, 0.2)
#: Draws of the sampling check and the bound on total-variation distance.
NUM_DRAWS, MAX_TOTAL_VARIATION = 10_000, 0.04
#: The seed check needs p spread out: 50 draws of two seeds coincide with probability
#: (sum p^2)^50, below 1e-11 when sum p^2 <= 0.6 (EXP3's p here: 0.23).
MAX_SQUARED_NORM_FOR_SEED_CHECK = 0.6
#: The SOR sequence of the regret check: test split, the env's default kwargs.
ENV_ID, TEST_SEED, SEQUENCE_LENGTH = "tunegym/SOR-v0", 0, 600
#: K of SOR-v0: its default grid linspace(1, 1.95, 20) of omegas.
NUM_OMEGAS = 20
AGENT_SEEDS = tuple(range(8))
TSALLIS_INF_FACTOR, UNIFORM_FRACTION = 1.3, 0.6

_CLOSED_FORM_HINT = ("p_t = exp(-eta_t (L_hat - min L_hat)) / sum, eta_t = sqrt(ln K / (t K)) "
                     "with t = (updates so far) + 1; update(arm, loss) adds loss / p_t[arm] "
                     "to L_hat[arm] only, p_t being the distribution before this update, "
                     "then advances t")
_RUN_HINT = ("the message names the line of your file that failed; `python starter.py` runs "
             "your EXP3 on a training sequence")


def anytime_learning_rate(round_number: int, num_arms: int) -> float:
    """eta_t = sqrt(ln K / (t K)) of round t >= 1 (dimensionless)."""
    return math.sqrt(math.log(num_arms) / (round_number * num_arms))


@dataclass(frozen=True)
class Exp3Variant:
    """An EXP3 update rule: the graded one (the defaults) or a usual slip.

    Attributes:
        slip: what differs from the graded rule ("" for the graded rule itself).
        importance_weighted: add loss / p[arm] (True) or the bare loss.
        learning_rate: eta as a function of (round t >= 1, K).
        weight_from_next_round: divide by p of round t + 1 (the counter advanced first).
        only_played_arm: update the played arm's estimate (True) or every arm's.
    """

    slip: str = ""
    importance_weighted: bool = True
    learning_rate: Callable[[int, int], float] = anytime_learning_rate
    weight_from_next_round: bool = False
    only_played_arm: bool = True

    def probabilities(self, arms: tuple[int, ...], losses: tuple[float, ...],
                      num_arms: int) -> torch.Tensor:
        """The distribution before every scripted round and after the last one.

        Args:
            arms: the arm played in each round, ints in [0, K).
            losses: its loss in each round (>= 0).
            num_arms: K.

        Returns:
            float64 (len(arms) + 1, K); row r is p after r updates.
        """
        estimates = torch.zeros(num_arms, dtype=torch.float64)

        def distribution(round_number: int) -> torch.Tensor:
            eta = self.learning_rate(round_number, num_arms)
            return torch.softmax(-eta * estimates, dim=0)

        rows = []
        for round_number, (arm, loss) in enumerate(zip(arms, losses), start=1):
            rows.append(distribution(round_number))
            weight = distribution(round_number + int(self.weight_from_next_round))[arm]
            updated = arm if self.only_played_arm else slice(None)
            estimates[updated] += loss / weight if self.importance_weighted else loss
        rows.append(distribution(len(arms) + 1))
        return torch.stack(rows)


EXP3_CLOSED_FORM = Exp3Variant()
USUAL_SLIPS = (
    Exp3Variant("no importance weight: L_hat[arm] += loss instead of loss / p[arm]",
                importance_weighted=False),
    Exp3Variant("a constant learning rate sqrt(ln K / K) instead of eta_t",
                learning_rate=lambda round_number, num_arms: anytime_learning_rate(1, num_arms)),
    Exp3Variant("eta_t one round ahead (t counted from 2)",
                learning_rate=lambda round_number, num_arms:
                anytime_learning_rate(round_number + 1, num_arms)),
    Exp3Variant("the 1/p weight taken after the round counter advanced (p of round t + 1)",
                weight_from_next_round=True),
    Exp3Variant("every arm's estimate updated, not only the played arm's (bandit feedback: "
                "only the played arm's loss is seen)", only_played_arm=False),
)


# ------------------------------------------------------------------- the SOR sequence
@functools.lru_cache(maxsize=4)
def _cached_iterations_table(split: str, seed: int, sequence_length: int) -> torch.Tensor:
    env = SOREnv(num_envs=sequence_length, split=split)
    env.reset(torch.full((sequence_length,), seed, dtype=torch.int64))
    instances = env.problem.instance(env.state["episode_key"], torch.arange(sequence_length),
                                     env.state)
    return env.grid_iterations(instances).to(torch.float64)


def iterations_table(split: str = "test", seed: int = TEST_SEED,
                     sequence_length: int = SEQUENCE_LENGTH) -> torch.Tensor:
    """SOR iterations of every grid omega on every system of one SOR-v0 sequence.

    All T x K solves run in one batched call (``SOREnv.grid_iterations``), cached per
    arguments. Entry [t, k] is what ``env.step(k)`` reports as ``info["iterations"]`` at
    step t of the episode reset with ``seed``: SOR-v0's shifted-Poisson systems do not
    depend on the omegas played before, so a bandit run is a walk through this table.

    Args:
        split: "train" or "test".
        seed: the episode seed.
        sequence_length: T, the number of systems.

    Returns:
        float64 (T, NUM_OMEGAS), column k for the omega ``omega_grid(NUM_OMEGAS)[k]``.
    """
    return _cached_iterations_table(split, seed, sequence_length).clone()


def as_arm(value: Any, num_arms: int, name: str = "EXP3.act()") -> int:
    """``value`` (int, numpy integer, one-element integer tensor) as an int in [0, K).

    Raises:
        StudentError: it is not an integer or lies outside [0, K).
    """
    allowed = f"{name} must return an int arm index in [0, {num_arms - 1}]"
    if isinstance(value, bool) or getattr(value, "dtype", None) == torch.bool:
        raise StudentError(f"{allowed}, got a bool", "return int(...) of the sampled index")
    try:
        arm = operator.index(value)
    except TypeError:
        raise StudentError(f"{allowed}, got {type(value).__name__} {value!r}",
                           "return int(...) of the sampled index") from None
    if not 0 <= arm < num_arms:
        raise StudentError(f"{name} returned arm {arm}, outside [0, {num_arms - 1}]",
                           "arms are indices 0..K-1 of probabilities()")
    return arm


def play_sequence(agent: Any, iterations: torch.Tensor) -> float:
    """Play one sequence with bandit feedback; return the total iterations paid.

    Round t: ``arm = agent.act()``; the solve costs ``iterations[t, arm]``; then
    ``agent.update(arm, loss)`` with loss = that cost / the mean cost of rounds 1..t.

    Args:
        agent: an object with ``act() -> int`` and ``update(arm, loss)``.
        iterations: float (T, K), e.g. from :func:`iterations_table`.

    Raises:
        StudentError: ``act`` returned no valid arm, or ``act``/``update`` raised; the
            message names the round.
    """
    num_rounds, num_arms = iterations.shape
    total = 0.0
    for round_number, costs in enumerate(iterations.tolist(), start=1):
        try:
            arm = as_arm(call_student(agent.act), num_arms)
            total += costs[arm]
            call_student(agent.update, arm, costs[arm] / (total / round_number))
        except StudentError as error:
            raise StudentError(f"round {round_number} of {num_rounds}: {error}",
                               error.hint or _RUN_HINT) from None
    return total


@functools.lru_cache(maxsize=4)
def tsallis_inf_totals(split: str = "test", seed: int = TEST_SEED,
                       sequence_length: int = SEQUENCE_LENGTH,
                       num_runs: int = len(AGENT_SEEDS)) -> tuple[float, ...]:
    """Total iterations of ``num_runs`` runs of the shipped Tsallis-INF on the sequence of
    :func:`iterations_table` (one batched agent, seed 0); cached.

    The agent gets the raw reward -iterations and divides it by its running mean, so it
    learns from the same losses as an agent driven by :func:`play_sequence`."""
    iterations = iterations_table(split, seed, sequence_length)
    agent = TsallisINF(num_arms=iterations.shape[1], num_envs=num_runs, seed=0)
    totals = torch.zeros(num_runs, dtype=torch.float64)
    for costs in iterations:
        arms = agent.act()
        paid = costs[arms]
        agent.update(None, arms, -paid)
        totals += paid
    return tuple(totals.tolist())


# ---------------------------------------------------------------------------- checks
class _StudentAgent:
    """One instance of the student's EXP3, its calls wrapped and their results checked."""

    def __init__(self, exp3_class: type, num_arms: int, seed: int) -> None:
        self.num_arms = num_arms
        self.agent = call_student(exp3_class, num_arms, seed)

    def probabilities(self, hint: str = "") -> torch.Tensor:
        """The student's probabilities(), checked: float64 (K,), >= 0, summing to 1."""
        name = "EXP3.probabilities()"
        value = call_student(self.agent.probabilities)
        dtype = str(getattr(value, "dtype", "")).removeprefix("torch.")
        if dtype in ("float32", "float16", "bfloat16"):
            raise StudentError(f"{name} returned {dtype} numbers",
                               "compute in float64 (torch.float64 or Python floats): float32 "
                               "rounds p to ~1e-7, and the checks ask for 1e-9")
        try:
            probabilities = as_tensor(value, name, (self.num_arms,))
        except StudentError as error:
            raise StudentError(f"{error} (K = {self.num_arms})",
                               hint or "return one probability per arm, as a float64 tensor"
                               ) from None
        if bool((probabilities < 0).any()):
            raise StudentError(f"{name} has negative entries: {_short(probabilities)}",
                               hint or "exponential weights are positive")
        total = float(probabilities.sum())
        if abs(total - 1.0) > CLOSED_FORM_TOLERANCE:
            raise StudentError(f"{name} sums to {total:.12g}, not 1 (K = {self.num_arms})",
                               hint or "divide the weights by their sum")
        return probabilities

    def act(self) -> int:
        """The student's act(), checked: an int in [0, K)."""
        return as_arm(call_student(self.agent.act), self.num_arms)

    def update(self, arm: int, loss: float) -> None:
        """The student's update(arm, loss)."""
        call_student(self.agent.update, arm, loss)


def _short(values: torch.Tensor) -> str:
    """A probability vector, 4 significant digits per entry."""
    return "[" + ", ".join(f"{value:.4g}" for value in values.tolist()) + "]"


def _check_distribution(exp3_class: type) -> Measurement:
    figures = []
    for num_arms in (3, 20):
        probabilities = _StudentAgent(exp3_class, num_arms, seed=0).probabilities()
        deviation = float((probabilities - 1.0 / num_arms).abs().max())
        if deviation > 1e-12:
            raise StudentError(f"before any update EXP3.probabilities() must be uniform "
                               f"(1/{num_arms} each); got {_short(probabilities)}",
                               "L_hat starts at zero, so every arm has weight exp(0) = 1")
        figures.append(f"K = {num_arms}: sum {float(probabilities.sum()):.12g}, "
                       f"max |p - 1/K| {deviation:.1e}")
    return Measurement(True, "; ".join(figures) + " (tolerance 1e-12)")


def _student_trajectory(exp3_class: type, arms: tuple[int, ...], losses: tuple[float, ...],
                        num_arms: int, hint: str = ""
                        ) -> tuple[torch.Tensor, StudentError | None]:
    """The student's probabilities before the script and after each update, (r + 1, K),
    and the error that stopped the script after r updates (None if all ran)."""
    agent = _StudentAgent(exp3_class, num_arms, seed=0)
    rows = [agent.probabilities(hint)]
    try:
        for arm, loss in zip(arms, losses):
            agent.update(arm, loss)
            rows.append(agent.probabilities(hint))
    except StudentError as error:
        return torch.stack(rows), error
    return torch.stack(rows), None


def _check_closed_form(exp3_class: type) -> Measurement:
    arms, losses, num_arms = SCRIPT_ARMS, SCRIPT_LOSSES, SCRIPT_NUM_ARMS
    # A flipped sign makes the played arm likelier after a positive loss, and its
    # trajectory soon divides by p = 0: diagnose it from the first update alone.
    probe = _StudentAgent(exp3_class, num_arms, seed=0)
    probe.update(arms[0], losses[0])
    played = float(probe.probabilities()[arms[0]])
    if played > 1.0 / num_arms:
        return Measurement(False, f"after update(arm={arms[0]}, loss={losses[0]}) from the "
                                  f"uniform start p[{arms[0]}] = {played:.4f} > 1/{num_arms}",
                           "a loss must make its arm less likely: the weight is "
                           "exp(-eta_t L_hat), with a minus sign")
    student, error = _student_trajectory(exp3_class, arms, losses, num_arms)
    rows = len(student)
    errors = (student - EXP3_CLOSED_FORM.probabilities(arms, losses, num_arms)[:rows]).abs()
    worst = float(errors.max())
    if worst <= CLOSED_FORM_TOLERANCE:
        if error is not None:
            raise error
        return Measurement(True, f"max |p - closed form| {worst:.1e} over {len(arms)} updates "
                                 f"(K = {num_arms}; tolerance {CLOSED_FORM_TOLERANCE:.0e})")
    first_off = int(torch.nonzero(errors.max(dim=1).values > CLOSED_FORM_TOLERANCE)[0])
    measured = (f"max |p - closed form| {worst:.2g} (tolerance {CLOSED_FORM_TOLERANCE:.0e}); "
                f"first off after update {first_off} of {len(arms)} "
                f"(update(arm={arms[first_off - 1]}, loss={losses[first_off - 1]}))")
    if error is not None:
        measured += f"; then, after update {rows - 1}, {error}"
    for slip in USUAL_SLIPS:
        slip_rows = slip.probabilities(arms, losses, num_arms)[:rows]
        if float((student - slip_rows).abs().max()) < 1e-6:
            return Measurement(False, measured, f"your probabilities match EXP3 with {slip.slip}")
    return Measurement(False, measured, _CLOSED_FORM_HINT)


def _check_underflow(exp3_class: type) -> Measurement:
    arms, losses, num_arms = UNDERFLOW_ARMS, UNDERFLOW_LOSSES, UNDERFLOW_NUM_ARMS
    hint = ("exp(-eta L_hat) underflows to 0 for every arm here: subtract min(L_hat) from "
            "L_hat before exponentiating (or use torch.softmax / logsumexp), which changes "
            "no ratio")
    student, error = _student_trajectory(exp3_class, arms, losses, num_arms, hint)
    if error is not None:
        raise error
    expected = EXP3_CLOSED_FORM.probabilities(arms, losses, num_arms)
    worst = float((student - expected).abs().max())
    measured = (f"after update(0, 1e4), update(1, 15000.5), update(2, 30002): p = "
                f"{_short(student[-1])}, closed form {_short(expected[-1])}; max error "
                f"{worst:.1e} (tolerance {CLOSED_FORM_TOLERANCE:.0e})")
    if worst <= CLOSED_FORM_TOLERANCE:
        return Measurement(True, measured)
    return Measurement(False, measured, "first pass the closed-form criterion above: "
                                        + _CLOSED_FORM_HINT)


def _sampling_agent(exp3_class: type, seed: int) -> tuple[_StudentAgent, str]:
    """A student agent after the sampling script, and a note. If update() fails there,
    the agent is rebuilt with the updates before the failing one only."""
    agent = _StudentAgent(exp3_class, SCRIPT_NUM_ARMS, seed)
    for done, (arm, loss) in enumerate(zip(SAMPLING_ARMS, SAMPLING_LOSSES)):
        try:
            agent.update(arm, loss)
        except StudentError:
            agent = _StudentAgent(exp3_class, SCRIPT_NUM_ARMS, seed)
            for replayed_arm, replayed_loss in zip(SAMPLING_ARMS[:done],
                                                   SAMPLING_LOSSES[:done]):
                agent.update(replayed_arm, replayed_loss)
            return agent, f" (update() failed, so sampled after {done} updates, not 4)"
    return agent, ""


def _check_sampling(exp3_class: type) -> Measurement:
    agent, note = _sampling_agent(exp3_class, seed=0)
    probabilities = agent.probabilities()
    counts = torch.zeros(SCRIPT_NUM_ARMS, dtype=torch.float64)
    for _ in range(NUM_DRAWS):
        counts[agent.act()] += 1.0
    after = agent.probabilities()
    if float((after - probabilities).abs().max()) > 1e-12:
        raise StudentError(f"{NUM_DRAWS} calls of act() changed probabilities() from "
                           f"{_short(probabilities)} to {_short(after)}",
                           "act() only draws; L_hat and the round counter change in update()")
    frequencies = counts / NUM_DRAWS
    distance = 0.5 * float((frequencies - probabilities).abs().sum())
    measured = (f"total variation {distance:.3f} between the frequencies of {NUM_DRAWS} draws "
                f"{_short(frequencies)} and p {_short(probabilities)} (bound "
                f"{MAX_TOTAL_VARIATION}){note}")
    if distance > MAX_TOTAL_VARIATION:
        return Measurement(False, measured, "act() must draw arm i with probability p[i], "
                                            "e.g. torch.multinomial(p, 1, generator=...)")
    draws = [[agent.act() for _ in range(50)]
             for agent, _ in (_sampling_agent(exp3_class, seed) for seed in (3, 3, 4))]
    if draws[0] != draws[1]:
        return Measurement(False, measured + "; but two agents with seed 3 drew different arms",
                           "draw only from a generator created from `seed` in __init__ "
                           "(torch.Generator().manual_seed(seed))")
    if float(probabilities.square().sum()) > MAX_SQUARED_NORM_FOR_SEED_CHECK:
        return Measurement(True, measured + "; same seed, same arms (p too concentrated to "
                                            "compare seeds)")
    if draws[0] == draws[2]:
        return Measurement(False, measured + "; but seeds 3 and 4 drew the same 50 arms",
                           "seed your generator with the `seed` argument")
    return Measurement(True, measured + "; same seed, same arms; another seed, other arms")


def _check_regret(exp3_class: type) -> Measurement:
    # One round first, so that an unfinished act() or update() fails before the table
    # is built.
    first_agent = _StudentAgent(exp3_class, NUM_OMEGAS, seed=0)
    first_agent.update(first_agent.act(), 1.0)
    iterations = iterations_table()
    totals_per_arm = iterations.sum(dim=0)
    best_total = float(totals_per_arm.min())
    uniform_regret = float(iterations.mean(dim=1).sum()) - best_total
    tsallis_totals = tsallis_inf_totals()
    tsallis_regret = sum(tsallis_totals) / len(tsallis_totals) - best_total
    student_totals = [play_sequence(call_student(exp3_class, NUM_OMEGAS, seed), iterations)
                      for seed in AGENT_SEEDS]
    regret = sum(student_totals) / len(student_totals) - best_total
    tsallis_bound = TSALLIS_INF_FACTOR * tsallis_regret
    uniform_bound = UNIFORM_FRACTION * uniform_regret
    best_omega = float(omega_grid(NUM_OMEGAS)[int(totals_per_arm.argmin())])
    measured = (f"mean regret {regret:.0f} iterations over {len(AGENT_SEEDS)} runs of "
                f"{iterations.shape[0]} {ENV_ID} test systems (best fixed omega "
                f"{best_omega:.2f}: {best_total:.0f} iterations); Tsallis-INF "
                f"{tsallis_regret:.0f} -> bound {TSALLIS_INF_FACTOR}x = {tsallis_bound:.0f}; "
                f"uniform random {uniform_regret:.0f} -> bound {UNIFORM_FRACTION}x = "
                f"{uniform_bound:.0f}")
    if regret > uniform_bound:
        return Measurement(False, measured, "your EXP3 hardly learns: check the sign of the "
                                            "exponent, the 1/p weight, and that act() samples "
                                            "probabilities()")
    if regret > tsallis_bound:
        return Measurement(False, measured, "it learns, but slowly: check eta_t, that act() "
                                            "samples probabilities(), and the criteria above")
    return Measurement(True, measured)


def grade(student_file: Path) -> list[CriterionResult]:
    """Grade the student's EXP3 (see the module docstring): one result per criterion."""
    grade = Grade(student_file)
    loaded: dict[str, type] = {}

    def check_loads() -> Measurement:
        module = load_student_module(student_file)
        exp3_class = student_function(module, "EXP3")
        agent = call_student(exp3_class, 5, 0)
        missing = [name for name in ("probabilities", "act", "update")
                   if not callable(getattr(agent, name, None))]
        if missing:
            raise StudentError(f"EXP3 has no method {', '.join(missing)}",
                               "keep the method names of the starter file")
        loaded["EXP3"] = exp3_class
        return Measurement(True, "EXP3(5, 0) built; it has probabilities(), act(), update()")

    def with_class(check: Callable[[type], Measurement]) -> Callable[[], Measurement]:
        """The check run on the loaded class; errors without a hint get :data:`_RUN_HINT`."""
        def run() -> Measurement:
            if "EXP3" not in loaded:
                raise StudentError("not checked: the file did not load or has no EXP3 "
                                   "(see the first criterion)", "fix the first criterion")
            try:
                return check(loaded["EXP3"])
            except StudentError as error:
                raise StudentError(str(error), error.hint or _RUN_HINT) from None
        return run

    grade.criterion("file loads and defines EXP3(num_arms, seed) with probabilities(), act(), "
                    "update(arm, loss)", check_loads)
    grade.criterion("probabilities() is a distribution of shape (K,), uniform before any "
                    "update", with_class(_check_distribution))
    grade.criterion(f"probabilities() after each of {len(SCRIPT_ARMS)} scripted updates equals "
                    f"exp(-eta_t L_hat) / sum (1/p importance weights, eta_t = "
                    f"sqrt(ln K / (t K)))", with_class(_check_closed_form))
    grade.criterion("probabilities() stays exact when every exp(-eta_t L_hat) underflows",
                    with_class(_check_underflow))
    grade.criterion("act() samples probabilities(), leaves them unchanged, and is seeded",
                    with_class(_check_sampling))
    grade.criterion(f"regret against the best fixed omega on {ENV_ID} (test split) <= "
                    f"{TSALLIS_INF_FACTOR}x Tsallis-INF's and <= {UNIFORM_FRACTION}x uniform "
                    f"random play's", with_class(_check_regret))
    return grade.results
