"""Design datasets (recorder, save/load, random collection) and proxy models / proxy envs,
on a toy design env whose metrics are a known closed form of the knobs."""

import json
import math
from typing import ClassVar

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from tunegym.cli import main
from tunegym.core import derive_envs, register_family
from tunegym.core.random import hash_keys
from tunegym.envs.design_space import DesignEnv, DesignSpace, Knob, target_distance
from tunegym.proxy import dataset as design_dataset
from tunegym.proxy import model as proxy_model
from tunegym.proxy.dataset import (
    DesignRecorder,
    collect_random_designs,
    load_design_dataset,
    sidecar_path,
)
from tunegym.proxy.model import (
    DesignProxy,
    ProxyDesignEnv,
    fit_proxy,
    load_proxy,
    make_proxy_env,
    make_proxy_vector_env,
    register_proxy_env,
)

TOY_ID = "tunegymtest/ToyDesign-v0"      # outside the tunegym/ namespace: not in registered_ids
POLICY_FACTOR = {"lru": 1.0, "fifo": 1.3, "random": 1.7}
WORKLOAD_FACTOR = torch.tensor([1.0, 1.5, 0.7], dtype=torch.float64)


def toy_metrics(cores, cache_kib, policy, voltage_v, load, workload):
    """The toy env's closed form: float64 (B,) each; arguments are knob values and the
    instance parameters (load in [1, 2), workload index in {0, 1, 2})."""
    policy_factor = torch.tensor([POLICY_FACTOR[name] for name in policy], dtype=torch.float64)
    latency_s = 1e-3 * load * cores ** -0.7 * cache_kib ** -0.3 * policy_factor / voltage_v
    energy_j = (2e-3 * load * voltage_v ** 2 * cores ** 0.5 * (1 + 0.05 * cache_kib)
                * WORKLOAD_FACTOR[workload])
    area_mm2 = 0.5 * cores + 0.02 * cache_kib
    return {"latency_s": latency_s, "energy_j": energy_j, "area_mm2": area_mm2}


class ToyDesignEnv(DesignEnv):
    """Four knobs, three metrics, per-episode ``load`` in [1, 2) and ``workload`` in
    {0, 1, 2}; cores = 8 with a 1 KiB cache is invalid (code 1). Extra info metrics:
    ``cycles`` (positive) and ``stall_s`` (0 under the lru policy)."""

    design_space = DesignSpace([Knob("cores", (1, 2, 4, 8)),
                                Knob("cache_kib", (1, 2, 4, 8, 16, 32, 64), "KiB"),
                                Knob("policy", ("lru", "fifo", "random")),
                                Knob("voltage_v", (0.7, 0.8, 0.9, 1.0), "V")])
    metric_keys = ("latency_s", "energy_j", "area_mm2")
    metric_scales: ClassVar[dict[str, float]] = {"latency_s": 1e-3, "energy_j": 1e-3,
                                                 "area_mm2": 1.0}
    invalid_reasons = ("valid", "cache smaller than one line per core")
    raw_metric = "latency_s"

    def default_targets(self):
        return {"latency_s": 2e-4, "energy_j": 2e-3}

    def instance_state(self, seeds):
        keys = hash_keys(self.split_key, seeds)
        return {"load": (1 + keys.to(torch.float64) / 2**32).to(self.device),
                "workload": (hash_keys(keys, 1) % 3).to(self.device),
                "trace": torch.zeros(seeds.shape[0], 3, device=self.device)}   # not scalar

    def evaluate_designs(self, state, designs):
        values = {name: self.design_space.values(designs, name)
                  for name in ("cores", "cache_kib", "voltage_v")}
        policy = [self.design_space.knobs[2].choices[index] for index in designs[:, 2].tolist()]
        metrics = toy_metrics(policy=policy, load=state["load"].cpu(),
                              workload=state["workload"].cpu(),
                              **{name: value.cpu() for name, value in values.items()})
        metrics["cycles"] = metrics["latency_s"] * 1e9
        metrics["stall_s"] = metrics["latency_s"] * (designs[:, 2] != 0).cpu()
        invalid = (values["cores"] == 8) & (values["cache_kib"] == 1)
        return ({key: value.to(self.device) for key, value in metrics.items()},
                invalid.to(torch.int64))


