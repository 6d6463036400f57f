"""Grader of exercise 3: greedy marginal-gain coverage, then SubPO's policy-gradient loss.

The student's file defines (see material/03_coverage_greedy_subpo/README.md)
``marginal_gains(weights, covered, free, position, footprint) -> (B, 5)``,
``greedy_action(gains, tie_break) -> (B,)`` and
``subpo_loss(log_probs, gains, baseline=True) -> scalar``. Everything is seeded, and
whatever is compared with a baseline runs on the test split.

Criteria and thresholds:

1. The file loads and defines the three functions.
2. ``marginal_gains`` equals F(S + {x}) - F(S) as tunegym computes it
   (:meth:`GreedyMarginalGain.one_step_gains`) for the 5 actions of 448 states reached by
   random walks in four settings (open and two-rooms maps, footprints 0, 1 and 2): max
   abs error <= 1e-9 * max(1, largest gain). A gain sums at most 25 float64 weights, so a
   right answer is off by round-off (~1e-13); a wrong cell is off by a whole weight.
3. ``greedy_action`` agrees with the rule (largest gain; gains within 1e-12 of it are
   ties, won by the largest ``tie_break``) on all 400 seeded rows, a third of them with ties,
   some with round-off-sized (tie) or 1e-6-sized (not a tie) differences. An argmax is
   exact, so every row must agree.
4. The student's greedy policy (both functions, the tie-break draws of the same seeded
   generator as :class:`GreedyMarginalGain`) ends each of 12 test-split episodes at the same
   F(S) as tunegym's GreedyMarginalGain, to 1e-9 relative (the same moves give the same F
   up to round-off; a different route differs by whole cell weights).
   The line also reports, ungraded, greedy's return over the brute-force optimum on four
   5 x 7 two-room maps: on walks no constant-factor guarantee holds (Prajapat et al. show
   SubRL is inapproximable in general) and the ratio does fall below 1 - 1/e there.
5. ``subpo_loss(..., baseline=False)``: its value and its gradient with respect to the
   parameters of a float64 softmax policy equal REINFORCE with the reward-to-go of the
   marginal gains, on two seeded batches, to 1e-6 relative. A right answer is off by
   float64 round-off (~1e-15); each typical mistake (sign, normalisation, return instead of
   reward-to-go, baseline over the wrong axis) is off by 5 % or more on these batches, and
   is named in the hint when recognised.
6. The same with ``baseline=True``: the mean over the batch of the reward-to-go at each
   step is subtracted, as in :meth:`tunegym.agents.subpo.SubPO.loss`.
7. 60 SubPO updates (tunegym's :class:`SubPO` Markov policy, batch 64, Adam 1e-2) with the
   student's loss raise the mean test return on a fixed 7 x 7 coverage_bimodal map
   (horizon 10) by at least half of what SubPO's own ``train_step`` gains in the same
   setting (computed once per process). Float32 round-off makes the two runs drift apart,
   so the reference solution reaches 36.9 where train_step reaches 38.2, from 15.6: the
   threshold 26.9 leaves it a margin of 10 (about half the gain); a loss of the wrong sign,
   or one without gradient, does not learn.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import torch

from tunegym.agents.subpo import SubPO
from tunegym.baselines.coverage import (
    GreedyMarginalGain,
    RandomMoves,
    brute_force_optimum,
    final_values,
)
from tunegym.core import ActFunction
from tunegym.envs.coverage import NUM_ACTIONS, CoverageEnv
from tunegym.exercises.grading import (
    CriterionResult,
    Grade,
    Measurement,
    StudentError,
    as_float,
    as_tensor,
    call_student,
    load_student_module,
    student_functions,
)
from tunegym.simulators.coverage import footprint_mask, step_positions

FUNCTIONS = ("marginal_gains", "greedy_action", "subpo_loss")
ACTION_NAMES = ("stay", "up", "down", "left", "right")

#: Gains within this of the best one are ties (the rule of GreedyMarginalGain).
TIE_TOLERANCE = 1e-12
#: Criterion 2: allowed error of a gain, relative to max(1, largest gain).
GAIN_TOLERANCE = 1e-9
#: Criterion 4: allowed relative difference of F(S) from GreedyMarginalGain's.
VALUE_TOLERANCE = 1e-9
#: Criteria 5 and 6: allowed relative error of the loss and of its gradient.
LOSS_TOLERANCE = 1e-6

#: Criterion 2: (label, CoverageEnv kwargs); states from random walks on the test split.
GAIN_SETTINGS = (
    ("open 30x30 coverage_constant, footprint 1", {}),
    ("two_rooms 7x14 biodiversity, footprint 1", {"map": "two_rooms", "task": "biodiversity"}),
    ("open 12x12 informative_path, footprint 0",
     {"task": "informative_path", "height": 12, "width": 12, "footprint": 0}),
    ("two_rooms 7x14 coverage_bimodal, footprint 2",
     {"map": "two_rooms", "task": "coverage_bimodal", "footprint": 2}),
)
GAIN_EPISODES, GAIN_WALK_STEPS, GAIN_CHECK_EVERY = 16, 30, 5
#: Criterion 3: seeded rows of gains and tie-break draws.
TIE_ROWS = 400
#: Criterion 4: (label, CoverageEnv kwargs) of the greedy episodes, test seeds 0..5 each.
GREEDY_SETTINGS = (
    ("open 30x30 coverage_constant", {}),
    ("two_rooms 7x14 biodiversity", {"map": "two_rooms", "task": "biodiversity"}),
)
GREEDY_EPISODES, TIE_BREAK_SEED = 6, 0
#: Criterion 4, ungraded: small maps where the brute-force optimum is affordable.
RATIO_SETTING = {"task": "coverage_constant", "map": "two_rooms", "height": 5, "width": 7,
                 "horizon": 6, "split": "test"}
RATIO_EPISODES = 4
#: Criteria 5 and 6: (episodes B, horizon T, seed) of the seeded loss inputs.
LOSS_BATCHES = ((8, 6, 0), (3, 11, 1))
LOSS_FEATURES = 4
#: Criterion 7: the fixed map SubPO trains on, and the training budget.
TRAINING_MAP = {"task": "coverage_bimodal", "height": 7, "width": 7, "horizon": 10,
                "map_seed": 3}
TRAINING_BATCH, TRAINING_UPDATES, TRAINING_TEST_EPISODES = 64, 60, 64
#: Criterion 7: the share of SubPO.train_step's improvement the student's loss must reach.
TRAINING_SHARE = 0.5

LossFunction = Callable[..., torch.Tensor]


# ------------------------------------------------------------- student calls, checked
def checked_gains(marginal_gains: Callable, state: dict[str, torch.Tensor],
                  footprint: int) -> torch.Tensor:
    """The student's gains float64 (B, 5) in the env state ``state`` (copies are passed,
    so the student cannot change the env)."""
    batch_size = state["position"].shape[0]
    value = call_student(marginal_gains, state["weights"].clone(), state["covered"].clone(),
                        state["free"].clone(), state["position"].clone(), footprint)
    gains = as_tensor(value, "the result of marginal_gains", (batch_size, NUM_ACTIONS),
                      hint="return one float gain per world (rows) and action (columns): "
                      "shape (B, 5)")
    if bool((gains < -TIE_TOLERANCE).any()):
        raise StudentError(f"marginal_gains returned a negative gain ({gains.min().item():.4g});"
                           " F is monotone, so a gain is >= 0",
                           "the gain is the weight of the cells newly covered: never negative")
    return gains


def checked_actions(greedy_action: Callable, gains: torch.Tensor,
                    tie_break: torch.Tensor) -> torch.Tensor:
    """The student's actions int64 (B,) in 0..4 for ``gains`` and ``tie_break`` (B, 5)."""
    value = call_student(greedy_action, gains.clone(), tie_break.clone())
    actions = as_tensor(value, "the result of greedy_action", (gains.shape[0],),
                        floating=False, hint="return one integer action per row: argmax "
                        "over dim 1 gives shape (B,) int64")
    if bool(((actions < 0) | (actions >= NUM_ACTIONS)).any()):
        raise StudentError(f"greedy_action returned actions outside 0..{NUM_ACTIONS - 1}: "
                           f"{sorted(set(actions.tolist()))[:5]}",
                           "return the index of the chosen column of gains")
    return actions


