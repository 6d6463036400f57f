"""The leaderboard: baseline policies, anchors, aggregates, outputs, refusals, replay."""

import base64
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import torch

import tunegym
from tunegym.baselines.random import random_actions
from tunegym.cli import main
from tunegym.core import check_action, make_batched_env, spec_hash
from tunegym.evaluation import leaderboard
from tunegym.evaluation.baseline_policies import baseline_names, play_baseline
from tunegym.evaluation.leaderboard import (
    SHIPPED_ENTRIES,
    build_leaderboard,
    compute_anchors,
    load_shipped_entries,
    read_html_table,
    score_agents,
)
from tunegym.evaluation.protocol import validate
from tunegym.evaluation.rows import FIELDS, RANDOM

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OUTPUTS = ("leaderboard.md", "leaderboard.html", "performance_profile.png",
           "score_distribution.png", "leaderboard.json")
SOR, COVERAGE = "tunegym/SOR-v0", "tunegym/Coverage-v0"


def make_row(env_id, agent, seed, episode_return, checkpoint=None):
    return {"env_id": env_id, "env_spec_sha256": spec_hash(env_id),
            "tunegym_version": version("tunegym"), "agent": agent, "checkpoint": checkpoint,
            "seed": seed, "instance_id": seed, "episode_return": episode_return,
            "episode_length": 1, "raw_metric": "x", "raw_metric_value": 0.0,
            "wall_seconds": 0.0}