ToyDesignGymEnv, ToyDesignVectorEnv = derive_envs(ToyDesignEnv)


@pytest.fixture(scope="module", autouse=True)
def toy_id():
    register_family(TOY_ID, __name__, "ToyDesign", {"horizon": 4})
    yield TOY_ID
    gymnasium.registry.pop(TOY_ID)


@pytest.fixture(scope="module")
def dataset():
    return collect_random_designs(TOY_ID, 3000, seed=1, batch_size=512)


@pytest.fixture(scope="module")
def proxy(dataset):
    return fit_proxy(dataset, holdout=0.2, seed=0, epochs=60, hidden_size=64, layers=2,
                     batch_size=128)


def random_designs(count, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(int(n), (count,), generator=generator)
                        for n in ToyDesignEnv.design_space.nvec], dim=1)


# ---------------------------------------------------------------- recording
def test_recorder_logs_every_design_and_leaves_the_env_unchanged():
    recorded, plain = ToyDesignEnv(num_envs=6), ToyDesignEnv(num_envs=6)
    recorder = DesignRecorder(recorded, env_id="toy", env_kwargs={"device": "cpu", "x": 1})
    outputs = []
    for env in (recorded, plain):
        env.reset(torch.arange(10, 16))
        trajectory = []
        for step in range(6):
            result = env.step(random_designs(6, step))
            trajectory.append(result)
            env.autoreset(result[2] | result[3])
        outputs.append(trajectory)
    for (obs, reward, term, trunc, info), (obs2, reward2, term2, trunc2, info2) in zip(*outputs):
        assert torch.equal(obs, obs2) and torch.equal(reward, reward2)
        assert torch.equal(term, term2) and torch.equal(trunc, trunc2)
        assert info.keys() == info2.keys()
        assert all(torch.equal(info[key], info2[key]) for key in info)
    dataset = recorder.dataset()
    assert len(dataset) == len(recorder) == 36
    rewards = torch.cat([step[1] for step in outputs[0]])
    assert torch.equal(dataset.reward, rewards)
    assert torch.equal(dataset.designs, torch.cat([random_designs(6, step) for step in range(6)]))
    # Horizon 10: no episode ended, so every env kept its seed.
    assert torch.equal(dataset.episode_seed, torch.arange(10, 16).repeat(6))
    assert dataset.spec["env_id"] == "toy" and dataset.spec["env_kwargs"] == {"x": 1}
    # The (b, 3) trace is no scalar instance parameter.
    assert dataset.spec["instance_features"] == [{"name": "load", "dtype": "float64"},
                                                 {"name": "workload", "dtype": "int64"}]
    assert dataset.spec["extra_metrics"] == ["cycles", "stall_s"]
    expected = toy_metrics(torch.tensor(dataset.knob_values("cores"), dtype=torch.float64),
                           torch.tensor(dataset.knob_values("cache_kib"), dtype=torch.float64),
                           dataset.knob_values("policy"),
                           torch.tensor(dataset.knob_values("voltage_v"), dtype=torch.float64),
                           dataset.instance["load"], dataset.instance["workload"].long())
    valid = dataset.valid
    for key, value in expected.items():
        assert torch.allclose(dataset.metrics[key][valid], value[valid], rtol=1e-12)
        assert bool((dataset.metrics[key][~valid] == math.inf).all())
    recorder.detach()
    assert "step" not in vars(recorded)
    recorded.step(random_designs(6, 0))
    assert len(recorder) == 36


