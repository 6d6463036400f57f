"""The accelerator cost model: workload MAC totals against published figures, layer
costs computed by hand, the DRAM-level refetch rules against a literal simulation of the
tile loops, the batched model against a plain-Python scalar reference, monotonicity."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tunegym.simulators.accelerator import (
    DATAFLOWS,
    INVALID_REASONS,
    Accelerator,
    LayerTable,
    evaluate,
)
from tunegym.simulators.workloads import WORKLOADS, Layer, conv, gemm, workload_layers

#: name -> (MACs of our table, layers in the network, published MACs, its source,
#: relative tolerance).
PUBLISHED_MACS = {
    "alexnet": (724_406_816, 8, 724e6, "Sze et al., Proc. IEEE 2017, Table III: 724M", 0.005),
    "resnet18": (1_814_073_344, 21, 1.81e9, "torchvision model table: 1.81 GFLOPS (MACs)",
                 0.005),
    "resnet50": (4_089_184_256, 54, 4.09e9, "torchvision model table: 4.09 GFLOPS (MACs)",
                 0.005),
    "mobilenetv2": (300_774_272, 53, 300e6, "Sandler et al., CVPR 2018, Table 4: 300M", 0.005),
    # Narayanan et al., SC 2021: a layer's forward pass is 24 s h^2 + 4 s^2 h FLOPs.
    "transformer": (4_026_531_840, 6, (24 * 512 * 768**2 + 4 * 512**2 * 768) / 2,
                    "Narayanan et al. 2021 (Megatron-LM), exact formula", 0.0),
}
#: Every per-access energy equals the anchor: 1 pJ scratchpads, 6 pJ global buffer.
ANCHORED = {"weight_spad_bytes": 512, "input_spad_bytes": 512, "psum_spad_bytes": 512,
            "global_buffer_bytes": 108 * 1024}


def design(**changes):
    values = {"pe_rows": 2, "pe_cols": 2, **ANCHORED, "noc_words_per_cycle": 2.0,
              "dram_bytes_per_cycle": 4.0, "dataflow": "output_stationary", **changes}
    return Accelerator.build(**values)


def single(layer, accelerator):
    return evaluate(LayerTable([layer]), accelerator)


def energy_pj(costs):
    return costs.energy_pj.sum(dim=(1, 2))


# ------------------------------------------------------------------ workloads
@pytest.mark.parametrize("name", list(PUBLISHED_MACS))
def test_workload_macs_match_the_published_totals(name):
    ours, layers, published, _source, tolerance = PUBLISHED_MACS[name]
    table = workload_layers(name)
    assert sum(layer.macs for layer in table) == ours
    assert sum(layer.count for layer in table) == layers
    assert sum(layer.macs for layer in WORKLOADS[name]()) == ours      # merging keeps MACs
    assert abs(ours - published) <= tolerance * published
    assert int(LayerTable(table).macs.sum()) == ours


def test_layer_shapes_of_known_layers():
    alexnet = {layer.name: layer for layer in workload_layers("alexnet")}
    assert alexnet["conv1"].shape == (96, 3, 55, 55, 11, 11, 4, 1)
    assert alexnet["conv2"].shape == (128, 48, 27, 27, 5, 5, 1, 2)
    depthwise = [layer for layer in workload_layers("mobilenetv2") if layer.groups > 1]
    assert depthwise and all(layer.out_channels == layer.in_channels == 1 for layer in depthwise)
    score = {layer.name: layer for layer in workload_layers("transformer")}["attention_score"]
    assert score.shape == (512, 64, 512, 1, 1, 1, 1, 12)


def test_bad_layers_and_workloads_are_refused():
    with pytest.raises(ValueError, match="out_channels must be an integer >= 1"):
        Layer("broken", 0, 3, 4)
    with pytest.raises(ValueError, match="workload must be one of"):
        workload_layers("resnet-50")
    with pytest.raises(ValueError, match="at least one layer"):
        LayerTable([])


# ------------------------------------------------------------ costs by hand
GEMM_4X4 = gemm("gemm", 4, 4, 4)          # W = I = O = 16 words, 64 MACs


def test_gemm_on_a_2x2_output_stationary_array_by_hand():
    costs = single(GEMM_4X4, design())
    # K = 4 over 2 rows, 4 pixels over 2 columns: 2 x 2 folds of C R S = 4 MACs each.
    assert costs.compute_cycles.item() == 16 and costs.utilisation.item() == 1.0
    # A PE keeps min(256 psums, 2 pixel folds) = 2 outputs, so weights come once; inputs
    # once per K fold (2); outputs written once: 16 + 32 + 16 NoC words at 2 words/cycle.
    assert costs.stationary_per_pe.item() == 2
    assert costs.noc_words[0, 0].tolist() == [16, 32, 16]
    assert costs.noc_cycles.item() == 32
    # Everything fits in the GLB: each operand crosses the DRAM bus once, 96 B at 4 B/cycle.
    assert costs.dram_words[0, 0].tolist() == [16, 16, 16]
    assert costs.dram_cycles.item() == 24 and costs.cycles.item() == 32
    # MAC 64 + scratchpads 64 + 64 + 128 + NoC 2 x 64 + GLB 6 x (64 + 32 fills + 16 drained)
    # + DRAM 200 x 48.
    assert costs.accesses[0, 0].tolist() == [64, 64, 64, 128, 64, 112, 48]
    assert energy_pj(costs).item() == pytest.approx(64 + 256 + 128 + 672 + 9600, rel=1e-12)
    assert costs.invalid_reason.item() == 0


def test_gemm_on_weight_and_row_stationary_arrays_by_hand():
    costs = single(GEMM_4X4, design(dataflow=["weight_stationary", "row_stationary"]))
    assert costs.compute_cycles.tolist() == [[16], [16]]
    # WS: C = 4 over 2 rows gives 2 partial-sum passes (outputs 16 x (2 x 2 - 1) = 48 words)
    # and 16 x (4 - 2) = 32 reduction hops down the columns; inputs come once (a PE keeps
    # both K folds' weights). RS (R = 1): 2 filter sets, weights once per P fold (2).
    assert costs.noc_words[:, 0].tolist() == [[16, 16, 48], [32, 16, 16]]
    assert costs.noc_cycles.tolist() == [[40], [32]]
    assert costs.accesses[:, 0, 4].tolist() == [80 + 32, 64]
    assert energy_pj(costs).tolist() == pytest.approx(
        [64 + 256 + 2 * 112 + 6 * (80 + 32 + 16) + 9600, 64 + 256 + 2 * 64 + 6 * 112 + 9600],
        rel=1e-12)
    assert costs.cycles.tolist() == [[40], [32]]


def test_3x3_conv_on_row_stationary_arrays_by_hand():
    layer = conv("conv", 1, 2, 2, 3)           # K = 2, C = 1, P = Q = 2, R = S = 3; H = W = 4
    costs = single(layer, design(pe_rows=[3, 2], pe_cols=2, dataflow="row_stationary"))
    # 3 rows: one filter set of 3 rows, K = 2 folds, P = 2 in 2 columns: 2 x C Q S = 12
    # cycles, 72 MACs on 6 PEs. 2 rows (R = 3 > 2): 2 row passes x 2 K folds, 24 cycles.
    assert costs.compute_cycles.tolist() == [[12], [24]]
    assert costs.utilisation.tolist() == [[1.0], [0.75]]
    # Weights 18 once; inputs 16 once per row pass; outputs 8 x (2 passes - 1); hops
    # 8 x (R - passes).
    assert costs.noc_words[:, 0].tolist() == [[18, 16, 8], [18, 32, 24]]
    assert costs.accesses[:, 0, 4].tolist() == [42 + 16, 74 + 8]
    assert costs.dram_words[:, 0].tolist() == [[18, 16, 8], [18, 16, 8]]


@pytest.mark.parametrize("buffer_words, dram_words", [(64, 48), (24, 48), (23, 64), (20, 64),
                                                      (3, 144), (2, None)])
def test_global_buffer_tiling_by_hand(buffer_words, dram_words):
    """GEMM 4x4x4: the whole layer needs 48 words. Both once (32 words of W + I) needs
    the whole of one operand: 4 + 16 + 4 = 24 words (one row of weights, all inputs, or
    the reverse). At 20 one of them is read twice: 48 + 16 outputs. The smallest tile (1
    weight, 1 input, 1 output: 3 words) reads every weight once per P tile and every
    input once per K tile: 64 + 64 + 16."""
    costs = single(GEMM_4X4, design(global_buffer_bytes=2 * buffer_words))
    if dram_words is None:
        assert INVALID_REASONS[costs.invalid_reason.item()] == "global buffer too small for one tile"
    else:
        assert costs.invalid_reason.item() == 0
        assert costs.dram_words.sum().item() == dram_words


def test_scratchpads_too_small_are_invalid_not_errors():
    layer = conv("conv", 3, 8, 5, 5)
    costs = single(layer, design(weight_spad_bytes=[48, 50, 512, 512],
                                 input_spad_bytes=[512, 512, 8, 512],
                                 dataflow=["weight_stationary", "weight_stationary",
                                           "row_stationary", "output_stationary"]))
    # WS needs R S = 25 words of weights; every dataflow a window of S = 5 inputs.
    assert [INVALID_REASONS[code] for code in costs.invalid_reason[:, 0].tolist()] == [
        "weight scratchpad too small for one tile", "valid",
        "input scratchpad too small for one tile", "valid"]
    assert bool(torch.isfinite(costs.cycles).all() & torch.isfinite(costs.energy_pj).all())
    assert costs.design_invalid_reason().tolist() == [1, 0, 2, 0]


def test_accelerator_build_refuses_bad_fields():
    with pytest.raises(ValueError, match="dataflow must be one of"):
        design(dataflow="row_stationery")
    with pytest.raises(ValueError, match="pe_rows must be positive"):
        design(pe_rows=0)
    with pytest.raises(ValueError, match="missing"):
        Accelerator.build(pe_rows=2)


def test_area_of_the_eyeriss_like_design():
    eyeriss = Accelerator.build(pe_rows=12, pe_cols=14, weight_spad_bytes=448, input_spad_bytes=24,
                                psum_spad_bytes=48, global_buffer_bytes=108 * 1024,
                                noc_words_per_cycle=16, dram_bytes_per_cycle=8,
                                dataflow="row_stationary")
    expected = 168 * (0.04 + 520 * 3.2e-5) + 108 * 1024 * 8e-6 + 16 * 0.05 + 8 * 0.1
    assert eyeriss.area_mm2().item() == pytest.approx(expected, rel=1e-12)
    assert 11.5 < expected < 12.5                           # Eyeriss's core: 12.25 mm^2


# ----------------------------------------------- DRAM tiling: literal loops
def powers_of_two_up_to(dimension):
    return [2 ** exponent for exponent in range(math.ceil(math.log2(dimension)) + 1)]


def tiling_options(layer):
    """(footprint, weight traffic, input traffic) of every GLB tiling option, per group,
    by the refetch rules (plain Python)."""
    k, c, p, q, r, s, stride, _ = layer.shape
    width = (q - 1) * stride + s
    options = []
    for wanted_k in powers_of_two_up_to(k):
        for wanted_p in powers_of_two_up_to(p):
            for wanted_c in powers_of_two_up_to(c):
                k_tile, p_tile, c_tile = -(-k // wanted_k), -(-p // wanted_p), -(-c // wanted_c)
                nk, np_, nc = -(-k // k_tile), -(-p // p_tile), -(-c // c_tile)
                footprint = (k_tile * c_tile * r * s + c_tile * ((p_tile - 1) * stride + r) * width
                             + k_tile * p_tile * q)
                weights = k * c * r * s
                inputs = c * width * ((p - np_) * stride + np_ * r)
                options.append((footprint, weights * (1 if nc == 1 else np_),
                                inputs * (1 if np_ == 1 and nc == 1 else nk)))
                options.append((footprint, weights * (1 if nk == 1 and nc == 1 else np_),
                                inputs * (1 if nc == 1 else nk)))
    return options


def simulated_traffic(layer, tile_sizes, weights_outer):
    """DRAM words of weights and inputs when the tile loops run literally, the GLB holding
    one tile per operand and refetching a tile whenever its index changes."""
    k, c, p, q, r, s, stride, _ = layer.shape
    width = (q - 1) * stride + s
    k_tile, p_tile, c_tile = tile_sizes

    def spans(total, size):
        return [(start, min(size, total - start)) for start in range(0, total, size)]

    resident_weights = resident_inputs = None
    weight_words = input_words = 0
    outer, inner = (spans(k, k_tile), spans(p, p_tile))
    for first in outer if weights_outer else inner:
        for second in inner if weights_outer else outer:
            k_span, p_span = (first, second) if weights_outer else (second, first)
            for c_span in spans(c, c_tile):
                if resident_weights != (k_span, c_span):
                    weight_words += k_span[1] * c_span[1] * r * s
                    resident_weights = (k_span, c_span)
                if resident_inputs != (p_span, c_span):
                    input_words += c_span[1] * ((p_span[1] - 1) * stride + r) * width
                    resident_inputs = (p_span, c_span)
    return weight_words, input_words


small = st.integers(1, 9)


@settings(max_examples=40, deadline=None)
@given(k=small, c=small, p=small, q=st.integers(1, 4), kernel=st.integers(1, 3),
       stride=st.integers(1, 2))
def test_refetch_rules_match_a_literal_run_of_the_tile_loops(k, c, p, q, kernel, stride):
    layer = Layer("layer", k, c, p, q, kernel, kernel, stride)
    options = iter(tiling_options(layer))
    for wanted_k in powers_of_two_up_to(k):
        for wanted_p in powers_of_two_up_to(p):
            for wanted_c in powers_of_two_up_to(c):
                sizes = (-(-k // wanted_k), -(-p // wanted_p), -(-c // wanted_c))
                for weights_outer in (True, False):
                    assert next(options)[1:] == simulated_traffic(layer, sizes, weights_outer)


# ------------------------------------------------------ scalar reference
def reference_layer(layer, values):
    """(energy pJ, cycles, invalid code, DRAM words) of one layer (all groups and repeats)
    on one design ``values`` (Accelerator.build kwargs), in plain Python."""
    k, c, p, q, r, s, stride, groups = layer.shape
    rows, cols = values["pe_rows"], values["pe_cols"]
    weight_capacity, input_capacity = values["weight_spad_bytes"] // 2, values["input_spad_bytes"] // 2
    psum_capacity = max(1, values["psum_spad_bytes"] // 2)
    height, width = (p - 1) * stride + r, (q - 1) * stride + s
    weights, inputs, outputs, macs = k * c * r * s, c * height * width, k * p * q, k * c * p * q * r * s
    flow = values["dataflow"]
    if flow == "weight_stationary":
        row_folds, col_folds = -(-c // rows), -(-k // cols)
        compute = row_folds * col_folds * p * q * r * s
        kept = min(max(1, min(weight_capacity // (r * s), psum_capacity)), col_folds)
        noc = (weights, inputs * -(-col_folds // kept))
        passes, hops, weight_needed = row_folds, c - row_folds, r * s
    elif flow == "output_stationary":
        row_folds, col_folds = -(-k // rows), -(-(p * q) // cols)
        compute = row_folds * col_folds * c * r * s
        kept = min(psum_capacity, col_folds)
        noc = (weights * -(-col_folds // kept), inputs * row_folds)
        passes, hops, weight_needed = 1, 0, 1
    else:
        row_passes = -(-r // rows)
        k_folds = -(-k // (rows // min(r, rows)))
        compute = row_passes * k_folds * -(-p // cols) * c * q * s
        kept = min(max(1, min(weight_capacity // s, psum_capacity)), k_folds)
        noc = (weights * -(-p // cols), inputs * row_passes * -(-k_folds // kept))
        passes, hops, weight_needed = row_passes, r - row_passes, s
    noc_words = noc[0] + noc[1] + outputs * (2 * passes - 1)
    buffer_words = values["global_buffer_bytes"] // 2
    fitting = [option for option in tiling_options(layer) if option[0] <= buffer_words]
    best = min(fitting, key=lambda option: option[1] + option[2]) if fitting else (0, 0, 0)
    dram_words = best[1] + best[2] + outputs
    per_access = [1.0] + [math.sqrt(values[name] / 512) for name in (
        "weight_spad_bytes", "input_spad_bytes", "psum_spad_bytes")] + [
        2.0, 6.0 * math.sqrt(values["global_buffer_bytes"] / (108 * 1024)), 200.0]
    accesses = [macs, macs, macs, 2 * macs, noc_words + outputs * hops,
                noc_words + dram_words, dram_words]
    repeats = groups * layer.count
    energy = sum(count * energy for count, energy in zip(accesses, per_access)) * repeats
    cycles = max(compute, noc_words / values["noc_words_per_cycle"],
                 2 * dram_words / values["dram_bytes_per_cycle"]) * repeats
    code = (1 if weight_capacity < weight_needed else 2 if input_capacity < s
            else 3 if not fitting else 0)
    return energy, cycles, code, dram_words * repeats


def random_designs(count, seed):
    generator = torch.Generator().manual_seed(seed)

    def pick(choices):
        return [choices[int(index)] for index in torch.randint(len(choices), (count,),
                                                               generator=generator)]

    return {"pe_rows": pick([1, 3, 4, 12, 16, 32]), "pe_cols": pick([1, 5, 14, 16, 64]),
            "weight_spad_bytes": pick([4, 16, 64, 448, 4096]),
            "input_spad_bytes": pick([2, 24, 96]), "psum_spad_bytes": pick([2, 8, 48, 512]),
            "global_buffer_bytes": pick([2048, 8192, 65536, 110592, 1 << 20]),
            "noc_words_per_cycle": pick([1.0, 4.0, 16.0, 64.0]),
            "dram_bytes_per_cycle": pick([1.0, 8.0, 64.0]), "dataflow": pick(list(DATAFLOWS))}


@pytest.mark.parametrize("name", ["alexnet", "mobilenetv2", "transformer"])
def test_batched_model_equals_the_scalar_reference(name):
    layers = workload_layers(name)
    values = random_designs(12, seed=len(name))
    costs = evaluate(LayerTable(layers), Accelerator.build(**values))
    for row in range(12):
        one = {key: column[row] for key, column in values.items()}
        for index, layer in enumerate(layers):
            energy, cycles, code, dram_words = reference_layer(layer, one)
            assert costs.invalid_reason[row, index].item() == code
            if code == 0:
                assert costs.energy_pj[row, index].sum().item() == pytest.approx(energy, rel=1e-12)
                assert costs.cycles[row, index].item() == pytest.approx(cycles, rel=1e-12)
                assert costs.dram_words[row, index].sum().item() == dram_words
    assert int((costs.invalid_reason == 0).sum()) >= 4 * len(layers)   # layers compared


# ------------------------------------------------------------ monotonicity
MONOTONE_TABLE = LayerTable(workload_layers("resnet18") + workload_layers("mobilenetv2")[:6]
                            + workload_layers("transformer")[:3])
design_values = st.fixed_dictionaries({
    "pe_rows": st.integers(1, 40), "pe_cols": st.integers(1, 40),
    "weight_spad_bytes": st.integers(2, 2048), "input_spad_bytes": st.integers(2, 256),
    "psum_spad_bytes": st.integers(2, 512), "global_buffer_bytes": st.integers(64, 1 << 20),
    "noc_words_per_cycle": st.floats(0.5, 128), "dram_bytes_per_cycle": st.floats(0.5, 128),
    "dataflow": st.sampled_from(DATAFLOWS)})


def base_and_bigger(values, name, bigger):
    pair = {key: [value, value] for key, value in values.items()}
    pair[name] = [values[name], bigger]
    return evaluate(MONOTONE_TABLE, Accelerator.build(**pair))


@settings(max_examples=60, deadline=None)
@given(values=design_values, name=st.sampled_from(["pe_rows", "pe_cols"]),
       extra=st.integers(1, 40))
def test_more_pes_never_raise_mac_bound_or_total_latency(values, name, extra):
    costs = base_and_bigger(values, name, values[name] + extra)
    assert bool((costs.compute_cycles[1] <= costs.compute_cycles[0]).all())
    assert bool((costs.cycles[1] <= costs.cycles[0] * (1 + 1e-12)).all())


@settings(max_examples=60, deadline=None)
@given(values=design_values,
       name=st.sampled_from(["weight_spad_bytes", "input_spad_bytes", "psum_spad_bytes",
                             "global_buffer_bytes"]),
       factor=st.integers(2, 64))
def test_bigger_buffers_never_raise_dram_or_noc_traffic(values, name, factor):
    costs = base_and_bigger(values, name, values[name] * factor)
    both_valid = (costs.invalid_reason == 0).all(dim=0)
    assert bool((costs.invalid_reason[1] == 0)[costs.invalid_reason[0] == 0].all())
    dram, noc = costs.dram_words.sum(dim=2), costs.noc_words.sum(dim=2)
    assert bool((dram[1] <= dram[0])[both_valid].all())
    assert bool((noc[1] <= noc[0])[both_valid].all())


@settings(max_examples=60, deadline=None)
@given(values=design_values, name=st.sampled_from(["dram_bytes_per_cycle",
                                                   "noc_words_per_cycle"]),
       factor=st.floats(1.0, 100.0))
def test_more_bandwidth_never_raises_latency(values, name, factor):
    costs = base_and_bigger(values, name, values[name] * factor)
    assert bool((costs.cycles[1] <= costs.cycles[0]).all())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu():
    values = random_designs(64, seed=3)
    cpu = evaluate(LayerTable(workload_layers("resnet50")), Accelerator.build(**values))
    gpu = evaluate(LayerTable(workload_layers("resnet50"), "cuda"),
                   Accelerator.build("cuda", **values))
    assert torch.equal(gpu.invalid_reason.cpu(), cpu.invalid_reason)
    torch.testing.assert_close(gpu.energy_pj.cpu(), cpu.energy_pj, rtol=1e-12, atol=0)
    torch.testing.assert_close(gpu.cycles.cpu(), cpu.cycles, rtol=1e-12, atol=0)