def checked_loss(value: object) -> torch.Tensor:
    """The student's loss as a finite scalar tensor with gradient."""
    if not isinstance(value, torch.Tensor):
        raise StudentError(f"subpo_loss must return a scalar torch tensor, got "
                           f"{type(value).__name__}",
                           "build the loss with torch operations on log_probs; no .item()")
    if value.numel() != 1:
        raise StudentError(f"subpo_loss must return a scalar (one element), got shape "
                           f"{tuple(value.shape)}", "sum over episodes and steps")
    as_float(value.detach(), "the loss returned by subpo_loss",
             hint="look for a log of 0 or a division by zero")
    if not value.requires_grad:
        raise StudentError("the loss returned by subpo_loss carries no gradient",
                           "do not detach log_probs or rebuild the loss from numbers: the "
                           "optimiser needs its gradient")
    return value.reshape(())


# ------------------------------------------------------------------ greedy rollouts
def greedy_values(marginal_gains: Callable, greedy_action: Callable, env: CoverageEnv,
                  seeds: torch.Tensor, tie_break_seed: int = TIE_BREAK_SEED) -> torch.Tensor:
    """F(S) (B,) float64 at the end of the greedy episodes ``seeds`` (B,) on ``env``.

    Each step calls ``marginal_gains`` on the env state and ``greedy_action`` with
    tie-break draws (B, 5) from a CPU generator seeded with ``tie_break_seed``, drawn as
    :class:`GreedyMarginalGain` draws them, so a right solution moves exactly as it does.

    Raises:
        StudentError: a function raised or returned something malformed.
    """
    generator = torch.Generator().manual_seed(tie_break_seed)

    def act(observation: torch.Tensor) -> torch.Tensor:
        gains = checked_gains(marginal_gains, env.state, env.footprint)
        tie_break = torch.rand(gains.shape, generator=generator).to(torch.float64)
        return checked_actions(greedy_action, gains, tie_break).to(env.device)

    return final_values(env, seeds, ActFunction(act))