def test_recorder_works_through_the_gymnasium_front_ends(toy_id):
    env = gymnasium.make(toy_id)
    recorder = DesignRecorder(env)
    env.reset(seed=3)
    for _ in range(5):
        if env.step(env.action_space.sample())[3]:
            env.reset()
    dataset = recorder.dataset()
    assert dataset.spec["env_id"] == toy_id and dataset.spec["horizon"] == 4
    assert dataset.episode_seed.tolist() == [3, 3, 3, 3, dataset.episode_seed[4].item()]
    assert dataset.episode_seed[4] != 3
    vector = gymnasium.make_vec(toy_id, num_envs=3, vectorization_mode="vector_entry_point")
    vector_recorder = DesignRecorder(vector)
    vector.reset(seed=0)
    vector.step(vector.action_space.sample())
    assert len(vector_recorder) == 3
    assert "num_envs" not in vector_recorder.dataset().spec["env_kwargs"]


def test_recorder_refuses_a_second_recorder_and_other_envs():
    env = ToyDesignEnv()
    DesignRecorder(env)
    with pytest.raises(ValueError, match="already has a recorder"):
        DesignRecorder(env)
    with pytest.raises(TypeError, match="must be a DesignEnv"):
        DesignRecorder(gymnasium.make("tunegym/SOR-v0"))
    with pytest.raises(ValueError, match="nothing recorded yet"):
        DesignRecorder(ToyDesignEnv()).dataset()


def test_collect_random_designs_is_deterministic_and_uniform(dataset):
    assert len(dataset) == 3000
    again = collect_random_designs(TOY_ID, 3000, seed=1, batch_size=512)
    assert torch.equal(again.designs, dataset.designs)
    assert torch.equal(again.reward, dataset.reward)
    counts = torch.bincount(dataset.designs[:, 1], minlength=7)
    assert counts.min() > 3000 / 7 * 0.8
    # Horizon 4 (the registered kwargs): env i plays seeds 1 + i, then new episodes.
    assert dataset.episode_seed[:512].tolist() == list(range(1, 513))
    assert dataset.episode_seed.unique().numel() > 512
    assert dataset.spec["env_kwargs"] == {"horizon": 4}
    assert not bool(dataset.valid.all())


@pytest.mark.parametrize("bad, match", [
    ({"env_id": "tunegym/SOR-v0", "count": 4}, "not a design env"),
    ({"env_id": TOY_ID, "count": 0}, "count must be an integer >= 1"),
    ({"env_id": TOY_ID, "count": 4, "seed": -1}, "seed must be an integer >= 0"),
    ({"env_id": "tunegym/Nope-v0", "count": 4}, "not registered"),
])
def test_collect_random_designs_names_bad_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        collect_random_designs(**bad)


def test_dataset_checks_its_columns(dataset):
    with pytest.raises(ValueError, match=r"designs must have shape \(3000, 4\)"):
        design_dataset.DesignDataset(dataset.spec, dataset.episode_seed, dataset.designs[:, :2],
                                     dataset.metrics, dataset.invalid_reason, dataset.reward,
                                     dataset.instance)
    with pytest.raises(ValueError, match="column 'reward' must have shape"):
        design_dataset.DesignDataset(dataset.spec, dataset.episode_seed, dataset.designs,
                                     dataset.metrics, dataset.invalid_reason,
                                     dataset.reward[:5], dataset.instance)
    with pytest.raises(ValueError, match="unknown knob 'core'"):
        dataset.knob_values("core")


# ---------------------------------------------------------------- save / load
def assert_same_dataset(loaded, dataset):
    assert loaded.spec == dataset.spec
    for name in ("episode_seed", "designs", "invalid_reason", "reward"):
        first, second = getattr(loaded, name), getattr(dataset, name)
        assert first.dtype == second.dtype and torch.equal(first, second), name
    for key in dataset.metrics:
        assert torch.equal(loaded.metrics[key], dataset.metrics[key])
    assert loaded.instance.keys() == dataset.instance.keys()
    assert all(torch.equal(loaded.instance[key], dataset.instance[key]) for key in dataset.instance)


