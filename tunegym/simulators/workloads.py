"""DNN workloads for the accelerator model: layer tables of conv and GEMM layers.

Every layer is one loop nest in the notation of Eyeriss and Timeloop, per group:
``K`` output channels, ``C`` input channels, ``P x Q`` output pixels, ``R x S`` filter
taps and a stride; ``groups`` independent copies of that nest (grouped convolutions,
depthwise convolutions with K = C = 1, attention heads) and a ``count`` of identical
layers in the network (repeated blocks share one row, so a table of L rows stands for
``sum(count)`` layers). A GEMM ``(M x C) @ (C x N)`` is the layer K = N, C = C,
P = M, Q = R = S = 1: its second operand plays the weights, its first the inputs.
Batch size 1, 224 x 224 images.

Workloads (multiply-accumulates; tests/simulators/test_accelerator.py checks them
against the published figures named there):

| name | rows | MACs | network |
| --- | --- | --- | --- |
| alexnet | 8 | 724 406 816 | Krizhevsky et al. 2012: two-tower grouping of conv2/4/5, as in Eyeriss; 3 FC layers |
| resnet18 | 12 | 1 814 073 344 | He et al. 2016, torchvision layout (the FC included) |
| resnet50 | 24 | 4 089 184 256 | torchvision ResNet-50 (v1.5: stride in the 3x3) |
| mobilenetv2 | 31 | 300 774 272 | Sandler et al. 2018, width 1.0; depthwise = groups |
| transformer | 6 | 4 026 531 840 | one BERT-base encoder layer, 512 tokens, width 768, 12 heads, MLP 3072 (GEMMs only) |

Biases, normalisation, pooling, activations, residual additions and the softmax are
not counted (they are not MACs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Layer:
    """One conv or GEMM layer (see the module docstring for the notation).

    Attributes:
        name: the network's name of the layer (the first one of a repeated shape).
        out_channels: K, output channels per group.
        in_channels: C, input channels per group.
        out_height, out_width: P, Q, output pixels.
        kernel_height, kernel_width: R, S, filter taps.
        stride: the same in both directions.
        groups: independent copies of the loop nest (1 for a dense layer).
        count: identical layers in the network that this row stands for.
    """

    name: str
    out_channels: int
    in_channels: int
    out_height: int
    out_width: int = 1
    kernel_height: int = 1
    kernel_width: int = 1
    stride: int = 1
    groups: int = 1
    count: int = 1

    def __post_init__(self) -> None:
        for field in ("out_channels", "in_channels", "out_height", "out_width",
                      "kernel_height", "kernel_width", "stride", "groups", "count"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"layer {self.name!r}: {field} must be an integer >= 1, "
                                 f"got {value!r}")

    @property
    def shape(self) -> tuple[int, ...]:
        """Everything but the name and the count: layers of equal shape cost the same."""
        return (self.out_channels, self.in_channels, self.out_height, self.out_width,
                self.kernel_height, self.kernel_width, self.stride, self.groups)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of all ``count`` layers."""
        product = self.count
        for dimension in self.shape[:6] + (self.groups,):
            product *= dimension
        return product


def conv(name: str, in_channels: int, out_channels: int, out_size: int, kernel: int,
         stride: int = 1, groups: int = 1) -> Layer:
    """A square convolution with ``out_size x out_size`` outputs (channels in total,
    divided among ``groups``)."""
    return Layer(name, out_channels // groups, in_channels // groups, out_size, out_size,
                 kernel, kernel, stride, groups)


def gemm(name: str, rows: int, inner: int, columns: int, groups: int = 1) -> Layer:
    """``groups`` products (rows x inner) @ (inner x columns)."""
    return Layer(name, columns, inner, rows, groups=groups)


def merge_repeated(layers: list[Layer]) -> tuple[Layer, ...]:
    """One row per distinct shape, in order of first appearance, counting repeats."""
    merged: dict[tuple[int, ...], Layer] = {}
    for layer in layers:
        first = merged.get(layer.shape)
        merged[layer.shape] = layer if first is None else replace(
            first, count=first.count + layer.count)
    return tuple(merged.values())


