"""Counter-based random numbers: every draw is a pure function of integer keys.

Instances must be reproducible from ``(split, episode_seed, instance_index)`` alone,
in any batch layout and on any device, so the library never uses a stateful
generator inside an env. Instead each value is ``hash(keys..., counter)``, computed
with 32-bit integer mixing on int64 tensors (every intermediate product stays below
2**48, so no signed overflow happens on CPU or CUDA and results are bit-identical
across devices and batch sizes).

Two implementations, one set of bits
------------------------------------
The torch functions (``_mix32_torch``, ``_hash_keys_torch``, ``_uniform_torch``, ...)
are the reference: a chain of elementwise tensor ops, used for tensors on any device
other than the CPU. On small CPU tensors such a chain is bound by per-op latency (a
two-key ``hash_keys`` is some 40 ops), so for CPU tensors the public functions call
compiled numba kernels instead, each of which does one whole call in one loop:

* :func:`hash_keys`: all mixing rounds of all keys (broadcast together first);
* :func:`uniform`: the hash of (key, stream), the per-counter hashing and the
  conversion to floats in (0, 1), written straight into the result's dtype when that
  is float64 or float32;
* :func:`standard_normal`: both uniform streams in one call (the Box-Muller
  transform itself stays in torch, so that ``log``/``cos`` round exactly as before);
* :func:`choice_index`, :func:`next_episode_seed`, :func:`mix32`: the whole function.

The kernels do the reference's integer arithmetic on int64 words (the same split
multiplication mod 2**32) and the same IEEE float64 steps in the same order, so both
paths give bit-identical results; ``tests/core/test_random_compiled.py`` checks it.
Outputs have the reference's shapes, dtypes and devices (and are contiguous).

numba is imported on the first call that would use it, not when tunegym is imported;
the kernels are compiled then (or loaded from numba's on-disk cache). Without numba the
torch path is used. Setting the environment variable ``TUNEGYM_COMPILED=0`` (read when
this module is imported), or the module attribute ``COMPILED = False`` at run time,
forces the torch path everywhere.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np
import torch

from tunegym.core.compiled import ENABLED, numba_jit

_MASK32 = 0xFFFFFFFF
_MASK16 = 0xFFFF
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

# Constants of the hash (shared by the torch reference and the kernels).
_MIX_MULTIPLIER_1 = 0x7FEB352D
_MIX_MULTIPLIER_2 = 0x846CA68B
_HASH_SEED = 0x9E3779B9
_HIGH_HALF_SALT = 0x5BD1E995
_LOW_BITS_SALT = 0x2545F491
_NEXT_SEED_HIGH = 0x51ED270B
_NEXT_SEED_LOW = 0x6A09E667

#: Whether CPU tensors go through the compiled kernels (when numba is importable).
#: ``TUNEGYM_COMPILED=0`` in the environment makes it False at import
#: (:data:`tunegym.core.compiled.ENABLED`); tests and callers may also assign it.
COMPILED: bool = ENABLED


# --------------------------------------------------------------------------------------
# torch reference
# --------------------------------------------------------------------------------------
def _multiply_mod_2_32(values: torch.Tensor, constant: int) -> torch.Tensor:
    """(values * constant) mod 2**32 for values in [0, 2**32), without int64 overflow."""
    low = values * (constant & _MASK16)
    high = ((values * (constant >> 16)) & _MASK16) << 16
    return (low + high) & _MASK32


def _mix32_torch(values: torch.Tensor) -> torch.Tensor:
    """Reference :func:`mix32` in torch ops (any device)."""
    x = values & _MASK32
    x = x ^ (x >> 16)
    x = _multiply_mod_2_32(x, _MIX_MULTIPLIER_1)
    x = x ^ (x >> 15)
    x = _multiply_mod_2_32(x, _MIX_MULTIPLIER_2)
    x = x ^ (x >> 16)
    return x


def _key_tensors(keys: tuple) -> tuple[list[torch.Tensor], torch.device]:
    """The keys as int64 tensors and the device of the hash (that of the first key with
    at least one dimension, else of the first key)."""
    if not keys:
        raise ValueError("hash_keys needs at least one key")
    tensors = [torch.as_tensor(k, dtype=torch.int64) for k in keys]
    device = next((t.device for t in tensors if t.dim() > 0), tensors[0].device)
    return tensors, device


def _hash_tensors_torch(tensors: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    state = torch.full((), _HASH_SEED, dtype=torch.int64, device=device)
    for key in tensors:
        key = key.to(device)
        state = _mix32_torch(state ^ _mix32_torch(key & _MASK32))
        state = _mix32_torch(state ^ _mix32_torch((key >> 32) & _MASK32) ^ _HIGH_HALF_SALT)
    return state


def _hash_keys_torch(*keys: torch.Tensor | int) -> torch.Tensor:
    """Reference :func:`hash_keys` in torch ops (any device)."""
    return _hash_tensors_torch(*_key_tensors(keys))


def _uniform_torch(keys: torch.Tensor, counter_shape: tuple[int, ...], stream: int,
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Reference :func:`uniform` in torch ops (any device)."""
    count = math.prod(counter_shape)
    counters = torch.arange(count, dtype=torch.int64, device=keys.device)
    base = _hash_keys_torch(keys.reshape(-1, 1), stream)
    high = _mix32_torch(base ^ _mix32_torch(2 * counters))          # (B, count)
    low = _mix32_torch(base ^ _mix32_torch(2 * counters + 1) ^ _LOW_BITS_SALT)
    bits53 = (high >> 6) * (1 << 27) + (low >> 5)     # 26 + 27 bits
    values = (bits53.to(torch.float64) + 0.5) / float(1 << 53)
    return values.reshape(keys.shape[0], *counter_shape).to(dtype)