def test_csv_round_trip_is_exact(dataset, tmp_path):
    path = dataset.save(tmp_path / "toy.csv")
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["rows"] == 3000 and sidecar["tunegym_version"]
    assert sidecar["knobs"][2] == {"name": "policy", "choices": ["lru", "fifo", "random"],
                                   "unit": ""}
    header = path.read_text().splitlines()[0].split(",")
    assert header[:3] == ["episode_seed", "choice:cores", "cores"]
    assert header[-9:] == ["instance:load", "instance:workload", "latency_s", "energy_j",
                           "area_mm2", "cycles", "stall_s", "invalid_reason", "reward"]
    assert_same_dataset(load_design_dataset(path), dataset)


def test_parquet_round_trip_is_exact(dataset, tmp_path):
    pytest.importorskip("pyarrow")
    assert_same_dataset(load_design_dataset(dataset.save(tmp_path / "toy.parquet")), dataset)


def test_a_failed_save_leaves_no_partial_file(dataset, tmp_path, monkeypatch):
    path = tmp_path / "toy.csv"

    def half_written(temporary, columns):
        temporary.write_text("episode_seed,choice:cores\n1,")
        raise OSError("disk full")

    monkeypatch.setattr(design_dataset, "_write_csv", half_written)
    with pytest.raises(OSError, match="disk full"):
        dataset.save(path)
    assert list(tmp_path.iterdir()) == []


def test_load_names_corrupt_and_mismatched_files(dataset, tmp_path):
    small = dataset.subset(slice(0, 20))
    path = small.save(tmp_path / "toy.csv")
    other = dataset.subset(slice(20, 40)).save(tmp_path / "other.csv")
    with pytest.raises(ValueError, match="path must end in one of"):
        small.save(tmp_path / "toy.txt")
    with pytest.raises(FileNotFoundError, match="sidecar"):
        load_design_dataset(tmp_path / "missing.csv")

    path.write_bytes(other.read_bytes())                       # data replaced, sidecar kept
    with pytest.raises(ValueError, match="does not match its sidecar"):
        load_design_dataset(path)
    small.save(path)
    text = path.read_text().replace(",lru,", ",LRU,", 1)          # edited by hand
    path.write_text(text)
    with pytest.raises(ValueError, match="SHA-256"):
        load_design_dataset(path)

    small.save(path)
    sidecar = sidecar_path(path)
    sidecar.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_design_dataset(path)
    spec = json.loads(sidecar_path(other).read_text())
    for change, match in [({"format": "other"}, "not a tunegym design dataset"),
                          ({"format_version": 99}, "format_version 99"),
                          ({"rows": 21}, "must have 21 rows"),
                          ({"columns": spec["columns"][::-1]}, "has columns")]:
        sidecar_path(other).write_text(json.dumps({**spec, **change}))
        with pytest.raises(ValueError, match=match):
            load_design_dataset(other)
    sidecar_path(other).write_text(json.dumps({key: value for key, value in spec.items()
                                               if key != "knobs"}))
    with pytest.raises(ValueError, match=r"lacks the entries \['knobs'\]"):
        load_design_dataset(other)


# ---------------------------------------------------------------- proxy
def closed_form_check(proxy, count=2000, seed=99):
    """RMSE of relative error (per metric) of the proxy on fresh valid designs and loads,
    against the closed form."""
    designs = random_designs(count, seed)
    knobs = ToyDesignEnv.design_space.knobs
    values = [torch.tensor([knob.choices[i] for i in designs[:, column].tolist()],
                           dtype=torch.float64) for column, knob in enumerate(knobs)
              if knob.name != "policy"]
    policy = [knobs[2].choices[i] for i in designs[:, 2].tolist()]
    generator = torch.Generator().manual_seed(seed)
    load = 1 + torch.rand(count, generator=generator, dtype=torch.float64)
    workload = torch.randint(3, (count,), generator=generator)
    truth = toy_metrics(values[0], values[1], policy, values[2], load, workload)
    metrics, code = proxy.predict(designs, torch.stack([load, workload.double()], dim=1))
    valid = ~((values[0] == 8) & (values[1] == 1))
    assert torch.equal(code, (~valid).to(torch.int64))
    return {key: float(((metrics[key][valid] - truth[key][valid]) / truth[key][valid])
                       .square().mean().sqrt()) for key in truth}


