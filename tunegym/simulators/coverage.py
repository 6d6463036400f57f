"""Batched grid worlds with submodular objectives (after Prajapat et al., "Submodular
Reinforcement Learning", ICLR 2024).

B grid worlds of shape (H, W), each with its own walls and objective data. An agent moves deterministically (stay, up, down, left,
right; moves into walls or off the grid keep it in place). Every objective F is a
monotone submodular function of the multiset of visited cells, and every step returns
the **marginal gain** F(S + {x}) - F(S) of the cell x reached, computed incrementally:

* :class:`WeightedCoverage`: F(S) = sum of w_c over the cells c covered by the sensing
  footprints (squares of radius ``footprint``) of the visited cells;
* :class:`DOptimalDesign`: F(S) = 1/2 logdet(I + K_SS / noise), the information a
  Gaussian-process measurement at every visited cell carries about the field (Bayesian
  D-optimal design); the gain 1/2 log(1 + posterior_variance(x | S) / noise) uses a
  Cholesky factor of K_SS + noise I grown by one row per step (rank-one update);
* :class:`CappedItems`: F(S) = sum over item types k of min(items of type k covered,
  cap_k) (capped set cover).

Everything is a batched tensor op over the B worlds; there is no Python loop over B.
"""

from __future__ import annotations

import math

import torch

#: Moves (row, column) of the five actions: stay, up, down, left, right.
MOVES = torch.tensor([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], dtype=torch.int64)


def step_positions(free: torch.Tensor, position: torch.Tensor,
                   action: torch.Tensor) -> torch.Tensor:
    """Next cells (B, 2) after actions (B,) in 0..4 from ``position`` (B, 2) on maps whose
    walkable cells are ``free`` bool (B, H, W); blocked moves (walls, borders) stay put."""
    target = position + MOVES.to(position.device)[action]
    height, width = free.shape[1], free.shape[2]
    inside = ((target[:, 0] >= 0) & (target[:, 0] < height)
              & (target[:, 1] >= 0) & (target[:, 1] < width))
    clamped = torch.stack([target[:, 0].clamp(0, height - 1), target[:, 1].clamp(0, width - 1)],
                          dim=1)
    batch = torch.arange(position.shape[0], device=position.device)
    allowed = inside & free[batch, clamped[:, 0], clamped[:, 1]]
    return torch.where(allowed[:, None], clamped, position)


def footprint_mask(position: torch.Tensor, shape: tuple[int, int], radius: int) -> torch.Tensor:
    """Cells within Chebyshev distance ``radius`` of ``position`` (B, 2): bool (B, H, W)."""
    rows = torch.arange(shape[0], device=position.device)
    columns = torch.arange(shape[1], device=position.device)
    near_row = (rows[None, :] - position[:, :1]).abs() <= radius          # (B, H)
    near_column = (columns[None, :] - position[:, 1:]).abs() <= radius    # (B, W)
    return near_row[:, :, None] & near_column[:, None, :]