def reference_action(gains: torch.Tensor, tie_break: torch.Tensor) -> torch.Tensor:
    """The greedy rule: the largest gain, ties (within TIE_TOLERANCE) to the largest
    tie_break. int64 (B,) of (B, 5) inputs."""
    best = gains >= gains.max(dim=1, keepdim=True).values - TIE_TOLERANCE
    return torch.where(best, tie_break, -1.0).argmax(dim=1)


def check_marginal_gains(marginal_gains: Callable) -> Measurement:
    """Criterion 2: the student's gains against GreedyMarginalGain.one_step_gains."""
    states, worst = 0, 0.0
    for label, kwargs in GAIN_SETTINGS:
        env = CoverageEnv(num_envs=GAIN_EPISODES, split="test", **kwargs)
        observation = env.reset(torch.arange(GAIN_EPISODES))
        walker = RandomMoves(GAIN_EPISODES, seed=len(label))
        for step in range(GAIN_WALK_STEPS + 1):
            if step % GAIN_CHECK_EVERY == 0:
                expected = GreedyMarginalGain(env).one_step_gains()
                yours = checked_gains(marginal_gains, env.state, env.footprint)
                scale = max(1.0, float(expected.abs().max()))
                error = (yours - expected).abs() / scale
                if float(error.max()) > GAIN_TOLERANCE:
                    return gain_mismatch(env, label, step, yours, expected, error)
                worst, states = max(worst, float(error.max())), states + GAIN_EPISODES
            if step < GAIN_WALK_STEPS:
                observation = env.step(walker.act(observation))[0]
    return Measurement(True, f"all {states} states x {NUM_ACTIONS} actions in "
                             f"{len(GAIN_SETTINGS)} settings match; largest error "
                             f"{worst:.1e} x scale (tolerance {GAIN_TOLERANCE:.0e})")


