"""SubPO: policy gradient for submodular rewards.

After Prajapat, Mutny, Zeilinger and Krause, "Submodular Reinforcement Learning"
(ICLR 2024). The value of an episode is a monotone submodular function F of the states
visited, so the reward of a step (its marginal gain F(S + {x}) - F(S)) depends on the
whole history. SubPO is a REINFORCE-style gradient in which the return-to-go of step t
is the sum of the marginal gains collected from t on,

    grad J = E[ sum_t grad log pi(a_t | s_t) * (G_t - b_t) ],
    G_t = sum_{k >= t} (F(S_{k+1}) - F(S_k)),

with the baseline b_t = mean over the batch of G_t (variance reduction) and an optional
entropy bonus. :class:`tunegym.envs.coverage.CoverageEnv` already returns marginal gains
as rewards, so G_t is the sum of the env's rewards from step t on.

Policies
--------
``policy="markov"``: an MLP on (row, column, time), the first 3 observation features;
it cannot see which cells were covered, so it can only learn a fixed route shape.
``policy="history"``: the MLP also sees the visited map (the remaining H*W features),
which needs the env built with ``observe_map=True``.

Interface:

    agent = SubPO(observation_size=env.single_observation_space.shape[0], seed=0)
    figures = agent.train_step(env, seeds)     # one rollout of len(seeds) episodes + one step
    returns = agent.evaluate(test_env, seeds)  # (B,) F(S) - F(start) per episode

A batch of B episodes runs in lockstep on one batched env; no Python loop runs over B.
Sampling uses uniform draws from a CPU ``torch.Generator`` seeded with ``seed`` (moved to
``device``), and the network is initialised from ``seed``, so the same seed gives the
same agent and the same actions.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tunegym.core import BatchedEnv, check_choice, check_integer
from tunegym.core.batched import resolve_device

POLICIES = ("markov", "history")
#: Observation features every policy reads: row / (H-1), column / (W-1), t / horizon.
MARKOV_FEATURES = 3


class SubPO:
    """SubPO agent: a softmax MLP policy trained by the SubPO policy gradient.

    Args:
        observation_size: d, the length of an env observation (3, or 3 + H*W with the
            visited map).
        num_actions: number of discrete actions (5 on the coverage grid).
        policy: "markov" (MLP on the first 3 features) or "history" (MLP on all d
            features, visited map included; needs d > 3).
        hidden_size: width of the two hidden tanh layers.
        learning_rate: Adam step size.
        entropy_coefficient: weight (>= 0) of the mean policy entropy bonus in the loss.
        seed: seeds the network initialisation and the action sampling.
        device: torch device of the network and of every returned tensor.
    """

    def __init__(self, observation_size: int, num_actions: int = 5, policy: str = "markov",
                 hidden_size: int = 64, learning_rate: float = 1e-2,
                 entropy_coefficient: float = 0.0, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        self.observation_size = check_integer("observation_size", observation_size,
                                              MARKOV_FEATURES)
        self.num_actions = check_integer("num_actions", num_actions, 2)
        check_choice("policy", policy, POLICIES)
        if policy == "history" and self.observation_size <= MARKOV_FEATURES:
            raise ValueError(f"policy='history' needs the visited map in the observation "
                             f"(observation_size > {MARKOV_FEATURES}; build the env with "
                             f"observe_map=True), got observation_size={observation_size}")
        self.policy = policy
        self.hidden_size = check_integer("hidden_size", hidden_size)
        if not isinstance(learning_rate, (int, float)) or not np.isfinite(learning_rate) \
                or learning_rate <= 0:
            raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
        if not isinstance(entropy_coefficient, (int, float)) \
                or not np.isfinite(entropy_coefficient) or entropy_coefficient < 0:
            raise ValueError(f"entropy_coefficient must be a finite number >= 0, "
                             f"got {entropy_coefficient!r}")
        self.entropy_coefficient = float(entropy_coefficient)
        self.seed = check_integer("seed", seed, minimum=0)
        self.device = resolve_device(device)
        self.input_size = MARKOV_FEATURES if policy == "markov" else self.observation_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.network = nn.Sequential(
                nn.Linear(self.input_size, self.hidden_size), nn.Tanh(),
                nn.Linear(self.hidden_size, self.hidden_size), nn.Tanh(),
                nn.Linear(self.hidden_size, self.num_actions),
            ).to(self.device)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=float(learning_rate))
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)

    # ---------------------------------------------------------------- policy
    def _check_observation(self, observation: torch.Tensor | np.ndarray) -> torch.Tensor:
        observation = torch.as_tensor(observation, device=self.device)
        if observation.ndim < 2 or observation.shape[-1] != self.observation_size:
            raise ValueError(f"observation must have shape (..., {self.observation_size}), "
                             f"got {tuple(observation.shape)}")
        return observation.to(torch.float32)

    def logits(self, observation: torch.Tensor) -> torch.Tensor:
        """Action logits (..., num_actions) of observations (..., d)."""
        observation = self._check_observation(observation)
        return self.network(observation[..., :self.input_size])

    def probabilities(self, observation: torch.Tensor) -> torch.Tensor:
        """Action probabilities (B, num_actions) of observations (B, d); no gradient."""
        with torch.no_grad():
            return torch.softmax(self.logits(observation), dim=-1)

    def act(self, observation: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Actions int64 (B,) for observations (B, d): sampled from the policy, or its
        most probable action when ``deterministic``."""
        probabilities = self.probabilities(observation)
        if deterministic:
            return probabilities.argmax(dim=-1)
        # Inverse-CDF sampling from CPU uniforms: the same seed gives the same actions
        # on every device.
        uniforms = torch.rand(probabilities.shape[0], generator=self.generator)
        uniforms = uniforms.to(self.device, probabilities.dtype)
        cumulative = probabilities.cumsum(dim=-1)
        actions = (cumulative < uniforms[:, None]).sum(dim=-1)
        return actions.clamp(max=self.num_actions - 1)

    def act_greedy(self, observation: torch.Tensor) -> torch.Tensor:
        """Most probable actions int64 (B,) for observations (B, d)."""
        return self.act(observation, deterministic=True)

    # --------------------------------------------------------------- rollout
    def _check_env(self, env: BatchedEnv) -> None:
        size = env.single_observation_space.shape[0]
        if size != self.observation_size:
            raise ValueError(f"env observations have {size} features but the agent was built "
                             f"with observation_size={self.observation_size}")
        if getattr(env.single_action_space, "n", None) != self.num_actions:
            raise ValueError(f"env must have a Discrete({self.num_actions}) action space, "
                             f"got {env.single_action_space}")

    def rollout(self, env: BatchedEnv, seeds: torch.Tensor | np.ndarray | list[int],
                deterministic: bool = False) -> dict[str, torch.Tensor]:
        """Run B = len(seeds) whole episodes of ``env.horizon`` steps in lockstep.

        Args:
            env: a batched env with ``num_envs == len(seeds)`` (e.g. CoverageEnv).
            seeds: int64 (B,) episode seeds.
            deterministic: act greedily instead of sampling.

        Returns:
            ``observations`` (T, B, d) float32 (the state each action was taken in),
            ``actions`` (T, B) int64, ``rewards`` (T, B) float32 (marginal gains),
            with T = env.horizon, and ``final_raw_metric`` (B,): the env's raw metric
            (``info[env.raw_metric]``, e.g. F(S)) after the last step.
        """
        self._check_env(env)
        observation = env.reset(seeds)
        observations, actions, rewards = [], [], []
        for _ in range(env.horizon):
            action = self.act(observation, deterministic=deterministic)
            next_observation, reward, _, _, info = env.step(action)
            observations.append(observation)
            actions.append(action)
            rewards.append(reward)
            observation = next_observation
        return {"observations": torch.stack(observations).to(self.device),
                "actions": torch.stack(actions).to(self.device),
                "rewards": torch.stack(rewards).to(self.device, torch.float32),
                "final_raw_metric": info[env.raw_metric].to(self.device)}

    # ------------------------------------------------------------------ loss
    @staticmethod
    def returns_to_go(rewards: torch.Tensor) -> torch.Tensor:
        """Sum of the marginal gains from step t to the end, (T, B), of rewards (T, B)."""
        return rewards.flip(0).cumsum(dim=0).flip(0)

    def loss(self, observations: torch.Tensor, actions: torch.Tensor,
             rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """SubPO surrogate loss of a batch of whole episodes.

        loss = -1/B sum_{t,b} log pi(a_tb | s_tb) * (G_tb - mean_b G_tb)
               - entropy_coefficient * mean_{t,b} H(pi(. | s_tb)),

        whose gradient is minus the SubPO policy gradient (plus the entropy term).

        Args:
            observations: (T, B, d) float32.
            actions: (T, B) int64.
            rewards: (T, B) marginal gains.

        Returns:
            (loss, scalar with gradient; mean entropy in nats, scalar without gradient).
        """
        if actions.shape != rewards.shape or observations.shape[:2] != actions.shape:
            raise ValueError(f"observations (T, B, d), actions (T, B) and rewards (T, B) must "
                             f"agree, got {tuple(observations.shape)}, {tuple(actions.shape)}, "
                             f"{tuple(rewards.shape)}")
        log_probabilities = torch.log_softmax(self.logits(observations), dim=-1)
        chosen = log_probabilities.gather(-1, actions.long()[..., None])[..., 0]
        returns = self.returns_to_go(rewards.to(chosen.dtype))
        advantages = returns - returns.mean(dim=1, keepdim=True)
        entropy = -(log_probabilities.exp() * log_probabilities).sum(dim=-1).mean()
        batch_size = actions.shape[1]
        loss = -(chosen * advantages).sum() / batch_size - self.entropy_coefficient * entropy
        return loss, entropy.detach()

    def train_step(self, env: BatchedEnv, seeds: torch.Tensor | np.ndarray | list[int]
                   ) -> dict[str, float | torch.Tensor]:
        """One rollout of len(seeds) episodes on ``env`` and one Adam step on the loss.

        Returns:
            ``mean_return`` (mean episode objective gain, sum of rewards), ``loss`` and
            ``entropy`` (mean policy entropy over the rollout, nats), floats;
            ``episode_returns`` (B,) and ``final_raw_metric`` (B,) tensors.
        """
        self.network.train()
        batch = self.rollout(env, seeds)
        loss, entropy = self.loss(batch["observations"], batch["actions"], batch["rewards"])
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        episode_returns = batch["rewards"].sum(dim=0)
        return {"mean_return": float(episode_returns.mean()), "loss": float(loss.detach()),
                "entropy": float(entropy), "episode_returns": episode_returns,
                "final_raw_metric": batch["final_raw_metric"]}

    def evaluate(self, env: BatchedEnv, seeds: torch.Tensor | np.ndarray | list[int],
                 deterministic: bool = True) -> torch.Tensor:
        """Episode returns (B,) float32 on ``env``: F(S) - F(start), the sum of rewards."""
        with torch.no_grad():
            return self.rollout(env, seeds, deterministic=deterministic)["rewards"].sum(dim=0)