def test_mlp_proxy_recovers_the_closed_form(proxy):
    report = proxy.report
    assert report["train_rows"] == 2400 and report["holdout_rows"] == 600
    assert report["validity_accuracy"] == 1.0 and report["unmodelled_metrics"] == ["stall_s"]
    assert proxy.metric_keys == [*ToyDesignEnv.metric_keys, "cycles"]
    assert list(report["relative_rmse"]) == list(report["rmse"]) == proxy.metric_keys
    assert proxy.categories == {"workload": [0.0, 1.0, 2.0]}
    assert max(report["relative_rmse"].values()) < 0.03
    errors = closed_form_check(proxy)
    assert max(errors.values()) < 0.03, errors


def test_forest_proxy_matches_scikit_learn_and_fits_roughly(dataset):
    pytest.importorskip("sklearn")
    from sklearn.ensemble import RandomForestRegressor

    proxy = fit_proxy(dataset, model="forest", seed=0, trees=8)
    assert proxy.report["validity_accuracy"] == 1.0
    assert max(proxy.report["relative_rmse"].values()) < 0.2
    # The tensor forest predicts what scikit-learn's forest predicts, to rounding.
    features = torch.randn(50, proxy.feature_mean.numel(), dtype=torch.float64)
    targets = torch.randn(50, 2, dtype=torch.float64)
    fitted = RandomForestRegressor(n_estimators=3, random_state=0).fit(features, targets)
    converted = proxy_model.TensorForest.from_sklearn(fitted)
    probe = torch.randn(200, features.shape[1], dtype=torch.float64)
    assert np.allclose(converted(probe).numpy(), fitted.predict(probe.numpy()), atol=1e-12)


def test_proxy_save_load_round_trip(proxy, tmp_path):
    path = proxy.save(tmp_path / "proxy.pt")
    loaded = load_proxy(path)
    assert loaded.spec == proxy.spec and loaded.report == proxy.report
    designs = random_designs(64, 5)
    instance = torch.stack([1 + torch.rand(64, dtype=torch.float64),
                            torch.randint(3, (64,)).double()], dim=1)
    first, second = proxy.predict(designs, instance), loaded.predict(designs, instance)
    assert torch.equal(first[1], second[1])
    assert all(torch.equal(first[0][key], second[0][key]) for key in first[0])
    path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable torch file"):
        load_proxy(path)
    torch.save({"format": "other"}, path)
    with pytest.raises(ValueError, match="not a tunegym design proxy"):
        load_proxy(path)
    with pytest.raises(FileNotFoundError):
        load_proxy(tmp_path / "missing.pt")


def test_proxy_checks_its_inputs(proxy):
    with pytest.raises(ValueError, match=r"designs must be an integer tensor of shape \(B, 4\)"):
        proxy.predict(torch.zeros(3, 5, dtype=torch.int64), torch.ones(3, 2))
    with pytest.raises(ValueError, match="instance must be"):
        proxy.predict(torch.zeros(3, 4, dtype=torch.int64))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"model": "tree"}, ValueError, "model must be one of"),
    ({"holdout": 1.0}, ValueError, r"holdout must be a fraction in \[0, 1\)"),
    ({"seed": -2}, ValueError, "seed must be an integer >= 0"),
    ({"epochs": 0}, ValueError, "epochs must be an integer >= 1"),
])
def test_fit_proxy_names_bad_arguments(dataset, kwargs, error, match):
    with pytest.raises(error, match=match):
        fit_proxy(dataset.subset(slice(0, 50)), **kwargs)


def test_fit_proxy_without_holdout_or_invalid_designs(dataset):
    valid_only = dataset.subset(torch.nonzero(dataset.valid)[:200, 0])
    proxy = fit_proxy(valid_only, holdout=0, epochs=2, hidden_size=8, layers=1)
    assert proxy.report is None and proxy.backbone.architecture["classes"] == 0
    _, code = proxy.predict(torch.full((2, 4), 0).index_fill(1, torch.tensor([0]), 3),
                            torch.ones(2, 2))
    assert code.tolist() == [0, 0]             # never saw an invalid design
    with pytest.raises(ValueError, match="at least 2 valid designs"):
        fit_proxy(dataset.subset(~dataset.valid))