class WeightedCoverage:
    """F(S) = sum of the cell weights over the cells covered by the footprints of S.

    Args:
        footprint: sensing radius in cells (0: a cell covers itself only).

    State: ``weights`` float (B, H, W) non-negative, ``covered`` bool (B, H, W).
    """

    def __init__(self, footprint: int = 0) -> None:
        if isinstance(footprint, bool) or not isinstance(footprint, int) or footprint < 0:
            raise ValueError(f"footprint must be an integer >= 0, got {footprint!r}")
        self.footprint = footprint

    def initial_state(self, weights: torch.Tensor) -> dict[str, torch.Tensor]:
        """Nothing covered yet; ``weights`` (B, H, W) finite and non-negative."""
        if bool((weights < 0).any()) or not bool(torch.isfinite(weights).all()):
            raise ValueError("weights must be finite and non-negative")
        return {"weights": weights, "covered": torch.zeros_like(weights, dtype=torch.bool)}

    def emptied(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The same worlds with no cell covered (for singleton values F({x}))."""
        return self.initial_state(state["weights"])

    def gain(self, state: dict[str, torch.Tensor],
             position: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Add the cell ``position`` (B, 2): returns the new state and the gains (B,)."""
        reached = footprint_mask(position, state["weights"].shape[1:], self.footprint)
        new = reached & ~state["covered"]
        gain = (state["weights"] * new).flatten(1).sum(dim=1).to(torch.float64)
        return {**state, "covered": state["covered"] | reached}, gain


def rbf_kernel(left: torch.Tensor, right: torch.Tensor, lengthscale: float) -> torch.Tensor:
    """exp(-|x - y|^2 / (2 l^2)) between cell coordinates (..., n, 2) and (..., k, 2)."""
    squared = ((left[..., :, None, :] - right[..., None, :, :]) ** 2).sum(dim=-1)
    return torch.exp(-squared / (2.0 * lengthscale ** 2))


class DOptimalDesign:
    """F(S) = 1/2 logdet(I + K_SS / noise) for an RBF Gaussian process over the cells.

    Args:
        capacity: the most measurements an episode takes (sizes the Cholesky factor).
        lengthscale: kernel lengthscale in cells.
        noise: measurement noise variance (relative to the unit prior variance).

    State: ``points`` float64 (B, capacity, 2) measured cells, ``cholesky`` (B, capacity,
    capacity) lower-triangular factor of K_SS + noise I (identity beyond the count),
    ``count`` int64 (B,).
    """

    def __init__(self, capacity: int, lengthscale: float = 2.0, noise: float = 0.1) -> None:
        if not lengthscale > 0 or not noise > 0:
            raise ValueError(f"lengthscale and noise must be > 0, got {lengthscale}, {noise}")
        self.capacity, self.lengthscale, self.noise = capacity, lengthscale, noise

    def initial_state(self, batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
        """No measurements yet, for ``batch_size`` worlds."""
        eye = torch.eye(self.capacity, dtype=torch.float64, device=device)
        return {"points": torch.zeros(batch_size, self.capacity, 2, dtype=torch.float64,
                                      device=device),
                "cholesky": eye.expand(batch_size, -1, -1).clone(),
                "count": torch.zeros(batch_size, dtype=torch.int64, device=device)}

    def emptied(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The same worlds with no measurement (for singleton values F({x}))."""
        return self.initial_state(state["count"].shape[0], state["count"].device)

    def gain(self, state, position):
        """Measure at ``position`` (B, 2); returns (new state, gains (B,) in nats)."""
        points, cholesky, count = state["points"], state["cholesky"], state["count"]
        if bool((count >= self.capacity).any()):
            raise ValueError(f"more than capacity={self.capacity} measurements in an episode")
        x = position.to(torch.float64)[:, None, :]                               # (B, 1, 2)
        used = torch.arange(self.capacity, device=count.device)[None, :] < count[:, None]
        cross = rbf_kernel(points, x, self.lengthscale)[..., 0] * used            # (B, T)
        # Rows beyond the count are identity rows with a zero right-hand side: solution 0.
        projection = torch.linalg.solve_triangular(cholesky, cross[..., None], upper=False)
        projection = projection[..., 0]
        posterior_variance = (1.0 - (projection ** 2).sum(dim=1)).clamp(min=0.0)
        gain = 0.5 * torch.log1p(posterior_variance / self.noise)
        rows = torch.arange(position.shape[0], device=count.device)
        new_row = torch.where(used, projection, 0.0)
        new_row[rows, count] = torch.sqrt(posterior_variance + self.noise)
        new_cholesky = cholesky.clone()
        new_cholesky[rows, count] = new_row
        new_points = points.clone()
        new_points[rows, count] = x[:, 0]
        return {"points": new_points, "cholesky": new_cholesky, "count": count + 1}, gain


class CappedItems:
    """F(S) = sum_k min(number of type-k items covered by S, cap_k).

    Args:
        caps: int64 (K,), the most items of each type that count.
        footprint: sensing radius in cells.

    State: ``items`` int64 (B, H, W) item type per cell (0..K-1, -1 for none),
    ``covered`` bool (B, H, W), ``collected`` int64 (B, K).
    """

    def __init__(self, caps: torch.Tensor, footprint: int = 0) -> None:
        if bool((caps < 0).any()):
            raise ValueError("caps must be non-negative")
        self.caps, self.footprint = caps, footprint

    def initial_state(self, items: torch.Tensor) -> dict[str, torch.Tensor]:
        """Nothing collected yet on item maps ``items`` (B, H, W)."""
        return {"items": items, "covered": torch.zeros_like(items, dtype=torch.bool),
                "collected": torch.zeros(items.shape[0], self.caps.numel(), dtype=torch.int64,
                                         device=items.device)}

    def emptied(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The same worlds with nothing collected (for singleton values F({x}))."""
        return self.initial_state(state["items"])

    def gain(self, state, position):
        """Cover the footprint at ``position`` (B, 2); gains (B,) = newly counted items."""
        reached = footprint_mask(position, state["items"].shape[1:], self.footprint)
        new = reached & ~state["covered"]
        caps = self.caps.to(position.device)
        one_hot = state["items"][..., None] == torch.arange(caps.numel(), device=caps.device)
        found = (one_hot & new[..., None]).flatten(1, 2).sum(dim=1)              # (B, K)
        collected = state["collected"] + found
        gain = (torch.minimum(collected, caps)
                - torch.minimum(state["collected"], caps)).sum(dim=1).to(torch.float64)
        return {**state, "covered": state["covered"] | reached, "collected": collected}, gain


def set_value(objective, state: dict[str, torch.Tensor], cells: torch.Tensor) -> torch.Tensor:
    """F of the cell sequences ``cells`` (B, n, 2) from the objective state ``state``: the
    sum of the marginal gains of adding them one at a time, float64 (B,)."""
    total = torch.zeros(cells.shape[0], dtype=torch.float64, device=cells.device)
    for step in range(cells.shape[1]):
        state, gain = objective.gain(state, cells[:, step])
        total = total + gain
    return total


def gaussian_bumps(shape: tuple[int, int], centers: torch.Tensor, widths: torch.Tensor,
                   heights: torch.Tensor) -> torch.Tensor:
    """Sum of isotropic Gaussian bumps on the grid: centers (B, k, 2) in cells, widths and
    heights (B, k); returns (B, H, W)."""
    rows = torch.arange(shape[0], dtype=centers.dtype, device=centers.device)
    columns = torch.arange(shape[1], dtype=centers.dtype, device=centers.device)
    squared = ((rows[None, None, :, None] - centers[..., 0, None, None]) ** 2
               + (columns[None, None, None, :] - centers[..., 1, None, None]) ** 2)
    bumps = heights[..., None, None] * torch.exp(-squared / (2.0 * widths[..., None, None] ** 2))
    return bumps.sum(dim=1)


def random_fourier_field(shape: tuple[int, int], frequencies: torch.Tensor,
                         phases: torch.Tensor, amplitudes: torch.Tensor) -> torch.Tensor:
    """A smooth random field (approximate GP sample): sum_k a_k cos(w_k . x + phi_k),
    normalised by sqrt(k / 2). frequencies (B, k, 2) (radians per cell), phases and
    amplitudes (B, k); returns (B, H, W)."""
    rows = torch.arange(shape[0], dtype=frequencies.dtype, device=frequencies.device)
    columns = torch.arange(shape[1], dtype=frequencies.dtype, device=frequencies.device)
    angle = (frequencies[..., 0, None, None] * rows[None, None, :, None]
             + frequencies[..., 1, None, None] * columns[None, None, None, :]
             + phases[..., None, None])
    field = (amplitudes[..., None, None] * torch.cos(angle)).sum(dim=1)
    return field / math.sqrt(frequencies.shape[1] / 2.0)
