"""The batched DRAM controller model against hand-derived closed forms, properties that
hold for it, batch invariance and input validation."""

import collections
import itertools
import math

import pytest
import torch

from tunegym.simulators import dram

P = dram.DDR3_1600
#: Per-command energies of the rank, by hand from the datasheet currents:
#: (IDD - IDD3N or IDD2N) x cycles x 1.25 ns x 1.5 V x 8 devices.
ACTIVATE_J = 25e-3 * 28 * 1.25e-9 * 1.5 * 8            # 10.5 nJ
PRECHARGE_J = 25e-3 * 10 * 1.25e-9 * 1.5 * 8           # 3.75 nJ
READ_J = 95e-3 * 4 * 1.25e-9 * 1.5 * 8                 # 5.7 nJ
WRITE_J = 100e-3 * 4 * 1.25e-9 * 1.5 * 8               # 6.0 nJ
REFRESH_J = 125e-3 * 88 * 1.25e-9 * 1.5 * 8            # 165 nJ
BACKGROUND_W = 45e-3 * 1.5 * 8                         # 0.54 W
DEFAULT_DESIGN = {"page_policy": 0, "scheduler": 0, "scheduler_buffer": 0,
                  "request_buffer_size": 8, "response_queue": 0, "refresh_policy": 0,
                  "refresh_max_postponed": 1, "refresh_max_pulledin": 1, "arbiter": 0,
                  "max_active_transactions": 128}
SIZES = (1, 2, 4, 8, 16, 32, 64, 128)


def designs(**choices):
    """A batch of designs: every knob one value or a list (the grid of all lists)."""
    space = {name: choices.get(name, DEFAULT_DESIGN[name]) for name in dram.KNOB_NAMES}
    space = {name: value if isinstance(value, (list, tuple, range)) else [value]
             for name, value in space.items()}
    grid = torch.tensor(list(itertools.product(*space.values())))
    return {name: grid[:, column] for column, name in enumerate(space)}


def make_trace(bank, row, burst=0, write=False, arrival=None):
    """Requests at (bank, row, burst of 64 B) by the documented rbc bit layout."""
    bank = torch.as_tensor(bank)
    shape = bank.shape
    row = torch.as_tensor(row).expand(shape)
    burst = torch.as_tensor(burst).expand(shape)
    address = (row << 16) | (bank << 13) | (burst << 6)
    arrival = torch.arange(shape[0]) if arrival is None else torch.as_tensor(arrival)
    return dram.Trace(address, torch.as_tensor(write).expand(shape), arrival)


def by_knob(result, batch, knob):
    """{other knob values: {knob value: cycles}} to compare designs differing in ``knob``."""
    others = [name for name in dram.KNOB_NAMES if name != knob]
    table = collections.defaultdict(dict)
    for row, cycles in enumerate(result["cycles"].tolist()):
        table[tuple(int(batch[name][row]) for name in others)][int(batch[knob][row])] = cycles
    return table


def row_interleaved_trace(seed, count=1500):
    """Reads to two banks at random, each to one of two rows at random: row hits for a
    scheduler that regroups, conflicts (bank-bound) for one that does not."""
    generator = torch.Generator().manual_seed(seed)
    return make_trace(torch.randint(0, 2, (count,), generator=generator),
                      torch.randint(0, 2, (count,), generator=generator),
                      torch.randint(0, 128, (count,), generator=generator))


# ---------------------------------------------------------------------------- mapping
def test_address_mapping_is_row_bank_column():
    analysis = make_trace(torch.tensor([0, 5, 7, 2]), torch.tensor([0, 3, 16383, 9]),
                          torch.tensor([0, 1, 127, 64])).analysis(P)
    assert analysis.bank.tolist() == [0, 5, 7, 2]
    assert (analysis.row_key - analysis.bank * P.rows).tolist() == [0, 3, 16383, 9]
    assert P.capacity_bytes == 2**30 and P.burst_cycles == 4 and P.act_spacing == 6


# ------------------------------------------------------------------------ closed forms
def stream_trace(count=2048):
    """Sequential bursts from address 0, one per cycle: 2048 fill 16 rows, 2 per bank."""
    return dram.Trace(torch.arange(count) * 64, torch.zeros(count, dtype=torch.bool),
                      torch.arange(count))


@pytest.mark.parametrize("scheduler, buffer, size", [(0, 0, 8), (1, 2, 16), (2, 1, 128)])
def test_open_page_stream_is_all_row_hits_at_the_bus_rate(scheduler, buffer, size):
    result = dram.simulate(stream_trace(), designs(scheduler=scheduler, scheduler_buffer=buffer,
                                                   request_buffer_size=size))
    # First ACT at cycle 0, its read tRCD later, then one burst every tCCD; the next
    # row's ACT is issued while the bus is busy.
    assert result["cycles"].item() == P.trcd + P.cl + P.burst_cycles + 2047 * P.tccd
    assert result["activates"].item() == 16 and result["precharges"].item() == 8


