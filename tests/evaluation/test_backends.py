"""Task backends: results in input order, errors naming the task's kwargs, the same
evaluation rows on Ray as locally (but for wall_seconds). Ray tests are skipped only
when Ray is not installed; one local Ray cluster serves the whole module."""

import argparse
import json
import sys

import pytest
import torch

from tunegym.evaluation.backends import TaskError, add_backend_argument, run_tasks
from tunegym.evaluation.protocol import evaluate
from tunegym.training import TrainConfig, train


@pytest.fixture(scope="module")
def ray_cluster():
    """A 2-CPU local Ray cluster for the module (start-up costs seconds)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny PPO checkpoint on the registered tunegym/Coverage-v0."""
    config = TrainConfig.from_mapping(
        {"env": "tunegym/Coverage-v0", "agent": "PPO", "timesteps": 64, "num_envs": 4,
         "agent_kwargs": {"n_steps": 16, "batch_size": 32}}, name="coverage")
    (summary,) = train(config, output_dir=tmp_path_factory.mktemp("runs"))
    return summary["checkpoint"]


def test_local_backend_returns_results_in_input_order():
    assert run_tasks(pow, [{"base": 2, "exp": exponent} for exponent in range(5)]) == \
        [1, 2, 4, 8, 16]
    assert run_tasks(pow, []) == []


def test_a_failing_task_names_its_kwargs():
    with pytest.raises(TaskError, match=r"task 1 of pow \(local backend\) failed with kwargs "
                                        r"\{'base': 0, 'exp': -1\}: ZeroDivisionError") as error:
        run_tasks(pow, [{"base": 2, "exp": 1}, {"base": 0, "exp": -1}])
    assert isinstance(error.value.__cause__, ZeroDivisionError)
    assert error.value.kwargs == {"base": 0, "exp": -1}


@pytest.mark.parametrize("kwargs, message", [
    ({"backend": "dask"}, r"backend must be one of \('local', 'ray'\), got 'dask'"),
    ({"num_cpus": 2}, "num_cpus applies to backend 'ray' only"),
    ({"backend": "ray", "num_cpus": 0}, "num_cpus must be an integer >= 1, got 0"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_tasks(pow, [{"base": 2, "exp": 1}], **kwargs)


def test_ray_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)      # makes `import ray` fail
    with pytest.raises(ImportError, match=r"pip install tunegym\[ray\]"):
        run_tasks(pow, [{"base": 2, "exp": 1}], backend="ray")


def test_backend_arguments():
    parser = argparse.ArgumentParser()
    add_backend_argument(parser)
    arguments = parser.parse_args(["--backend", "ray", "--num-cpus", "2"])
    assert (arguments.backend, arguments.num_cpus) == ("ray", 2)
    assert parser.parse_args([]).backend == "local"


def test_ray_backend_keeps_order_and_uses_one_thread_per_task(ray_cluster):
    kwargs = [{"base": 3, "exp": exponent} for exponent in range(6)]
    assert run_tasks(pow, kwargs, backend="ray") == [3 ** k for k in range(6)]
    assert run_tasks(pow, kwargs, backend="ray", num_cpus=1) == [3 ** k for k in range(6)]
    assert run_tasks(torch.get_num_threads, [{}, {}], backend="ray") == [1, 1]


def test_ray_task_errors_name_the_kwargs(ray_cluster):
    with pytest.raises(TaskError, match=r"task 1 of pow \(ray backend\) failed with kwargs "
                                        r"\{'base': 0, 'exp': -1\}: ZeroDivisionError") as error:
        run_tasks(pow, [{"base": 2, "exp": 1}, {"base": 0, "exp": -1}], backend="ray")
    assert isinstance(error.value.__cause__, ray_cluster.exceptions.RayTaskError)


def test_evaluate_on_ray_writes_the_local_rows(ray_cluster, checkpoint, tmp_path):
    local = evaluate("tunegym/Coverage-v0", checkpoint, num_seeds=3, output=tmp_path / "local")
    remote = evaluate("tunegym/Coverage-v0", checkpoint, num_seeds=3, output=tmp_path / "ray",
                      backend="ray")

    def without_time(rows):
        return [{key: value for key, value in row.items() if key != "wall_seconds"}
                for row in rows]

    assert [row["seed"] for row in remote] == [0, 1, 2]
    assert without_time(remote) == without_time(local)
    written = [json.loads(line) for line in (tmp_path / "ray.jsonl").read_text().splitlines()]
    assert written == remote
