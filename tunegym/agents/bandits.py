"""Batched bandit agents over a finite set of K arms.

Written for choosing the SOR relaxation factor omega from a finite grid across a
sequence of linear systems, as in Khodak, Chow, Balcan and Talwalkar, "Learning to
Relax: Setting Solver Parameters Across a Sequence of Linear System Instances"
(ICLR 2024), but usable on any env whose action space is ``Discrete(K)``.

Agents
------
:class:`TsallisINF`
    1/2-Tsallis-INF of Zimmert and Seldin, "Tsallis-INF: An Optimal Algorithm for
    Stochastic and Adversarial Bandits" (JMLR 2021): follow-the-regularised-leader with
    the 1/2-Tsallis entropy on importance-weighted loss estimates, learning rate
    eta_t = 2 / sqrt(t). The paper's non-contextual learner.
:class:`EXP3`
    Exponential weights on importance-weighted loss estimates (Auer, Cesa-Bianchi,
    Freund and Schapire, "The Nonstochastic Multiarmed Bandit Problem", SIAM J. Comput.
    2002) with the anytime learning rate eta_t = sqrt(ln K / (t K)) of Bubeck and
    Cesa-Bianchi, "Regret Analysis of Stochastic and Nonstochastic Multi-armed Bandit
    Problems" (2012, ch. 3), and optional uniform exploration gamma (default 0).
:class:`UCB1`
    Auer, Cesa-Bianchi and Fischer, "Finite-time Analysis of the Multiarmed Bandit
    Problem" (Machine Learning 2002), written for losses: play every arm once, then the
    arm with the lowest mean loss minus sqrt(2 ln t / n_i). Deterministic.
:class:`TsallisINFContextBins`
    The paper's Tsallis-INF-CB: the first context coordinate is discretised into
    ``num_bins`` equal-width bins and an independent Tsallis-INF runs in each bin.
:class:`ChebCB`
    The paper's ChebCB: per-arm ridge regression of the loss on Chebyshev polynomial
    features of the context, sampled by inverse gap weighting (SquareCB of Foster and
    Rakhlin, "Beyond UCB: Optimal and Efficient Contextual Bandits with Regression
    Oracles", ICML 2020).

Interface
---------
One agent object runs B independent learners ("copies"), e.g. one per vector-env slot;
all state is torch tensors with leading dim B and no Python loop runs over B:

    agent = TsallisINF(num_arms=20, num_envs=B, seed=0, device="cpu")
    actions = agent.act(observation)              # (B, d) float -> int64 (B,) in [0, K)
    agent.update(observation, actions, rewards)   # rewards: float (B,), maximised
    agent.probabilities(observation)              # (B, K): what the next act() samples from

or ``TsallisINF.from_spaces(env.single_observation_space, env.single_action_space,
num_envs=B)``. Non-contextual agents ignore the observation (``None`` is accepted);
contextual agents read its first coordinate ``observation[:, 0]``. Observations,
actions and rewards may be tensors or numpy arrays.

Loss normalisation
------------------
Agents minimise the loss ``-reward``. Like the paper, they feed the learner the loss
divided by the running mean of the losses seen so far, which makes the learner
invariant to the scale of the reward (iterations, seconds, ...). The running mean is
taken over ``|loss|`` (so a zero or negative mean cannot flip or blow up the signal),
includes the current loss (the first loss of each learner normalises to +-1) and is
clamped to >= 1e-12. Each copy keeps its own mean; :class:`TsallisINFContextBins`
keeps one per (copy, bin), as its bins are independent learners.

Randomness comes from one CPU ``torch.Generator`` seeded with ``seed``; samples are
moved to ``device``, so the same seed gives the same actions on every device. Agent
state is float64 (the Tsallis-INF normaliser is solved to 1e-12).
"""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar

import gymnasium
import numpy as np
import torch

from tunegym.core.batched import check_integer, check_real, resolve_device

__all__ = [
    "EXP3",
    "UCB1",
    "BanditAgent",
    "ChebCB",
    "ContextualBanditAgent",
    "TsallisINF",
    "TsallisINFContextBins",
    "chebyshev_features",
    "tsallis_inf_learning_rate",
    "tsallis_inf_normaliser",
    "tsallis_inf_probabilities",
]

#: Floor of the running mean of |loss| used to normalise losses.
MIN_LOSS_SCALE = 1e-12
STATE_DTYPE = torch.float64