def test_a_one_request_buffer_exposes_every_row_opening():
    result = dram.simulate(stream_trace(), designs(scheduler_buffer=2, request_buffer_size=1))
    # Request k + 1 enters when k issues its column command, so k holds the controller
    # for max(1 + its preparation, the bank's column spacing): a hit tCCD, a row start
    # in a fresh bank 1 + tRCD, one replacing an old row 1 + tRP + tRCD; the last
    # request's own time is the tail.
    hits, misses, conflicts = 2048 - 16 - 1, 8, 8
    assert result["cycles"].item() == (hits * P.tccd + misses * (1 + P.trcd)
                                       + conflicts * (1 + P.trp + P.trcd))


@pytest.mark.parametrize("page, precharges", [(2, 600), (0, 599)])
@pytest.mark.parametrize("buffer, size", [(0, 8), (2, 1), (1, 32)])
def test_row_conflicts_in_one_bank_cost_trc_each(page, precharges, buffer, size):
    count = 600                               # every request a new row of bank 3
    trace = make_trace(torch.full((count,), 3), torch.arange(count) % 5000)
    result = dram.simulate(trace, designs(page_policy=page, scheduler_buffer=buffer,
                                          request_buffer_size=size))
    # Closed: every access a miss after auto-precharge; Open: a conflict. Either way
    # ACT to ACT is max(tRAS, tRCD + tRTP) + tRP = tRC.
    assert result["cycles"].item() == (count - 1) * P.trc + P.trcd + P.cl + P.burst_cycles
    assert result["activates"].item() == count
    assert result["precharges"].item() == precharges


def test_refreshes_are_floor_of_time_over_trefi_and_stall_in_groups():
    trace = dram.generate_trace("random", 11, 6000)            # saturated: no idle gap
    batch = designs(refresh_policy=[0, 1], refresh_max_postponed=[1, 3, 8],
                    page_policy=[0, 2])
    result = dram.simulate(trace, batch)
    table = collections.defaultdict(dict)
    for row in range(batch["page_policy"].shape[0]):
        key = (int(batch["refresh_max_postponed"][row]), int(batch["page_policy"][row]))
        table[key][int(batch["refresh_policy"][row])] = row
    for (postponed, _), rows in table.items():
        base = result["cycles"][rows[0]].item()
        cycles = result["cycles"][rows[1]].item()
        refreshes = result["refreshes"][rows[1]].item()
        assert refreshes == math.floor(cycles / P.trefi) > 0
        groups = math.ceil(refreshes / (postponed + 1))
        assert cycles == base + refreshes * P.trfc + groups * (P.trp + P.trcd)
        assert result["refreshes"][rows[0]].item() == 0