def _box_muller(u1: torch.Tensor, u2: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Standard normals from two float64 uniform tensors of one shape (torch ops on
    both paths, so the transcendental functions round identically)."""
    radius = torch.sqrt(-2.0 * torch.log(u1))
    return (radius * torch.cos(2.0 * math.pi * u2)).to(dtype)


def _standard_normal_torch(keys: torch.Tensor, counter_shape: tuple[int, ...], stream: int,
                           dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Reference :func:`standard_normal` in torch ops (any device)."""
    u1 = _uniform_torch(keys, counter_shape, 2 * stream, torch.float64)
    u2 = _uniform_torch(keys, counter_shape, 2 * stream + 1, torch.float64)
    return _box_muller(u1, u2, dtype)


def _next_episode_seed_torch(seeds: torch.Tensor) -> torch.Tensor:
    """Reference :func:`next_episode_seed` in torch ops (any device)."""
    high = _hash_keys_torch(seeds, _NEXT_SEED_HIGH)
    low = _hash_keys_torch(seeds, _NEXT_SEED_LOW)
    return ((high & 0x7FFFFFFF) << 32) | low


def _choice_index_torch(keys: torch.Tensor, count: int, stream: int) -> torch.Tensor:
    """Reference :func:`choice_index` in torch ops (any device)."""
    return (_uniform_torch(keys, (1,), stream=stream)[:, 0] * count).long().clamp(
        max=count - 1)


# --------------------------------------------------------------------------------------
# compiled kernels (numba, CPU). Plain Python here; _compiled_kernels() jits them.
# All arithmetic is on int64 words with products below 2**48, as in the reference.
# --------------------------------------------------------------------------------------
def _mix_word(x):
    """mix32 of one int64 word (entry in [0, 2**32))."""
    x = x & 0xFFFFFFFF
    x = x ^ (x >> 16)
    x = (x * (_MIX_MULTIPLIER_1 & 0xFFFF)
         + (((x * (_MIX_MULTIPLIER_1 >> 16)) & 0xFFFF) << 16)) & 0xFFFFFFFF
    x = x ^ (x >> 15)
    x = (x * (_MIX_MULTIPLIER_2 & 0xFFFF)
         + (((x * (_MIX_MULTIPLIER_2 >> 16)) & 0xFFFF) << 16)) & 0xFFFFFFFF
    return x ^ (x >> 16)


def _absorb(state, key):
    """The hash state after one more int64 key (its low, then its high 32 bits)."""
    state = _mix_word(state ^ _mix_word(key & 0xFFFFFFFF))
    return _mix_word(state ^ _mix_word((key >> 32) & 0xFFFFFFFF) ^ _HIGH_HALF_SALT)


def _unit_interval(base, counter_high_mix, counter_low_mix):
    """The float64 in (0, 1) of one counter: 26 high + 27 low bits, centred in its cell."""
    high = _mix_word(base ^ counter_high_mix)
    low = _mix_word(base ^ counter_low_mix)
    bits53 = (high >> 6) * (1 << 27) + (low >> 5)
    return (bits53 + 0.5) / 9007199254740992.0          # 2**53


def _mix_kernel(values, out):
    """out[n] = mix32(values[n]); values, out int64 (N,)."""
    for n in range(values.shape[0]):
        out[n] = _mix_word(values[n])


def _hash_kernel(keys, out):
    """out[n] = hash_keys(keys[0, n], ..., keys[K - 1, n]); keys int64 (K, N), out (N,).

    Key after key over the whole batch, so that the inner loop vectorises.
    """
    for n in range(out.shape[0]):
        out[n] = _HASH_SEED
    for k in range(keys.shape[0]):
        for n in range(out.shape[0]):
            out[n] = _absorb(out[n], keys[k, n])


def _fill_uniform(keys, streams, out):
    """out[n, c] = uniform draw of counter c of key keys[n] in stream streams[n]; keys,
    streams int64 (N,), out float64 or float32 (N, C) (the float64 value rounded on the
    store)."""
    count = out.shape[1]
    high_mix = np.empty(count, dtype=np.int64)
    low_mix = np.empty(count, dtype=np.int64)
    for c in range(count):
        high_mix[c] = _mix_word(2 * c)
        low_mix[c] = _mix_word(2 * c + 1) ^ _LOW_BITS_SALT
    base = np.empty(keys.shape[0], dtype=np.int64)
    for n in range(keys.shape[0]):
        base[n] = _absorb(_absorb(_HASH_SEED, keys[n]), streams[n])
    for n in range(keys.shape[0]):
        key_base = base[n]
        for c in range(count):
            out[n, c] = _unit_interval(key_base, high_mix[c], low_mix[c])


def _uniform_pair_kernel(keys, first_streams, second_streams, first, second):
    """The uniforms of two streams (per key) of the same keys, into ``first`` and
    ``second``."""
    _fill_uniform(keys, first_streams, first)
    _fill_uniform(keys, second_streams, second)


def _choice_kernel(keys, stream, count, out):
    """out[n] = min(int(u_n * count), count - 1), u_n the first uniform of keys[n] in
    ``stream``; keys, out int64 (N,)."""
    high_mix = _mix_word(0)
    low_mix = _mix_word(1) ^ _LOW_BITS_SALT
    scale = np.float64(count)
    for n in range(keys.shape[0]):
        base = _absorb(_absorb(_HASH_SEED, keys[n]), stream)
        index = np.int64(_unit_interval(base, high_mix, low_mix) * scale)
        out[n] = min(index, count - 1)


def _next_seed_kernel(seeds, out):
    """out[n] = next_episode_seed(seeds[n]); seeds, out int64 (N,)."""
    for n in range(seeds.shape[0]):
        state = _absorb(_HASH_SEED, seeds[n])
        high = _absorb(state, _NEXT_SEED_HIGH)
        low = _absorb(state, _NEXT_SEED_LOW)
        out[n] = ((high & 0x7FFFFFFF) << 32) | low


@functools.lru_cache(maxsize=1)
def _compiled_kernels() -> SimpleNamespace | None:
    """The jitted kernels, or None when numba is not importable.

    numba is imported here, on the first call. The helpers ``_mix_word``, ``_absorb``,
    ``_unit_interval`` and ``_fill_uniform`` (also the uniform kernel) are rebound to
    their jitted versions, so that the kernels, which call them by these global names,
    compile in nopython mode. Each kernel compiles, or loads from numba's on-disk cache,
    on its first call with given argument types (one per output dtype).
    """
    jit = numba_jit()
    if jit is None:
        return None
    module = globals()
    for name in ("_mix_word", "_absorb", "_unit_interval", "_fill_uniform"):
        if not hasattr(module[name], "py_func"):          # not jitted yet
            module[name] = jit(module[name])
    return SimpleNamespace(
        mix=jit(_mix_kernel), hash=jit(_hash_kernel), uniform=module["_fill_uniform"],
        uniform_pair=jit(_uniform_pair_kernel), choice=jit(_choice_kernel),
        next_seed=jit(_next_seed_kernel))


def compiled_available() -> bool:
    """Whether the compiled kernels can be used (numba importable); ignores
    :data:`COMPILED`. Imports numba, compiles nothing."""
    return _compiled_kernels() is not None


def _kernels() -> SimpleNamespace | None:
    """The kernels when the compiled path is switched on and numba is there, else None."""
    return _compiled_kernels() if COMPILED else None


def _scalar_int64(value) -> int | None:
    """``value`` as a Python int when it is one int64 key (an int, a numpy integer or a
    0-d tensor), else None (the caller then takes the torch path)."""
    if isinstance(value, (int, np.integer)):
        value = int(value)
        return value if _INT64_MIN <= value <= _INT64_MAX else None
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        return int(torch.as_tensor(value, dtype=torch.int64))
    return None


def _flat_int64(tensor: torch.Tensor) -> np.ndarray:
    """A CPU tensor as a contiguous flat int64 numpy array (a view where possible)."""
    return tensor.reshape(-1).to(torch.int64).contiguous().numpy()


# --------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------
def mix32(values: torch.Tensor) -> torch.Tensor:
    """Bijective 32-bit avalanche mix of int64 tensor entries taken mod 2**32.

    Args:
        values: int64 tensor of any shape.

    Returns:
        int64 tensor of the same shape (and device) with entries in [0, 2**32).
    """
    on_cpu = (isinstance(values, torch.Tensor) and values.dtype == torch.int64
              and values.device.type == "cpu")
    kernels = _kernels() if on_cpu else None
    if kernels is None:
        return _mix32_torch(values)
    out = torch.empty(values.shape, dtype=torch.int64, device="cpu")
    kernels.mix(_flat_int64(values), out.numpy().reshape(-1))
    return out


def hash_keys(*keys: torch.Tensor | int) -> torch.Tensor:
    """Hash a sequence of integer keys (tensors broadcast together) to 32 bits.

    Each key contributes its low and high 32-bit halves, so seeds up to 2**63 are
    distinguished. Order matters: ``hash_keys(a, b) != hash_keys(b, a)`` in general.

    Args:
        *keys: Python ints or integer tensors (converted to int64) of broadcastable
            shapes; at least one.

    Returns:
        int64 tensor with the broadcast shape of the keys, entries in [0, 2**32), on the
        device of the first key with at least one dimension (else of the first key).
    """
    tensors, device = _key_tensors(keys)
    kernels = _kernels() if device.type == "cpu" else None
    if kernels is None:
        return _hash_tensors_torch(tensors, device)
    tensors = [key.to(device) for key in tensors]
    shape = tensors[0].shape
    if any(key.shape != shape for key in tensors):
        tensors = torch.broadcast_tensors(*tensors)
        shape = tensors[0].shape
    stacked = torch.stack(tensors).reshape(len(tensors), math.prod(shape))
    out = torch.empty(shape, dtype=torch.int64, device="cpu")
    kernels.hash(stacked.numpy(), out.numpy().reshape(-1))
    return out


def _stream_array(stream, batch: int) -> np.ndarray | None:
    """The stream of each of ``batch`` keys as a contiguous int64 array: ``stream`` an
    int (the same for all) or an int64 tensor (B,); None where the compiled kernels
    cannot take it (the caller then takes the torch path)."""
    value = _scalar_int64(stream)
    if value is not None:
        return np.full(batch, value, dtype=np.int64)
    if (isinstance(stream, torch.Tensor) and stream.device.type == "cpu"
            and tuple(stream.shape) == (batch,)):
        return _flat_int64(stream)
    return None


def _stream_key(stream):
    """``stream`` as a key of the torch hash of (B, 1)-shaped keys: a per-key tensor
    (B,) becomes (B, 1), an int stays an int."""
    return stream.reshape(-1, 1) if isinstance(stream, torch.Tensor) else stream


def uniform(keys: torch.Tensor, counter_shape: tuple[int, ...], stream: int | torch.Tensor,
            dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Uniform draws in the open interval (0, 1), a pure function of the keys.

    Args:
        keys: int64 tensor of shape (B,), one key per batch entry (already hashed
            from seed, split and instance index).
        counter_shape: shape of the draws per key, e.g. (n,) for n numbers.
        stream: integer separating independent uses of the same key, or an int64 tensor
            (B,) of one stream per key (row b then equals the draw of key b alone in
            stream ``stream[b]``).
        dtype: float dtype of the result.

    Returns:
        Tensor of shape (B, *counter_shape) on ``keys.device`` with 53 random bits per
        entry for float64 (the float64 draw rounded to ``dtype`` otherwise).
    """
    kernels = _kernels() if keys.device.type == "cpu" else None
    count = math.prod(counter_shape)
    streams = _stream_array(stream, keys.shape[0]) if kernels is not None else None
    if streams is None or not isinstance(count, (int, np.integer)):
        return _uniform_torch(keys, counter_shape, _stream_key(stream), dtype)
    flat = _flat_int64(keys)
    direct = dtype in (torch.float64, torch.float32)
    values = torch.empty((flat.shape[0], count), dtype=dtype if direct else torch.float64,
                         device="cpu")
    kernels.uniform(flat, streams, values.numpy())
    return values.reshape(keys.shape[0], *counter_shape).to(dtype)


def standard_normal(keys: torch.Tensor, counter_shape: tuple[int, ...],
                    stream: int | torch.Tensor,
                    dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Standard normal draws (Box-Muller on two independent uniform streams).

    Args:
        keys: int64 tensor (B,) of keys.
        counter_shape: shape of the draws per key.
        stream: integer, or an int64 tensor (B,) of one stream per key; the uniform
            streams ``2 * stream`` and ``2 * stream + 1`` are used.
        dtype: float dtype of the result (computed in float64, then rounded).

    Returns:
        Tensor of shape (B, *counter_shape) on ``keys.device``.
    """
    kernels = _kernels() if keys.device.type == "cpu" else None
    count = math.prod(counter_shape)
    first = second = None
    if kernels is not None:
        first = _stream_array(2 * stream, keys.shape[0])
        second = _stream_array(2 * stream + 1, keys.shape[0])
    if first is None or second is None or not isinstance(count, (int, np.integer)):
        return _standard_normal_torch(keys, counter_shape, _stream_key(stream), dtype)
    flat = _flat_int64(keys)
    u1 = torch.empty((flat.shape[0], count), dtype=torch.float64, device="cpu")
    u2 = torch.empty((flat.shape[0], count), dtype=torch.float64, device="cpu")
    kernels.uniform_pair(flat, first, second, u1.numpy(), u2.numpy())
    shape = (keys.shape[0], *counter_shape)
    return _box_muller(u1.reshape(shape), u2.reshape(shape), dtype)


def next_episode_seed(seeds: torch.Tensor) -> torch.Tensor:
    """Seed of the episode that follows an episode with the given seed.

    Used for resets without an explicit seed, identically by single and vector
    envs, so a vector env's env i keeps matching a single env across autoresets.

    Args:
        seeds: int64 tensor (B,) of non-negative seeds.

    Returns:
        int64 tensor (B,) of non-negative seeds below 2**63.
    """
    tensor = torch.as_tensor(seeds, dtype=torch.int64)
    kernels = _kernels() if tensor.device.type == "cpu" else None
    if kernels is None:
        return _next_episode_seed_torch(seeds)
    out = torch.empty(tensor.shape, dtype=torch.int64, device="cpu")
    kernels.next_seed(_flat_int64(tensor), out.numpy().reshape(-1))
    return out


def choice_index(keys: torch.Tensor, count: int, stream: int) -> torch.Tensor:
    """(b,) int64 uniform draws from range(count), one per key (b,), counter-based."""
    kernels = _kernels() if keys.device.type == "cpu" else None
    stream_value = _scalar_int64(stream)
    if (kernels is None or stream_value is None or keys.dim() != 1
            or type(count) is not int or abs(count) > 1 << 53):
        return (uniform(keys, (1,), stream=stream)[:, 0] * count).long().clamp(
            max=count - 1)
    out = torch.empty(keys.shape, dtype=torch.int64, device="cpu")
    kernels.choice(_flat_int64(keys), stream_value, count, out.numpy())
    return out
