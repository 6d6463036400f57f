"""Sequences of related linear systems for the SOR family, generated batched from seeds.

Each problem produces, for B episodes at once, instance k of each episode as a
:class:`~tunegym.simulators.sor.GridStencil` plus right-hand side, warm start and
context features. Randomness is counter-based (:mod:`tunegym.core.random`): instance
k of an episode is a pure function of ``(episode_key, k)`` and, for the heat
problem, of the previous solution.

Problems:

* :class:`ShiftedPoisson` (Khodak et al. 2024, section 5): A = L + c I with L the
  unscaled 5-point Laplacian (diagonal 4, neighbours -1) on an m x m grid (paper:
  m = 10); c = -0.15 + 0.6 Beta(0.5, 1.5) ("high" variance) or Beta(2, 6) ("low");
  b a standard Gaussian conditioned on ||b|| <= sqrt(n); x0 = 0. Context: c.
* :class:`Heat` (the paper's heat experiment): 2-D heat equation on the unit square,
  Crank-Nicolson with dt = 1e-3, diffusivity kappa(t) = max(0.1 sin 2 pi t,
  -10 sin 2 pi t), a bump source of height 32 and radius 1/8 circling the centre
  (radius 1/4, angular speed 16 pi), initial bump of radius 1/4 at the centre;
  each step warm-started from the previous solution. grid_size m interior points per
  side (paper's nx = m + 1, h = 1/(m+1)). The seed draws a time offset t0 in [0, 1)
  and the source's starting angle, so episodes differ. Context: kappa at the half
  step (the value in the matrix).
* :class:`VariableDiffusion` (ours): -div(a grad u) + sigma u = f with a log-normal
  coefficient a = exp(theta g), g a smooth random field of six Fourier modes, and
  reaction sigma = 10**s. The reaction strength moves the optimal omega from about
  2 - 2 pi h (sigma small) to about 1 (sigma large), the contrast theta perturbs it.
  Context: (s, theta).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from tunegym.core import random as counter_random
from tunegym.core.compiled import numba_jit
from tunegym.core.random import hash_keys, standard_normal, uniform
from tunegym.simulators.sor import GridStencil

#: Beta distribution parameters of the shift c for ShiftedPoisson, by variance.
SHIFT_BETA_PARAMETERS = {"high": (0.5, 1.5), "low": (2.0, 6.0)}


@dataclass
class Instance:
    """Instance k of B episodes.

    Attributes:
        stencil: the B systems.
        rhs: (B, m, m) right-hand sides.
        initial_guess: (B, m, m) warm start, or None for zeros.
    """

    stencil: GridStencil
    rhs: torch.Tensor
    initial_guess: torch.Tensor | None


@functools.lru_cache(maxsize=8)
def _beta_quantile_table(alpha: float, beta: float, points: int = 65_537) -> torch.Tensor:
    """Beta quantiles at u = (1 - cos(pi s)) / 2 for s on a uniform grid of [0, 1].

    The cosine spacing puts cells of width ~ s^2 at both ends of the u range, where the
    quantile function of a Beta law has its power-law singularities, so linear
    interpolation in s stays accurate in the tails too."""
    from scipy.special import betaincinv

    grid = torch.linspace(0.0, 1.0, points, dtype=torch.float64)
    return torch.from_numpy(betaincinv(alpha, beta, (0.5 - 0.5 * torch.cos(math.pi * grid))
                                       .numpy()))


def beta_from_uniform(uniforms: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """Beta(alpha, beta) draws by inverse CDF (tabulated with scipy on a cosine-spaced
    grid, linear interpolation).

    Args:
        uniforms: float64 tensor of any shape with entries in (0, 1).

    Returns:
        Tensor of the same shape with entries in [0, 1]; within 1e-5 of scipy's
        ``betaincinv`` for u <= 1 - 1e-7 (Beta(0.5, 1.5) and Beta(2, 6), measured).
    """
    table = _beta_quantile_table(float(alpha), float(beta)).to(uniforms.device)
    grid_position = torch.arccos(1.0 - 2.0 * uniforms.to(torch.float64)) / math.pi
    kernel = (_compiled_interpolate() if grid_position.device.type == "cpu"
              and counter_random.COMPILED else None)
    if kernel is not None:
        values = torch.empty_like(grid_position)
        kernel(table.numpy(), grid_position.contiguous().numpy().reshape(-1),
               values.numpy().reshape(-1))
        return values
    position = grid_position * (table.numel() - 1)
    lower = position.floor().clamp(max=table.numel() - 2).long()
    fraction = position - lower
    return table[lower] + fraction * (table[lower + 1] - table[lower])


def _interpolate(table, grid_position, out):
    """out = the torch path's linear interpolation of ``table`` (T,) at
    ``grid_position`` * (T - 1), entry by entry (compiled by numba on the CPU; the same
    IEEE operations in the same order, so the same bits)."""
    last = table.shape[0] - 2
    for n in range(grid_position.shape[0]):
        position = grid_position[n] * (table.shape[0] - 1)
        lower = min(math.floor(position), last)
        fraction = position - lower
        out[n] = table[lower] + fraction * (table[lower + 1] - table[lower])


@functools.lru_cache(maxsize=1)
def _compiled_interpolate():
    """The jitted :func:`_interpolate`, or None without numba."""
    jit = numba_jit()
    return None if jit is None else jit(_interpolate)


def _take_accepted(candidate, limit, final_block, result, pending):
    """Rejection bookkeeping of one block of rounds (compiled by numba on the CPU).

    Args:
        candidate: (R, P, n) float64, round r's candidate for pending row p.
        limit: sqrt(n). final_block: whether the block ends at ``max_rounds`` (its last
            round is then accepted, rescaled onto the sphere when outside it).
        result: (B, n) float64, rows written where accepted. pending: (P,) int64 row
            indices; compacted in place to the rows still pending.

    Returns:
        The number of rows still pending (the first entries of ``pending``).
    """
    rounds, size = candidate.shape[0], candidate.shape[2]
    remaining = 0
    for p in range(candidate.shape[1]):
        chosen = -1
        scale = 1.0
        for r in range(rounds):
            squared = 0.0
            for k in range(size):
                squared += candidate[r, p, k] * candidate[r, p, k]
            norm = math.sqrt(squared)
            if norm <= limit:
                chosen = r
                break
            if final_block and r == rounds - 1:
                chosen, scale = r, limit / norm
        if chosen < 0:
            pending[remaining] = pending[p]
            remaining += 1
        else:
            for k in range(size):
                result[pending[p], k] = candidate[chosen, p, k] * scale
    return remaining


@functools.lru_cache(maxsize=1)
def _compiled_take_accepted():
    """The jitted :func:`_take_accepted`, or None without numba."""
    jit = numba_jit()
    return None if jit is None else jit(_take_accepted)


def truncated_normal(keys: torch.Tensor, size: int, stream: int,
                     max_rounds: int = 64, rounds_per_draw: int = 4) -> torch.Tensor:
    """Standard Gaussian vectors conditioned on ||z|| <= sqrt(size), by rejection.

    Round r draws a candidate from stream ``stream * 1000 + r``; a row takes the
    candidate of its first accepted round. The acceptance probability is about 1/2, so
    64 rounds fail with probability 2**-64 (then the last candidate is rescaled onto the
    sphere). ``rounds_per_draw`` rounds are drawn at once for every row still pending
    (one call per block of rounds instead of one per round); the result does not depend
    on it. On the CPU (with the compiled kernels switched on) the bookkeeping runs in one
    compiled loop, elsewhere as torch ops; the two take the same candidates (norms are
    summed in another order, which could only matter for a norm within an ulp of
    sqrt(n)).

    Args:
        keys: int64 (B,) instance keys.
        size: vector length n.

    Returns:
        float64 (B, n).
    """
    result = torch.zeros(keys.shape[0], size, dtype=torch.float64, device=keys.device)
    pending = torch.arange(keys.shape[0], device=keys.device)
    limit = math.sqrt(size)
    kernel = (_compiled_take_accepted() if keys.device.type == "cpu"
              and counter_random.COMPILED else None)
    for first_round in range(0, max_rounds, rounds_per_draw):
        rounds = min(rounds_per_draw, max_rounds - first_round)
        final_block = first_round + rounds == max_rounds
        streams = (stream * 1000 + first_round + torch.arange(
            rounds, device=keys.device)).repeat_interleave(pending.numel())
        candidate = standard_normal(keys[pending].repeat(rounds), (size,), streams)
        candidate = candidate.view(rounds, pending.numel(), size)
        if kernel is not None:
            remaining = kernel(candidate.numpy(), limit, final_block, result.numpy(),
                               pending.numpy())
            pending = pending[:remaining]
        else:
            norm = candidate.norm(dim=2)                               # (rounds, P)
            accepted = norm <= limit
            if final_block:
                candidate[-1] *= torch.clamp(limit / norm[-1], max=1.0).unsqueeze(1)
                accepted[-1] = True
            taken = accepted.any(dim=0)
            first_accepted = accepted.to(torch.int8).argmax(dim=0)     # first True
            rows = torch.nonzero(taken).flatten()
            result[pending[rows]] = candidate[first_accepted[rows], rows]
            pending = pending[~taken]
        if pending.numel() == 0:
            break
    return result


def instance_keys(episode_keys: torch.Tensor, step: torch.Tensor,
                  state: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Key of instance ``step`` (B,) of episodes ``episode_keys`` (B,).

    A caller that keeps the key of its current step in ``state["instance_key"]`` (the
    SOR env does, beside ``state["step"]``) passes ``state``: when ``step`` is that very
    ``state["step"]`` tensor the kept key is returned instead of hashing again."""
    if state is not None and state.get("step") is step and "instance_key" in state:
        return state["instance_key"]
    return hash_keys(episode_keys, step)


