"""Baselines for quantum architecture search: random circuits, a hardware-efficient
ansatz of fixed depth, and greedy gate-by-gate search.

All play whole episodes of a :class:`tunegym.envs.quantum_arch_search.QuantumArchSearchEnv`
through its pure hooks (same inner-loop optimiser, rewards and termination as an
agent), batched over episodes, and return per episode the final energy error (hartree),
the number of gates and the return.

* :func:`random_architectures`: uniformly random legal actions (the action mask);
* :func:`hardware_efficient_ansatz`: ``layers`` repetitions of RY and RZ on every qubit
  followed by a CNOT ladder (0->1, 1->2, ...), the usual fixed ansatz, cut at the budget;
* :func:`greedy_search`: at every step each legal action is tried (all at once, the
  state copied per action) and the one with the lowest energy after the inner loop is
  kept.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tunegym.core import check_integer, rollout
from tunegym.core.random import hash_keys, uniform
from tunegym.envs.quantum_arch_search import ROTATIONS, QuantumArchSearchEnv

StatePolicy = Callable[[dict[str, torch.Tensor], int], torch.Tensor]


class _StatePolicy:
    """A ``policy(state, step) -> actions (b,)`` of the env's state as a rollout policy."""

    def __init__(self, env: QuantumArchSearchEnv, policy: StatePolicy) -> None:
        self.env, self.policy, self.step = env, policy, 0

    def reset(self, seeds: torch.Tensor) -> None:
        self.step = 0

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        actions = self.policy(self.env.state, self.step)
        self.step += 1
        return actions


def play(env: QuantumArchSearchEnv, seeds: torch.Tensor, policy: StatePolicy) -> dict:
    """Run one episode per seed (``env.num_envs`` of them) with ``policy(state, step) ->
    actions (b,)`` through the one rollout. Returns ``energy_error_ha`` (b,), ``n_gates``
    (b,) at each episode's end and ``episode_return`` (b,) float64 tensors."""
    records = rollout(env, _StatePolicy(env, policy), seeds)
    return {"energy_error_ha": records.final_info["energy_error_ha"],
            "n_gates": records.final_info["n_gates"], "episode_return": records.returns}


def random_architectures(env: QuantumArchSearchEnv, seeds: torch.Tensor) -> dict:
    """Uniformly random legal actions, drawn from the episode seeds (see :func:`play`)."""
    def policy(state, step):
        mask = env.legal_actions(state).to(torch.float64)
        scores = uniform(hash_keys(state["episode_key"], step), (mask.shape[1],),
                         stream=70) * mask
        return scores.argmax(dim=1)

    return play(env, seeds, policy)


def hardware_efficient_actions(n_qubits: int, layers: int) -> list[int]:
    """The action sequence of the hardware-efficient ansatz (see module docstring)."""
    layers = check_integer("layers", layers)
    cnot_actions = n_qubits * (n_qubits - 1)
    sequence = []
    for _ in range(layers):
        for rotation in ("ry", "rz"):
            start = cnot_actions + ROTATIONS.index(rotation) * n_qubits
            sequence += list(range(start, start + n_qubits))
        # CNOT(q, q + 1): control-major order, targets skipping the control
        sequence += [q * (n_qubits - 1) + q for q in range(n_qubits - 1)]
    return sequence


def hardware_efficient_ansatz(env: QuantumArchSearchEnv, seeds: torch.Tensor,
                              layers: int = 1) -> dict:
    """The hardware-efficient ansatz played gate by gate, cut at the gate budget."""
    sequence = hardware_efficient_actions(env.n_qubits, layers)[:env.max_gates]

    def policy(state, step):
        return torch.full((state["count"].shape[0],), sequence[min(step, len(sequence) - 1)],
                          dtype=torch.int64, device=env.device)

    return play(env, seeds, policy)


def greedy_gates(env: QuantumArchSearchEnv, state: dict[str, torch.Tensor]) -> torch.Tensor:
    """int64 (b,) the legal gate giving the lowest energy after the inner loop from each
    row of ``state`` (every action tried at once on a copy of the state)."""
    actions = env.single_action_space.n
    count = state["count"].shape[0]
    repeated = {key: value.repeat_interleave(actions, dim=0) for key, value in state.items()}
    candidates = torch.arange(actions, device=env.device).repeat(count)
    new_state, _, _, _, _ = env.transition(repeated, candidates)
    energies = new_state["energy"].reshape(count, actions)
    energies = torch.where(env.legal_actions(state), energies, torch.inf)
    return energies.argmin(dim=1)


def greedy_search(env: QuantumArchSearchEnv, seeds: torch.Tensor) -> dict:
    """Gate-by-gate greedy search on the energy after the inner loop (see module
    docstring); costs (number of actions) inner loops per step."""
    return play(env, seeds, lambda state, step: greedy_gates(env, state))


class HardwareEfficientAnsatz:
    """:func:`hardware_efficient_ansatz` as a :class:`tunegym.core.Policy` of a batched env
    (the next gate of the sequence for each circuit, read from the env's gate count).

    Args:
        env: the batched env it plays in.
        layers: repetitions of the rotation layer and the CNOT ladder.
    """

    def __init__(self, env: QuantumArchSearchEnv, layers: int = 1) -> None:
        self.env = env
        self.sequence = torch.tensor(
            hardware_efficient_actions(env.n_qubits, layers)[:env.max_gates],
            dtype=torch.int64, device=env.device)

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        """int64 (B,) actions."""
        placed = self.env.state["count"].long().clamp(max=self.sequence.numel() - 1)
        return self.sequence[placed]


class GreedyGate:
    """:func:`greedy_search` as a :class:`tunegym.core.Policy` of a batched env.

    Args:
        env: the batched env it looks ahead in (through its pure ``transition``).
    """

    def __init__(self, env: QuantumArchSearchEnv) -> None:
        self.env = env

    def act(self, observation: torch.Tensor) -> torch.Tensor:
        """int64 (B,) actions."""
        return greedy_gates(self.env, self.env.state)