def gain_mismatch(env: CoverageEnv, label: str, step: int, yours: torch.Tensor,
                  expected: torch.Tensor, error: torch.Tensor) -> Measurement:
    """A failed criterion 2, describing the first wrong gain and guessing the mistake."""
    episode, action = (int(index) for index in (error > GAIN_TOLERANCE).nonzero()[0])
    state = env.state
    position = state["position"][episode:episode + 1]
    reached = step_positions(state["free"][episode:episode + 1], position,
                             torch.tensor([action], device=env.device))
    sensed = footprint_mask(reached, tuple(state["weights"].shape[1:]), env.footprint)
    everything_sensed = float((state["weights"][episode] * sensed[0]).sum())
    mine, right = float(yours[episode, action]), float(expected[episode, action])
    blocked = bool((reached == position).all()) and action != 0
    where = (f"action {action} ({ACTION_NAMES[action]}) from cell {tuple(position[0].tolist())}"
             f"{' (a blocked move)' if blocked else ''} after {step} random steps, "
             f"{label}, test episode {episode}")
    if blocked:
        hint = ("a move into a wall or off the grid leaves the agent where it is, whose "
                "footprint is already covered: gain 0; step_positions applies this rule")
    elif abs(mine - everything_sensed) <= GAIN_TOLERANCE * max(1.0, abs(right)):
        hint = ("you counted every cell of the footprint: count only the cells that "
                "`covered` does not hold yet (F(S + {x}) - F(S), not F({x}))")
    else:
        hint = (f"the gain is the sum of `weights` over the cells within Chebyshev distance "
                f"footprint = {env.footprint} of the cell reached (a square of side "
                f"2 * footprint + 1, cut at the border) that are not covered yet")
    return Measurement(False, f"{where}: yours {mine:.6g}, expected {right:.6g}", hint)


def check_greedy_action(greedy_action: Callable) -> Measurement:
    """Criterion 3: the student's choice rule on seeded rows with many ties."""
    generator = torch.Generator().manual_seed(3)
    gains = torch.randint(0, 3, (TIE_ROWS, NUM_ACTIONS), generator=generator).double()
    # Per entry: no change, a round-off-sized change (still a tie) or a real difference.
    kind = torch.randint(0, 3, gains.shape, generator=generator)
    gains = gains + torch.tensor([0.0, 1e-14, 1e-6], dtype=torch.float64)[kind]
    gains[0] = 0.0                                        # a fully covered neighbourhood
    tie_break = torch.rand(gains.shape, generator=generator, dtype=torch.float64)
    yours = checked_actions(greedy_action, gains, tie_break)
    expected = reference_action(gains, tie_break)
    wrong = (yours != expected).nonzero()
    ties = int(((gains >= gains.max(dim=1, keepdim=True).values - TIE_TOLERANCE).sum(dim=1)
                > 1).sum())
    if wrong.numel() == 0:
        return Measurement(True, f"{TIE_ROWS}/{TIE_ROWS} rows agree ({ties} of them with "
                                 f"tied best gains)")
    row = int(wrong[0, 0])
    rounded = [f"{value:.15g}" for value in gains[row].tolist()]
    measured = (f"{len(wrong)}/{TIE_ROWS} rows differ; e.g. gains {rounded}, tie_break "
                f"{[round(value, 3) for value in tie_break[row].tolist()]}: yours "
                f"{int(yours[row])}, expected {int(expected[row])}")
    hints = [hint for rule, hint in wrong_choice_rules(gains, tie_break)
             if bool((rule == yours).all())]
    return Measurement(False, measured, hints[0] if hints else (
        "take an action of largest gain; gains within 1e-12 of the largest are ties, and "
        "among ties the largest tie_break wins"))


