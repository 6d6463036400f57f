"""``tunegym/DRAMController-v0``: design a DDR3 memory controller (ArchGym's DRAMGym).

Each step evaluates one controller design on the episode's request trace with the
batched model of :mod:`tunegym.simulators.dram` (DDR3-1600, 8 x8 devices, 8 banks; see
there for the model and its simplifications). The action is a MultiDiscrete choice per
knob, in this order (DRAMSys' names and ArchGym's ranges):

| knob                        | choices |
| --------------------------- | --- |
| ``page_policy``             | Open, OpenAdaptive, Closed, ClosedAdaptive |
| ``scheduler``               | Fifo, FrFcfs, FrFcfsGrp |
| ``scheduler_buffer``        | Bankwise, ReadWrite, Shared |
| ``request_buffer_size``     | 1, 2, 4, ..., 128 requests |
| ``response_queue``          | Fifo, Reorder |
| ``refresh_policy``          | NoRefresh, AllBank |
| ``refresh_max_postponed``   | 1, ..., 8 refreshes |
| ``refresh_max_pulledin``    | 1, ..., 8 refreshes |
| ``arbiter``                 | Simple, Fifo, Reorder |
| ``max_active_transactions`` | 1, 2, 4, ..., 128 transactions |

(:meth:`DRAMControllerEnv.encode` / :meth:`~DRAMControllerEnv.decode` translate between
actions and ``{knob: value}``.) Every design is realisable, so ``invalid_reason`` is
always 0.

Instances. ``trace`` names the workload: "stream", "random", "cloud-1", "cloud-2" (10k
reads each by default, see :func:`tunegym.simulators.dram.generate_trace`) or a name in
``custom_traces`` ({name: {"address": [...], "is_write": [...], "arrival_cycle": [...]}},
byte addresses, 0/1, non-decreasing cycles of the 800 MHz trace player); one name, a
list (one drawn per episode) or a dict {"train": ..., "test": ...} of either. A
generated trace is one of ``trace_variants`` per name and split, picked by the episode
seed and generated from (split, variant), so train and test replay different traces;
a custom trace is the same in every episode. ``memory`` overrides fields of
:class:`tunegym.simulators.dram.MemoryParameters` (e.g. ``{"cl": 11}``).

Reward (see :mod:`tunegym.envs.design_space`): minus the relative distance of
``latency_s`` (time to serve the whole trace) and ``power_w`` (average power) to the
targets. Default targets, for the default trace "cloud-1" (set ``targets`` for other
traces or memories): 53 us and 2.95 W. Over 4096 uniformly random designs on the four
train cloud-1 traces the latency spans 50 to 510 us (10th, 50th, 90th percentiles 58,
133, 353 us) and the power 0.89 to 3.15 W (1.06, 1.63, 2.79 W); faster designs draw more
power (about the same energy in less time). The median random design earns -1.86, the
best of the 4096 -0.012; 0.3 % of them come within 0.02 of the targets and 1.3 % within
0.05: open pages, large buffers and a transaction limit of 64, just short of the
fastest designs (50 us at about 3.1 W, which earn about -0.1).
Info: ``latency_s``, ``energy_j``, ``power_w`` and the energy terms
``energy_<activate|precharge|read|write|refresh|background>_j``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from tunegym.core import check_integer, derive_envs, split_choices
from tunegym.core.random import choice_index, hash_keys
from tunegym.envs.design_space import DesignEnv, DesignSpace, Knob
from tunegym.simulators.dram import (
    ARBITERS,
    CATEGORICAL_KNOBS,
    ENERGY_TERMS,
    PAGE_POLICIES,
    REFRESH_POLICIES,
    RESPONSE_QUEUES,
    SCHEDULER_BUFFERS,
    SCHEDULERS,
    TRACE_NAMES,
    MemoryParameters,
    Trace,
    generate_trace,
    simulate,
)

POWERS_OF_TWO = (1, 2, 4, 8, 16, 32, 64, 128)
DESIGN_SPACE = DesignSpace([
    Knob("page_policy", PAGE_POLICIES),
    Knob("scheduler", SCHEDULERS),
    Knob("scheduler_buffer", SCHEDULER_BUFFERS),
    Knob("request_buffer_size", POWERS_OF_TWO, "requests"),
    Knob("response_queue", RESPONSE_QUEUES),
    Knob("refresh_policy", REFRESH_POLICIES),
    Knob("refresh_max_postponed", tuple(range(1, 9)), "refreshes"),
    Knob("refresh_max_pulledin", tuple(range(1, 9)), "refreshes"),
    Knob("arbiter", ARBITERS),
    Knob("max_active_transactions", POWERS_OF_TWO, "transactions"),
])
#: Hash streams of the instance draws.
_TRACE_STREAM, _VARIANT_STREAM = 71, 72


#: The controller of DRAMSys's DDR3 example configuration, ArchGym's starting point:
#: open page, FR-FCFS with bank-wise buffers of 8 requests, FIFO responses, all-bank
#: refresh with up to 8 postponed / pulled-in refreshes, the simple arbiter and up to
#: 128 active transactions.
DRAMSYS_EXAMPLE_DESIGN = {"page_policy": "Open", "scheduler": "FrFcfs",
                          "scheduler_buffer": "Bankwise", "request_buffer_size": 8,
                          "response_queue": "Fifo", "refresh_policy": "AllBank",
                          "refresh_max_postponed": 8, "refresh_max_pulledin": 8,
                          "arbiter": "Simple", "max_active_transactions": 128}


class DRAMControllerEnv(DesignEnv):
    """Batched memory-controller design env (see the module docstring).

    Args:
        num_envs: see :class:`tunegym.envs.design_space.DesignEnv`.
        device: see :class:`tunegym.envs.design_space.DesignEnv`.
        split: see :class:`tunegym.envs.design_space.DesignEnv`.
        targets: see :class:`tunegym.envs.design_space.DesignEnv`.
        target_mode: see :class:`tunegym.envs.design_space.DesignEnv`.
        horizon: see :class:`tunegym.envs.design_space.DesignEnv`.
        invalid_reward: see :class:`tunegym.envs.design_space.DesignEnv`.
        trace: a trace name, a list of them or a per-split dict.
        custom_traces: {name: {"address", "is_write", "arrival_cycle"}} user traces.
        num_requests: requests of each generated trace.
        trace_variants: generated traces per name and split.
        memory: {field: value} overrides of the DDR3-1600 memory parameters.
    """

    design_space = DESIGN_SPACE
    metric_keys = ("latency_s", "energy_j", "power_w")
    metric_scales: ClassVar[dict[str, float]] = {"latency_s": 1e-4, "energy_j": 1e-4,
                                                 "power_w": 1.0}
    raw_metric = "latency_s"
    default_design: ClassVar[dict[str, Any]] = DRAMSYS_EXAMPLE_DESIGN

    def __init__(self, num_envs: int = 1, device: str = "cpu", split: str = "train",
                 trace: str | list[str] | dict[str, str | list[str]] = "cloud-1",
                 custom_traces: Mapping[str, Mapping] | None = None,
                 num_requests: int = 10_000, trace_variants: int = 4,
                 memory: Mapping[str, float] | None = None,
                 targets: Mapping[str, float] | None = None, target_mode: str = "match",
                 horizon: int = 10, invalid_reward: float = -10.0) -> None:
        super().__init__(num_envs, device, split, targets, target_mode, horizon,
                         invalid_reward)
        self.params = _memory_parameters(memory)
        self.custom_traces = _custom_traces(custom_traces, self.device)
        allowed = TRACE_NAMES + tuple(self.custom_traces)

        def check_trace(value) -> None:
            if value not in allowed:
                raise ValueError(f"trace must be one of {allowed} (built-in names and the "
                                 f"keys of custom_traces), got {value!r}")

        self.trace_names = split_choices("trace", trace, split, check_trace)
        self.num_requests = check_integer("num_requests", num_requests)
        self.trace_variants = check_integer("trace_variants", trace_variants)
        self._traces: dict[tuple[int, int], Trace] = {}

    def default_targets(self) -> dict[str, float]:
        return {"latency_s": 53e-6, "power_w": 2.95}

    def instance_state(self, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        keys = hash_keys(self.split_key, seeds)
        return {"trace_index": choice_index(keys, len(self.trace_names), _TRACE_STREAM),
                "trace_variant": choice_index(keys, self.trace_variants, _VARIANT_STREAM)}

    def trace(self, trace_index: int, variant: int) -> Trace:
        """The trace of ``trace_names[trace_index]`` and ``variant`` on this split (cached;
        custom traces ignore the variant)."""
        name = self.trace_names[trace_index]
        if name in self.custom_traces:
            return self.custom_traces[name]
        if (trace_index, variant) not in self._traces:
            key = int(hash_keys(self.split_key, variant))
            self._traces[trace_index, variant] = generate_trace(
                name, key, self.num_requests, self.params, self.device)
        return self._traces[trace_index, variant]

    def evaluate_designs(self, state, designs):
        instance = state["trace_index"] * self.trace_variants + state["trace_variant"]
        knobs = {name: designs[:, self.design_space.column(name)]
                 if name in CATEGORICAL_KNOBS
                 else self.design_space.values(designs, name, dtype=torch.int64)
                 for name in self.design_space.knob_names}
        keys = self.metric_keys + tuple(f"energy_{term}_j" for term in ENERGY_TERMS)
        metrics = {key: torch.empty(designs.shape[0], dtype=torch.float64, device=self.device)
                   for key in keys}
        for value in torch.unique(instance).tolist():
            rows = torch.nonzero(instance == value)[:, 0]
            result = simulate(self.trace(*divmod(value, self.trace_variants)),
                              {name: knob[rows] for name, knob in knobs.items()}, self.params)
            for key in keys:
                metrics[key][rows] = result[key]
        return metrics, torch.zeros(designs.shape[0], dtype=torch.int64, device=self.device)


def _memory_parameters(memory: Mapping[str, float] | None) -> MemoryParameters:
    """``MemoryParameters`` with the ``memory`` overrides (ValueError on unknown fields)."""
    if memory is None:
        return MemoryParameters()
    if not isinstance(memory, Mapping):
        raise TypeError(f"memory must be a dict of MemoryParameters fields, got {memory!r}")
    try:
        return MemoryParameters(**memory)
    except TypeError as error:
        raise ValueError(f"memory has an unknown field: {error}") from error


def _custom_traces(custom_traces: Mapping[str, Mapping] | None, device: torch.device
                   ) -> dict[str, Trace]:
    """Validated user traces by name."""
    if custom_traces is None:
        return {}
    if not isinstance(custom_traces, Mapping):
        raise TypeError("custom_traces must be a dict {name: {'address': [...], 'is_write': "
                        "[...], 'arrival_cycle': [...]}}")
    traces = {}
    for name, columns in custom_traces.items():
        if name in TRACE_NAMES:
            raise ValueError(f"custom_traces must not reuse the built-in trace name {name!r}")
        fields = ("address", "is_write", "arrival_cycle")
        if not isinstance(columns, Mapping) or set(columns) != set(fields):
            raise ValueError(f"custom_traces[{name!r}] must be a dict with exactly the keys "
                             f"{fields}")
        try:
            traces[name] = Trace(*(columns[field] for field in fields), device=device)
        except ValueError as error:
            raise ValueError(f"custom_traces[{name!r}]: {error}") from error
    return traces


DRAMControllerGymEnv, DRAMControllerVectorEnv = derive_envs(DRAMControllerEnv)