# ------------------------------------------------------------------ Tsallis-INF maths
def tsallis_inf_normaliser(cumulative_loss_estimates: torch.Tensor, learning_rate: torch.Tensor,
                           tolerance: float = 1e-12, max_newton_steps: int = 50) -> torch.Tensor:
    """Normaliser x of 1/2-Tsallis-INF: sum_i 4 / (eta (L_i - x))^2 = 1 with x < min_i L_i.

    Solved by Newton's method, vectorised over all leading dims. The start
    x = min L - 2/eta gives the minimal arm probability 1, so the sum is >= 1; the sum is
    increasing and convex in x on (-inf, min L), hence Newton steps decrease x
    monotonically onto the root without overshooting. Entries stop moving once
    |sum - 1| < ``tolerance`` (so a copy's result does not depend on the rest of the
    batch); at most ``max_newton_steps`` steps run.

    Args:
        cumulative_loss_estimates: L, float (..., K).
        learning_rate: eta > 0, float (...), broadcastable to L's leading dims.

    Returns:
        x, float (...).
    """
    losses = cumulative_loss_estimates
    eta = torch.as_tensor(learning_rate, dtype=losses.dtype, device=losses.device)
    eta = eta.expand(losses.shape[:-1]).unsqueeze(-1)
    x = losses.min(dim=-1, keepdim=True).values - 2.0 / eta
    for _ in range(max_newton_steps):
        inverse_gap = 1.0 / (eta * (losses - x))
        residual = (4.0 * inverse_gap.square()).sum(dim=-1, keepdim=True) - 1.0
        converged = residual.abs() < tolerance
        if bool(converged.all()):
            break
        # d/dx sum 4 / (eta (L - x))^2 = sum 8 eta / (eta (L - x))^3
        slope = (8.0 * eta * inverse_gap.pow(3)).sum(dim=-1, keepdim=True)
        x = torch.where(converged, x, x - residual / slope)
    return x.squeeze(-1)


def tsallis_inf_probabilities(cumulative_loss_estimates: torch.Tensor,
                              learning_rate: torch.Tensor) -> torch.Tensor:
    """Sampling distribution of 1/2-Tsallis-INF, p_i = 4 / (eta (L_i - x))^2.

    x comes from :func:`tsallis_inf_normaliser`; the result is renormalised to sum to 1
    exactly (it already does to ~1e-12).

    Args:
        cumulative_loss_estimates: L, float (..., K).
        learning_rate: eta > 0, float (...) or a scalar.

    Returns:
        probabilities, float (..., K), each row summing to 1.
    """
    losses = cumulative_loss_estimates
    eta = torch.as_tensor(learning_rate, dtype=losses.dtype, device=losses.device)
    eta = eta.expand(losses.shape[:-1]).unsqueeze(-1)
    x = tsallis_inf_normaliser(losses, eta.squeeze(-1)).unsqueeze(-1)
    probabilities = 4.0 / (eta * (losses - x)).square()
    return probabilities / probabilities.sum(dim=-1, keepdim=True)


def tsallis_inf_learning_rate(rounds_played: torch.Tensor) -> torch.Tensor:
    """eta_t = 2 / sqrt(t) for round t = rounds_played + 1. rounds_played: (...) -> (...)."""
    return 2.0 / torch.sqrt(rounds_played.to(STATE_DTYPE) + 1.0)


def chebyshev_features(points: torch.Tensor, degree: int) -> torch.Tensor:
    """Chebyshev polynomials T_0..T_degree at ``points`` by the three-term recurrence.

    T_0 = 1, T_1 = z, T_{n+1} = 2 z T_n - T_{n-1}.

    Args:
        points: z, float (...), meant to lie in [-1, 1].
        degree: highest degree, >= 0.

    Returns:
        features, float (..., degree + 1).
    """
    features = [torch.ones_like(points)]
    if degree >= 1:
        features.append(points)
    for _ in range(2, degree + 1):
        features.append(2.0 * points * features[-1] - features[-2])
    return torch.stack(features, dim=-1)


# ------------------------------------------------------------------------- helpers
def _num_arms_from_space(action_space: Any) -> int:
    if not isinstance(action_space, gymnasium.spaces.Discrete):
        # A wrong space is a wrong value of the argument: ValueError, as the API documents.
        message = f"action_space must be a gymnasium.spaces.Discrete, got {action_space!r}"
        raise ValueError(message)  # noqa: TRY004
    if int(action_space.start) != 0:
        raise ValueError(f"action_space must start at 0 (agents return arm indices "
                         f"0..K-1), got {action_space!r}")
    return int(action_space.n)