def test_refreshes_in_idle_gaps_are_free_up_to_the_pull_in_limit():
    count = 400
    arrival = torch.arange(count) + torch.where(torch.arange(count) >= 200, 30_000, 0)
    trace = make_trace(torch.arange(count) % 8, torch.arange(count) // 8, arrival=arrival)
    batch = designs(refresh_policy=[0, 1], refresh_max_pulledin=[1, 8])
    cycles = dram.simulate(trace, batch)["cycles"].tolist()
    refreshes = math.floor(cycles[0] / P.trefi)
    assert refreshes == 5                        # due during the gap of 30k cycles
    # The gap holds 30k / (tRP + tRFC) > 9 refreshes: 1 + 8 pulled in hides all five,
    # 1 + 1 hides two and the other three stall, in groups of 1 + max postponed = 2.
    no_refresh, few_pulled_in, many_pulled_in = cycles[0], cycles[2], cycles[3]
    assert cycles[1] == no_refresh and many_pulled_in == no_refresh
    assert few_pulled_in == no_refresh + 3 * P.trfc + 2 * (P.trp + P.trcd)


def test_energy_terms_are_counts_times_datasheet_energies():
    generator = torch.Generator().manual_seed(2)
    count = 3000
    trace = make_trace(torch.randint(0, 8, (count,), generator=generator),
                       torch.randint(0, 4, (count,), generator=generator),
                       write=torch.rand(count, generator=generator) < 0.3)
    batch = designs(page_policy=[0, 1, 2, 3], scheduler=[0, 2], refresh_policy=[0, 1])
    result = dram.simulate(trace, batch)
    writes = int(trace.is_write.sum())
    expected = {"activate": result["activates"] * ACTIVATE_J,
                "precharge": result["precharges"] * PRECHARGE_J,
                "read": torch.full_like(result["cycles"], (count - writes) * READ_J),
                "write": torch.full_like(result["cycles"], writes * WRITE_J),
                "refresh": result["refreshes"] * REFRESH_J,
                "background": BACKGROUND_W * result["latency_s"]}
    for term, value in expected.items():
        torch.testing.assert_close(result[f"energy_{term}_j"], value, rtol=1e-12, atol=0)
    torch.testing.assert_close(result["energy_j"], sum(expected.values()), rtol=1e-12, atol=0)
    torch.testing.assert_close(result["power_w"], result["energy_j"] / result["latency_s"])
    torch.testing.assert_close(result["latency_s"], result["cycles"] * 1.25e-9)
    assert result["reads"][0] == count - writes and result["writes"][0] == writes


def test_background_current_lies_between_idd2n_and_idd3n():
    params = dram.MemoryParameters(idd2n=30e-3)
    trace = dram.generate_trace("cloud-2", 1, 3000, params)
    result = dram.simulate(trace, designs(page_policy=[0, 2]), params)
    watts = result["energy_background_j"] / result["latency_s"]
    assert bool((watts > 30e-3 * 1.5 * 8).all() and (watts < BACKGROUND_W).all())
    assert watts[0] > watts[1]                       # open pages keep banks active longer


# -------------------------------------------------------------------------- properties
@pytest.mark.parametrize("seed", [0, 1])
def test_frfcfs_is_never_slower_than_fifo_on_row_interleaved_reads(seed):
    batch = designs(page_policy=range(4), scheduler=range(3), scheduler_buffer=range(3),
                    request_buffer_size=SIZES, arbiter=range(3),
                    max_active_transactions=[1, 16, 128])
    table = by_knob(dram.simulate(row_interleaved_trace(seed), batch), batch, "scheduler")
    assert all(cycles[1] <= cycles[0] and cycles[2] <= cycles[0] for cycles in table.values())
    # ... and much faster with open rows and room to regroup (Open, Bankwise 32, Simple).
    cycles = table[(0, 0, 32, 0, 0, 1, 1, 0, 128)]
    assert cycles[1] < 0.5 * cycles[0]


def test_a_bigger_request_buffer_never_hurts_frfcfs_on_the_stream():
    batch = designs(page_policy=range(4), scheduler=[1, 2], scheduler_buffer=range(3),
                    request_buffer_size=SIZES, response_queue=[0, 1], arbiter=range(3),
                    max_active_transactions=[1, 8, 32, 128])
    table = by_knob(dram.simulate(dram.generate_trace("stream", 5, 3000), batch), batch,
                    "request_buffer_size")
    for cycles in table.values():
        ordered = [cycles[size] for size in SIZES]
        assert ordered == sorted(ordered, reverse=True)


def test_closed_page_is_slower_than_open_page_on_the_stream():
    batch = designs(page_policy=[0, 2], scheduler=range(3), scheduler_buffer=range(3),
                    request_buffer_size=SIZES, arbiter=range(3),
                    max_active_transactions=[1, 128])
    table = by_knob(dram.simulate(dram.generate_trace("stream", 6, 3000), batch), batch,
                    "page_policy")
    assert all(cycles[2] > cycles[0] for cycles in table.values())


def test_norefresh_is_never_slower_and_small_buffers_serialise_random_traffic():
    batch = designs(refresh_policy=[0, 1], page_policy=range(4), scheduler_buffer=range(3),
                    request_buffer_size=[1, 128], arbiter=[0, 1],
                    max_active_transactions=[1, 128])
    result = dram.simulate(dram.generate_trace("random", 7, 4000), batch)
    table = by_knob(result, batch, "refresh_policy")
    assert all(cycles[0] <= cycles[1] for cycles in table.values())
    table = by_knob(result, batch, "request_buffer_size")
    assert all(cycles[128] <= cycles[1] for cycles in table.values())


# ------------------------------------------------------------------- batch invariance
def test_a_batch_equals_single_design_calls_bit_for_bit():
    generator = torch.Generator().manual_seed(5)
    batch = {name: torch.randint(0, len(dram.CATEGORICAL_KNOBS[name]), (24,),
                                 generator=generator)
             if name in dram.CATEGORICAL_KNOBS
             else torch.tensor(SIZES)[torch.randint(0, 8, (24,), generator=generator)]
             for name in dram.KNOB_NAMES}
    count = 2000
    trace = make_trace(torch.randint(0, 8, (count,), generator=generator),
                       torch.randint(0, 3, (count,), generator=generator),
                       write=torch.rand(count, generator=generator) < 0.2)
    together = dram.simulate(trace, batch)
    in_passes = dram.simulate(trace, batch, rows_per_pass=3)
    for row in range(0, 24, 5):
        alone = dram.simulate(trace, {name: value[row:row + 1] for name, value in batch.items()})
        for name, value in alone.items():
            assert value.item() == together[name][row].item() == in_passes[name][row].item()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    trace = dram.generate_trace("cloud-2", 3, 3000)
    batch = designs(page_policy=range(4), scheduler=range(3), request_buffer_size=SIZES)
    on_gpu = dram.simulate(dram.generate_trace("cloud-2", 3, 3000, device="cuda"),
                           {name: value.cuda() for name, value in batch.items()})
    on_cpu = dram.simulate(trace, batch)
    for name, value in on_cpu.items():
        torch.testing.assert_close(on_gpu[name].cpu(), value, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------- traces
def test_generated_traces_are_pure_functions_of_the_key():
    for name in dram.TRACE_NAMES:
        first = dram.generate_trace(name, 3, 10_000)
        assert len(first) == 10_000 and not bool(first.is_write.any())
        assert torch.equal(first.arrival_cycle, torch.arange(10_000))
        assert torch.equal(first.address, dram.generate_trace(name, 3, 10_000).address)
        assert not torch.equal(first.address, dram.generate_trace(name, 4, 10_000).address)
        assert bool((first.address % 64 == 0).all() and (first.address < 2**30).all())


@pytest.mark.parametrize("name, low, high", [("stream", 0.99, 1.0), ("random", 0.0, 0.01),
                                             ("cloud-1", 0.4, 0.6), ("cloud-2", 0.3, 0.6)])
def test_traces_have_their_share_of_sequential_bursts(name, low, high):
    address = dram.generate_trace(name, 8, 10_000).address
    # A burst is sequential when the burst 64 B before it was requested shortly before.
    recent = {}
    sequential = 0
    for index, value in enumerate(address.tolist()):
        sequential += index - recent.get(value - 64, -10**9) <= 64
        recent[value] = index
    assert low <= sequential / 10_000 <= high


# ------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("columns, message", [
    (([0, 64], [0, 0], [1, 0]), "arrival_cycle must be non-decreasing"),
    (([0, -64], [0, 0], [0, 1]), "address must be non-negative"),
    (([0, 64], [0], [0, 1]), "is_write must have one entry per request"),
    (([0, 64], [0, 0], [0]), "arrival_cycle must have one entry per request"),
    (([[0, 64]], [0, 0], [0, 1]), "address must be 1-D"),
    (([0.0, 64.0], [0, 0], [0, 1]), "address must hold integers"),
    (([0, 64], [0, 2], [0, 1]), "is_write must hold booleans or 0/1"),
    (([0, 64], [0, 0], [0, 2**28]), r"arrival_cycle must lie in \[0, 2\*\*28\)"),
    (([], [], []), "address must hold between 1 and"),
    ((["a"], [0], [0]), "address must be a 1-D array of numbers"),
])
def test_malformed_traces_raise_errors_naming_the_argument(columns, message):
    with pytest.raises(ValueError, match=message):
        dram.Trace(*columns)


