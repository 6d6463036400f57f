"""Batched analytical cost model of a spatial DNN accelerator (Timeloop / MAESTRO style).

B accelerator designs are costed on the L layers of a workload at once: every cost is a
(B, L) tensor, with no loop over designs or layers. No external tool is called.

Architecture (one :class:`Accelerator` row per design)
------------------------------------------------------
A ``pe_rows x pe_cols`` array of processing elements (PEs), each with one MAC unit and
three scratchpads (weights, inputs, partial sums), fed by a shared global buffer (GLB)
over a network-on-chip (NoC) of ``noc_words_per_cycle`` words per cycle; the GLB is filled
from DRAM at ``dram_bytes_per_cycle``. Words are 16 bits (:data:`BYTES_PER_WORD`).

Layers (:class:`LayerTable`, from :mod:`tunegym.simulators.workloads`): per group,
K output channels, C input channels, P x Q outputs, R x S taps, a stride; the input
spans H x W = ((P - 1) stride + R) x ((Q - 1) stride + S) words per channel (padding is
counted as data). Per group the operands hold W = KCRS weights, I = CHW inputs and
O = KPQ outputs. Groups run one after another; all counts below are per group and are
multiplied by ``groups x count`` in the totals.

Mapping
-------
*Spatial, by dataflow* (``ceil`` = ceiling division; Y = pe_rows, X = pe_cols):

| dataflow | rows x columns hold | compute cycles | stationary |
| --- | --- | --- | --- |
| weight_stationary | C x K | ceil(C/Y) ceil(K/X) PQRS | R x S filter planes |
| output_stationary | K x (P Q pixels) | ceil(K/Y) ceil(PQ/X) CRS | outputs |
| row_stationary (Eyeriss) | R (x K sets) x P | ceil(R/Y) ceil(K/sets) ceil(P/X) CQS | S-tap filter rows |

with sets = floor(Y / min(R, Y)) filters side by side in the rows (Eyeriss's
replication). The ceilings are the edge effects: a dimension not divisible by the mesh
leaves PEs idle in its last fold.

*Per PE*: a PE keeps ``m`` stationary tiles, the most its scratchpads hold (a filter plane
or row needs RS or S words of the weight scratchpad, each tile one partial sum), capped
by the folds there are to merge; ``m`` divides the refetches of the streamed operand.
Every MAC makes 4 scratchpad accesses (weight and input reads, partial-sum read and
write). Words read from the GLB over the NoC (multicast: one read serves every PE that
needs the word):

| dataflow | weights | inputs | partial-sum passes |
| --- | --- | --- | --- |
| weight_stationary | W | I ceil(ceil(K/X) / m) | ceil(C/Y) |
| output_stationary | W ceil(F / m) | I ceil(K/Y) | 1 |
| row_stationary | W ceil(P/X) | I ceil(R/Y) ceil(ceil(K/sets)/m) | ceil(R/Y) |

with F = ceil(PQ/X). Outputs cross the NoC O (2 passes - 1) times (each pass writes the
partial sums, each later pass reads them back first); partial sums reduced inside the
array hop between neighbouring PEs O (C - ceil(C/Y)) times (weight stationary) or
O (R - ceil(R/Y)) times (row stationary), on local links outside the NoC bandwidth.
Validity: the input scratchpad holds a sliding window of S words; the weight scratchpad
one stationary tile (RS words for weight stationary, S for row stationary).

*GLB tiling*: the GLB holds one tile of each operand: Kt x Ct filters, the Ct x Ht x W
inputs of Pt output rows (Ht = (Pt - 1) stride + R) and the Kt x Pt x Q outputs. The
DRAM-level loops run over the nk = ceil(K/Kt), np = ceil(P/Pt), nc = ceil(C/Ct) tiles,
input channels innermost (partial sums never leave the chip), in one of two orders:
weights outer (K tiles, P tiles, C tiles) or rows outer (P, K, C). A tile is re-read
from DRAM whenever an inner loop it does not depend on moves on, which gives DRAM
traffic (words):

* weights outer: weights W x (1 if nc = 1 else np), inputs I' x (1 if np = nc = 1 else nk);
* rows outer: inputs I' x (1 if nc = 1 else nk), weights W x (1 if nk = nc = 1 else np);
* outputs O (written once),

with I' = C W ((P - np) stride + np R) the input rows the np row tiles read (halos
overlap). The mapper enumerates power-of-two tile counts nk, np, nc (tile sizes are the
ceilings) and both orders, and picks per design and layer the option with the least
DRAM traffic that fits in the GLB (ties: the smaller footprint). The options depend on
the layer only, so :class:`LayerTable` keeps their Pareto front (footprint up, traffic
down) and a design's choice is one ``searchsorted`` of its GLB capacity. A bigger GLB
therefore never raises DRAM traffic.

Costs
-----
GLB accesses = NoC reads and writes + DRAM fills + the outputs drained to DRAM.
Energy = accesses x per-access energy (:meth:`Accelerator.energy_per_access_pj`).
Cycles per layer = max(compute, NoC words / NoC bandwidth, DRAM bytes / DRAM
bandwidth): perfect overlap (double buffering), each layer bound by its bottleneck;
latency = cycles / CLOCK_HZ. Area: :meth:`Accelerator.area_mm2`.

Constants and sources
---------------------
* Energy per 16-bit access, relative to one MAC: DRAM 200x, global buffer (100-500 kB)
  6x, NoC (inter-PE array) 2x, scratchpad (0.5 kB register file) 1x: the normalised
  table of Eyeriss (Chen, Emer, Sze, ISCA 2016, 65 nm), the kind of table ArchGym's
  Timeloop/Accelergy setups use. The MAC itself is a nominal 1 pJ, the order of
  Horowitz (ISSCC 2014, 45 nm): 16-bit floating-point multiply 1.1 pJ, add 0.4 pJ.
  Memories cost more per access the bigger they are: an assumption of this model, in
  the spirit of CACTI-based estimators (Accelergy), is that the access energy grows as
  the square root of the capacity (word- and bit-line length), anchored at 1x for a
  512-byte scratchpad and 6x for Eyeriss's 108 KiB global buffer.
* Clock 200 MHz: Eyeriss's core clock in its AlexNet measurements (Chen et al., JSSC 2017).
* Area (nominal 65 nm-class figures, calibrated so that the Eyeriss-like design of 168
  PEs, 520 B of scratchpad per PE, a 108 KiB GLB, 16 words/cycle of NoC and 8 bytes/cycle
  of DRAM comes to 12.0 mm^2, against Eyeriss's 12.25 mm^2 core): PE logic (MAC,
  control, router) 0.04 mm^2; scratchpad (register file, ~4 um^2/bit) 3.2e-5 mm^2 per
  byte; GLB SRAM (~1 um^2/bit with periphery) 8e-6 mm^2 per byte; NoC 0.05 mm^2 per
  word/cycle of bandwidth; DRAM interface 0.1 mm^2 per byte/cycle.

Simplifications: batch 1; no compression or sparsity; padding counted as data; only
powers of two for the GLB tile counts; Q, R and S never tiled at the GLB; inputs reach
every PE that needs them by multicast, so an input word is read from the GLB once per
fold whatever its convolutional reuse; the input scratchpad size only decides validity;
scratchpad fills, leakage and control are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch

from tunegym.simulators.workloads import Layer

DATAFLOWS = ("weight_stationary", "output_stationary", "row_stationary")
BYTES_PER_WORD = 2
CLOCK_HZ = 200e6
#: Levels of the energy breakdown, in the order of the last axis of ``accesses``.
ENERGY_LEVELS = ("mac", "weight_spad", "input_spad", "psum_spad", "noc", "global_buffer",
                 "dram")
#: Per-access energies in pJ (per MAC for the MAC unit); see the module docstring.
MAC_ENERGY_PJ = 1.0
NOC_ENERGY_PJ = 2.0
DRAM_ENERGY_PJ = 200.0
SCRATCHPAD_ENERGY_PJ, SCRATCHPAD_REFERENCE_BYTES = 1.0, 512
GLOBAL_BUFFER_ENERGY_PJ, GLOBAL_BUFFER_REFERENCE_BYTES = 6.0, 108 * 1024
PE_AREA_MM2 = 0.04
SCRATCHPAD_AREA_MM2_PER_BYTE = 3.2e-5
GLOBAL_BUFFER_AREA_MM2_PER_BYTE = 8e-6
NOC_AREA_MM2_PER_WORD_PER_CYCLE = 0.05
DRAM_INTERFACE_AREA_MM2_PER_BYTE_PER_CYCLE = 0.1
#: Invalid-design codes (0 = valid), in the order they are checked.
INVALID_REASONS = ("valid", "weight scratchpad too small for one tile",
                   "input scratchpad too small for one tile",
                   "global buffer too small for one tile")
_INTEGER_FIELDS = ("pe_rows", "pe_cols", "weight_spad_bytes", "input_spad_bytes",
                   "psum_spad_bytes", "global_buffer_bytes", "dataflow")


def ceil_div(numerator: torch.Tensor, denominator: torch.Tensor | int) -> torch.Tensor:
    """Ceiling of numerator / denominator for positive int64 tensors (exact)."""
    return (numerator + denominator - 1) // denominator


@dataclass(frozen=True)
class Accelerator:
    """B accelerator designs: every field is a (B,) tensor on one device.

    Attributes:
        pe_rows, pe_cols: int64, the PE mesh.
        weight_spad_bytes, input_spad_bytes, psum_spad_bytes: int64, per-PE scratchpads.
        global_buffer_bytes: int64.
        noc_words_per_cycle: float64, GLB <-> PE array bandwidth.
        dram_bytes_per_cycle: float64, DRAM <-> GLB bandwidth.
        dataflow: int64 index into DATAFLOWS.
    """

    pe_rows: torch.Tensor
    pe_cols: torch.Tensor
    weight_spad_bytes: torch.Tensor
    input_spad_bytes: torch.Tensor
    psum_spad_bytes: torch.Tensor
    global_buffer_bytes: torch.Tensor
    noc_words_per_cycle: torch.Tensor
    dram_bytes_per_cycle: torch.Tensor
    dataflow: torch.Tensor

    @classmethod
    def build(cls, device: str | torch.device = "cpu", **values) -> Accelerator:
        """Designs from numbers, sequences or tensors per field (broadcast to one batch
        size B); ``dataflow`` may be given by name. Raises ValueError for a missing or
        unknown field, a non-positive value or an unknown dataflow."""
        names = [field.name for field in fields(cls)]
        if set(values) != set(names):
            raise ValueError(f"Accelerator needs exactly the fields {names}; missing "
                             f"{sorted(set(names) - set(values))}, unknown "
                             f"{sorted(set(values) - set(names))}")
        dataflow = [values["dataflow"]] if isinstance(values["dataflow"], str) \
            else values["dataflow"]
        if isinstance(dataflow, (list, tuple)):
            unknown = [name for name in dataflow if isinstance(name, str) and name not in DATAFLOWS]
            if unknown:
                raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {unknown[0]!r}")
            values["dataflow"] = [DATAFLOWS.index(name) if isinstance(name, str) else name
                                  for name in dataflow]
        tensors = {name: torch.as_tensor(values[name], device=device,
                                         dtype=torch.int64 if name in _INTEGER_FIELDS
                                         else torch.float64).reshape(-1) for name in names}
        tensors = dict(zip(names, torch.broadcast_tensors(*tensors.values())))
        for name, tensor in tensors.items():
            if not bool((tensor > 0).all()) and name != "dataflow":
                raise ValueError(f"{name} must be positive, got {tensor.tolist()}")
        if bool(((tensors["dataflow"] < 0) | (tensors["dataflow"] >= len(DATAFLOWS))).any()):
            raise ValueError(f"dataflow indices must lie in [0, {len(DATAFLOWS)})")
        return cls(**{name: tensor.contiguous() for name, tensor in tensors.items()})

    def select(self, rows: torch.Tensor) -> Accelerator:
        """The designs picked by ``rows`` (a bool mask or indices into B)."""
        return Accelerator(**{field.name: getattr(self, field.name)[rows]
                              for field in fields(self)})

    def energy_per_access_pj(self) -> torch.Tensor:
        """(B, 7) float64 pJ per access at each level of ENERGY_LEVELS (per MAC for the
        MAC unit); scratchpads and global buffer scale as sqrt(capacity)."""
        def scaled(energy, capacity_bytes, reference_bytes):
            return energy * torch.sqrt(capacity_bytes.to(torch.float64) / reference_bytes)

        constant = torch.ones_like(self.noc_words_per_cycle)
        return torch.stack([
            MAC_ENERGY_PJ * constant,
            *(scaled(SCRATCHPAD_ENERGY_PJ, capacity, SCRATCHPAD_REFERENCE_BYTES)
              for capacity in (self.weight_spad_bytes, self.input_spad_bytes,
                               self.psum_spad_bytes)),
            NOC_ENERGY_PJ * constant,
            scaled(GLOBAL_BUFFER_ENERGY_PJ, self.global_buffer_bytes,
                   GLOBAL_BUFFER_REFERENCE_BYTES),
            DRAM_ENERGY_PJ * constant], dim=1)

    def area_mm2(self) -> torch.Tensor:
        """Chip area (B,) in mm^2 (constants in the module docstring)."""
        scratchpad_bytes = (self.weight_spad_bytes + self.input_spad_bytes
                            + self.psum_spad_bytes).to(torch.float64)
        pe_count = (self.pe_rows * self.pe_cols).to(torch.float64)
        return (pe_count * (PE_AREA_MM2 + scratchpad_bytes * SCRATCHPAD_AREA_MM2_PER_BYTE)
                + self.global_buffer_bytes.to(torch.float64) * GLOBAL_BUFFER_AREA_MM2_PER_BYTE
                + self.noc_words_per_cycle * NOC_AREA_MM2_PER_WORD_PER_CYCLE
                + self.dram_bytes_per_cycle * DRAM_INTERFACE_AREA_MM2_PER_BYTE_PER_CYCLE)


class LayerTable:
    """The L layers of a workload as (L,) int64 tensors (per group; see
    :class:`tunegym.simulators.workloads.Layer`), with the Pareto front of their GLB
    tiling options.

    Attributes:
        names: the layer names.
        out_channels, in_channels, out_height, out_width, kernel_height, kernel_width,
        stride, groups, count: K, C, P, Q, R, S, stride, groups, count, each (L,).
        input_height, input_width: H, W (L,).
        weight_words, input_words, output_words: W, I, O per group (L,).
        macs_per_group: (L,); ``macs`` = macs_per_group x groups x count.
        front_footprint_words: (L, F) GLB words of the Pareto options, ascending, padded
            with the int64 maximum.
        front_weight_words, front_input_words: (L, F) DRAM traffic per group of those
            options, descending.
        front_tiles: (L, F, 3) tile counts (nk, np, nc); front_weights_outer: (L, F) bool
            loop order.
    """

    def __init__(self, layers: Sequence[Layer], device: str | torch.device = "cpu") -> None:
        if not layers:
            raise ValueError("a layer table needs at least one layer")
        self.names = tuple(layer.name for layer in layers)
        columns = torch.tensor([[*layer.shape, layer.count] for layer in layers],
                               dtype=torch.int64)
        (self.out_channels, self.in_channels, self.out_height, self.out_width,
         self.kernel_height, self.kernel_width, self.stride, self.groups,
         self.count) = columns.T.contiguous()
        k, c, p, q, r, s = (self.out_channels, self.in_channels, self.out_height,
                            self.out_width, self.kernel_height, self.kernel_width)
        self.input_height = (p - 1) * self.stride + r
        self.input_width = (q - 1) * self.stride + s
        self.weight_words = k * c * r * s
        self.input_words = c * self.input_height * self.input_width
        self.output_words = k * p * q
        self.macs_per_group = k * c * p * q * r * s
        self.macs = self.macs_per_group * self.groups * self.count
        self._tiling_front()
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))

    def __len__(self) -> int:
        return len(self.names)

    def _tiling_front(self) -> None:
        """Enumerate the GLB tiling options and keep their Pareto front (once per table)."""
        def tiles(dimension):
            """(tile size, tile count), each (L, E), for power-of-two requested counts."""
            requested = 2 ** torch.arange(int(dimension.max() - 1).bit_length() + 1)
            size = ceil_div(dimension[:, None], requested[None, :])
            return size, ceil_div(dimension[:, None], size)

        (k_tile, nk), (p_tile, np_), (c_tile, nc) = (
            tiles(self.out_channels), tiles(self.out_height), tiles(self.in_channels))
        nk, k_tile = nk[:, :, None, None], k_tile[:, :, None, None]        # (L, Ek, 1, 1)
        np_, p_tile = np_[:, None, :, None], p_tile[:, None, :, None]      # (L, 1, Ep, 1)
        nc, c_tile = nc[:, None, None, :], c_tile[:, None, None, :]        # (L, 1, 1, Ec)
        r, s, q, stride, width = (value[:, None, None, None] for value in (
            self.kernel_height, self.kernel_width, self.out_width, self.stride,
            self.input_width))
        footprint = (k_tile * c_tile * r * s + c_tile * ((p_tile - 1) * stride + r) * width
                     + k_tile * p_tile * q)
        input_rows = ((self.out_height[:, None, None, None] - np_) * stride + np_ * r)
        input_once = self.in_channels[:, None, None, None] * width * input_rows
        weights = self.weight_words[:, None, None, None]
        one_c, one_k, one_p = nc == 1, nk == 1, np_ == 1
        layers, grid = len(self.names), footprint.shape                    # (L, Ek, Ep, Ec)

        def options(weights_outer, rows_outer):
            """(L, T): the option grid of each loop order, weights outer first."""
            return torch.cat([value.expand(grid).reshape(layers, -1)
                              for value in (weights_outer, rows_outer)], dim=1)

        weight_traffic = options(weights * torch.where(one_c, 1, np_),
                                 weights * torch.where(one_k & one_c, 1, np_))
        input_traffic = options(input_once * torch.where(one_p & one_c, 1, nk),
                                input_once * torch.where(one_c, 1, nk))
        counts = torch.stack([options(count, count) for count in (nk, np_, nc)], dim=2)
        footprint = options(footprint, footprint)
        weights_outer = torch.arange(footprint.shape[1]) < footprint.shape[1] // 2
        traffic = weight_traffic + input_traffic
        # Sort by footprint, ties by traffic; keep the options that beat every smaller one.
        by_traffic = torch.argsort(traffic, dim=1, stable=True)
        by_footprint = torch.argsort(footprint.gather(1, by_traffic), dim=1, stable=True)
        order = by_traffic.gather(1, by_footprint)
        sorted_traffic = traffic.gather(1, order)
        best_before = torch.cat([torch.full((layers, 1), torch.iinfo(torch.int64).max),
                                 sorted_traffic.cummin(dim=1).values[:, :-1]], dim=1)
        on_front = sorted_traffic < best_before
        width_front = int(on_front.sum(dim=1).max())
        # Front options first (stable), then the padding columns.
        position = torch.argsort((~on_front).to(torch.int8), dim=1, stable=True)
        position = position[:, :width_front]
        chosen = order.gather(1, position)
        padding = ~on_front.gather(1, position)
        self.front_footprint_words = footprint.gather(1, chosen).masked_fill(
            padding, torch.iinfo(torch.int64).max)
        self.front_weight_words = weight_traffic.gather(1, chosen)
        self.front_input_words = input_traffic.gather(1, chosen)
        self.front_tiles = counts.gather(1, chosen[:, :, None].expand(-1, -1, 3))
        self.front_weights_outer = weights_outer[chosen]


@dataclass(frozen=True)
class LayerCosts:
    """Costs of B designs on L layers, totals over each layer's groups and count.

    Attributes:
        invalid_reason: (B, L) int64 code into INVALID_REASONS (0: valid); the other
            fields are finite but meaningless where it is not 0.
        compute_cycles, noc_cycles, dram_cycles: (B, L) float64, the three bounds.
        cycles: (B, L) float64, their maximum.
        utilisation: (B, L) float64, MACs / (compute cycles x PEs).
        accesses: (B, L, 7) float64 per level of ENERGY_LEVELS: MACs, weight, input and
            partial-sum scratchpad accesses, NoC word transfers (incl. in-array reduction
            hops), GLB accesses, DRAM words.
        energy_pj: (B, L, 7) float64, accesses x the design's per-access energies.
        dram_words: (B, L, 3) float64 DRAM traffic of weights, inputs, outputs.
        noc_words: (B, L, 3) float64 GLB <-> array traffic of weights, inputs, outputs.
        global_buffer_tiles: (B, L, 3) int64 DRAM-level tile counts (nk, np, nc).
        weights_outer: (B, L) bool, the DRAM-level loop order.
        stationary_per_pe: (B, L) int64, stationary tiles a PE keeps (m).
    """

    invalid_reason: torch.Tensor
    compute_cycles: torch.Tensor
    noc_cycles: torch.Tensor
    dram_cycles: torch.Tensor
    cycles: torch.Tensor
    utilisation: torch.Tensor
    accesses: torch.Tensor
    energy_pj: torch.Tensor
    dram_words: torch.Tensor
    noc_words: torch.Tensor
    global_buffer_tiles: torch.Tensor
    weights_outer: torch.Tensor
    stationary_per_pe: torch.Tensor

    def design_invalid_reason(self) -> torch.Tensor:
        """(B,) int64: the first code of INVALID_REASONS any layer hits, 0 if none."""
        none = len(INVALID_REASONS)
        first = torch.where(self.invalid_reason > 0, self.invalid_reason, none).amin(dim=1)
        return torch.where(first == none, 0, first)

    def design_energy_j(self) -> torch.Tensor:
        """(B,) float64 energy of the whole workload in joules."""
        return self.energy_pj.sum(dim=(1, 2)) * 1e-12

    def design_cycles(self) -> torch.Tensor:
        """(B,) float64 cycles of the whole workload (layers one after another)."""
        return self.cycles.sum(dim=1)


def evaluate(table: LayerTable, accelerator: Accelerator) -> LayerCosts:
    """Cost B designs on every layer of ``table``: one batched pass, (B, L) tensors.

    Never raises for an unrealisable design: its layers carry an invalid-reason code.
    """
    rows, cols = accelerator.pe_rows[:, None], accelerator.pe_cols[:, None]      # (B, 1)
    weight_capacity = (accelerator.weight_spad_bytes // BYTES_PER_WORD)[:, None]
    input_capacity = (accelerator.input_spad_bytes // BYTES_PER_WORD)[:, None]
    psum_capacity = (accelerator.psum_spad_bytes // BYTES_PER_WORD).clamp(min=1)[:, None]
    dataflow = accelerator.dataflow[:, None]
    k, c, p, q, r, s = (value[None, :] for value in (                            # (1, L)
        table.out_channels, table.in_channels, table.out_height, table.out_width,
        table.kernel_height, table.kernel_width))

    def pick(weight_stationary, output_stationary, row_stationary):
        return torch.where(dataflow == 0, weight_stationary,
                           torch.where(dataflow == 1, output_stationary, row_stationary))

    # Spatial folds per dataflow.
    ws_row_folds, ws_col_folds = ceil_div(c, rows), ceil_div(k, cols)
    os_row_folds, os_col_folds = ceil_div(k, rows), ceil_div(p * q, cols)
    r_passes = ceil_div(r, rows)
    filter_sets = rows // torch.minimum(r, rows)
    rs_k_folds, rs_col_folds = ceil_div(k, filter_sets), ceil_div(p, cols)
    compute_cycles = pick(ws_row_folds * ws_col_folds * p * q * r * s,
                          os_row_folds * os_col_folds * c * r * s,
                          r_passes * rs_k_folds * rs_col_folds * c * q * s)
    # Stationary tiles per PE: as many as the scratchpads hold, at most the folds to merge.
    stationary = pick(torch.minimum(weight_capacity // (r * s), psum_capacity),
                      psum_capacity,
                      torch.minimum(weight_capacity // s, psum_capacity)).clamp(min=1)
    stationary = torch.minimum(stationary, pick(ws_col_folds, os_col_folds, rs_k_folds))
    weight_refetch = pick(1, ceil_div(os_col_folds, stationary), rs_col_folds)
    input_refetch = pick(ceil_div(ws_col_folds, stationary), os_row_folds,
                         r_passes * ceil_div(rs_k_folds, stationary))
    psum_passes = pick(ws_row_folds, 1, r_passes)
    reduction_hops = pick(c - ws_row_folds, 0, r - r_passes)
    weight_fits = weight_capacity >= pick(r * s, 1, s)
    input_fits = input_capacity >= s

    # DRAM-level tiling: the least-traffic Pareto option that fits in the GLB.
    capacity = (accelerator.global_buffer_bytes // BYTES_PER_WORD)[None, :]
    position = torch.searchsorted(table.front_footprint_words,
                                  capacity.expand(len(table), -1).contiguous(), right=True) - 1
    buffer_fits = (position >= 0).T
    position = position.clamp(min=0)
    dram_weights = table.front_weight_words.gather(1, position).T                 # (B, L)
    dram_inputs = table.front_input_words.gather(1, position).T
    tiles = table.front_tiles.gather(1, position[:, :, None].expand(-1, -1, 3)).transpose(0, 1)
    weights_outer = table.front_weights_outer.gather(1, position).T

    weight_words, input_words, output_words = (value[None, :] for value in (
        table.weight_words, table.input_words, table.output_words))
    noc_weights, noc_inputs = weight_words * weight_refetch, input_words * input_refetch
    noc_outputs = output_words * (2 * psum_passes - 1)
    noc_traffic = noc_weights + noc_inputs + noc_outputs
    dram_traffic = dram_weights + dram_inputs + output_words
    repeats = (table.groups * table.count).to(torch.float64)[None, :]             # (1, L)
    macs = table.macs_per_group[None, :].expand_as(noc_traffic)
    accesses = torch.stack([macs, macs, macs, 2 * macs,
                            noc_traffic + output_words * reduction_hops,
                            noc_traffic + dram_traffic, dram_traffic], dim=2) * repeats[:, :, None]
    compute = compute_cycles * repeats
    noc = noc_traffic * repeats / accelerator.noc_words_per_cycle[:, None]
    dram = (dram_traffic * (BYTES_PER_WORD * repeats)
            / accelerator.dram_bytes_per_cycle[:, None])
    invalid = torch.where(~weight_fits, 1, torch.where(~input_fits, 2,
                                                       torch.where(~buffer_fits, 3, 0)))
    pe_count = (accelerator.pe_rows * accelerator.pe_cols)[:, None]
    return LayerCosts(
        invalid_reason=invalid, compute_cycles=compute, noc_cycles=noc, dram_cycles=dram,
        cycles=torch.maximum(compute, torch.maximum(noc, dram)),
        utilisation=table.macs_per_group[None, :] / (compute_cycles * pe_count).double(),
        accesses=accesses,
        energy_pj=accesses * accelerator.energy_per_access_pj()[:, None, :],
        dram_words=torch.stack([dram_weights, dram_inputs, output_words.expand_as(dram_weights)],
                               dim=2) * repeats[:, :, None],
        noc_words=torch.stack([noc_weights.expand_as(noc_traffic),
                               noc_inputs.expand_as(noc_traffic), noc_outputs.expand_as(
                                   noc_traffic)], dim=2) * repeats[:, :, None],
        global_buffer_tiles=tiles, weights_outer=weights_outer, stationary_per_pe=stationary)