def _context_bounds_from_space(observation_space: Any) -> tuple[float, float]:
    if not isinstance(observation_space, gymnasium.spaces.Box) or observation_space.shape in (
            (), None) or int(np.prod(observation_space.shape)) == 0:
        raise ValueError(f"observation_space must be a non-empty gymnasium.spaces.Box whose "
                         f"first coordinate is the context, got {observation_space!r}")
    low = float(np.asarray(observation_space.low).reshape(-1)[0])
    high = float(np.asarray(observation_space.high).reshape(-1)[0])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"observation_space must have finite bounds low < high on its first "
                         f"coordinate, got [{low}, {high}]; pass context_low and context_high "
                         f"explicitly instead")
    return low, high


class _RunningMeanAbsLoss:
    """Per-learner running mean of |loss|, used to normalise losses (see module docstring).

    State: ``abs_loss_sum`` and ``loss_count``, float64 of shape ``learner_shape``, e.g.
    (B,) or (B, num_bins). :meth:`normalise` takes one learner index per copy.
    """

    def __init__(self, learner_shape: tuple[int, ...], device: torch.device) -> None:
        self.abs_loss_sum = torch.zeros(learner_shape, dtype=STATE_DTYPE, device=device)
        self.loss_count = torch.zeros(learner_shape, dtype=STATE_DTYPE, device=device)

    def normalise(self, losses: torch.Tensor, learner_index: tuple[torch.Tensor, ...]
                  ) -> torch.Tensor:
        """Record ``losses`` (B,) and return loss / running mean |loss|, float64 (B,).

        ``learner_index``: a tuple of int64 (B,) index tensors selecting one learner per
        copy (distinct per copy, so the in-place updates do not collide).
        """
        self.abs_loss_sum[learner_index] += losses.abs()
        self.loss_count[learner_index] += 1.0
        mean_abs_loss = self.abs_loss_sum[learner_index] / self.loss_count[learner_index]
        return losses / mean_abs_loss.clamp(min=MIN_LOSS_SCALE)