def write_rows(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def synthetic_entries(path):
    """Shipped entries on every id: random returns 0 and 2 (mean 1), the anchor 3 and 5
    (mean 4), a weaker baseline 2 and 2: the normalised score is (return - 1) / 3."""
    rows = []
    for env_id in tunegym.registered_ids():
        for agent, returns in ((RANDOM, (0.0, 2.0)), ("baseline:anchor", (3.0, 5.0)),
                               ("baseline:weak", (2.0, 2.0))):
            rows += [make_row(env_id, agent, seed, value) for seed, value in enumerate(returns)]
    return write_rows(path, rows)


#: "mine" on two envs; normalised: SOR 0 1 2 3, coverage 1 1 0 3.
MINE = ([(SOR, seed, value) for seed, value in enumerate([1.0, 4.0, 7.0, 10.0])]
        + [(COVERAGE, seed, value) for seed, value in enumerate([4.0, 4.0, 1.0, 10.0])])


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """(folder, results file, report) of a leaderboard of MINE over synthetic entries;
    the synthetic entries stay the shipped ones while the module's tests run."""
    folder = tmp_path_factory.mktemp("synthetic")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(leaderboard, "SHIPPED_ENTRIES", synthetic_entries(folder / "shipped.jsonl"))
        patch.setattr(leaderboard, "SHIPPED_AGENT_ENTRIES", folder / "no_agent_entries.jsonl")
        results = write_rows(folder / "mine.jsonl", [make_row(env_id, "mine", seed, value)
                                                     for env_id, seed, value in MINE])
        report = build_leaderboard([results], folder / "out", reps=200)
        yield folder, results, report


def by_agent(report):
    return {summary["agent"]: summary for summary in report["agents"]}


# ----------------------------------------------------------------- baseline policies
def test_baseline_rows_have_the_protocol_format_and_replay_in_any_batch():
    rows = play_baseline(COVERAGE, RANDOM, [0, 1, 2, 3])
    assert [tuple(row) for row in rows] == [FIELDS] * 4
    assert all(row["checkpoint"] is None and row["episode_length"] == 40 for row in rows)
    (single,) = play_baseline(COVERAGE, RANDOM, [2])
    assert single["episode_return"] == rows[2]["episode_return"]
    assert baseline_names(SOR) == (RANDOM, "baseline:gauss_seidel",
                                   "baseline:young_model_problem", "baseline:instance_optimal")
    with pytest.raises(ValueError, match="agent must be one of"):
        play_baseline(COVERAGE, "baseline:oracle", [0])
    with pytest.raises(ValueError, match="is not registered"):
        play_baseline("tunegym/Nope-v0", RANDOM, [0])


def test_random_actions_are_legal():
    env = make_batched_env("tunegym/QuantumArchSearch-v0", 16, split="test")
    env.reset(torch.arange(16))
    last_action = env.state["last_action"].clone()
    last_action[:, :2] = 0                 # the last gate was action 0, CNOT(0, 1)
    env.state = {**env.state, "last_action": last_action}
    masks = env.action_masks()
    actions = random_actions(env, 1)
    assert not bool(masks[:, 0].any()) and bool(masks[torch.arange(16), actions].all())
    solver = make_batched_env("tunegym/SolverSchedule-v0", 8, split="test")
    solver.reset(torch.arange(8))
    draws = random_actions(solver, 0)
    check_action(solver.single_action_space, draws, 8)
    assert not torch.equal(draws, random_actions(solver, 1))


def test_shipped_entries_cover_every_id_and_replay(tmp_path):
    rows = [json.loads(line) for line in SHIPPED_ENTRIES.read_text().splitlines()]
    assert {row["env_id"] for row in rows} == set(tunegym.registered_ids())
    for env_id in tunegym.registered_ids():
        agents = {row["agent"] for row in rows if row["env_id"] == env_id}
        assert agents == set(baseline_names(env_id))
    cheap = [row for row in rows if row["env_id"] in (COVERAGE, "tunegym/SolverSchedule-v0")]
    assert validate(write_rows(tmp_path / "cheap.jsonl", cheap)) == []
    tampered = [row for row in cheap if row["env_id"] == COVERAGE]
    tampered[3]["episode_return"] += 0.5
    (mismatch,) = validate(write_rows(tmp_path / "tampered.jsonl", tampered))
    assert mismatch["reason"] == "return differs" and mismatch["seed"] == tampered[3]["seed"]


# ----------------------------------------------------------------- scores and anchors
def test_scores_match_a_hand_computation(synthetic):
    folder, _, report = synthetic
    agents = by_agent(report)
    summary = agents["mine"]
    # pooled sorted scores 0 0 1 1 1 2 3 3: the middle half is 1 1 1 2
    assert summary["iqm"]["point"] == pytest.approx(1.25)
    assert summary["mean"]["point"] == pytest.approx(11 / 8)
    assert summary["median"]["point"] == pytest.approx((1.5 + 1.25) / 2)
    assert summary["optimality_gap"]["point"] == pytest.approx(2 / 8)
    # random scores -1/3 and 1/3: mine wins 7 of the 8 pairs on each env
    improvement = summary["probability_of_improvement"]
    assert improvement["point"] == pytest.approx(7 / 8) and improvement["envs"] == [COVERAGE, SOR]
    assert summary["iqm"]["low"] <= 1.25 <= summary["iqm"]["high"]
    assert summary["per_env"][SOR]["normalised_mean"] == pytest.approx(1.5)
    assert summary["envs"] == [COVERAGE, SOR]
    assert len(summary["missing_envs"]) == len(tunegym.registered_ids()) - 2
    for env_id in tunegym.registered_ids():
        assert report["anchors"][env_id]["anchor_agent"] == "baseline:anchor"
        assert agents[RANDOM]["per_env"][env_id]["normalised_mean"] == pytest.approx(0.0)
        assert agents["baseline:anchor"]["per_env"][env_id]["normalised_mean"] == pytest.approx(1)
    assert agents[RANDOM]["probability_of_improvement"] is None
    assert list(agents) == ["mine", "baseline:anchor", "baseline:weak", RANDOM]   # by IQM
    markdown = (folder / "out" / "leaderboard.md").read_text()
    # mine covers one env of two families: it is ranked in each family on that env only,
    # beside the baselines on that env
    tables = {(table["family"], tuple(table["envs"])): table for table in report["tables"]}
    sor_only = tables[("sor", (SOR,))]
    assert [summary["agent"] for summary in sor_only["agents"]] == [
        "mine", "baseline:anchor", "baseline:weak", RANDOM]
    assert sor_only["agents"][0]["mean"]["point"] == pytest.approx(1.5)
    assert sor_only["agents"][1]["mean"]["point"] == pytest.approx(1.0)
    assert "| mine | 1/1 | 4 | " in markdown
    # every table ranks agents over exactly its envs; baselines cover whole families
    for table in report["tables"]:
        assert all(summary["envs"] == table["envs"] for summary in table["agents"])
    sor_family = next(table for table in report["tables"] if table["family"] == "sor")
    assert len(sor_family["envs"]) == 4 and "mine" not in [
        summary["agent"] for summary in sor_family["agents"]]
    everywhere = report["tables"][-1]
    assert everywhere["family"] is None and "mine" not in [
        summary["agent"] for summary in everywhere["agents"]]


def test_uneven_episode_counts_are_cut_to_the_smallest(synthetic, tmp_path):
    rows = ([make_row(SOR, "mine", seed, 4.0 + seed) for seed in range(4)]
            + [make_row(COVERAGE, "mine", seed, 4.0) for seed in range(2)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(leaderboard, "SHIPPED_ENTRIES", synthetic[0] / "shipped.jsonl")
        report = build_leaderboard([write_rows(tmp_path / "r.jsonl", rows)], tmp_path / "out",
                                   include_shipped=False, reps=50)
    summary = by_agent(report)["mine"]
    assert summary["episodes_per_env"] == 2 and summary["episodes_dropped"] == {SOR: 2}
    assert summary["mean"]["point"] == pytest.approx((1 + 4 / 3 + 1 + 1) / 4)
    assert summary["per_env"][SOR]["episodes"] == 4          # per-env means use them all
    assert list(by_agent(report)) == ["mine"]                 # --no-shipped: baselines left out
    assert summary["probability_of_improvement"]["against"] == RANDOM     # still a reference
    assert "mine: aggregates over 2 episodes per env (the lowest seeds)" in (
        tmp_path / "out" / "leaderboard.md").read_text()


def test_shipped_anchors_score_zero_and_one():
    entries, stale = load_shipped_entries()
    assert stale == {}
    anchors, _ = compute_anchors([row for _, row in entries])
    assert set(anchors) >= {SOR, COVERAGE, "tunegym/SolverSchedule-v0",
                            "tunegym/QuantumArchSearch-v0"}
    agents = score_agents(entries, anchors)
    for env_id, anchor in anchors.items():
        assert anchor.anchor_return > anchor.random_return
        assert agents[RANDOM].per_env[env_id].mean() == pytest.approx(0.0, abs=1e-12)
        best = agents[anchor.anchor_agent].per_env[env_id]
        assert best.mean() == pytest.approx(1.0, abs=1e-12)
        # the formula, by hand
        returns = agents[anchor.anchor_agent].returns[env_id]
        assert np.allclose(best, (returns - anchor.random_return)
                           / (anchor.anchor_return - anchor.random_return))


def test_envs_without_an_anchor_are_not_scored(synthetic, tmp_path, monkeypatch):
    rows = [json.loads(line) for line in (synthetic[0] / "shipped.jsonl").read_text().splitlines()]
    entries = [row for row in rows if row["env_id"] != SOR or row["agent"] == RANDOM]
    for row in entries:               # coverage changed since its entries were computed
        if row["env_id"] == COVERAGE:
            row["env_spec_sha256"] = "0" * 64
    monkeypatch.setattr(leaderboard, "SHIPPED_ENTRIES",
                        write_rows(tmp_path / "entries.jsonl", entries))
    rooms = write_rows(tmp_path / "rooms.jsonl", [make_row("tunegym/CoverageTwoRooms-v0",
                                                           "mine", 0, 4.0)])
    report = build_leaderboard([synthetic[1], rooms], tmp_path / "out", include_shipped=False,
                               reps=20)
    assert SOR not in report["anchors"] and COVERAGE not in report["anchors"]
    assert report["unscored_rows"] == {SOR: 4, COVERAGE: 4}
    assert by_agent(report)["mine"]["envs"] == ["tunegym/CoverageTwoRooms-v0"]
    markdown = (tmp_path / "out" / "leaderboard.md").read_text()
    assert ("SOR-v0 is not scored: it has no baseline besides baseline:random to anchor a "
            "score of 1; 4 result rows on it are left out.") in markdown
    assert ("Coverage-v0 is not scored: its shipped baseline entries were recorded with "
            "another env spec of tunegym/Coverage-v0; rerun scripts/compute_baseline_entries.py "
            "--envs tunegym/Coverage-v0; 4 result rows on it are left out.") in markdown


# ----------------------------------------------------------------- outputs
def test_outputs_tables_and_pngs(synthetic):
    folder, _, report = synthetic
    output = folder / "out"
    assert sorted(path.name for path in output.iterdir()) == sorted(OUTPUTS)
    for name in ("performance_profile.png", "score_distribution.png"):
        assert (output / name).read_bytes().startswith(PNG_SIGNATURE)
    assert json.loads((output / "leaderboard.json").read_text()) == report
    first = report["tables"][0]
    agents = [summary["agent"] for summary in first["agents"]]
    page = (output / "leaderboard.html").read_text()
    table = read_html_table(page)
    assert [row[0]["text"] for row in table["rows"]] == agents
    assert [cell["text"] for cell in table["headers"]][:4] == ["agent", "envs", "episodes",
                                                              "IQM [95% CI]"]
    assert len(table["headers"]) == 8 + len(first["envs"])
    means = {row[0]["text"]: float(row[4]["data-value"]) for row in table["rows"]}
    assert means == {summary["agent"]: summary["mean"]["point"] for summary in first["agents"]}
    for index, ranked in enumerate(report["tables"][1:], start=1):
        rows = read_html_table(page, f"leaderboard-{index}")["rows"]
        assert [row[0]["text"] for row in rows] == [summary["agent"]
                                                    for summary in ranked["agents"]]
        assert all(cell["data-value"] != "" for row in rows for cell in row[8:])
    assert "://" not in page                     # no network: every image is a data: URL
    images = page.split('src="data:image/png;base64,')[1:]
    assert len(images) == 2 + len(tunegym.registered_ids())
    for image in images:
        assert base64.b64decode(image.split('"')[0]).startswith(PNG_SIGNATURE)
    assert len(read_html_table(page, "anchors")["rows"]) == len(tunegym.registered_ids())
    lines = (output / "leaderboard.md").read_text().splitlines()
    header = lines.index(next(line for line in lines if line.startswith("| agent |")))
    assert lines[header - 2] == f"## {first['title']}: " + ", ".join(
        env.removeprefix("tunegym/") for env in first["envs"])
    table_lines = lines[header + 2:header + 2 + len(agents)]
    assert [line.split(" | ")[0].removeprefix("| ") for line in table_lines] == agents
    assert lines[header + 2 + len(agents)] == ""


def test_writes_are_atomic_and_bad_input_is_refused(synthetic, tmp_path, monkeypatch):
    monkeypatch.setattr(leaderboard, "SHIPPED_ENTRIES", synthetic[0] / "shipped.jsonl")
    output = shutil.copytree(synthetic[0] / "out", tmp_path / "out")
    before = {name: (output / name).read_bytes() for name in OUTPUTS}
    good = make_row(SOR, "mine", 0, 1.0)
    cases = {
        "line 2 is not a JSON row": json.dumps(good) + "\n{not json\n",
        r"line 1 lacks \['seed'": json.dumps({k: v for k, v in good.items() if k != "seed"}),
        "was recorded with tunegym 0.0.1, this is": json.dumps({**good,
                                                                "tunegym_version": "0.0.1"}),
        "another env spec of tunegym/SOR-v0: its score is not comparable": json.dumps(
            {**good, "env_spec_sha256": "0" * 64}),
        "env_id 'tunegym/Nope-v0'": json.dumps({**good, "env_id": "tunegym/Nope-v0"}),
        "episode_return nan": json.dumps({**good, "episode_return": float("nan")}),
        "line 3 repeats the row of agent 'mine'": json.dumps(good) + "\n\n" + json.dumps(good),
    }
    for message, text in cases.items():
        (tmp_path / "bad.jsonl").write_text(text + "\n")
        with pytest.raises(ValueError, match=message):
            build_leaderboard([tmp_path / "bad.jsonl"], output, reps=20)
    with pytest.raises(ValueError, match="against must be one of the agents"):
        build_leaderboard([], output, against="nobody", reps=20)
    with pytest.raises(TypeError, match="result_paths must be a list"):
        build_leaderboard("results.jsonl", output)
    with pytest.raises(ValueError, match="at least one results file"):
        build_leaderboard([], output, include_shipped=False)

    def broken(*arguments):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(leaderboard, "performance_profile_png", broken)
    with pytest.raises(RuntimeError):
        build_leaderboard([], output, reps=20)
    assert {name: (output / name).read_bytes() for name in OUTPUTS} == before
    assert sorted(path.name for path in output.iterdir()) == sorted(OUTPUTS)   # no temporaries


def test_command_line(synthetic, tmp_path, capsys, monkeypatch):
    folder, results, _ = synthetic
    monkeypatch.setattr(leaderboard, "SHIPPED_ENTRIES", folder / "shipped.jsonl")
    assert main(["leaderboard", str(results), "--output-dir", str(tmp_path / "cli"),
                 "--reps", "20", "--no-shipped", "--against", "baseline:weak"]) == 0
    assert "| mine | 1/1 | 4 |" in capsys.readouterr().out
    report = json.loads((tmp_path / "cli" / "leaderboard.json").read_text())
    assert report["against"] == "baseline:weak" and not report["include_shipped"]
    # weak scores 1/3 everywhere: mine wins 6 of 8 episodes outright, ties none
    assert by_agent(report)["mine"]["probability_of_improvement"]["point"] == pytest.approx(0.75)
    with pytest.raises(SystemExit, match="tunegym leaderboard: against must be one of"):
        main(["leaderboard", "--against", "nobody"])


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed")
def test_html_sorts_in_headless_chromium(synthetic):
    page = synthetic[0] / "out" / "leaderboard.html"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_leaderboard_html.py"),
                             str(page)], capture_output=True, text=True, timeout=120,
                            check=False, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sorted by mean on a header click" in result.stdout


def test_the_browser_check_fails_on_a_page_whose_script_did_not_run(synthetic):
    spec = importlib.util.spec_from_file_location(
        "check_leaderboard_html", ROOT / "scripts" / "check_leaderboard_html.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    page = synthetic[0] / "out" / "leaderboard.html"
    found = check.problems(page, page.read_text())        # the DOM before any script ran
    assert len(found) == 3 and "did not run" in found[0]
