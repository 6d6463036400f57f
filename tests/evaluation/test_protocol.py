"""The evaluation protocol: rows per test episode, validation by replay, refusals."""

import csv
import json
import math

import pytest

from tunegym.evaluation.protocol import evaluate, validate
from tunegym.evaluation.rows import FIELDS
from tunegym.training import TrainConfig, train


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    base = {"env": "tunegym/SolverSchedule-v0", "agent": "PPO", "timesteps": 64,
            "num_envs": 4, "agent_kwargs": {"n_steps": 16, "batch_size": 32}}
    # nfe 6 and num_samples 256 spell out the env's defaults: not a change
    train(TrainConfig.from_mapping({**base, "env_kwargs": {"nfe": 6, "num_samples": 256}},
                                   name="plain"), output_dir=root)
    train(TrainConfig.from_mapping({**base, "env_kwargs": {"nfe": 4}}, name="changed"),
          output_dir=root)
    return root


def test_evaluate_writes_one_row_per_episode_and_validates(checkpoints, tmp_path):
    checkpoint = checkpoints / "plain" / "seed_0" / "checkpoint.zip"
    rows = evaluate("tunegym/SolverSchedule-v0", checkpoint, num_seeds=3,
                    output=tmp_path / "plain")
    assert [row["seed"] for row in rows] == [0, 1, 2]
    for row in rows:
        assert row["episode_length"] == 6 and row["raw_metric"] == "error"
        # the return is -log(error) of the last step
        assert row["episode_return"] == pytest.approx(-math.log(row["raw_metric_value"]),
                                                      rel=1e-5)
    lines = (tmp_path / "plain.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == rows
    with open(tmp_path / "plain.csv") as handle:
        table = list(csv.DictReader(handle))
    assert tuple(table[0]) == FIELDS and len(table) == 3
    assert validate(tmp_path / "plain.jsonl") == []
    tampered = [json.loads(line) for line in lines]
    tampered[1]["episode_return"] += 0.5
    (tmp_path / "tampered.jsonl").write_text("".join(json.dumps(row) + "\n" for row in tampered))
    (mismatch,) = validate(tmp_path / "tampered.jsonl")
    assert mismatch["seed"] == 1 and mismatch["reason"] == "return differs"
    older = [{**row, "tunegym_version": "0.0.1"} for row in tampered[:1]]
    (tmp_path / "older.jsonl").write_text(json.dumps(older[0]) + "\n")
    (mismatch,) = validate(tmp_path / "older.jsonl")
    assert mismatch["reason"].startswith("recorded with tunegym 0.0.1")
    (tmp_path / "corrupt.jsonl").write_text(lines[0] + "\n{not json\n")
    with pytest.raises(ValueError, match="line 2 is not a JSON row"):
        validate(tmp_path / "corrupt.jsonl")
    (tmp_path / "short.jsonl").write_text(json.dumps({"seed": 0}) + "\n")
    with pytest.raises(ValueError, match="line 1 lacks"):
        validate(tmp_path / "short.jsonl")


def test_agents_with_changed_kwargs_or_other_envs_are_refused(checkpoints, tmp_path):
    changed = checkpoints / "changed" / "seed_0" / "checkpoint.zip"
    with pytest.raises(ValueError, match="changes tunegym/SolverSchedule-v0's kwargs"):
        evaluate("tunegym/SolverSchedule-v0", changed, output=tmp_path / "x")
    plain = checkpoints / "plain" / "seed_0" / "checkpoint.zip"
    with pytest.raises(ValueError, match="was trained on"):
        evaluate("tunegym/SOR-v0", plain, output=tmp_path / "x")
    with pytest.raises(ValueError, match=r"must be a checkpoint \(.zip or .pt\) written by"):
        evaluate("tunegym/SOR-v0", tmp_path / "missing.zip", output=tmp_path / "x")
    assert not list(tmp_path.glob("x*"))
