"""scripts/archgym_lottery.py: with --quick (tiny budgets), both design envs, two search
agents and one seed, it writes and prints the lottery table and figure, and every
figure in them is the run's best design reward as the sweep rows and the runs'
summaries record it (read here straight from sweep.jsonl and summary.json)."""

import contextlib
import importlib.util
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "archgym_lottery.py"
ENVS = ("dram", "accelerator")
AGENTS = ("DesignRandomWalk", "AntColony")


def load_script():
    spec = importlib.util.spec_from_file_location("archgym_lottery", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module     # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lottery(tmp_path_factory):
    """(output folder, printed text) of a --quick run."""
    output = tmp_path_factory.mktemp("lottery")
    script = load_script()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert script.main(["--quick", "--envs", *ENVS, "--agents", *AGENTS, "--seeds", "0",
                            "--output-dir", str(output)]) == 0
    return output, printed.getvalue()


def table_row(markdown: str, env: str, agent: str) -> list[str]:
    [line] = [line for line in markdown.splitlines() if line.startswith(f"| {env} | {agent} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_table_and_the_figure_are_written_and_printed(lottery):
    output, printed = lottery
    markdown = (output / "lottery.md").read_text()
    assert (output / "lottery.png").read_bytes().startswith(b"\x89PNG")
    assert markdown.startswith("# ArchGym's hyperparameter lottery")
    table = markdown[markdown.index("| env |"):markdown.index("\n\n", markdown.index("| env |"))]
    assert table in printed
    for env in ENVS:
        for agent in AGENTS:
            assert table_row(markdown, env, agent)[0:2] == [env, agent]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("agent", AGENTS)
def test_the_figures_are_the_sweep_rows_best_rewards(lottery, env, agent):
    output, _ = lottery
    sweep_dir = output / env / agent
    rows = [json.loads(line) for line in (sweep_dir / "sweep.jsonl").read_text().splitlines()]
    assert len(rows) == {"DesignRandomWalk": 2, "AntColony": 4}[agent]      # settings x 1 seed
    for row in rows:        # the row's figure is the run's own summary's best_reward
        summary = json.loads((sweep_dir / row["slug"] / "seed_0" / "summary.json").read_text())
        assert summary["env_steps"] == 64                                  # the quick budget
        assert row["best_reward"] == summary["best_reward"] < 0
    figures = np.array([row["best_reward"] for row in rows])

    [result] = [result for result in json.loads((output / "lottery.json").read_text())["results"]
                if result["env"] == env and result["agent"] == agent]
    assert [run["best_reward"] for run in result["runs"]] == figures.tolist()    # exactly
    assert result["statistics"]["median"] == np.median(figures)

    cells = table_row((output / "lottery.md").read_text(), env, agent)
    best = rows[int(np.argmax(figures))]
    q25, median, q75 = np.percentile(figures, [25, 50, 75])
    assert cells[2:] == [
        f"{len(rows)} x 1", "64", f"{len(rows)}/{len(rows)}", f"{median:.4g}",
        f"{q75 - q25:.4g} ({q25:.4g} to {q75:.4g})", f"{figures.min():.4g}",
        f"{figures.max():.4g}", f"{figures.max():.4g} ({best['slug']}, seed 0)",
        f"{figures.max() - median:.4g}",
        f"{min(figures):.4g} to {max(figures):.4g}"]  # one seed: setting medians = runs


def test_runs_without_a_best_reward_are_listed_but_not_scored():
    script = load_script()
    rows = [{"slug": "a=1", "seed": 0, "best_reward": None},
            {"slug": "a=2", "seed": 0, "best_reward": None}]
    stats = script.statistics(rows)
    assert stats == {"runs": 2, "scored": 0}
    result = {"env": "dram", "agent": "PPO", "settings": 2, "seeds": [0], "budget": 8,
              "runs": [], "statistics": stats}
    assert table_row(script.table([result]), "dram", "PPO")[4:] == ["0/2"] + ["n/a"] * 7
    assert "PPO: the runs' summaries record no best_reward" in script.report([result], True, 1.0)