def test_addresses_beyond_the_memory_and_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="capacity"):
        dram.simulate(dram.Trace([2**30], [0], [0]), designs())
    with pytest.raises(ValueError, match="banks must be a power of two"):
        dram.MemoryParameters(banks=6)
    with pytest.raises(ValueError, match="tREFI must exceed"):
        dram.MemoryParameters(trefi=100)
    with pytest.raises(ValueError, match="cl must be an integer"):
        dram.MemoryParameters(cl=10.5)
    with pytest.raises(ValueError, match="trace must be one of"):
        dram.generate_trace("zipf", 0)
    with pytest.raises(TypeError, match="trace must be a"):
        dram.simulate("stream", designs())


def test_malformed_designs_raise_errors_naming_the_knob():
    trace = dram.generate_trace("stream", 0, 100)
    batch = designs()
    with pytest.raises(ValueError, match="missing"):
        dram.simulate(trace, {name: value for name, value in batch.items() if name != "arbiter"})
    with pytest.raises(ValueError, match=r"designs\['page_policy'\] must hold indices in \[0, 4\)"):
        dram.simulate(trace, {**batch, "page_policy": torch.tensor([4])})
    with pytest.raises(ValueError, match=r"designs\['request_buffer_size'\] must hold integers"):
        dram.simulate(trace, {**batch, "request_buffer_size": torch.tensor([0])})
    with pytest.raises(ValueError, match="batch size"):
        dram.simulate(trace, {**batch, "arbiter": torch.tensor([0, 1])})
