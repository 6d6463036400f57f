"""Counter-based random numbers: every draw is a pure function of integer keys.

Instances must be reproducible from ``(split, episode_seed, instance_index)`` alone,
in any batch layout and on any device, so the library never uses a stateful
generator inside an env. Instead each value is ``hash(keys..., counter)``, computed
with 32-bit integer mixing on int64 tensors (every intermediate product stays below
2**48, so no signed overflow happens on CPU or CUDA and results are bit-identical
across devices and batch sizes).
"""

from __future__ import annotations

import math

import torch

_MASK32 = 0xFFFFFFFF
_MASK16 = 0xFFFF


def _multiply_mod_2_32(values: torch.Tensor, constant: int) -> torch.Tensor:
    """(values * constant) mod 2**32 for values in [0, 2**32), without int64 overflow."""
    low = values * (constant & _MASK16)
    high = ((values * (constant >> 16)) & _MASK16) << 16
    return (low + high) & _MASK32


def mix32(values: torch.Tensor) -> torch.Tensor:
    """Bijective 32-bit avalanche mix of int64 tensor entries taken mod 2**32.

    Args:
        values: int64 tensor of any shape.

    Returns:
        int64 tensor of the same shape with entries in [0, 2**32).
    """
    x = values & _MASK32
    x = x ^ (x >> 16)
    x = _multiply_mod_2_32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _multiply_mod_2_32(x, 0x846CA68B)
    x = x ^ (x >> 16)
    return x


def hash_keys(*keys: torch.Tensor | int) -> torch.Tensor:
    """Hash a sequence of integer keys (tensors broadcast together) to 32 bits.

    Each key contributes its low and high 32-bit halves, so seeds up to 2**63 are
    distinguished. Order matters: ``hash_keys(a, b) != hash_keys(b, a)`` in general.

    Returns:
        int64 tensor with the broadcast shape of the keys, entries in [0, 2**32).
    """
    if not keys:
        raise ValueError("hash_keys needs at least one key")
    tensors = [torch.as_tensor(k, dtype=torch.int64) for k in keys]
    device = next((t.device for t in tensors if t.dim() > 0), tensors[0].device)
    state = torch.full((), 0x9E3779B9, dtype=torch.int64, device=device)
    for key in tensors:
        key = key.to(device)
        state = mix32(state ^ mix32(key & _MASK32))
        state = mix32(state ^ mix32((key >> 32) & _MASK32) ^ 0x5BD1E995)
    return state


def uniform(keys: torch.Tensor, counter_shape: tuple[int, ...], stream: int,
            dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Uniform draws in the open interval (0, 1), a pure function of the keys.

    Args:
        keys: int64 tensor of shape (B,), one key per batch entry (already hashed
            from seed, split and instance index).
        counter_shape: shape of the draws per key, e.g. (n,) for n numbers.
        stream: integer separating independent uses of the same key.
        dtype: float dtype of the result.

    Returns:
        Tensor of shape (B, *counter_shape) with 53 random bits per entry for float64.
    """
    count = math.prod(counter_shape)
    counters = torch.arange(count, dtype=torch.int64, device=keys.device)
    base = hash_keys(keys.reshape(-1, 1), stream)
    high = mix32(base ^ mix32(2 * counters))          # (B, count)
    low = mix32(base ^ mix32(2 * counters + 1) ^ 0x2545F491)
    bits53 = (high >> 6) * (1 << 27) + (low >> 5)     # 26 + 27 bits
    values = (bits53.to(torch.float64) + 0.5) / float(1 << 53)
    return values.reshape(keys.shape[0], *counter_shape).to(dtype)


def standard_normal(keys: torch.Tensor, counter_shape: tuple[int, ...], stream: int,
                    dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Standard normal draws (Box-Muller on two independent uniform streams).

    Returns:
        Tensor of shape (B, *counter_shape).
    """
    u1 = uniform(keys, counter_shape, 2 * stream, torch.float64)
    u2 = uniform(keys, counter_shape, 2 * stream + 1, torch.float64)
    radius = torch.sqrt(-2.0 * torch.log(u1))
    return (radius * torch.cos(2.0 * math.pi * u2)).to(dtype)


def next_episode_seed(seeds: torch.Tensor) -> torch.Tensor:
    """Seed of the episode that follows an episode with the given seed.

    Used for resets without an explicit seed, identically by single and vector
    envs, so a vector env's env i keeps matching a single env across autoresets.

    Args:
        seeds: int64 tensor (B,) of non-negative seeds.

    Returns:
        int64 tensor (B,) of non-negative seeds below 2**63.
    """
    high = hash_keys(seeds, 0x51ED270B)
    low = hash_keys(seeds, 0x6A09E667)
    return ((high & 0x7FFFFFFF) << 32) | low


def choice_index(keys: torch.Tensor, count: int, stream: int) -> torch.Tensor:
    """(b,) int64 uniform draws from range(count), one per key (b,), counter-based."""
    return (uniform(keys, (1,), stream=stream)[:, 0] * count).long().clamp(max=count - 1)