def alexnet() -> list[Layer]:
    """AlexNet (Krizhevsky et al., NeurIPS 2012) with its two-tower grouping."""
    return [conv("conv1", 3, 96, 55, 11, stride=4),
            conv("conv2", 96, 256, 27, 5, groups=2),
            conv("conv3", 256, 384, 13, 3),
            conv("conv4", 384, 384, 13, 3, groups=2),
            conv("conv5", 384, 256, 13, 3, groups=2),
            gemm("fc6", 1, 256 * 6 * 6, 4096),
            gemm("fc7", 1, 4096, 4096),
            gemm("fc8", 1, 4096, 1000)]


def resnet(blocks_per_stage: tuple[int, ...], bottleneck: bool) -> list[Layer]:
    """torchvision's ResNet on 224 x 224 images (stride in the first 3x3 of a stage)."""
    layers = [conv("conv1", 3, 64, 112, 7, stride=2)]
    channels, size = 64, 56                                       # after the 3x3/2 max pool
    for stage, (blocks, width) in enumerate(zip(blocks_per_stage, (64, 128, 256, 512)), 1):
        for block in range(blocks):
            stride = 2 if stage > 1 and block == 0 else 1
            out_size, prefix = size // stride, f"layer{stage}.{block}"
            if bottleneck:
                out = 4 * width
                layers += [conv(f"{prefix}.conv1", channels, width, size, 1),
                           conv(f"{prefix}.conv2", width, width, out_size, 3, stride),
                           conv(f"{prefix}.conv3", width, out, out_size, 1)]
            else:
                out = width
                layers += [conv(f"{prefix}.conv1", channels, width, out_size, 3, stride),
                           conv(f"{prefix}.conv2", width, width, out_size, 3)]
            if stride != 1 or channels != out:
                layers.append(conv(f"{prefix}.downsample", channels, out, out_size, 1, stride))
            channels, size = out, out_size
    return layers + [gemm("fc", 1, channels, 1000)]


def mobilenetv2() -> list[Layer]:
    """MobileNetV2 1.0 (Sandler et al., CVPR 2018, Table 2): inverted residual blocks of
    1x1 expansion, 3x3 depthwise (groups = channels) and 1x1 projection."""
    layers = [conv("conv1", 3, 32, 112, 3, stride=2)]
    channels, size, index = 32, 112, 0
    for expansion, out, repeats, first_stride in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2),
                                                  (6, 64, 4, 2), (6, 96, 3, 1),
                                                  (6, 160, 3, 2), (6, 320, 1, 1)):
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            hidden, out_size, prefix = channels * expansion, size // stride, f"block{index}"
            if expansion != 1:
                layers.append(conv(f"{prefix}.expand", channels, hidden, size, 1))
            layers += [conv(f"{prefix}.depthwise", hidden, hidden, out_size, 3, stride,
                            groups=hidden),
                       conv(f"{prefix}.project", hidden, out, out_size, 1)]
            channels, size, index = out, out_size, index + 1
    return layers + [conv("conv_last", channels, 1280, size, 1),
                     gemm("classifier", 1, 1280, 1000)]


def transformer(tokens: int = 512, width: int = 768, heads: int = 12,
                mlp_width: int = 3072) -> list[Layer]:
    """One transformer encoder layer as GEMMs (BERT-base sizes by default): the fused
    QKV projection, per-head scores Q K^T and score-value products, the output
    projection and the two MLP GEMMs."""
    head_width = width // heads
    return [gemm("qkv_projection", tokens, width, 3 * width),
            gemm("attention_score", tokens, head_width, tokens, groups=heads),
            gemm("attention_value", tokens, tokens, head_width, groups=heads),
            gemm("output_projection", tokens, width, width),
            gemm("mlp_up", tokens, width, mlp_width),
            gemm("mlp_down", tokens, mlp_width, width)]


#: Workload name -> builder of its layer list.
WORKLOADS: dict[str, Callable[[], list[Layer]]] = {
    "alexnet": alexnet,
    "resnet18": functools.partial(resnet, (2, 2, 2, 2), False),
    "resnet50": functools.partial(resnet, (3, 4, 6, 3), True),
    "mobilenetv2": mobilenetv2,
    "transformer": transformer,
}


@functools.cache
def workload_layers(name: str) -> tuple[Layer, ...]:
    """The layer table of workload ``name`` (a key of WORKLOADS), repeats merged."""
    if name not in WORKLOADS:
        raise ValueError(f"workload must be one of {tuple(WORKLOADS)}, got {name!r}")
    return merge_repeated(WORKLOADS[name]())