def wrong_choice_rules(gains: torch.Tensor,
                       tie_break: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """(actions (B,), hint) of typical wrong choice rules, to name the one a student used."""
    largest = gains.max(dim=1, keepdim=True).values

    def among(best: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
        return torch.where(best, score, -2.0).argmax(dim=1)

    return [
        (gains.argmax(dim=1), ("among tied actions take the one with the largest tie_break, "
                               "not the first one")),
        (among(gains == largest, tie_break),
         ("gains within 1e-12 of the largest are ties (round-off): compare with "
          "`gains >= largest - 1e-12`, not `==`")),
        (among(gains >= largest - TIE_TOLERANCE, -tie_break),
         "the tie goes to the LARGEST tie_break, not the smallest"),
        (among(gains >= largest - 1e-5, tie_break),
         "only gains within 1e-12 of the largest are ties; a 1e-6 difference is real"),
    ]


def check_greedy_policy(marginal_gains: Callable, greedy_action: Callable,
                        earlier: tuple[Measurement, Measurement]) -> Measurement:
    """Criterion 4: the student's greedy episodes against GreedyMarginalGain's."""
    seeds = torch.arange(GREEDY_EPISODES)
    lines, mismatches = [], []
    for label, kwargs in GREEDY_SETTINGS:
        env = CoverageEnv(num_envs=GREEDY_EPISODES, split="test", **kwargs)
        yours = greedy_values(marginal_gains, greedy_action, env, seeds)
        expected = final_values(env, seeds, GreedyMarginalGain(env, TIE_BREAK_SEED))
        lines.append(f"{label} [{', '.join(f'{value:.4g}' for value in yours.tolist())}]")
        differ = (yours - expected).abs() > VALUE_TOLERANCE * expected.abs().clamp(min=1.0)
        mismatches += [f"{label} seed {seed}: yours {float(yours[seed]):.4g}, greedy "
                       f"{float(expected[seed]):.4g}" for seed in differ.nonzero()[:, 0].tolist()]
    total = GREEDY_EPISODES * len(GREEDY_SETTINGS)
    if mismatches:
        broken = [name for name, measurement in zip(FUNCTIONS, earlier) if not measurement.passed]
        hint = (f"fix {' and '.join(broken)} first (see the lines above)" if broken else
                "both functions pass their own checks: call marginal_gains on the current "
                "state at every step and pass greedy_action the tie_break it is given")
        return Measurement(False, f"F(S) differs from GreedyMarginalGain on "
                                  f"{len(mismatches)}/{total} test episodes: "
                                  f"{'; '.join(mismatches[:3])}", hint)
    note = greedy_ratio_note(marginal_gains, greedy_action)
    return Measurement(True, f"F(S) equals GreedyMarginalGain's on {total}/{total} test "
                             f"episodes: {'; '.join(lines)}. {note}")


@functools.cache
def brute_force_optima() -> tuple[float, ...]:
    """Best returns of the RATIO_SETTING episodes 0..RATIO_EPISODES-1 (computed once)."""
    return tuple(brute_force_optimum(RATIO_SETTING, seed)[0] for seed in range(RATIO_EPISODES))


def greedy_ratio_note(marginal_gains: Callable, greedy_action: Callable) -> str:
    """The ungraded part of criterion 4: greedy return / brute-force optimum on small maps."""
    seeds = torch.arange(RATIO_EPISODES)
    env = CoverageEnv(num_envs=RATIO_EPISODES, **RATIO_SETTING)
    env.reset(seeds)
    start_values = env.state["value"].clone()
    returns = greedy_values(marginal_gains, greedy_action, env, seeds) - start_values
    ratios = " ".join(f"{float(achieved) / best:.2f}"
                      for achieved, best in zip(returns, brute_force_optima()))
    return (f"Not graded: return / brute-force optimum on {RATIO_EPISODES} two-room 5x7 maps, "
            f"horizon {RATIO_SETTING['horizon']}: {ratios} (1 - 1/e = 0.63 holds for picking "
            f"any cell, not for walks)")


# ----------------------------------------------------------------------- SubPO loss
def reference_loss(log_probs: torch.Tensor, gains: torch.Tensor,
                   baseline: bool) -> torch.Tensor:
    """SubPO's loss of (B, T) inputs: -1/B sum_{b,t} log_probs * (G - baseline), with the
    reward-to-go G (B, T) of the gains (as :meth:`SubPO.loss`, without entropy bonus)."""
    returns = SubPO.returns_to_go(gains.T).T
    if baseline:
        returns = returns - returns.mean(dim=0, keepdim=True)
    return -(log_probs * returns).sum() / log_probs.shape[0]


def loss_batch(episodes: int, horizon: int,
               seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded inputs of the loss checks: (parameters (LOSS_FEATURES, 5) float64 leaf of a
    linear softmax policy, log_probs (B, T) of sampled actions, gains (B, T) >= 0 with
    zeros where nothing new was covered)."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(episodes, horizon, LOSS_FEATURES, generator=generator,
                           dtype=torch.float64)
    parameters = 0.5 * torch.randn(LOSS_FEATURES, NUM_ACTIONS, generator=generator,
                                   dtype=torch.float64)
    parameters.requires_grad_()
    log_policy = torch.log_softmax(features @ parameters, dim=-1)
    actions = torch.multinomial(log_policy.detach().exp().reshape(-1, NUM_ACTIONS), 1,
                                generator=generator).reshape(episodes, horizon)
    log_probs = log_policy.gather(-1, actions[..., None])[..., 0]
    exponential = -torch.log1p(-torch.rand(episodes, horizon, generator=generator,
                                           dtype=torch.float64))
    found = torch.rand(episodes, horizon, generator=generator, dtype=torch.float64) < 0.6
    return parameters, log_probs, torch.where(found, 3.0 * exponential, 0.0)


def weighted_loss(log_probs: torch.Tensor, weights: torch.Tensor, baseline: bool,
                  normaliser: float) -> torch.Tensor:
    """-sum log_probs * (weights - mean over episodes if baseline) / normaliser."""
    if baseline:
        weights = weights - weights.mean(dim=0, keepdim=True)
    return -(log_probs * weights).sum() / normaliser


def known_mistakes(log_probs: torch.Tensor, gains: torch.Tensor,
                   baseline: bool) -> list[tuple[torch.Tensor, str]]:
    """(loss value, hint) of typical wrong answers, to name the one a student made."""
    episodes, horizon = gains.shape
    returns = SubPO.returns_to_go(gains.T).T
    right = reference_loss(log_probs, gains, baseline)
    mistakes = [
        (-right, ("the sign: the loss is minimised, so it is MINUS the surrogate "
                  "sum log_probs * advantage")),
        (right / horizon, "divide by the number of episodes B only, not by B * T"),
        (weighted_loss(log_probs, gains.sum(dim=1, keepdim=True).expand_as(gains), baseline,
                       episodes),
         ("weight step t by the reward-to-go sum_{k >= t} gains[:, k], not by the whole "
          "episode's gain (the gains before t do not depend on action t)")),
        (weighted_loss(log_probs, returns - gains, baseline, episodes),
         "the reward-to-go of step t includes the gain of step t itself (k >= t)"),
        (weighted_loss(log_probs, gains.cumsum(dim=1), baseline, episodes),
         "the reward-to-go sums from step t to the END of the episode (flip, cumsum, flip)"),
        (weighted_loss(log_probs, gains, baseline, episodes),
         "weight step t by the sum of the gains from t to the end, not by the gain of t alone"),
        (reference_loss(log_probs, gains, not baseline),
         (f"baseline={baseline}: {'subtract' if baseline else 'do not subtract'} the mean "
          "over episodes of the reward-to-go")),
    ]
    if baseline:
        centred_in_time = returns - returns.mean(dim=1, keepdim=True)
        mistakes.append((weighted_loss(log_probs, centred_in_time, False, episodes),
                         ("the baseline of step t is the mean over EPISODES (dim 0 of "
                          "(episodes, horizon)) of the reward-to-go at step t")))
        centred = returns - returns.mean(dim=0, keepdim=True)
        scaled = centred / centred.std(dim=0, keepdim=True).clamp(min=1e-12)
        mistakes.append((weighted_loss(log_probs, scaled, False, episodes),
                         "subtract the mean only; do not divide by the standard deviation"))
    return mistakes


def check_subpo_loss(subpo_loss: LossFunction, baseline: bool) -> Measurement:
    """Criteria 5 and 6: value and gradient of the student's loss against the maths."""
    worst = 0.0
    for episodes, horizon, seed in LOSS_BATCHES:
        parameters, log_probs, gains = loss_batch(episodes, horizon, seed)
        yours = checked_loss(call_student(subpo_loss, log_probs.clone(), gains.clone(),
                                         baseline=baseline))
        (your_gradient,) = torch.autograd.grad(yours, parameters, retain_graph=True,
                                               allow_unused=True)
        if your_gradient is None:
            raise StudentError("the loss returned by subpo_loss does not depend on log_probs",
                               "multiply log_probs by the advantages and sum")
        expected = reference_loss(log_probs, gains, baseline)
        (gradient,) = torch.autograd.grad(expected, parameters, retain_graph=True)
        yours, expected = yours.detach(), expected.detach()
        value_error = abs(float(yours) - float(expected)) / max(1.0, abs(float(expected)))
        gradient_error = (float((your_gradient - gradient).abs().max())
                          / max(1.0, float(gradient.abs().max())))
        figures = (f"batch (B, T) = ({episodes}, {horizon}): loss yours {float(yours):.6g}, "
                   f"expected {float(expected):.6g}")
        if value_error > LOSS_TOLERANCE:
            hints = [hint for value, hint in known_mistakes(log_probs.detach(), gains, baseline)
                     if abs(float(value) - float(yours)) <= LOSS_TOLERANCE
                     * max(1.0, abs(float(value)))]
            return Measurement(False, figures, hints[0] if hints else (
                "loss = -1/B sum_{b,t} log_probs[b,t] * (G[b,t] - c[t]) with the reward-to-go "
                "G[b,t] = sum_{k>=t} gains[b,k]; see the README's derivation"))
        if gradient_error > LOSS_TOLERANCE:
            return Measurement(False, f"{figures}; the value is right but the gradient is off "
                                      f"by {gradient_error:.2e} (relative)",
                               "only log_probs may carry gradient: the advantages are "
                               "constants (detach anything computed from log_probs)")
        worst = max(worst, value_error, gradient_error)
    batches = ", ".join(f"({episodes}, {horizon})" for episodes, horizon, _ in LOSS_BATCHES)
    return Measurement(True, f"value and gradient equal the reference on batches (B, T) = "
                             f"{batches}: largest relative error {worst:.1e} "
                             f"(tolerance {LOSS_TOLERANCE:.0e})")


# ------------------------------------------------------------------ SubPO training
def subpo_test_returns(subpo_loss: LossFunction | None = None,
                       updates: int = TRAINING_UPDATES) -> tuple[float, float]:
    """Mean test return of SubPO's Markov policy on TRAINING_MAP before and after
    ``updates`` Adam steps, each on a fresh batch of TRAINING_BATCH training episodes.

    Args:
        subpo_loss: the loss to train with, called as ``subpo_loss(log_probs (B, T),
            gains (B, T), baseline=True)``; None trains with ``SubPO.train_step``.
        updates: the number of updates.

    Returns:
        (mean return before, mean return after) over TRAINING_TEST_EPISODES test episodes:
        F(S) - F(start) in the task's weight units, greedy actions of the policy.

    Raises:
        StudentError: the student's loss raised or returned something malformed.
    """
    train_env = CoverageEnv(num_envs=TRAINING_BATCH, split="train", **TRAINING_MAP)
    test_env = CoverageEnv(num_envs=TRAINING_TEST_EPISODES, split="test", **TRAINING_MAP)
    test_seeds = torch.arange(TRAINING_TEST_EPISODES)
    agent = SubPO(train_env.single_observation_space.shape[0], seed=0)
    before = float(agent.evaluate(test_env, test_seeds).mean())
    for update in range(updates):
        seeds = torch.arange(update * TRAINING_BATCH, (update + 1) * TRAINING_BATCH)
        if subpo_loss is None:
            agent.train_step(train_env, seeds)
            continue
        batch = agent.rollout(train_env, seeds)                      # (T, B) tensors
        log_policy = torch.log_softmax(agent.logits(batch["observations"]), dim=-1)
        log_probs = log_policy.gather(-1, batch["actions"][..., None])[..., 0]
        loss = checked_loss(call_student(subpo_loss, log_probs.T, batch["rewards"].T,
                                        baseline=True))
        agent.optimizer.zero_grad()
        loss.backward()
        agent.optimizer.step()
    return before, float(agent.evaluate(test_env, test_seeds).mean())


@functools.cache
def reference_training_returns() -> tuple[float, float]:
    """SubPO.train_step's (before, after) mean test returns (deterministic: computed once
    per process)."""
    return subpo_test_returns(None)


def check_training(subpo_loss: LossFunction) -> Measurement:
    """Criterion 7: training with the student's loss against SubPO.train_step."""
    _, log_probs, gains = loss_batch(*LOSS_BATCHES[0])
    checked_loss(call_student(subpo_loss, log_probs, gains, baseline=True))  # fails fast
    before, after = subpo_test_returns(subpo_loss)
    _, reference_after = reference_training_returns()
    threshold = before + TRAINING_SHARE * (reference_after - before)
    measured = (f"mean test return {before:.1f} -> {after:.1f} after {TRAINING_UPDATES} "
                f"updates with your loss (SubPO.train_step: {before:.1f} -> "
                f"{reference_after:.1f}; threshold {threshold:.1f} = initial + "
                f"{TRAINING_SHARE:g} x its gain)")
    return Measurement(after >= threshold, measured,
                       "" if after >= threshold else
                       "the policy does not learn: check the sign (the optimiser minimises "
                       "the loss) and that the loss keeps the gradient of log_probs")


# ---------------------------------------------------------------------------- grade
def grade(student_file: Path) -> list[CriterionResult]:
    """Grade ``student_file``: one result per criterion (see the module docstring)."""
    grade = Grade(student_file)
    functions: dict[str, Callable] = {}

    def load() -> Measurement:
        student_functions(load_student_module(student_file), FUNCTIONS, functions)
        return Measurement(True, f"defines {', '.join(FUNCTIONS)}")

    loading = grade.criterion(f"file loads and defines {', '.join(FUNCTIONS)}", load)

    def function(name: str) -> Callable:
        if name not in functions:
            raise StudentError(f"not graded: {loading.measured}",
                               "fix the first criterion (loading the file) first")
        return functions[name]

    gains = grade.criterion(
        "marginal_gains equals F(S + {x}) - F(S) for every action (tolerance 1e-9)",
        lambda: check_marginal_gains(function("marginal_gains")))
    choice = grade.criterion(
        "greedy_action takes the largest gain, ties to the largest tie_break",
        lambda: check_greedy_action(function("greedy_action")))
    grade.criterion(
        "your greedy policy reproduces GreedyMarginalGain's F(S) on 12 test episodes",
        lambda: check_greedy_policy(function("marginal_gains"), function("greedy_action"),
                                    (gains, choice)))
    grade.criterion(
        "subpo_loss(baseline=False): value and gradient of REINFORCE with reward-to-go "
        "(tolerance 1e-6)",
        lambda: check_subpo_loss(function("subpo_loss"), baseline=False))
    grade.criterion(
        "subpo_loss(baseline=True): value and gradient with the batch-mean baseline "
        "(tolerance 1e-6)",
        lambda: check_subpo_loss(function("subpo_loss"), baseline=True))
    grade.criterion(
        f"{TRAINING_UPDATES} SubPO updates with your loss reach half of SubPO's own "
        "improvement on a 7x7 map",
        lambda: check_training(function("subpo_loss")))
    return grade.results
