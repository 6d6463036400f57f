"""``tunegym/AcceleratorDesign-v0``: design a DNN accelerator for a workload.

After ArchGym's Timeloop and MAESTRO environments (Krishnan et al., "ArchGym", ISCA
2023), without the external tools: each step proposes one accelerator design, which
:mod:`tunegym.simulators.accelerator` costs on every layer of the episode's workload
(a batched analytical model of a PE array with scratchpads, a global buffer, a NoC and
DRAM). Per layer the model's mapper picks the global-buffer tiling (the least DRAM
traffic that fits); the dataflow fixes the spatial mapping and the scratchpads the
reuse per PE. Metrics are summed over the workload's layers.

Action: MultiDiscrete, one choice per knob of :data:`DESIGN_SPACE` (``env.decode`` /
``env.encode`` translate to and from ``{knob name: value}``):

| knob                 | choices                               | default |
| -------------------- | ------------------------------------- | --- |
| pe_rows, pe_cols     | 4 8 12 16 24 32 / 4 8 14 16 24 32 PEs | 12 x 14 |
| weight_spad_bytes    | 16 64 128 256 448 1024 (per PE)       | 448 |
| input_spad_bytes     | 8 16 24 48 96 (per PE)                | 24 |
| psum_spad_bytes      | 8 16 48 96 192 (per PE)               | 48 |
| global_buffer_kib    | 4 8 16 32 64 108 256 512              | 108 |
| noc_words_per_cycle  | 2 4 8 16 32 64                        | 16 |
| dram_bytes_per_cycle | 2 4 8 16 32 64                        | 8 |
| dataflow             | weight_ / output_ / row_stationary    | row_stationary |

The default (:data:`DEFAULT_DESIGN`) is Eyeriss-like: Eyeriss's 12 x 14 PEs, scratchpads
(224 / 12 / 24 words) and 108 KiB global buffer with its row-stationary dataflow (Chen
et al., ISCA 2016 / JSSC 2017), and nominal NoC and DRAM bandwidths.

Info (+inf for invalid designs, as DesignEnv reports them): ``energy_j``,
``latency_s``, ``cycles``, ``area_mm2`` and the same relative to the default design on
the episode's workload: ``energy_vs_default``, ``latency_vs_default``,
``area_vs_default``; ``invalid_reason`` (codes into ``env.invalid_reasons``: a
scratchpad too small for the sliding window or stationary tile of some layer, or a
global buffer too small for its smallest tile).

Reward: :class:`~tunegym.envs.design_space.DesignEnv`'s minus the relative distance to
the targets. The default targets are ArchGym's: the default design minus 30 % energy,
minus 20 % latency and minus 15 % area, on the episode's workload, i.e.
``{"energy_vs_default": 0.7, "latency_vs_default": 0.8, "area_vs_default": 0.85}``
(the distance |x / x_default - 0.7| / 0.7 equals |x - t| / t for t = 0.7 x_default).
Absolute targets (``energy_j``, ``latency_s``, ``area_mm2``) fit one workload. An
invalid design earns ``invalid_reward``.

Instances: ``workload`` is one name of :data:`tunegym.simulators.workloads.WORKLOADS`,
a list (one drawn per episode from the seed) or a dict {"train": ..., "test": ...}. By
default train draws from the CNNs alexnet, resnet18 and mobilenetv2 and test from
resnet50 and the transformer layer, so a test score measures designing for unseen
networks.

Observation: DesignEnv's (log10 of every metric of the last design over its scale, an
invalid flag, the fraction of the episode elapsed).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from tunegym.core import derive_envs, did_you_mean, split_choices
from tunegym.core.random import choice_index, hash_keys
from tunegym.envs.design_space import DesignEnv, DesignSpace, Knob
from tunegym.simulators.accelerator import (
    CLOCK_HZ,
    DATAFLOWS,
    INVALID_REASONS,
    Accelerator,
    LayerTable,
    evaluate,
)
from tunegym.simulators.workloads import WORKLOADS, workload_layers

DESIGN_SPACE = DesignSpace([
    Knob("pe_rows", (4, 8, 12, 16, 24, 32), "PEs"),
    Knob("pe_cols", (4, 8, 14, 16, 24, 32), "PEs"),
    Knob("weight_spad_bytes", (16, 64, 128, 256, 448, 1024), "bytes"),
    Knob("input_spad_bytes", (8, 16, 24, 48, 96), "bytes"),
    Knob("psum_spad_bytes", (8, 16, 48, 96, 192), "bytes"),
    Knob("global_buffer_kib", (4, 8, 16, 32, 64, 108, 256, 512), "KiB"),
    Knob("noc_words_per_cycle", (2, 4, 8, 16, 32, 64), "words/cycle"),
    Knob("dram_bytes_per_cycle", (2, 4, 8, 16, 32, 64), "bytes/cycle"),
    Knob("dataflow", DATAFLOWS),
])
DEFAULT_DESIGN = {"pe_rows": 12, "pe_cols": 14, "weight_spad_bytes": 448, "input_spad_bytes": 24,
                  "psum_spad_bytes": 48, "global_buffer_kib": 108, "noc_words_per_cycle": 16,
                  "dram_bytes_per_cycle": 8, "dataflow": "row_stationary"}
DEFAULT_WORKLOADS = {"train": ["alexnet", "resnet18", "mobilenetv2"],
                     "test": ["resnet50", "transformer"]}


def check_workload(name) -> None:
    """Raise a ValueError (with a did-you-mean) unless ``name`` is a known workload."""
    if not isinstance(name, str) or name not in WORKLOADS:
        raise ValueError(f"workload must be one of {tuple(WORKLOADS)} (or a list of them, or "
                         f"a dict per split), got {name!r}{did_you_mean(name, WORKLOADS)}")


@functools.cache
def _layer_table(name: str, device: torch.device) -> LayerTable:
    return LayerTable(workload_layers(name), device)


class AcceleratorDesignEnv(DesignEnv):
    """Batched DNN-accelerator design (see the module docstring).

    Args:
        num_envs: see :class:`~tunegym.envs.design_space.DesignEnv`.
        device: see :class:`~tunegym.envs.design_space.DesignEnv`.
        split: see :class:`~tunegym.envs.design_space.DesignEnv`.
        targets: see :class:`~tunegym.envs.design_space.DesignEnv`.
        target_mode: see :class:`~tunegym.envs.design_space.DesignEnv`.
        horizon: see :class:`~tunegym.envs.design_space.DesignEnv`.
        invalid_reward: see :class:`~tunegym.envs.design_space.DesignEnv`.
        workload: a workload name, a list of names or a per-split dict (default
            :data:`DEFAULT_WORKLOADS`).
    """

    design_space = DESIGN_SPACE
    metric_keys = ("energy_j", "latency_s", "area_mm2", "energy_vs_default",
                   "latency_vs_default", "area_vs_default")
    metric_scales: ClassVar[dict[str, float]] = {
        "energy_j": 1e-2, "latency_s": 0.1, "area_mm2": 10.0, "energy_vs_default": 1.0,
        "latency_vs_default": 1.0, "area_vs_default": 1.0}
    invalid_reasons = INVALID_REASONS
    default_design: ClassVar[dict[str, Any]] = DEFAULT_DESIGN
    instance_feature_count = 3
    raw_metric = "energy_j"

    def __init__(self, num_envs: int = 1, device: str = "cpu", split: str = "train",
                 workload: str | list[str] | dict[str, str | list[str]] | None = None,
                 targets: Mapping[str, float] | None = None, target_mode: str = "match",
                 horizon: int = 10,
                 invalid_reward: float = -10.0) -> None:
        super().__init__(num_envs, device, split, targets, target_mode, horizon,
                         invalid_reward)
        self.workloads = split_choices("workload", DEFAULT_WORKLOADS if workload is None
                                       else workload, split, check_workload)
        self.tables = [_layer_table(name, self.device) for name in self.workloads]
        default = torch.as_tensor(self.encode(DEFAULT_DESIGN), device=self.device)[None, :]
        accelerator = self.accelerator(default)
        costs = [evaluate(table, accelerator) for table in self.tables]
        self.default_energy_j = torch.cat([cost.design_energy_j() for cost in costs])
        self.default_cycles = torch.cat([cost.design_cycles() for cost in costs])
        self.default_area_mm2 = accelerator.area_mm2()
        # log10 of the workload's MACs, weight words and activation words, centred.
        self.workload_features = torch.log10(torch.tensor(
            [[float((table.macs).sum()),
              float((table.weight_words * table.groups * table.count).sum()),
              float(((table.input_words + table.output_words) * table.groups
                     * table.count).sum())] for table in self.tables],
            dtype=torch.float64, device=self.device)) - torch.tensor(
            [9.0, 7.0, 7.0], dtype=torch.float64, device=self.device)

    def default_targets(self) -> dict[str, float]:
        return {"energy_vs_default": 0.70, "latency_vs_default": 0.80, "area_vs_default": 0.85}

    def instance_state(self, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        keys = hash_keys(self.split_key, seeds)
        return {"workload": choice_index(keys, len(self.workloads), stream=71)}

    def instance_features(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """(b, 3): log10 of the workload's MACs - 9, weight words - 7 and activation
        words (inputs and outputs of every layer) - 7."""
        return self.workload_features[state["workload"]]

    def accelerator(self, designs: torch.Tensor) -> Accelerator:
        """The :class:`Accelerator` (B,) of designs (B, K) of choice indices."""
        def value(name, dtype=torch.int64):
            return self.design_space.values(designs, name, dtype)

        return Accelerator(
            pe_rows=value("pe_rows"), pe_cols=value("pe_cols"),
            weight_spad_bytes=value("weight_spad_bytes"),
            input_spad_bytes=value("input_spad_bytes"),
            psum_spad_bytes=value("psum_spad_bytes"),
            global_buffer_bytes=value("global_buffer_kib") * 1024,
            noc_words_per_cycle=value("noc_words_per_cycle", torch.float64),
            dram_bytes_per_cycle=value("dram_bytes_per_cycle", torch.float64),
            dataflow=designs[:, self.design_space.column("dataflow")])

    def evaluate_designs(self, state, designs):
        accelerator = self.accelerator(designs)
        workload = state["workload"]
        energy = torch.zeros(designs.shape[0], dtype=torch.float64, device=self.device)
        cycles, invalid = torch.zeros_like(energy), torch.zeros_like(workload)
        for index, table in enumerate(self.tables):     # one batched call per workload
            rows = workload == index
            costs = evaluate(table, accelerator.select(rows))
            energy[rows] = costs.design_energy_j()
            cycles[rows] = costs.design_cycles()
            invalid[rows] = costs.design_invalid_reason()
        area = accelerator.area_mm2()
        metrics = {"energy_j": energy, "latency_s": cycles / CLOCK_HZ, "cycles": cycles,
                   "area_mm2": area,
                   "energy_vs_default": energy / self.default_energy_j[workload],
                   "latency_vs_default": cycles / self.default_cycles[workload],
                   "area_vs_default": area / self.default_area_mm2}
        return metrics, invalid


AcceleratorDesignGymEnv, AcceleratorDesignVectorEnv = derive_envs(AcceleratorDesignEnv)