# ---------------------------------------------------------------- proxy env
def test_proxy_env_passes_check_env_and_keeps_the_reward(proxy, tmp_path):
    env = make_proxy_env(proxy, horizon=3)
    check_env(env, skip_render_check=True)
    batched = env.unwrapped.batched
    assert isinstance(batched, ProxyDesignEnv) and isinstance(batched, ToyDesignEnv)
    assert env.action_space == ToyDesignGymEnv().action_space
    assert env.observation_space == ToyDesignGymEnv().observation_space
    assert batched.targets == ToyDesignEnv().targets and batched.horizon == 3
    assert env.unwrapped.knob_names == ToyDesignEnv.design_space.knob_names

    vector = make_proxy_vector_env(proxy, num_envs=256, target_mode="at_most")
    vector.reset(seed=7)
    designs = random_designs(256, 3)
    _, reward, _, _, info = vector.step(designs.numpy())
    state = vector.batched.state
    metrics, code = proxy.predict(designs, torch.stack([state["load"],
                                                        state["workload"].double()], dim=1))
    invalid = code != 0
    expected = -target_distance(metrics, batched.targets, "at_most")
    expected = torch.where(invalid, torch.full_like(expected, -10.0), expected)
    assert invalid.any() and (~invalid).any()
    assert np.array_equal(reward, expected.to(torch.float32).numpy())
    reported = metrics["latency_s"].masked_fill(invalid, math.inf)
    assert np.array_equal(info["latency_s"], reported.numpy())
    assert "cycles" in info and "stall_s" not in info           # stall_s is not modelled

    path = proxy.save(tmp_path / "proxy.pt")
    register_proxy_env("tunegymtest/ToyProxy-v0", path)
    try:
        made = gymnasium.make("tunegymtest/ToyProxy-v0", horizon=2)
        assert made.unwrapped.batched.horizon == 2
        made_vector = gymnasium.make_vec("tunegymtest/ToyProxy-v0", num_envs=4,
                                         vectorization_mode="vector_entry_point")
        assert made_vector.num_envs == 4
    finally:
        gymnasium.registry.pop("tunegymtest/ToyProxy-v0")


def test_proxy_env_refuses_other_env_kwargs(proxy):
    with pytest.raises(ValueError, match=r"takes only .* got \['split'\]"):
        make_proxy_env(proxy, split="test")
    with pytest.raises(TypeError, match="proxy must be a DesignProxy"):
        make_proxy_env(object())
    stranger = DesignProxy({**proxy.spec, "env_class": "tunegym.nowhere:Env"}, "mlp",
                           proxy.metric_keys, {}, proxy.backbone)
    with pytest.raises(ValueError, match="cannot be imported"):
        make_proxy_env(stranger)


# ---------------------------------------------------------------- command line
def test_command_line_collects_and_fits(tmp_path, capsys):
    data = tmp_path / "toy.csv"
    assert main(["proxy", "collect", TOY_ID, "--designs", "300",
                                        "--output", str(data), "--batch-size", "100",
                                        "--env-kwargs", '{"split": "test"}']) == 0
    assert load_design_dataset(data).spec["split"] == "test"
    assert main(["proxy", "fit", str(data), "--output",
                                        str(tmp_path / "proxy.pt"), "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "| latency_s |" in printed and "RMSE of relative error" in printed
    assert load_proxy(tmp_path / "proxy.pt").report["train_rows"] == 240
    with pytest.raises(SystemExit, match="tunegym proxy collect: --env-kwargs must be a JSON"):
        main(["proxy", "collect", TOY_ID, "--output", "x.csv",
                                     "--env-kwargs", "[1]"])
    with pytest.raises(SystemExit, match="tunegym proxy fit: .*not found"):
        main(["proxy", "fit", str(tmp_path / "none.csv"),
                                     "--output", "p.pt"])