class SORProblem:
    """A family of instance sequences. Subclasses set the class attributes and
    implement :meth:`context` and :meth:`instance`.

    Attributes:
        name: the ``problem`` kwarg value.
        context_names: names of the context features.
        default_grid_size: m used when ``grid_size`` is None.
    """

    name: str = ""
    context_names: tuple[str, ...] = ()
    default_grid_size: int = 10

    def __init__(self, grid_size: int | None, device: torch.device,
                 dtype: torch.dtype = torch.float64) -> None:
        self.grid_size = self.default_grid_size if grid_size is None else grid_size
        if isinstance(self.grid_size, bool) or not isinstance(self.grid_size, int) \
                or not 2 <= self.grid_size <= 4096:
            raise ValueError(f"grid_size must be an integer in [2, 4096], got {grid_size!r}")
        self.device, self.dtype = device, dtype
        self.spacing = 1.0 / (self.grid_size + 1)

    @property
    def context_bounds(self) -> tuple[list[float], list[float]]:
        """(low, high) of the context features."""
        raise NotImplementedError

    def episode_state(self, episode_keys: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-episode state (tensors with leading dim B) at step 0."""
        return {}

    def context(self, episode_keys: torch.Tensor, step: torch.Tensor,
                state: dict[str, torch.Tensor]) -> torch.Tensor:
        """Context features of instance ``step``: (B, len(context_names)) float64."""
        raise NotImplementedError

    def instance(self, episode_keys: torch.Tensor, step: torch.Tensor,
                 state: dict[str, torch.Tensor],
                 context: torch.Tensor | None = None) -> Instance:
        """The systems of instance ``step`` (B,) of the episodes; ``context`` (B, d) is
        :meth:`context` of the same arguments when the caller has it already (then it is
        not computed again)."""
        raise NotImplementedError

    def advance(self, state: dict[str, torch.Tensor],
                solution: torch.Tensor) -> dict[str, torch.Tensor]:
        """Episode state after an instance was solved with ``solution`` (B, m, m)."""
        return state

    def jacobi_spectral_radius(self, context: torch.Tensor) -> torch.Tensor:
        """Spectral radius (B,) of the Jacobi iteration matrix of the instances with
        ``context`` (B, d): exact for constant-coefficient problems, the
        constant-coefficient (a = 1) value otherwise."""
        raise NotImplementedError

    def model_jacobi_spectral_radius(self) -> float:
        """rho_J of the unshifted model problem (5-point Laplacian) on this grid."""
        return math.cos(math.pi * self.spacing)

    def _uniform_stencil(self, center: torch.Tensor, neighbour: torch.Tensor) -> GridStencil:
        center = center.reshape(-1, 1, 1).to(self.dtype)
        neighbour = neighbour.reshape(-1, 1, 1).to(self.dtype)
        return GridStencil(center, neighbour, neighbour, neighbour, neighbour, self.grid_size)


class ShiftedPoisson(SORProblem):
    """Shifted 5-point Laplacian A = L + c I with random shift c (see module docstring).

    The paper's shift range [-0.15, 0.45] is for m = 10, where the smallest eigenvalue
    of L is 4 - 4 cos(pi/11) = 0.162, so every A is positive definite. For other grid
    sizes the shift is scaled by lambda_min(m) / lambda_min(10), which keeps A positive
    definite with the same relative conditioning (m = 10 is the paper exactly).
    """

    name = "shifted_poisson"
    context_names = ("shift",)
    default_grid_size = 10

    def __init__(self, grid_size: int | None, device: torch.device, variance: str = "high",
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__(grid_size, device, dtype)
        if variance not in SHIFT_BETA_PARAMETERS:
            raise ValueError(f"variance must be one of {tuple(SHIFT_BETA_PARAMETERS)}, "
                             f"got {variance!r}")
        self.variance = variance
        self.shift_scale = ((1.0 - math.cos(math.pi * self.spacing))
                            / (1.0 - math.cos(math.pi / 11.0)))

    @property
    def context_bounds(self):
        return [-0.15 * self.shift_scale], [0.45 * self.shift_scale]

    def context(self, episode_keys, step, state):
        draws = uniform(instance_keys(episode_keys, step, state), (1,), stream=1)
        unit = beta_from_uniform(draws, *SHIFT_BETA_PARAMETERS[self.variance])
        return (-0.15 + 0.6 * unit) * self.shift_scale

    def instance(self, episode_keys, step, state, context=None):
        if context is None:
            context = self.context(episode_keys, step, state)
        shift = context[:, 0]
        keys = instance_keys(episode_keys, step, state)
        rhs = truncated_normal(keys, self.grid_size ** 2, stream=2)
        stencil = self._uniform_stencil(4.0 + shift, torch.ones_like(shift))
        return Instance(stencil, rhs.reshape(-1, self.grid_size, self.grid_size).to(self.dtype),
                        None)

    def jacobi_spectral_radius(self, context):
        return 4.0 * math.cos(math.pi * self.spacing) / (4.0 + context[:, 0])


def _bump(x: torch.Tensor, y: torch.Tensor, center_x: torch.Tensor, center_y: torch.Tensor,
          radius: float) -> torch.Tensor:
    """Smooth bump exp(1 - 1/(1 - r^2/R^2)) (0 outside radius R); broadcasts."""
    ratio = torch.clamp(((x - center_x) ** 2 + (y - center_y) ** 2) / radius ** 2, max=1.0)
    return torch.exp(1.0 - 1.0 / (1.0 - ratio))


class Heat(SORProblem):
    """Crank-Nicolson steps of the 2-D heat equation (see module docstring).

    Args:
        grid_size: as :class:`SORProblem`.
        device: as :class:`SORProblem`.
        dtype: as :class:`SORProblem`.
        start: "random" (default): the episode seed draws the start time t0 in [0, 1)
            and the source's starting angle, so episodes differ; "paper": every episode
            is the paper's simulation (Khodak et al.'s h2d.m): t0 = 0, the source at
            angle 0, circling as there (its first coordinate, the row here, follows the
            cosine).
    """

    name = "heat"
    context_names = ("diffusivity",)
    default_grid_size = 24
    time_step = 1e-3
    STARTS = ("random", "paper")

    def __init__(self, grid_size: int | None, device: torch.device,
                 dtype: torch.dtype = torch.float64, start: str = "random") -> None:
        super().__init__(grid_size, device, dtype)
        if start not in self.STARTS:
            raise ValueError(f"start must be one of {self.STARTS}, got {start!r}")
        self.start = start

    @staticmethod
    def diffusivity(time: torch.Tensor) -> torch.Tensor:
        """kappa(t) = max(0.1 sin 2 pi t, -10 sin 2 pi t), dimensionless."""
        wave = torch.sin(2.0 * math.pi * time)
        return torch.maximum(0.1 * wave, -10.0 * wave)

    @property
    def context_bounds(self):
        return [0.0], [10.0]

    def _coordinates(self) -> tuple[torch.Tensor, torch.Tensor]:
        points = torch.arange(1, self.grid_size + 1, dtype=self.dtype,
                              device=self.device) * self.spacing
        row, column = torch.meshgrid(points, points, indexing="ij")
        return column.unsqueeze(0), row.unsqueeze(0)    # x along columns, y along rows

    def episode_state(self, episode_keys):
        draws = uniform(episode_keys, (2,), stream=3)
        if self.start == "paper":
            draws = torch.zeros_like(draws)
        x, y = self._coordinates()
        field = _bump(x, y, 0.5, 0.5, 0.25).expand(episode_keys.shape[0], -1, -1).clone()
        return {"field": field, "time_offset": draws[:, 0],
                "source_angle": 2.0 * math.pi * draws[:, 1]}

    def _half_step_time(self, step, state):
        return state["time_offset"] + (step.to(self.dtype) + 0.5) * self.time_step

    def context(self, episode_keys, step, state):
        return self.diffusivity(self._half_step_time(step, state)).unsqueeze(1)

    def instance(self, episode_keys, step, state, context=None):
        time = self._half_step_time(step, state)
        coupling = self.diffusivity(time) * self.time_step / (2.0 * self.spacing ** 2)
        stencil = self._uniform_stencil(1.0 + 4.0 * coupling, coupling)
        angle = (state["source_angle"] + 16.0 * math.pi * time).reshape(-1, 1, 1)
        x, y = self._coordinates()
        along_x, along_y = torch.cos(angle), torch.sin(angle)
        if self.start == "paper":
            along_x, along_y = along_y, along_x     # h2d.m: the row coordinate takes cos
        source = 32.0 * _bump(x, y, 0.5 + 0.25 * along_x, 0.5 + 0.25 * along_y, 0.125)
        field = state["field"]
        # (I + dt/2 kappa Lap) u = 2u - (I - dt/2 kappa Lap) u = 2u - A u
        rhs = 2.0 * field - stencil.matvec(field) + self.time_step * source.to(self.dtype)
        return Instance(stencil, rhs, field)

    def advance(self, state, solution):
        return {**state, "field": solution}

    def jacobi_spectral_radius(self, context):
        coupling = context[:, 0] * self.time_step / (2.0 * self.spacing ** 2)
        return 4.0 * coupling * math.cos(math.pi * self.spacing) / (1.0 + 4.0 * coupling)


class VariableDiffusion(SORProblem):
    """-div(a grad u) + sigma u = f, a = exp(theta g) (see module docstring).

    Scaled by h^2: center = sum of the four face coefficients + sigma h^2,
    neighbour coefficients = a at the faces, rhs = Gaussian with ||b|| <= sqrt(n).
    """

    name = "variable_diffusion"
    context_names = ("log10_reaction", "contrast")
    default_grid_size = 32
    modes = 6
    log10_reaction_range = (0.0, 4.0)
    contrast_range = (0.0, 2.0)

    @property
    def context_bounds(self):
        return ([self.log10_reaction_range[0], self.contrast_range[0]],
                [self.log10_reaction_range[1], self.contrast_range[1]])

    def context(self, episode_keys, step, state):
        draws = uniform(instance_keys(episode_keys, step, state), (2,), stream=4)
        low = torch.tensor([self.log10_reaction_range[0], self.contrast_range[0]],
                           dtype=torch.float64, device=draws.device)
        high = torch.tensor([self.log10_reaction_range[1], self.contrast_range[1]],
                            dtype=torch.float64, device=draws.device)
        return low + (high - low) * draws

    def _log_coefficient(self, keys: torch.Tensor, x: torch.Tensor,
                         y: torch.Tensor) -> torch.Tensor:
        """g at points (x, y) broadcast against (B, 1, 1) mode parameters: unit variance."""
        draws = uniform(keys, (self.modes, 3), stream=5)
        amplitude = standard_normal(keys, (self.modes,), stream=6)
        wave_x = torch.floor(3.0 * draws[..., 0]) + 1.0
        wave_y = torch.floor(3.0 * draws[..., 1]) + 1.0
        phase = 2.0 * math.pi * draws[..., 2]
        total = 0.0
        for mode in range(self.modes):
            total = total + amplitude[:, mode, None, None] * torch.cos(
                math.pi * (wave_x[:, mode, None, None] * x + wave_y[:, mode, None, None] * y)
                + phase[:, mode, None, None])
        return total * math.sqrt(2.0 / self.modes)

    def instance(self, episode_keys, step, state, context=None):
        features = self.context(episode_keys, step, state) if context is None else context
        keys = instance_keys(episode_keys, step, state)
        contrast = features[:, 1].reshape(-1, 1, 1)
        points = torch.arange(1, self.grid_size + 1, dtype=torch.float64,
                              device=keys.device) * self.spacing
        y, x = torch.meshgrid(points, points, indexing="ij")
        half = 0.5 * self.spacing

        def face(dx: float, dy: float) -> torch.Tensor:
            return torch.exp(contrast * self._log_coefficient(keys, x + dx, y + dy))

        north, south, west, east = face(0, -half), face(0, half), face(-half, 0), face(half, 0)
        reaction = (10.0 ** features[:, 0]).reshape(-1, 1, 1) * self.spacing ** 2
        center = north + south + west + east + reaction
        stencil = GridStencil(*(t.to(self.dtype) for t in (center, north, south, west, east)),
                              grid_size=self.grid_size)
        rhs = truncated_normal(keys, self.grid_size ** 2, stream=7)
        return Instance(stencil, rhs.reshape(-1, self.grid_size, self.grid_size).to(self.dtype),
                        None)

    def jacobi_spectral_radius(self, context):
        reaction = (10.0 ** context[:, 0]) * self.spacing ** 2
        return 4.0 * math.cos(math.pi * self.spacing) / (4.0 + reaction)


PROBLEMS = {problem.name: problem for problem in (ShiftedPoisson, Heat, VariableDiffusion)}