# ---------------------------------------------------------------------- base classes
class BanditAgent:
    """B independent bandit learners over ``num_arms`` arms, batched on torch tensors.

    Subclasses implement :meth:`_probabilities` and :meth:`_learn`; this class owns
    argument and shape validation, sampling and the random generator.

    Args:
        num_arms: K >= 1, the number of arms (actions 0..K-1).
        num_envs: B >= 1, the number of independent copies.
        seed: seed (int >= 0) of the CPU ``torch.Generator`` that draws all samples.
        device: torch device of the agent's state ("cpu", "cuda", ...).
    """

    #: Whether the agent reads ``observation[:, 0]`` as its context.
    is_contextual: ClassVar[bool] = False
    #: Attributes holding per-copy state (leading dim B), sliced by :meth:`select_copy`.
    copy_state: ClassVar[tuple[str, ...]] = ()

    def __init__(self, num_arms: int, num_envs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        self.num_arms = check_integer("num_arms", num_arms, minimum=1)
        self.num_envs = check_integer("num_envs", num_envs, minimum=1)
        self.seed = check_integer("seed", seed, minimum=0)
        self.device = resolve_device(device)
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(self.seed)
        self._copy_index = torch.arange(self.num_envs, device=self.device)

    @classmethod
    def from_spaces(cls, observation_space: gymnasium.Space | None,
                    action_space: gymnasium.Space, num_envs: int = 1, seed: int = 0,
                    **kwargs: Any) -> BanditAgent:
        """Build the agent for an env's single observation and action spaces.

        K is read from ``action_space`` (a ``Discrete`` starting at 0). Contextual agents
        read ``context_low``/``context_high`` from the first coordinate of the ``Box``
        ``observation_space`` unless given in ``kwargs``; other agents ignore it.
        ``kwargs`` go to the constructor.
        """
        num_arms = _num_arms_from_space(action_space)
        if cls.is_contextual and not ("context_low" in kwargs and "context_high" in kwargs):
            low, high = _context_bounds_from_space(observation_space)
            kwargs.setdefault("context_low", low)
            kwargs.setdefault("context_high", high)
        return cls(num_arms=num_arms, num_envs=num_envs, seed=seed, **kwargs)

    # ----------------------------------------------------------------- public API
    def probabilities(self, observation: Any = None) -> torch.Tensor:
        """Distribution the next :meth:`act` samples from: float64 (B, K), rows sum to 1.

        observation: float (B, d); only contextual agents use it (``None`` is accepted
        by the others).
        """
        return self._probabilities(self._check_observation(observation))

    def act(self, observation: Any = None) -> torch.Tensor:
        """Sample one arm per copy: int64 (B,) in [0, K), on ``device``.

        observation: float (B, d) (see :meth:`probabilities`).
        """
        return self._sample(self.probabilities(observation))

    def update(self, observation: Any, actions: Any, rewards: Any) -> None:
        """Learn from one round: the arms played and the rewards they earned.

        Args:
            observation: float (B, d), the observation passed to :meth:`act`
                (``None`` for non-contextual agents).
            actions: int (B,), arm indices in [0, K).
            rewards: float (B,), finite; maximised (the loss is ``-rewards``).
        """
        context = self._check_observation(observation)
        actions = self._check_actions(actions)
        rewards = self._check_rewards(rewards)
        self._learn(context, actions, -rewards)

    def observe(self, transition: Any) -> None:
        """:meth:`update` from a :class:`tunegym.core.Transition` (the rollout's learner
        hook): the observation acted on, the arms played, the rewards."""
        self.update(transition.observation, transition.action, transition.reward)

    def select_copy(self, index: int) -> BanditAgent:
        """A one-copy agent (B = 1) that continues copy ``index``'s learned state and
        hyperparameters, with this agent's generator state (e.g. a learner trained on
        the train split, evaluated online on the test split)."""
        index = check_integer("index", index, minimum=0)
        if index >= self.num_envs:
            raise ValueError(f"index must be < num_envs = {self.num_envs}, got {index}")
        single = copy.deepcopy(self)
        single.num_envs = 1
        single._copy_index = torch.arange(1, device=self.device)
        for name in self.copy_state:
            value = getattr(self, name)
            if isinstance(value, _RunningMeanAbsLoss):
                sliced = copy.copy(value)
                sliced.abs_loss_sum = value.abs_loss_sum[index:index + 1].clone()
                sliced.loss_count = value.loss_count[index:index + 1].clone()
            else:
                sliced = value[index:index + 1].clone()
            setattr(single, name, sliced)
        return single

    # ----------------------------------------------------------------------- hooks
    def _probabilities(self, context: torch.Tensor | None) -> torch.Tensor:
        """context: float64 (B,) or None -> probabilities float64 (B, K)."""
        raise NotImplementedError

    def _learn(self, context: torch.Tensor | None, actions: torch.Tensor,
               losses: torch.Tensor) -> None:
        """context (B,) or None, actions int64 (B,), raw losses float64 (B,)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ internals
    def _sample(self, probabilities: torch.Tensor) -> torch.Tensor:
        """Inverse-CDF sampling of B categoricals (B, K) -> int64 (B,).

        Uniforms are drawn on the CPU generator; scaling them by the last CDF entry
        means an arm of probability zero is never returned.
        """
        uniforms = torch.rand(self.num_envs, 1, generator=self.generator, dtype=STATE_DTYPE)
        cumulative = probabilities.cumsum(dim=-1)
        targets = uniforms.to(self.device) * cumulative[:, -1:]
        arms = torch.searchsorted(cumulative.contiguous(), targets, right=True).squeeze(-1)
        return arms.clamp(max=self.num_arms - 1).to(torch.int64)

    def _check_observation(self, observation: Any) -> torch.Tensor | None:
        """Validate observation (B, d); return None (non-contextual)."""
        if observation is None:
            return None
        observation = torch.as_tensor(observation)
        if observation.dim() != 2 or observation.shape[0] != self.num_envs:
            raise ValueError(f"observation must have shape (num_envs, d) = ({self.num_envs}, "
                             f"d), got {tuple(observation.shape)}")
        return None

    def _check_actions(self, actions: Any) -> torch.Tensor:
        actions = torch.as_tensor(actions, device=self.device)
        if tuple(actions.shape) != (self.num_envs,):
            raise ValueError(f"actions must have shape (num_envs,) = ({self.num_envs},), "
                             f"got {tuple(actions.shape)}")
        if actions.is_floating_point() or actions.is_complex() or actions.dtype == torch.bool:
            raise ValueError(f"actions must hold integer arm indices, got dtype {actions.dtype}")
        if bool(((actions < 0) | (actions >= self.num_arms)).any()):
            raise ValueError(f"actions must lie in [0, {self.num_arms - 1}], got values in "
                             f"[{int(actions.min())}, {int(actions.max())}]")
        return actions.to(torch.int64)

    def _check_rewards(self, rewards: Any) -> torch.Tensor:
        rewards = torch.as_tensor(rewards, device=self.device)
        if tuple(rewards.shape) != (self.num_envs,):
            raise ValueError(f"rewards must have shape (num_envs,) = ({self.num_envs},), "
                             f"got {tuple(rewards.shape)}")
        if rewards.is_complex() or rewards.dtype == torch.bool:
            raise ValueError(f"rewards must be real numbers, got dtype {rewards.dtype}")
        rewards = rewards.to(STATE_DTYPE)
        if not bool(torch.isfinite(rewards).all()):
            raise ValueError("rewards must be finite; got NaN or infinite entries")
        return rewards


class ContextualBanditAgent(BanditAgent):
    """Base of agents whose context is the first observation coordinate, in known bounds.

    Args:
        num_arms: as in :class:`BanditAgent`.
        num_envs: as in :class:`BanditAgent`.
        seed: as in :class:`BanditAgent`.
        device: as in :class:`BanditAgent`.
        context_low: finite lower bound of ``observation[:, 0]``, below ``context_high``.
        context_high: finite upper bound of ``observation[:, 0]``.
    """

    is_contextual: ClassVar[bool] = True

    def __init__(self, num_arms: int, num_envs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", context_low: float = 0.0,
                 context_high: float = 1.0) -> None:
        super().__init__(num_arms, num_envs, seed, device)
        self.context_low = check_real("context_low", context_low)
        self.context_high = check_real("context_high", context_high)
        if not self.context_low < self.context_high:
            raise ValueError(f"context_high must exceed context_low, got context_low="
                             f"{self.context_low}, context_high={self.context_high}")

    def _check_observation(self, observation: Any) -> torch.Tensor:
        """Validate observation (B, d >= 1); return its first column, float64 (B,)."""
        if observation is None:
            raise ValueError(f"observation must be given to the contextual agent "
                             f"{type(self).__name__}: a float tensor of shape "
                             f"({self.num_envs}, d)")
        observation = torch.as_tensor(observation, device=self.device)
        if observation.dim() != 2 or observation.shape[0] != self.num_envs or \
                observation.shape[1] < 1:
            raise ValueError(f"observation must have shape (num_envs, d) = ({self.num_envs}, "
                             f"d >= 1), got {tuple(observation.shape)}")
        if observation.is_complex() or observation.dtype == torch.bool:
            raise ValueError(f"observation must be real, got dtype {observation.dtype}")
        context = observation[:, 0].to(STATE_DTYPE)
        if not bool(torch.isfinite(context).all()):
            raise ValueError("observation[:, 0] (the context) must be finite")
        return context


# ---------------------------------------------------------------- non-contextual
class _ImportanceWeightedBandit(BanditAgent):
    """Shared state and update of Tsallis-INF and EXP3: cumulative importance-weighted
    loss estimates Lhat float64 (B, K); the played arm a gets
    Lhat_a += normalised_loss / p_a, with p the distribution it was sampled from.
    """

    copy_state = ("cumulative_loss_estimates", "rounds_played", "loss_normaliser")

    def __init__(self, num_arms: int, num_envs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        super().__init__(num_arms, num_envs, seed, device)
        shape = (self.num_envs, self.num_arms)
        self.cumulative_loss_estimates = torch.zeros(shape, dtype=STATE_DTYPE,
                                                     device=self.device)
        self.rounds_played = torch.zeros(self.num_envs, dtype=STATE_DTYPE, device=self.device)
        self.loss_normaliser = _RunningMeanAbsLoss((self.num_envs,), self.device)

    def _learn(self, context: torch.Tensor | None, actions: torch.Tensor,
               losses: torch.Tensor) -> None:
        played_probability = self._probabilities(context).gather(1, actions[:, None])[:, 0]
        normalised = self.loss_normaliser.normalise(losses, (self._copy_index,))
        self.cumulative_loss_estimates[self._copy_index, actions] += normalised / \
            played_probability
        self.rounds_played += 1.0


class TsallisINF(_ImportanceWeightedBandit):
    """1/2-Tsallis-INF (Zimmert and Seldin, JMLR 2021), B copies.

    Round t (1, 2, ...) samples p_i = 4 / (eta_t (Lhat_i - x))^2 with eta_t = 2/sqrt(t)
    and x the normaliser (:func:`tsallis_inf_normaliser`); the played arm a gets
    Lhat_a += normalised_loss / p_a (importance weighting).

    State: ``cumulative_loss_estimates`` Lhat float64 (B, K), ``rounds_played`` (B,).

    Args: as in :class:`BanditAgent`.
    """

    def _probabilities(self, context: torch.Tensor | None) -> torch.Tensor:
        return tsallis_inf_probabilities(self.cumulative_loss_estimates,
                                         tsallis_inf_learning_rate(self.rounds_played))


class EXP3(_ImportanceWeightedBandit):
    """EXP3 (Auer et al. 2002) with the anytime learning rate, B copies.

    p = (1 - gamma) softmax(-eta_t Lhat) + gamma / K with
    eta_t = learning_rate_scale * sqrt(ln K / (t K)) at round t = 1, 2, ...; the played
    arm a gets Lhat_a += normalised_loss / p_a. With gamma = 0 and scale 1 this is the
    anytime EXP3 of Bubeck and Cesa-Bianchi (2012, ch. 3), expected regret
    <= 2 sqrt(T K ln K) for losses in [0, 1].

    State: ``cumulative_loss_estimates`` Lhat float64 (B, K), ``rounds_played`` (B,).

    Args:
        num_arms: as in :class:`BanditAgent`.
        num_envs: as in :class:`BanditAgent`.
        seed: as in :class:`BanditAgent`.
        device: as in :class:`BanditAgent`.
        exploration_rate: gamma in [0, 1], the weight of uniform exploration (default 0).
        learning_rate_scale: multiplier (> 0) of the anytime learning rate (default 1).
    """

    def __init__(self, num_arms: int, num_envs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", exploration_rate: float = 0.0,
                 learning_rate_scale: float = 1.0) -> None:
        super().__init__(num_arms, num_envs, seed, device)
        self.exploration_rate = check_real("exploration_rate", exploration_rate, 0.0, 1.0)
        self.learning_rate_scale = check_real("learning_rate_scale", learning_rate_scale,
                                               0.0, low_inclusive=False)

    def learning_rate(self) -> torch.Tensor:
        """eta_t for the next round, float64 (B,)."""
        rounds = self.rounds_played + 1.0
        return self.learning_rate_scale * torch.sqrt(math.log(self.num_arms) /
                                                     (rounds * self.num_arms))

    def _probabilities(self, context: torch.Tensor | None) -> torch.Tensor:
        logits = -self.learning_rate()[:, None] * self.cumulative_loss_estimates
        weights = torch.softmax(logits, dim=-1)
        gamma = self.exploration_rate
        return (1.0 - gamma) * weights + gamma / self.num_arms


class UCB1(BanditAgent):
    """UCB1 (Auer, Cesa-Bianchi and Fischer 2002) on normalised losses, B copies.

    Plays every arm once (lowest index first), then the arm minimising
    mean_normalised_loss_i - sqrt(2 ln t / n_i), t = rounds played, n_i = plays of arm i
    (equivalently maximising mean normalised reward + bonus). Ties go to the lowest
    index. Deterministic: :meth:`act` draws no random numbers and :meth:`probabilities`
    is one-hot.

    State: ``play_counts`` n (B, K), ``normalised_loss_sums`` (B, K), float64.

    Args: as in :class:`BanditAgent`.
    """

    copy_state = ("play_counts", "normalised_loss_sums", "loss_normaliser")

    def __init__(self, num_arms: int, num_envs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        super().__init__(num_arms, num_envs, seed, device)
        shape = (self.num_envs, self.num_arms)
        self.play_counts = torch.zeros(shape, dtype=STATE_DTYPE, device=self.device)
        self.normalised_loss_sums = torch.zeros(shape, dtype=STATE_DTYPE, device=self.device)
        self.loss_normaliser = _RunningMeanAbsLoss((self.num_envs,), self.device)

    def _chosen_arms(self) -> torch.Tensor:
        """The arm each copy plays next, int64 (B,)."""
        unplayed = self.play_counts == 0
        first_unplayed = unplayed.to(torch.int64).argmax(dim=-1)
        counts = self.play_counts.clamp(min=1.0)
        rounds = self.play_counts.sum(dim=-1, keepdim=True).clamp(min=1.0)
        lower_confidence = self.normalised_loss_sums / counts - torch.sqrt(
            2.0 * torch.log(rounds) / counts)
        return torch.where(unplayed.any(dim=-1), first_unplayed,
                           lower_confidence.argmin(dim=-1))

    def _probabilities(self, context: torch.Tensor | None) -> torch.Tensor:
        one_hot = torch.nn.functional.one_hot(self._chosen_arms(), self.num_arms)
        return one_hot.to(STATE_DTYPE)

    def act(self, observation: Any = None) -> torch.Tensor:
        """The arm each copy plays next, int64 (B,); deterministic given the history."""
        self._check_observation(observation)
        return self._chosen_arms()

    def _learn(self, context: torch.Tensor | None, actions: torch.Tensor,
               losses: torch.Tensor) -> None:
        normalised = self.loss_normaliser.normalise(losses, (self._copy_index,))
        self.play_counts[self._copy_index, actions] += 1.0
        self.normalised_loss_sums[self._copy_index, actions] += normalised


# --------------------------------------------------------------------- contextual
class TsallisINFContextBins(ContextualBanditAgent):
    """Tsallis-INF-CB of Khodak et al. (ICLR 2024): one Tsallis-INF per context bin.

    The context c = observation[:, 0] goes to the bin whose center is nearest, centers
    low + (high - low) * linspace(0.5/m, 1 - 0.5/m, m) for m = ``num_bins`` (equal-width
    bins over [context_low, context_high]; contexts outside fall in the end bins). Each
    (copy, bin) is an independent :class:`TsallisINF` with its own round counter, loss
    estimates and running-mean loss normaliser.

    State: ``cumulative_loss_estimates`` float64 (B, m, K), ``rounds_played`` (B, m).

    Args:
        num_arms: as in :class:`ContextualBanditAgent`.
        num_envs: as in :class:`ContextualBanditAgent`.
        seed: as in :class:`ContextualBanditAgent`.
        device: as in :class:`ContextualBanditAgent`.
        context_low: as in :class:`ContextualBanditAgent`.
        context_high: as in :class:`ContextualBanditAgent`.
        num_bins: m >= 1 (default 6).
    """

    copy_state = ("cumulative_loss_estimates", "rounds_played", "loss_normaliser")

    def __init__(self, num_arms: int, num_envs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", context_low: float = 0.0,
                 context_high: float = 1.0, num_bins: int = 6) -> None:
        super().__init__(num_arms, num_envs, seed, device, context_low, context_high)
        self.num_bins = check_integer("num_bins", num_bins, minimum=1)
        fractions = torch.linspace(0.5 / self.num_bins, 1.0 - 0.5 / self.num_bins,
                                   self.num_bins, dtype=STATE_DTYPE, device=self.device)
        self.bin_centers = self.context_low + (self.context_high - self.context_low) * fractions
        shape = (self.num_envs, self.num_bins, self.num_arms)
        self.cumulative_loss_estimates = torch.zeros(shape, dtype=STATE_DTYPE,
                                                     device=self.device)
        self.rounds_played = torch.zeros(shape[:2], dtype=STATE_DTYPE, device=self.device)
        self.loss_normaliser = _RunningMeanAbsLoss(shape[:2], self.device)

    def context_bins(self, context: torch.Tensor) -> torch.Tensor:
        """Bin of each context: float (B,) -> int64 (B,) in [0, num_bins)."""
        return (context[:, None] - self.bin_centers[None, :]).abs().argmin(dim=-1)

    def _probabilities(self, context: torch.Tensor) -> torch.Tensor:
        bins = self.context_bins(context)
        return tsallis_inf_probabilities(
            self.cumulative_loss_estimates[self._copy_index, bins],
            tsallis_inf_learning_rate(self.rounds_played[self._copy_index, bins]))

    def _learn(self, context: torch.Tensor, actions: torch.Tensor,
               losses: torch.Tensor) -> None:
        bins = self.context_bins(context)
        played_probability = self._probabilities(context).gather(1, actions[:, None])[:, 0]
        normalised = self.loss_normaliser.normalise(losses, (self._copy_index, bins))
        self.cumulative_loss_estimates[self._copy_index, bins, actions] += normalised / \
            played_probability
        self.rounds_played[self._copy_index, bins] += 1.0


class ChebCB(ContextualBanditAgent):
    """ChebCB of Khodak et al. (ICLR 2024): Chebyshev ridge regression + SquareCB sampling.

    Features: the context is mapped affinely from [context_low, context_high] to
    z in [-1, 1] (clamped), phi = (T_0(z), ..., T_degree(z)), d = degree + 1. Each
    (copy, arm) fits the normalised loss by ridge regression,
    theta = (X^T X + ridge I)^{-1} X^T y, from the sufficient statistics X^T X and X^T y;
    an arm never played predicts loss 0. Sampling at round t = 1, 2, ... is inverse gap
    weighting (Foster and Rakhlin 2020): with predictions yhat (B, K) and best arm
    b = argmin yhat, p_a = 1 / (K + gamma_t (yhat_a - yhat_b)) for a != b and
    p_b = 1 - sum_{a != b} p_a, where gamma_t = exploration * sqrt(K t). The default
    exploration = 10 makes the distribution concentrate on the predicted best arm once
    prediction gaps exceed ~1 / (10 sqrt(K t)) in normalised-loss units (losses ~ 1).

    State: ``gram`` X^T X float64 (B, K, d, d), ``moment`` X^T y (B, K, d),
    ``rounds_played`` (B,).

    Args:
        num_arms: as in :class:`ContextualBanditAgent`.
        num_envs: as in :class:`ContextualBanditAgent`.
        seed: as in :class:`ContextualBanditAgent`.
        device: as in :class:`ContextualBanditAgent`.
        context_low: as in :class:`ContextualBanditAgent`.
        context_high: as in :class:`ContextualBanditAgent`.
        degree: highest Chebyshev degree, >= 0 (default 5).
        ridge: ridge regulariser > 0 (default 1e-3).
        exploration: scale > 0 of gamma_t (default 10).
    """

    copy_state = ("gram", "moment", "rounds_played", "loss_normaliser")

    def __init__(self, num_arms: int, num_envs: int = 1, seed: int = 0,
                 device: str | torch.device = "cpu", context_low: float = 0.0,
                 context_high: float = 1.0, degree: int = 5, ridge: float = 1e-3,
                 exploration: float = 10.0) -> None:
        super().__init__(num_arms, num_envs, seed, device, context_low, context_high)
        self.degree = check_integer("degree", degree, minimum=0)
        self.ridge = check_real("ridge", ridge, 0.0, low_inclusive=False)
        self.exploration = check_real("exploration", exploration, 0.0, low_inclusive=False)
        num_features = self.degree + 1
        self.gram = torch.zeros(self.num_envs, self.num_arms, num_features, num_features,
                                dtype=STATE_DTYPE, device=self.device)
        self.moment = torch.zeros(self.num_envs, self.num_arms, num_features,
                                  dtype=STATE_DTYPE, device=self.device)
        self.rounds_played = torch.zeros(self.num_envs, dtype=STATE_DTYPE, device=self.device)
        self.loss_normaliser = _RunningMeanAbsLoss((self.num_envs,), self.device)

    def features(self, context: torch.Tensor) -> torch.Tensor:
        """Chebyshev features of the context: float (B,) -> float64 (B, degree + 1)."""
        scaled = 2.0 * (context - self.context_low) / (self.context_high - self.context_low)
        return chebyshev_features((scaled - 1.0).clamp(-1.0, 1.0), self.degree)

    def predicted_losses(self, observation: Any) -> torch.Tensor:
        """Ridge predictions of each arm's normalised loss: observation (B, d) -> (B, K)."""
        return self._predicted_losses(self._check_observation(observation))

    def _predicted_losses(self, context: torch.Tensor) -> torch.Tensor:
        identity = torch.eye(self.degree + 1, dtype=STATE_DTYPE, device=self.device)
        coefficients = torch.linalg.solve(self.gram + self.ridge * identity,
                                          self.moment.unsqueeze(-1)).squeeze(-1)
        return (coefficients * self.features(context)[:, None, :]).sum(dim=-1)

    def _probabilities(self, context: torch.Tensor) -> torch.Tensor:
        predictions = self._predicted_losses(context)
        best_arm = predictions.argmin(dim=-1, keepdim=True)
        gaps = predictions - predictions.gather(1, best_arm)
        gamma = self.exploration * torch.sqrt(self.num_arms * (self.rounds_played + 1.0))
        probabilities = 1.0 / (self.num_arms + gamma[:, None] * gaps)
        probabilities = probabilities.scatter(1, best_arm, 0.0)
        best_probability = 1.0 - probabilities.sum(dim=-1, keepdim=True)
        return probabilities.scatter(1, best_arm, best_probability)

    def _learn(self, context: torch.Tensor, actions: torch.Tensor,
               losses: torch.Tensor) -> None:
        features = self.features(context)
        normalised = self.loss_normaliser.normalise(losses, (self._copy_index,))
        self.gram[self._copy_index, actions] += features[:, :, None] * features[:, None, :]
        self.moment[self._copy_index, actions] += normalised[:, None] * features
        self.rounds_played += 1.0
