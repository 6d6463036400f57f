"""Batched trace-driven model of a DDR3 memory system under a configurable memory
controller (the DRAMSys knobs that ArchGym's DRAMGym tunes), with DRAMPower-style energy.

Many controller designs are evaluated on one request trace in one call (:func:`simulate`).

Memory (:class:`MemoryParameters`, defaults: DRAMSys' ``MICRON_1Gb_DDR3-1600_8bit_G``
as in ArchGym's ``ddr3-example``): one rank of 8 x8 devices (a 64-bit DIMM), 8 banks,
16384 rows, 1024 columns, burst length 8 (tBURST = 4 cycles), tCK = 1.25 ns. Timings in
controller cycles from the Micron 1Gb DDR3 datasheet (MT41J128M8) at DDR3-1600 with CL 10
(speed bin -125 is 11-11-11; ArchGym's configuration runs CL = tRCD = tRP = 10): tRAS 28,
tRC 38, tRFC 88 (110 ns), tREFI 6240 (7.8 us), tCCD 4, WL (CWL) 8, tWR 12 (15 ns), tWTR 6
(max(4 nCK, 7.5 ns)), tRTP 6 (max(4 nCK, 7.5 ns)), tRRD 5 (max(4 nCK, 6 ns), 1 KB page),
tFAW 24 (30 ns, 1 KB page). Currents per device: IDD0 70, IDD2N 45, IDD3N 45, IDD4R 140,
IDD4W 145, IDD5 170 mA at VDD = 1.5 V. The trace player issues at 800 MHz, so one trace
cycle is one controller cycle.

Address mapping (DRAMSys ``am_ddr3_8x1Gbx8_dimm_p1KB_rbc``, the one ArchGym's
``ddr3-example`` uses), byte address bits from least significant: 3 byte bits (8 bytes per
column across the 8 devices), 10 column bits (3-12), 3 bank bits (13-15), 14 row bits
(16-29), 1 GiB in all. So a sequential stream reads one 8 KiB row of one bank (128 bursts
of 64 B, all row hits after the first) and then the same row of the next bank, while
addresses 64 KiB apart land in the same bank on different rows (row conflicts). The bit
counts follow the parameters (columns, banks, rows: powers of two).

Controller model, per design (all times integer cycles):

1. **Windows.** The scheduler sees the trace in windows: the requests cut greedily, in
   arrival order, into maximal runs holding at most ``request_buffer_size`` requests of
   each class (the initiator blocks on a full buffer), the class being the bank
   (Bankwise), the direction (ReadWrite: a read and a write buffer) or none (Shared).
   Arbiters "Fifo" and "Reorder" limit the transactions in flight to
   ``max_active_transactions``; where that is below the buffers' capacity, windows are
   runs of that many requests instead. Arbiter "Simple" sets no limit.
2. **Order.** Each bank schedules its own requests. Fifo: arrival order. FrFcfs: within
   a window, the requests to one row together, rows in the order of their oldest request
   (row hits first, then the oldest miss). FrFcfsGrp: as FrFcfs, and within a row group
   the group's oldest direction first (reads and writes grouped: one turnaround per row
   group at most). With Closed pages no row is ever open, so FR-FCFS is first come,
   first served. The command and data bus merges the banks' sequences oldest first: a
   request's bus key is the newest arrival among it and the requests its bank serves
   before it.
3. **Page policy** (DRAMSys' definitions; "pending": served later by the bank and in the
   same window): Open keeps the row open; Closed auto-precharges after every access;
   OpenAdaptive auto-precharges when requests for the bank are pending and none of them
   hits the row; ClosedAdaptive auto-precharges unless a pending request hits the row.
   An access is a hit (its row open), a miss (bank precharged) or a conflict (another row
   open: PRE first, not before the request has arrived).
4. **Banks**, every request admitted at its arrival, exactly per bank in service order:
   ACT >= arrival (+ tRP for a conflict), ACT -> column tRCD, column -> column tCCD /
   write-to-read WL + tBURST + tWTR / read-to-write CL + tCCD + 2 - WL, ACT -> PRE tRAS,
   read -> PRE tRTP, write -> PRE WL + tBURST + tWR, PRE -> ACT tRP, ACT -> ACT tRC,
   column >= arrival.
5. **Command and data bus**, in bus order: ACTs at least max(tRRD, tFAW / 4) apart
   (tFAW as its long-run rate); column commands with the column-to-column gaps above; a
   read is done CL + tBURST after its column command, a write WL + tBURST after. The
   pipeline's time is the last completion.
6. **Window bound** (Little's law). With limited buffers the controller holds few
   requests, which limits bank parallelism: request m enters once request Q(m) has left,
   Q(m) the latest over m' <= m of the request ``size`` places before m' in its class
   (head-of-line blocking, in-order departures), so the bound is sum_k residence_k / L_k,
   L_k the number of requests that enter while k is inside. Residence: 1 cycle + tRCD
   (+ tRP for a conflict) to the column command for a buffer slot, plus CL or WL +
   tBURST for a transaction and, with response reordering (arbiter "Reorder" or response
   queue "Reorder"), the wait until every older response is out (older requests having
   entered at least a cycle earlier); at least the bank's spacing after its previous
   request when that one was still inside; plus the bank spacing of the same-bank
   requests ahead of it. The total time is the larger of the pipeline's and the bounds
   (buffers, and transactions for a limiting arbiter).
7. **Refresh** (AllBank): with T the total time, floor(T / tREFI) refreshes are due. Due
   refreshes that fit into idle gaps of the pipeline (no request pending) cost nothing,
   up to 1 + ``refresh_max_pulledin`` per gap (pulled in); the others stall the rank:
   a busy controller postpones up to ``refresh_max_postponed`` of them and then issues
   them back to back, so each group of 1 + max postponed costs tRP (precharge all) +
   tRCD (reopening) once plus tRFC per refresh. T = T_without_refresh + stalls is solved
   as a fixed point, so the refresh count is exactly floor(T / tREFI).
8. **Energy** (DRAMPower's terms, times the devices): per ACT (IDD0 - IDD3N) tRAS VDD,
   per PRE (IDD0 - IDD2N) tRP VDD, per read / write burst (IDD4R/W - IDD3N) tBURST VDD,
   per refresh (IDD5 - IDD3N) tRFC VDD, background IDD3N VDD while a bank holds an open
   row and IDD2N VDD otherwise, over the total time (the fraction with an open bank
   estimated from the banks' open times as if banks were independent; with the default
   IDD2N = IDD3N it does not matter). Each refresh group and each hidden refresh closes
   the open rows: as many extra ACT + PRE as banks are open on average (so these two
   counts can be fractional).

Simplifications against DRAMSys (a cycle-accurate SystemC/TLM model): one rank, one
channel, one initiator; no power-down; no command-bus conflicts (one command per cycle is
not enforced across banks); tFAW only as a rate; the pipeline admits every request at
its arrival and the limited concurrency of small buffers enters only through the window
bound (the larger of the two is taken, their interaction near the knee is lost); bus
delays do not push back a bank's later commands, and a hit waits for its own arrival but
not for a late earlier hit of its run; FR-FCFS regroups whole windows rather than
choosing cycle by cycle; refresh is a closed form, not commands placed in the timeline;
arbitration, think and PHY delays are zero. Expect DRAMSys' trends, not its cycle counts.

Cost. Designs are reduced with ``torch.unique`` to the distinct combinations of what
changes the command sequence: page policy, and the ordering (scheduler, window class and
size); on a trace without writes FrFcfsGrp orders like FrFcfs and ReadWrite buffers like
Shared ones; Fifo with Open or Closed pages ignores the window. Each combination is a few
dozen batched tensor passes over the trace (sorts, cumulative sums and maxima, in int32),
never a Python loop over requests or designs; the window bound is an exact fixed-point
matrix product with per-trace weights; refresh, energy and the response queue, arbiter
and refresh knobs are closed forms per design. Per-trace preprocessing (decoding, the
greedy window cut, which loops over windows in Python, and the bound weights per window
kind and size) is cached on the :class:`Trace`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

import torch

from tunegym.core.random import hash_keys, uniform

PAGE_POLICIES = ("Open", "OpenAdaptive", "Closed", "ClosedAdaptive")
SCHEDULERS = ("Fifo", "FrFcfs", "FrFcfsGrp")
SCHEDULER_BUFFERS = ("Bankwise", "ReadWrite", "Shared")
RESPONSE_QUEUES = ("Fifo", "Reorder")
REFRESH_POLICIES = ("NoRefresh", "AllBank")
ARBITERS = ("Simple", "Fifo", "Reorder")
#: Categorical knobs: name -> allowed values (a design holds the index into the tuple).
CATEGORICAL_KNOBS = {"page_policy": PAGE_POLICIES, "scheduler": SCHEDULERS,
                     "scheduler_buffer": SCHEDULER_BUFFERS, "response_queue": RESPONSE_QUEUES,
                     "refresh_policy": REFRESH_POLICIES, "arbiter": ARBITERS}
#: Integer knobs (a design holds the value itself, >= 1).
INTEGER_KNOBS = ("request_buffer_size", "refresh_max_postponed", "refresh_max_pulledin",
                 "max_active_transactions")
KNOB_NAMES = ("page_policy", "scheduler", "scheduler_buffer", "request_buffer_size",
              "response_queue", "refresh_policy", "refresh_max_postponed",
              "refresh_max_pulledin", "arbiter", "max_active_transactions")
TRACE_NAMES = ("stream", "random", "cloud-1", "cloud-2")
ENERGY_TERMS = ("activate", "precharge", "read", "write", "refresh", "background")
#: Largest trace (requests).
MAX_REQUESTS = 2**20
#: Arrival cycles (controller clock) must stay below this, so that every time of the
#: int32 cycle arithmetic stays below 2**29.
MAX_ARRIVAL_CYCLE = 2**28

#: "Minus infinity" of the int32 cycle arithmetic (cycle counts stay below 2**29).
_NEG = -(2**30)
# Window classes (the scheduler buffer codes Bankwise, ReadWrite, Shared).
_BANK, _DIRECTION, _SINGLE = 0, 1, 2
# Idle gaps are histogrammed by how many refreshes fit, 0 .. _GAP_BINS - 1 (clipped).
_GAP_BINS = 10


@dataclass(frozen=True)
class MemoryParameters:
    """A DDR3 rank: geometry, timings (controller cycles), currents (A) and voltage (V).

    Defaults: DRAMSys' ``MICRON_1Gb_DDR3-1600_8bit_G`` (see the module docstring).
    ``devices`` x8 devices form the 64-bit rank; ``trace_clock_mhz`` is the clock of
    the trace's arrival cycles.
    """

    banks: int = 8
    rows: int = 16384
    columns: int = 1024
    devices: int = 8
    device_width: int = 8
    burst_length: int = 8
    tck_ns: float = 1.25
    cl: int = 10
    wl: int = 8
    trcd: int = 10
    trp: int = 10
    tras: int = 28
    trc: int = 38
    trfc: int = 88
    trefi: int = 6240
    tccd: int = 4
    trrd: int = 5
    tfaw: int = 24
    twr: int = 12
    twtr: int = 6
    trtp: int = 6
    idd0: float = 70e-3
    idd2n: float = 45e-3
    idd3n: float = 45e-3
    idd4r: float = 140e-3
    idd4w: float = 145e-3
    idd5: float = 170e-3
    vdd: float = 1.5
    trace_clock_mhz: float = 800.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"MemoryParameters.{field.name} must be an integer >= 1, "
                                     f"got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                raise ValueError(f"MemoryParameters.{field.name} must be a positive number, "
                                 f"got {value!r}")
        for name in ("banks", "rows", "columns", "device_width", "burst_length"):
            value = getattr(self, name)
            if value & (value - 1):
                raise ValueError(f"MemoryParameters.{name} must be a power of two, got {value}")
        if self.burst_length % 2:
            raise ValueError("MemoryParameters.burst_length must be even (double data rate)")
        if self.trefi <= self.trfc + self.trp + self.trcd:
            raise ValueError("MemoryParameters: tREFI must exceed tRFC + tRP + tRCD")

    @property
    def burst_cycles(self) -> int:
        """tBURST: cycles a burst occupies the data bus (double data rate)."""
        return self.burst_length // 2

    @property
    def byte_bits(self) -> int:
        """Address bits below the column: log2(bytes per column of the rank)."""
        return (self.devices * self.device_width // 8 - 1).bit_length()

    @property
    def capacity_bytes(self) -> int:
        """Bytes addressed by the mapping: rows x banks x columns x bytes per column."""
        return self.rows * self.banks * self.columns << self.byte_bits

    @property
    def act_spacing(self) -> int:
        """Cycles between ACTs: tRRD, or tFAW / 4 where the four-activate window binds."""
        return max(self.trrd, -(-self.tfaw // 4))

    def command_energies_j(self) -> dict[str, float]:
        """Energy (J) of one ACT, PRE, read burst, write burst and refresh for the rank
        (DRAMPower's formulas times ``devices``)."""
        scale = self.vdd * self.tck_ns * 1e-9 * self.devices
        return {"activate": (self.idd0 - self.idd3n) * self.tras * scale,
                "precharge": (self.idd0 - self.idd2n) * self.trp * scale,
                "read": (self.idd4r - self.idd3n) * self.burst_cycles * scale,
                "write": (self.idd4w - self.idd3n) * self.burst_cycles * scale,
                "refresh": (self.idd5 - self.idd3n) * self.trfc * scale}


DDR3_1600 = MemoryParameters()


class Trace:
    """A validated request trace: N requests in arrival order, on one device.

    Args:
        address: byte addresses (N,), integers in [0, capacity of the memory).
        is_write: (N,) bool (or 0/1 integers): write requests.
        arrival_cycle: (N,) non-decreasing integer arrival times in trace-player cycles
            (>= 0, < 2**28 controller cycles).
        device: torch device of the tensors.

    Raises ValueError naming the argument for anything malformed. Derived per-request
    data (bank, row, classes) is computed once per :class:`MemoryParameters` and cached.
    """

    def __init__(self, address, is_write, arrival_cycle, device: str | torch.device = "cpu"
                 ) -> None:
        columns = {"address": address, "is_write": is_write, "arrival_cycle": arrival_cycle}
        tensors = {}
        for name, value in columns.items():
            try:
                tensor = torch.as_tensor(value, device=device)
            except (TypeError, ValueError, RuntimeError) as error:
                raise ValueError(f"{name} must be a 1-D array of numbers, got {value!r:.80}"
                                 ) from error
            if tensor.dim() != 1:
                raise ValueError(f"{name} must be 1-D (one entry per request), "
                                 f"got shape {tuple(tensor.shape)}")
            tensors[name] = tensor
        count = tensors["address"].shape[0]
        if not 1 <= count <= MAX_REQUESTS:
            raise ValueError(f"address must hold between 1 and {MAX_REQUESTS} requests, "
                             f"got {count}")
        for name, tensor in tensors.items():
            if tensor.shape[0] != count:
                raise ValueError(f"{name} must have one entry per request ({count}, the length "
                                 f"of address), got {tensor.shape[0]}")
            if tensor.is_floating_point() or tensor.is_complex():
                raise ValueError(f"{name} must hold integers, got dtype {tensor.dtype}")
        if tensors["is_write"].dtype != torch.bool and bool(
                ((tensors["is_write"] != 0) & (tensors["is_write"] != 1)).any()):
            raise ValueError("is_write must hold booleans or 0/1")
        if bool((tensors["address"] < 0).any()):
            raise ValueError("address must be non-negative byte addresses")
        arrival = tensors["arrival_cycle"].to(torch.int64)
        if bool((arrival < 0).any()) or bool((arrival >= MAX_ARRIVAL_CYCLE).any()):
            raise ValueError(f"arrival_cycle must lie in [0, 2**28), got values in "
                             f"[{int(arrival.min())}, {int(arrival.max())}]")
        if bool((arrival[1:] < arrival[:-1]).any()):
            first = int(torch.nonzero(arrival[1:] < arrival[:-1])[0, 0]) + 1
            raise ValueError(f"arrival_cycle must be non-decreasing (requests in arrival "
                             f"order); entry {first} ({int(arrival[first])}) comes before "
                             f"entry {first - 1} ({int(arrival[first - 1])})")
        self.address = tensors["address"].to(torch.int64)
        self.is_write = tensors["is_write"].to(torch.bool)
        self.arrival_cycle = arrival
        self.device = self.address.device
        self._analyses: dict[MemoryParameters, _TraceAnalysis] = {}

    def __len__(self) -> int:
        return self.address.shape[0]

    def analysis(self, params: MemoryParameters) -> _TraceAnalysis:
        """Per-request bank, row, classes and occurrence links under ``params`` (cached)."""
        if params not in self._analyses:
            if int(self.address.max()) >= params.capacity_bytes:
                raise ValueError(f"address must lie below the memory's capacity "
                                 f"({params.capacity_bytes} bytes), got {int(self.address.max())}")
            self._analyses[params] = _TraceAnalysis(self, params)
        return self._analyses[params]


def generate_trace(name: str, key: int | torch.Tensor, num_requests: int = 10_000,
                   params: MemoryParameters = DDR3_1600,
                   device: str | torch.device = "cpu") -> Trace:
    """A synthetic read trace, a pure function of (name, key): one request per trace cycle.

    * "stream": sequential 64-byte bursts from a random burst-aligned start;
    * "random": uniformly random burst-aligned addresses;
    * "cloud-1": blocks of 50-150 sequential bursts (one stream continuing across its
      blocks) alternating with blocks of 50-150 random bursts (about half sequential);
    * "cloud-2": blocks of 8-32 bursts, each block sequential (from one of four streams,
      chosen at random) or random with probability 1/2.

    Args:
        name: one of :data:`TRACE_NAMES`.
        key: integer key (already holding split and episode seed).
        num_requests: N.
        params: the memory the addresses are drawn for (capacity, burst size).
        device: torch device.
    """
    if name not in TRACE_NAMES:
        raise ValueError(f"trace must be one of {TRACE_NAMES}, got {name!r}")
    if isinstance(num_requests, bool) or not isinstance(num_requests, int) \
            or not 1 <= num_requests <= MAX_REQUESTS:
        raise ValueError(f"num_requests must be an integer in [1, {MAX_REQUESTS}], "
                         f"got {num_requests!r}")
    keys = hash_keys(torch.as_tensor(key, dtype=torch.int64, device=device),
                     TRACE_NAMES.index(name)).reshape(1)
    burst_bytes = params.burst_length * (params.devices * params.device_width // 8)
    slots = params.capacity_bytes // burst_bytes
    index = torch.arange(num_requests, device=keys.device)
    random_slots = (uniform(keys, (num_requests,), stream=1)[0] * slots).long()
    if name == "random":
        slot = random_slots
    elif name == "stream":
        slot = (uniform(keys, (1,), stream=2)[0] * slots).long() + index
    else:
        low, high, streams = (50, 150, 1) if name == "cloud-1" else (8, 32, 4)
        block_count = num_requests // low + 2
        lengths = low + (uniform(keys, (block_count,), stream=3)[0] * (high - low + 1)).long()
        ends = torch.cumsum(lengths, dim=0)
        block = torch.searchsorted(ends, index, right=True)
        if name == "cloud-1":
            sequential = block % 2 == 0
            stream_of_block = torch.zeros_like(block)
        else:
            sequential = uniform(keys, (block_count,), stream=4)[0][block] < 0.5
            stream_of_block = (uniform(keys, (block_count,), stream=5)[0] * streams).long()[block]
        starts = (uniform(keys, (streams,), stream=6)[0] * slots).long()
        # Position within its stream: sequential requests of the same stream before it
        # (random requests counted as a stream of their own).
        stream_of_request = torch.where(sequential, stream_of_block, streams)
        position = _rank_in_class(stream_of_request, streams + 1)
        slot = torch.where(sequential, starts[stream_of_block] + position, random_slots)
    address = (slot % slots) * burst_bytes
    return Trace(address, torch.zeros(num_requests, dtype=torch.bool, device=keys.device),
                 index, device=keys.device)


class _TraceAnalysis:
    """What every design needs to know about a trace, computed once per parameters.

    Tensors (N,) in arrival order unless stated: ``bank``, ``row_key`` (bank * rows +
    row), ``write`` (bool), ``arrival`` (controller cycles), ``data`` (cycles from column
    command to completion), ``next_same_row`` (arrival index of the next request to the
    same bank and row, N if none); per window class (bank, direction, single; stacked
    (3, ...)): ``class_id``, ``class_rank`` (rank within its class), ``class_major``
    (arrival indices sorted by (class, rank)), ``class_position`` (each request's place
    in that order), ``padded_class_sizes`` (3, classes);
    occurrence orders ``by_row`` / ``by_row_direction`` (arrival indices sorted by
    (row_key[, write], index)) with ``row_change`` / ``row_direction_change`` flags;
    ``previous_same_bank`` (arrival index, -1 if none). The bank-major layout (banks in
    turn, positions 0..N-1): ``bank_start`` (banks,), ``bank_slices`` ([start, end) of
    each non-empty bank), per position ``first_in_bank``, ``next_in_bank`` (the next
    position holds the same bank), ``bank_first_position``; Fifo service in it:
    ``fifo_bank_order`` and ``fifo_to_service`` (see :func:`_orderings`).
    """

    def __init__(self, trace: Trace, params: MemoryParameters) -> None:
        count = len(trace)
        self.count = count
        device = trace.device
        self.index = torch.arange(count, device=device)
        column_shift = params.byte_bits + (params.columns - 1).bit_length()
        bank_bits = (params.banks - 1).bit_length()
        self.bank = (trace.address >> column_shift) & (params.banks - 1)
        row = (trace.address >> (column_shift + bank_bits)) & (params.rows - 1)
        self.row_key = (self.bank * params.rows + row).to(torch.int32)
        self.write = trace.is_write
        nanoseconds = trace.arrival_cycle.to(torch.float64) * (1e3 / params.trace_clock_mhz)
        arrival = torch.ceil(nanoseconds / params.tck_ns - 1e-9)
        if float(arrival[-1]) >= MAX_ARRIVAL_CYCLE:
            raise ValueError(f"arrival_cycle must stay below 2**28 controller cycles; the last "
                             f"request arrives at cycle {int(arrival[-1])}")
        self.arrival = arrival.to(torch.int32)
        self.has_writes = bool(self.write.any())
        self.data = torch.where(self.write, params.wl, params.cl) + params.burst_cycles
        self.class_id = torch.stack([self.bank, self.write.long(), torch.zeros_like(self.bank)])
        widest = max(params.banks, 2)
        self.class_rank = torch.stack([_rank_in_class(ids, widest) for ids in self.class_id])
        self.padded_class_sizes = torch.stack([torch.bincount(ids, minlength=widest)
                                               for ids in self.class_id])
        self.class_major = torch.argsort(self.class_id * count + self.index, dim=1)
        class_start = torch.cumsum(self.padded_class_sizes, dim=1) - self.padded_class_sizes
        self.class_position = class_start.gather(1, self.class_id) + self.class_rank
        row_direction = self.row_key.long() * 2 + self.write.long()
        self.by_row = torch.argsort(self.row_key.long() * count + self.index)
        self.by_row_direction = torch.argsort(row_direction * count + self.index)
        self.row_change = _changes(self.row_key[self.by_row])
        self.row_direction_change = _changes(row_direction[self.by_row_direction])
        following = torch.full_like(self.index, count)
        same = ~self.row_change[1:]
        following[self.by_row[:-1][same]] = self.by_row[1:][same]
        self.next_same_row = following
        by_bank = torch.argsort(self.bank * count + self.index)
        previous = torch.full_like(self.index, -1)
        same_bank = self.bank[by_bank][1:] == self.bank[by_bank][:-1]
        previous[by_bank[1:][same_bank]] = by_bank[:-1][same_bank]
        self.previous_same_bank = previous
        #: Fifo service (arrival order) in the bank-major layout, and its inverse.
        self.fifo_bank_order = by_bank
        self.fifo_to_service = torch.empty_like(by_bank)
        self.fifo_to_service[by_bank] = self.index
        bank_sizes = self.padded_class_sizes[_BANK, :params.banks]
        self.bank_start = torch.cumsum(bank_sizes, dim=0) - bank_sizes
        ends = torch.cumsum(bank_sizes, dim=0).tolist()
        self.bank_slices = [(start, end) for start, end in zip([0] + ends[:-1], ends)
                            if end > start]
        layout_bank = self.bank[by_bank]
        self.first_in_bank = _changes(layout_bank)
        self.next_in_bank = torch.zeros_like(self.first_in_bank)
        self.next_in_bank[:-1] = ~self.first_in_bank[1:]
        self.bank_first_position = self.bank_start[layout_bank]
        self.read_bus_before = (self.index * params.tccd).to(torch.int32)
        self._weights: dict[tuple[int, int], tuple] = {}
        self._windows: dict[tuple[int, int], tuple] = {}
        self._latency_bound = 2 * (params.tras + params.trcd + params.trp + params.cl
                                   + params.wl + params.burst_cycles + params.twr
                                   + params.twtr + params.trtp + params.tccd + 1)

    def windows(self, kind: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The scheduler's windows for buffers of ``size`` requests per class (``kind``):
        the trace cut greedily, in arrival order, into maximal runs holding at most
        ``size`` requests of each class (the initiator blocks on a full buffer).

        Returns (N,) int64: each request's window number and the arrival index of the
        last request of its window.
        """
        if (kind, size) not in self._windows:
            class_id, rank = self.class_id[kind], self.class_rank[kind]
            sizes, position = self.padded_class_sizes[kind], self.class_position[kind]
            # A window starting at i ends before the first request that is the
            # (size + 1)-th of its class counted from i: a suffix minimum.
            later = torch.where(rank + size < sizes[class_id],
                                self.class_major[kind][(position + size).clamp(
                                    max=self.count - 1)], self.count)
            end = torch.flip(torch.cummin(torch.flip(later, (0,)), dim=0).values, (0,))
            starts, start, ends = [], 0, end.tolist()
            while start < self.count:
                starts.append(start)
                start = ends[start]
            first = torch.zeros(self.count, dtype=torch.bool, device=self.index.device)
            first[torch.tensor(starts, device=self.index.device)] = True
            number = torch.cumsum(first, dim=0) - 1
            last = torch.tensor(starts[1:] + [self.count], device=self.index.device) - 1
            self._windows[kind, size] = (number, last[number])
        return self._windows[kind, size]

    def window_weights(self, kind: int, size: int) -> tuple[torch.Tensor, int]:
        """Weights (N, 3) of the window bound for windows of ``size`` requests of one
        class (``kind``), and their fixed-point ``scale``.

        Request m can enter once request Q(m) has left, Q(m) being the latest over
        m' <= m of the request ``size`` places before m' in its class (head-of-line
        blocking, in-order departures); the lag of k is L_k = (first m with Q(m) >= k) - k
        (requests that nobody waits for have 1 / L = 0). Columns: 1 / L_k; q_k = the sum
        of 1 / L_m over the later requests m of k's bank that k is still ahead of (m
        entered before k left); and 1 / L_k where k's previous request to its bank is
        Q(k) or later (k enters a bank still busy with it). Fixed point: integers times
        2**scale, small enough that every dot product with per-request cycle counts is
        exact, so the bound does not depend on summation order.
        """
        if (kind, size) not in self._weights:
            count, index = self.count, self.index
            rank, position = self.class_rank[kind], self.class_position[kind]
            predecessor = torch.where(
                rank >= size, self.class_major[kind][(position - size).clamp(min=0)], -1)
            released = torch.cummax(predecessor, dim=0).values
            waiter = torch.searchsorted(released, index)
            lag = (waiter - index).clamp(min=1).to(torch.float64)
            inverse_lag = torch.where(waiter < count, 1.0 / lag, 0.0)
            banks = self.bank_start.shape[0]
            prefix = torch.zeros(count + 1, banks, dtype=torch.float64, device=index.device)
            prefix[1:] = torch.cumsum(torch.nn.functional.one_hot(self.bank, banks)
                                      * inverse_lag[:, None], dim=0)
            queued = prefix[waiter, self.bank] - prefix[index + 1, self.bank]
            recent = (self.previous_same_bank >= released) & (self.previous_same_bank >= 0)
            weights = torch.stack([inverse_lag, queued, inverse_lag * recent], dim=1)
            total = float(weights.sum()) + 1.0
            scale = max(0, 51 - math.ceil(math.log2(total * self._latency_bound)))
            self._weights[kind, size] = (torch.round(weights * 2.0**scale), scale)
        return self._weights[kind, size]


def _rank_in_class(class_id: torch.Tensor, classes: int) -> torch.Tensor:
    """(N,) int64: how many earlier entries of ``class_id`` (N,) (ids in [0, classes))
    share each entry's class."""
    one_hot = torch.nn.functional.one_hot(class_id, classes)
    return (torch.cumsum(one_hot, dim=0) - one_hot).gather(1, class_id[:, None])[:, 0]


def _changes(values: torch.Tensor) -> torch.Tensor:
    """(N,) bool: entry differs from the previous one (True at 0)."""
    change = torch.ones_like(values, dtype=torch.bool)
    change[1:] = values[1:] != values[:-1]
    return change


def _column_gap(params: MemoryParameters, previous_write: torch.Tensor,
                write: torch.Tensor) -> torch.Tensor:
    """Cycles between two column commands of the rank: tCCD, or the read-to-write /
    write-to-read turnaround."""
    read_to_write = params.cl + params.tccd + 2 - params.wl
    write_to_read = params.wl + params.burst_cycles + params.twtr
    gap = torch.full_like(write, params.tccd, dtype=torch.int32)
    gap = torch.where(~previous_write & write, max(read_to_write, params.tccd), gap)
    return torch.where(previous_write & ~write, write_to_read, gap)


def check_designs(designs: Mapping[str, torch.Tensor | list]) -> dict[str, torch.Tensor]:
    """Validate a batch of designs: {knob: (B,) values} with every name of
    :data:`KNOB_NAMES`; categorical knobs hold indices into their value tuple
    (:data:`CATEGORICAL_KNOBS`), integer knobs positive values. Returns int64 tensors."""
    if not isinstance(designs, Mapping):
        raise TypeError(f"designs must be a dict of knob name -> (B,) tensor, got "
                        f"{type(designs).__name__}")
    unknown = sorted(set(designs) - set(KNOB_NAMES))
    missing = [name for name in KNOB_NAMES if name not in designs]
    if unknown or missing:
        raise ValueError(f"designs must have exactly the knobs {KNOB_NAMES}; unknown "
                         f"{unknown}, missing {missing}")
    checked = {name: torch.as_tensor(designs[name]) for name in KNOB_NAMES}
    batch = checked["page_policy"].shape
    for name, value in checked.items():
        if value.dim() != 1 or value.shape != batch:
            raise ValueError(f"designs[{name!r}] must be 1-D with the batch size {tuple(batch)}, "
                             f"got shape {tuple(value.shape)}")
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise ValueError(f"designs[{name!r}] must hold integers, got dtype {value.dtype}")
        if name in CATEGORICAL_KNOBS:
            allowed = len(CATEGORICAL_KNOBS[name])
            if bool(((value < 0) | (value >= allowed)).any()):
                raise ValueError(f"designs[{name!r}] must hold indices in [0, {allowed}) into "
                                 f"{CATEGORICAL_KNOBS[name]}")
        elif bool((value < 1).any()) or bool((value > 2**20).any()):
            raise ValueError(f"designs[{name!r}] must hold integers in [1, 2**20]")
        checked[name] = value.to(torch.int64)
    return checked


# --------------------------------------------------------------------------- core stages
def _orderings(analysis: _TraceAnalysis, scheduler: torch.Tensor, kind: torch.Tensor,
               size: torch.Tensor) -> dict[str, torch.Tensor]:
    """Service order of O orderings (scheduler, window class, window size), each (O,).

    Each bank serves its requests in the scheduler's order; the command and data bus
    merges the banks' sequences oldest first: a request's bus key is the newest arrival
    among it and the requests its bank serves before it.

    Returns (O, N) int64: ``bank_order`` (arrival index of the request at each position
    of the bank-major layout: banks in turn, each in its service order), ``to_service``
    (bank-layout position of the request at each bus position) and ``window_end`` (per
    bank-layout position: arrival index of the last request of that request's window).
    """
    count, index = analysis.count, analysis.index
    windows = [analysis.windows(code, window_size)
               for code, window_size in zip(kind.tolist(), size.tolist())]
    window = torch.stack([window for window, _ in windows])
    window_end = torch.stack([end for _, end in windows])
    bank_order = analysis.fifo_bank_order.expand(len(windows), -1).clone()
    to_service = analysis.fifo_to_service.expand(len(windows), -1).clone()
    regrouped = torch.nonzero(scheduler != 0)[:, 0]
    if regrouped.numel():
        # Row groups: runs of one row (and direction, for ReadWrite windows) within a
        # window, found in the requests sorted by (row[, direction], arrival).
        rows = torch.arange(regrouped.shape[0], device=index.device)[:, None]
        by_direction = (kind[regrouped] == _DIRECTION)[:, None]
        occurrence = torch.where(by_direction, analysis.by_row_direction, analysis.by_row)
        change = torch.where(by_direction, analysis.row_direction_change, analysis.row_change)
        change = change | _changes_along(window[regrouped].gather(1, occurrence))
        start = torch.cummax(torch.where(change, index, 0), dim=1).values
        group_first = torch.empty_like(occurrence)
        group_first[rows, occurrence] = occurrence.gather(1, start)
        second = (analysis.write != analysis.write[group_first]) \
            & (scheduler[regrouped] == 2)[:, None]
        key = ((analysis.bank * count + group_first) * 2 + second) * count + index
        order = torch.argsort(key, dim=1)
        newest = torch.cat([torch.cummax(order[:, start:end], dim=1).values
                            for start, end in analysis.bank_slices], dim=1)
        position = torch.argsort(newest * count + analysis.index, dim=1)
        bank_order[regrouped] = order
        to_service[regrouped] = position
    return {"bank_order": bank_order, "to_service": to_service,
            "window_end": window_end.gather(1, bank_order)}


def _changes_along(values: torch.Tensor) -> torch.Tensor:
    """(C, N) bool: entry differs from its left neighbour (True in column 0)."""
    change = torch.ones_like(values, dtype=torch.bool)
    change[:, 1:] = values[:, 1:] != values[:, :-1]
    return change


def _core(analysis: _TraceAnalysis, params: MemoryParameters, page: torch.Tensor,
          scheduler: torch.Tensor, ordering: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Bank and bus timelines of C (page policy, ordering) combinations, every request
    admitted at its arrival (the window bound is applied later, see :func:`simulate`).

    Args:
        page, scheduler: (C,) codes.
        ordering: the (C, N) outputs of :func:`_orderings` for these combinations.

    Returns:
        (C,) int64 ``cycles`` (last completion), ``activates``, ``precharges``; (C, banks)
        ``open_cycles``; (C, _GAP_BINS) ``idle_gaps`` (idle gaps by how many precharge +
        refresh periods fit); (C, N) int32 in arrival order ``preparation`` (cycles from
        admission to the column command when the bank is idle) and ``service`` (the
        bank's column-to-column spacing before the request when it is busy).
    """
    int32, pad = torch.int32, torch.nn.functional.pad
    bank_order, window_end = ordering["bank_order"], ordering["window_end"]
    row = analysis.row_key[bank_order]
    arrival = analysis.arrival[bank_order]
    first, next_same_bank = analysis.first_in_bank, analysis.next_in_bank
    same_row = row[:, 1:] == row[:, :-1]                  # position p + 1 opens p's row
    # Page policy: does the row stay open after each access?
    pending = next_same_bank & pad(bank_order[:, 1:] <= window_end[:, :-1], (0, 1))
    pending_hit = torch.where((scheduler == 0)[:, None],
                              analysis.next_same_row[bank_order] <= window_end,
                              pending & pad(same_row, (0, 1)))
    page = page[:, None]
    keep_open = (page == 0) | ((page == 1) & (pending_hit | ~pending)) | ((page == 3) & pending_hit)
    previous_open = pad(keep_open[:, :-1], (1, 0)) & ~first
    same_as_previous = pad(same_row, (1, 0))
    hit = previous_open & same_as_previous
    conflict = previous_open & ~same_as_previous
    conflicts = conflict.to(int32)
    run_start = ~hit
    run_end = pad(run_start[:, 1:], (0, 1), value=True)
    # Bank timelines: runs of hits behind one ACT; ``within`` = column gaps inside the run.
    if analysis.has_writes:
        write = analysis.write[bank_order]
        gap = hit * _column_gap(params, pad(write[:, :-1], (1, 0)), write)
        post = torch.where(write, params.wl + params.burst_cycles + params.twr,
                           params.trtp).to(int32)
    else:
        write, gap, post = None, hit.to(int32) * params.tccd, params.trtp
    total_gap = torch.cumsum(gap, dim=1, dtype=int32)
    within = total_gap - torch.cummax(total_gap * run_start, dim=1).values
    busy = torch.clamp(torch.clamp(within + post + params.trcd, min=params.tras) + params.trp,
                       min=params.trc)
    release = arrival + post + params.trp
    source = torch.where(first, arrival, torch.maximum(
        arrival + conflicts * params.trp, pad(release[:, :-1], (1, 0))))
    busy_at_end = busy * run_end
    busy_before = torch.cumsum(busy_at_end, dim=1, dtype=int32) - busy_at_end
    busy_before = busy_before - busy_before[:, analysis.bank_first_position]
    key = torch.where(run_start, source - busy_before, _NEG)
    key = torch.cat([torch.cummax(key[:, start:end], dim=1).values
                     for start, end in analysis.bank_slices], dim=1) + busy_before
    run_first = torch.cummax(analysis.index * run_start, dim=1).values
    activate = key.gather(1, run_first)
    column = torch.maximum(activate + within + params.trcd, arrival)
    closed_run = run_end & (~keep_open | next_same_bank)
    next_conflict = pad(conflict[:, 1:], (0, 1))
    precharge = torch.where(next_conflict, pad(activate[:, 1:], (0, 1)),
                            torch.maximum(activate + busy, release)) - params.trp
    # Command and data bus, in bus order.
    to_service = ordering["to_service"]
    start_s = run_start.gather(1, to_service)
    activations = torch.cumsum(start_s, dim=1, dtype=int32) * params.act_spacing
    spaced = torch.cummax(torch.where(start_s, activate.gather(1, to_service) - activations,
                                      _NEG), dim=1).values + activations
    column_s = column.gather(1, to_service)
    ready = torch.where(start_s, torch.maximum(column_s, spaced + params.trcd), column_s)
    if write is None:
        bus_before = analysis.read_bus_before
        data = params.cl + params.burst_cycles
    else:
        write_s = write.gather(1, to_service)
        bus_gap = _column_gap(params, pad(write_s[:, :-1], (1, 0)), write_s)
        bus_before = torch.cumsum(bus_gap, dim=1, dtype=int32) - bus_gap[:, :1]
        data = torch.where(write_s, params.wl, params.cl) + params.burst_cycles
    done = torch.cummax(ready - bus_before, dim=1).values + bus_before + data
    cycles = done.max(dim=1).values
    # Idle gaps (arrival order): nothing pending between all earlier completions and i.
    finished = torch.empty_like(done).scatter_(1, bank_order.gather(1, to_service), done)
    finished = torch.cummax(finished, dim=1).values
    idle = torch.clamp(analysis.arrival[1:] - finished[:, :-1], min=0)
    fits = torch.clamp(idle // (params.trp + params.trfc), max=_GAP_BINS - 1).long()
    idle_gaps = torch.zeros(page.shape[0], _GAP_BINS, dtype=torch.int64, device=fits.device)
    idle_gaps.scatter_add_(1, fits, torch.ones_like(fits))
    open_time = (torch.where(closed_run, precharge, cycles[:, None]) - activate) * run_end
    open_cycles = torch.stack([open_time[:, start:end].sum(dim=1, dtype=torch.int64)
                               for start, end in analysis.bank_slices], dim=1)
    # Per-request latencies for the window bound, in arrival order.
    preparation = run_start.to(int32) * params.trcd + conflicts * params.trp
    service = torch.where(hit, gap, torch.where(first, params.trcd,
                                                pad((busy - within)[:, :-1], (1, 0))))
    return {"cycles": cycles.long(), "activates": run_start.sum(dim=1),
            "precharges": closed_run.sum(dim=1), "open_cycles": open_cycles,
            "idle_gaps": idle_gaps,
            "preparation": torch.empty_like(preparation).scatter_(1, bank_order, preparation),
            "service": torch.empty_like(service).scatter_(1, bank_order, service)}


def simulate(trace: Trace, designs: Mapping[str, torch.Tensor],
             params: MemoryParameters = DDR3_1600, rows_per_pass: int | None = None
             ) -> dict[str, torch.Tensor]:
    """Total time, energy and power of B controller designs on one trace.

    Args:
        trace: the requests (:class:`Trace` or :func:`generate_trace`).
        designs: {knob: (B,) int} for every name of :data:`KNOB_NAMES` (see
            :func:`check_designs`).
        params: the memory.
        rows_per_pass: distinct (page policy, ordering) combinations simulated per
            batched pass (bounds memory; default about 2**19 / N on CPU, 2**25 / N on CUDA).

    Returns:
        {name: (B,) float64}: ``latency_s`` (total time, s), ``energy_j``, ``power_w``
        (energy / time), ``energy_<term>_j`` for the :data:`ENERGY_TERMS`, and the
        counts ``activates``, ``precharges`` (fractional where refreshes closed rows),
        ``reads``, ``writes``, ``refreshes``, ``cycles`` (total time in cycles).
    """
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a tunegym.simulators.dram.Trace, got "
                        f"{type(trace).__name__}")
    if not isinstance(params, MemoryParameters):
        raise TypeError(f"params must be MemoryParameters, got {type(params).__name__}")
    designs = {name: value.to(trace.device) for name, value in check_designs(designs).items()}
    analysis = trace.analysis(params)
    buffer_kind, buffer_size = designs["scheduler_buffer"], designs["request_buffer_size"]
    limit = designs["max_active_transactions"]
    limited = designs["arbiter"] != 0
    classes = torch.tensor([params.banks, 2, 1], device=trace.device)[buffer_kind]
    capped = limited & (limit < buffer_size * classes)
    scheduler, page = designs["scheduler"], designs["page_policy"]
    order_kind = torch.where(capped, _SINGLE, buffer_kind)
    order_size = torch.where(capped, limit, buffer_size)
    if not analysis.has_writes:
        # Without writes FrFcfsGrp orders like FrFcfs and a ReadWrite buffer holds one class.
        scheduler = torch.where(scheduler == 2, 1, scheduler)
        order_kind = torch.where(order_kind == _DIRECTION, _SINGLE, order_kind)
    # With closed pages there are no row hits to prefer: FR-FCFS serves first come first.
    scheduler = torch.where(page == 2, 0, scheduler)
    # Fifo with a non-adaptive page policy never looks at the window.
    windowless = (scheduler == 0) & (page % 2 == 0)
    columns = torch.stack([page, scheduler, torch.where(windowless, _SINGLE, order_kind),
                           torch.where(windowless, 1, order_size)], dim=1)
    combos, combo_of = torch.unique(columns, dim=0, return_inverse=True)
    orderings, ordering_of = torch.unique(combos[:, 1:], dim=0, return_inverse=True)
    if rows_per_pass is None:
        budget = 2**25 if trace.device.type == "cuda" else 2**19
        rows_per_pass = max(1, budget // len(trace))
    outputs = []
    for start in range(0, combos.shape[0], rows_per_pass):
        part = slice(start, start + rows_per_pass)
        used, local = torch.unique(ordering_of[part], return_inverse=True)
        ordering = _orderings(analysis, *orderings[used].unbind(dim=1))
        outputs.append(_core(analysis, params, combos[part, 0], combos[part, 1],
                             {name: value[local] for name, value in ordering.items()}))
    core = {name: torch.cat([output[name] for output in outputs]) for name in outputs[0]}
    window = _window_cycles(analysis, core, combo_of, designs, limited)
    cycles = torch.maximum(core["cycles"][combo_of], window)
    per_design = {name: core[name][combo_of]
                  for name in ("activates", "precharges", "open_cycles", "idle_gaps")}
    return _closed_forms(cycles, per_design, designs, analysis, params)


def _window_cycles(analysis: _TraceAnalysis, core: dict[str, torch.Tensor],
                   combo_of: torch.Tensor, designs: dict[str, torch.Tensor],
                   limited: torch.Tensor) -> torch.Tensor:
    """Little's-law bound (B,) cycles of the scheduler buffers and, for arbiters with a
    limit, of the transactions in flight: sum over requests of residence / lag (see
    :meth:`_TraceAnalysis.window_weights`).

    A request's residence: its slot hold (1 + its preparation for a buffer slot; for a
    transaction also its data cycles and, with response reordering, the wait until every
    older response is out, older requests having entered at least one cycle earlier),
    at least the bank's spacing after the previous request when that one is recent, plus
    the bank spacing of the same-bank requests ahead of it in its window.
    """
    buffer_kind = designs["scheduler_buffer"]
    if not analysis.has_writes:
        buffer_kind = torch.where(buffer_kind == _DIRECTION, _SINGLE, buffer_kind)
    buffer_specs = torch.stack([buffer_kind, designs["request_buffer_size"]], dim=1)
    limit_specs = torch.stack([torch.full_like(limited, _SINGLE, dtype=torch.int64),
                               designs["max_active_transactions"]], dim=1)
    specs, spec_of = torch.unique(torch.cat([buffer_specs, limit_specs[limited]]), dim=0,
                                  return_inverse=True)
    weights = [analysis.window_weights(kind, size) for kind, size in specs.tolist()]
    stacked = torch.cat([weight[0] for weight in weights], dim=1)        # (N, 3K)
    scale = torch.tensor([2.0**weight[1] for weight in weights], device=stacked.device)
    index = analysis.index
    preparation, service = core["preparation"], core["service"]
    hold = 1 + preparation + analysis.data
    waiting = torch.cummax(hold + index, dim=1).values - index - hold
    extra = torch.clamp(service - 1 - preparation, min=0)
    rows = preparation.shape[0]
    dots = torch.cat([preparation, service, waiting, extra]).to(torch.float64) @ stacked
    dots = dots.view(4, rows, -1, 3)                          # (quantity, row, spec, weight)
    ones = stacked.view(analysis.count, -1, 3)[:, :, 0].sum(dim=0)
    data = analysis.data.to(torch.float64) @ stacked.view(analysis.count, -1, 3)[:, :, 0]

    def bound(spec, data_cycles, reordered):
        return (ones[spec] + data_cycles * data[spec] + dots[0, combo_of, spec, 0]
                + dots[1, combo_of, spec, 1] + dots[3, combo_of, spec, 2]
                + reordered * dots[2, combo_of, spec, 0]) / scale[spec]

    buffer_spec = spec_of[:limited.shape[0]]
    limit_spec = torch.zeros_like(buffer_spec)
    limit_spec[limited] = spec_of[limited.shape[0]:]
    reordered = (designs["arbiter"] == 2) | (designs["response_queue"] == 1)
    buffer_bound = bound(buffer_spec, False, False)
    limit_bound = torch.where(limited, bound(limit_spec, True, reordered), 0.0)
    return torch.ceil(torch.maximum(buffer_bound, limit_bound)).to(torch.int64)


def _closed_forms(base: torch.Tensor, core: dict[str, torch.Tensor],
                  designs: dict[str, torch.Tensor], analysis: _TraceAnalysis,
                  params: MemoryParameters) -> dict[str, torch.Tensor]:
    """Refresh (fixed point of the refresh count) and energy per design (B,), from the
    cycles (B,) without refresh and the per-design core counts."""
    refreshing = designs["refresh_policy"] == 1
    bins = torch.arange(_GAP_BINS, device=base.device)
    capacity = torch.minimum(bins[None, :], 1 + designs["refresh_max_pulledin"][:, None])
    hideable = (core["idle_gaps"] * capacity).sum(dim=1)
    group = 1 + designs["refresh_max_postponed"]
    refreshes = torch.zeros_like(base)
    while True:
        visible = torch.clamp(refreshes - hideable, min=0)
        groups = -(-visible // group)
        cycles = base + visible * params.trfc + groups * (params.trp + params.trcd)
        updated = torch.where(refreshing, cycles // params.trefi, 0)
        if torch.equal(updated, refreshes):
            break
        refreshes = updated
    hidden = refreshes - visible
    open_fraction = core["open_cycles"].to(torch.float64) / base[:, None].to(torch.float64)
    # Sums and products over banks in a fixed order: results must not depend on B.
    open_banks = torch.zeros_like(base, dtype=torch.float64)
    all_closed = torch.ones_like(open_banks)
    for bank_fraction in open_fraction.clamp(0.0, 1.0).unbind(dim=1):
        open_banks = open_banks + bank_fraction
        all_closed = all_closed * (1.0 - bank_fraction)
    reopened = (groups + hidden).to(torch.float64) * open_banks
    activates = core["activates"].to(torch.float64) + reopened
    precharges = core["precharges"].to(torch.float64) + reopened
    reads = float((~analysis.write).sum())
    writes = float(analysis.write.sum())
    active = 1.0 - all_closed
    seconds = cycles.to(torch.float64) * params.tck_ns * 1e-9
    per_command = params.command_energies_j()
    background_current = params.idd3n * active + params.idd2n * (1.0 - active)
    energy = {"activate": activates * per_command["activate"],
              "precharge": precharges * per_command["precharge"],
              "read": torch.full_like(seconds, reads * per_command["read"]),
              "write": torch.full_like(seconds, writes * per_command["write"]),
              "refresh": refreshes.to(torch.float64) * per_command["refresh"],
              "background": background_current * params.vdd * params.devices * seconds}
    total = sum(energy.values())
    result = {"latency_s": seconds, "energy_j": total, "power_w": total / seconds}
    result.update({f"energy_{term}_j": value for term, value in energy.items()})
    result.update({"activates": activates, "precharges": precharges,
                   "reads": torch.full_like(seconds, reads),
                   "writes": torch.full_like(seconds, writes),
                   "refreshes": refreshes.to(torch.float64),
                   "cycles": cycles.to(torch.float64)})
    return result
