"""Design datasets: the designs a design env evaluated, logged, saved and read back.

ArchGym logs every design its agents evaluate and trains proxy (surrogate) models on
the log. Here a :class:`DesignRecorder` attached to any
:class:`~tunegym.envs.design_space.DesignEnv` (the batched env, or a gymnasium front
end over one) records, for every design of every step:

* the episode seed (the instance is a pure function of it and the env's split),
* the design as choice indices (and, in saved files, the decoded knob values),
* every metric: each floating (b,) entry of ``info``, i.e. the family's
  ``metric_keys`` and extras such as ``cycles`` or an energy breakdown (spec entry
  ``extra_metrics``), +inf where the design is invalid; the invalid reason code and the
  reward;
* the scalar per-episode instance parameters of the family: the (b,) numeric tensors
  of its ``instance_state`` (a workload index, a load factor), recomputed from the
  episode seeds, so that a proxy can tell instances apart. Their dtype is kept in the
  spec: an integer one is an index (categorical), a floating one a quantity.

It does so by wrapping the env's ``step``; what the env returns is unchanged. A
:class:`DesignDataset` holds the columns as CPU tensors. :meth:`DesignDataset.save`
writes ``FILE.csv`` (always available) or ``FILE.parquet`` (needs ``pyarrow``)
atomically, plus a sidecar ``FILE.csv.json`` with the env spec (env id and class,
kwargs, split, targets, knob names and choices, metric keys), the tunegym version, the
row count and the data file's SHA-256. :func:`load_design_dataset` checks the pair and
reads it back; :func:`collect_random_designs` evaluates uniform random designs in
batches:

    dataset = collect_random_designs("tunegym/DRAMController-v0", count=20_000, seed=0)
    dataset.save("dram.csv")                  # dram.csv + dram.csv.json
    dataset = load_design_dataset("dram.csv")

Columns of a saved file, in order: ``episode_seed``; per knob ``choice:<knob>`` (index)
then ``<knob>`` (decoded value); per instance parameter ``instance:<name>``; the metric
keys then the extra metrics (units in the key, e.g. ``latency_s``); ``invalid_reason``;
``reward``.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch

import tunegym
from tunegym.core.batched import check_integer
from tunegym.core.registration import make_batched_env
from tunegym.envs.design_space import DesignEnv, Knob
from tunegym.io import write_atomically, write_json_atomically

FORMAT = "tunegym-design-dataset"
FORMAT_VERSION = 1
SUFFIXES = (".csv", ".parquet")
#: Env kwargs left out of a dataset's spec: they do not change any metric.
RUNTIME_KWARGS = ("num_envs", "device", "render_mode", "vectorization_mode", "vector_kwargs",
                  "wrappers")
#: Entries of a sidecar: the spec's plus the data file's.
SIDECAR_KEYS = ("tunegym_version", "env_id", "env_class", "env_kwargs", "split", "targets",
                "target_mode", "horizon", "invalid_reward", "knobs", "metric_keys",
                "extra_metrics", "metric_scales", "invalid_reasons", "instance_features",
                "rows", "columns", "data_sha256")
#: Episodes whose instance parameters are computed in one ``instance_state`` call.
INSTANCE_CHUNK = 4096


def tunegym_version() -> str:
    """The installed tunegym distribution's version (the package's own in a bare checkout)."""
    try:
        return importlib.metadata.version("tunegym")
    except importlib.metadata.PackageNotFoundError:
        return tunegym.__version__


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar of data file ``path``: ``path`` + ".json"."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def spec_knobs(spec: Mapping[str, Any]) -> tuple[Knob, ...]:
    """The knobs of a dataset ``spec`` (its "knobs" entry), in action-entry order."""
    return tuple(Knob(knob["name"], tuple(knob["choices"]), knob["unit"])
                 for knob in spec["knobs"])


def _design_env_of(env: Any) -> DesignEnv:
    """The batched DesignEnv behind ``env`` (itself, or a gymnasium env's ``.batched``)."""
    batched = env if isinstance(env, DesignEnv) \
        else getattr(getattr(env, "unwrapped", None), "batched", None)
    if not isinstance(batched, DesignEnv):
        raise TypeError(f"env must be a DesignEnv or a gymnasium env over one (a tunegym "
                        f"design family), got {type(env).__name__}")
    return batched


def recorded_metrics(spec: Mapping[str, Any]) -> list[str]:
    """Every metric a dataset with this ``spec`` holds: the env's metric keys, then the
    extra floating info entries."""
    return [*spec["metric_keys"], *spec["extra_metrics"]]


def instance_names(spec: Mapping[str, Any]) -> list[str]:
    """Names of the instance parameters of a dataset ``spec``, in column order."""
    return [feature["name"] for feature in spec["instance_features"]]


def design_env_spec(env: DesignEnv, env_id: str | None, env_kwargs: Mapping[str, Any],
                    extra_metrics: list[str], instance_dtypes: Mapping[str, str]
                    ) -> dict[str, Any]:
    """The JSON-serialisable spec of the designs ``env`` evaluates (see the module doc):
    ``extra_metrics`` are the recorded info keys besides ``env.metric_keys``,
    ``instance_dtypes`` maps each instance parameter to its torch dtype name ("int64").

    Raises ValueError if ``env_kwargs`` is not JSON-serialisable.
    """
    family = type(env)
    spec = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "tunegym_version": tunegym_version(),
        "env_id": env_id, "env_class": f"{family.__module__}:{family.__qualname__}",
        "env_kwargs": {key: value for key, value in env_kwargs.items()
                       if key not in RUNTIME_KWARGS},
        "split": env.split, "targets": dict(env.targets), "target_mode": env.target_mode,
        "horizon": env.horizon, "invalid_reward": env.invalid_reward,
        "knobs": [{"name": knob.name, "choices": list(knob.choices), "unit": knob.unit}
                  for knob in env.design_space.knobs],
        "metric_keys": list(env.metric_keys), "extra_metrics": list(extra_metrics),
        "metric_scales": {key: float(env.metric_scales[key]) for key in env.metric_keys},
        "invalid_reasons": list(env.invalid_reasons),
        "instance_features": [{"name": name, "dtype": dtype}
                              for name, dtype in instance_dtypes.items()],
    }
    try:
        json.dumps(spec)
    except (TypeError, ValueError) as error:
        raise ValueError(f"env_kwargs must be JSON-serialisable to be stored with a design "
                         f"dataset, got {dict(env_kwargs)!r}: {error}") from error
    return spec


def _instance_features(env: DesignEnv, episode_seeds: torch.Tensor
                       ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """({name: float64 (N,)}, {name: dtype name}) of the scalar real entries of
    ``env.instance_state`` for the episodes ``episode_seeds`` (N,), each distinct
    episode computed once."""
    unique, inverse = torch.unique(episode_seeds, return_inverse=True)
    parts = [env.instance_state(unique[start:start + INSTANCE_CHUNK].to(env.device))
             for start in range(0, unique.numel(), INSTANCE_CHUNK)]
    names = [name for name, value in parts[0].items()
             if value.dim() == 1 and not value.is_complex()]
    values = {name: torch.cat([part[name] for part in parts]).to("cpu", torch.float64)[inverse]
              for name in names}
    return values, {name: str(parts[0][name].dtype).removeprefix("torch.") for name in names}


@dataclass
class DesignDataset:
    """N evaluated designs of one design env, as CPU tensors.

    Attributes:
        spec: the env spec (see :func:`design_env_spec`): knobs, metric keys, targets...
        episode_seed: int64 (N,) episode seed of each design's instance.
        designs: int64 (N, K) choice indices, column k indexing ``spec["knobs"][k]``.
        metrics: {metric key: float64 (N,)} for the keys of :func:`recorded_metrics`, in
            the key's unit, as the env's ``info`` holds them (+inf where invalid).
        invalid_reason: int64 (N,) code into ``spec["invalid_reasons"]``, 0 = valid.
        reward: float32 (N,) the env's reward of each design.
        instance: {name: float64 (N,)} scalar instance parameters, in the order of
            ``spec["instance_features"]`` (which also gives their dtypes).
    """

    spec: dict[str, Any]
    episode_seed: torch.Tensor
    designs: torch.Tensor
    metrics: dict[str, torch.Tensor]
    invalid_reason: torch.Tensor
    reward: torch.Tensor
    instance: dict[str, torch.Tensor]

    def __post_init__(self) -> None:
        rows = self.episode_seed.shape[0]
        knobs = len(self.spec["knobs"])
        if self.designs.shape != (rows, knobs):
            raise ValueError(f"designs must have shape ({rows}, {knobs}), "
                             f"got {tuple(self.designs.shape)}")
        columns = {"invalid_reason": self.invalid_reason, "reward": self.reward,
                   **self.metrics, **self.instance}
        for name, column in columns.items():
            if column.shape != (rows,):
                raise ValueError(f"column {name!r} must have shape ({rows},), "
                                 f"got {tuple(column.shape)}")
        if list(self.metrics) != recorded_metrics(self.spec) \
                or list(self.instance) != instance_names(self.spec):
            raise ValueError(f"metrics and instance must have the spec's keys "
                             f"{recorded_metrics(self.spec)} and {instance_names(self.spec)}")

    def __len__(self) -> int:
        return self.episode_seed.shape[0]

    @property
    def knobs(self) -> tuple[Knob, ...]:
        """The knobs, in column order of :attr:`designs`."""
        return spec_knobs(self.spec)

    @property
    def valid(self) -> torch.Tensor:
        """bool (N,): designs the simulator could realise."""
        return self.invalid_reason == 0

    def knob_values(self, name: str) -> list:
        """The decoded values (N,) of knob ``name``, as in the knob's choices."""
        names = [knob.name for knob in self.knobs]
        if name not in names:
            raise ValueError(f"unknown knob {name!r} (knobs: {names})")
        choices = self.knobs[names.index(name)].choices
        return [choices[index] for index in self.designs[:, names.index(name)].tolist()]

    def instance_matrix(self) -> torch.Tensor:
        """float64 (N, F) instance parameters, columns in ``spec["instance_features"]`` order."""
        return torch.stack(list(self.instance.values()), dim=1) if self.instance \
            else torch.zeros(len(self), 0, dtype=torch.float64)

    def subset(self, rows: torch.Tensor | slice) -> DesignDataset:
        """The dataset of the rows selected by ``rows`` (an index tensor, mask or slice)."""
        return DesignDataset(self.spec, self.episode_seed[rows], self.designs[rows],
                             {key: value[rows] for key, value in self.metrics.items()},
                             self.invalid_reason[rows], self.reward[rows],
                             {key: value[rows] for key, value in self.instance.items()})

    def columns(self) -> dict[str, np.ndarray | list]:
        """{column name: (N,) values} in file order (see the module doc)."""
        columns: dict[str, np.ndarray | list] = {"episode_seed": self.episode_seed.numpy()}
        for column, knob in enumerate(self.knobs):
            columns[f"choice:{knob.name}"] = self.designs[:, column].numpy()
            columns[knob.name] = self.knob_values(knob.name)
        for name, value in self.instance.items():
            columns[f"instance:{name}"] = value.numpy()
        for key, value in self.metrics.items():
            columns[key] = value.numpy()
        columns["invalid_reason"] = self.invalid_reason.numpy()
        columns["reward"] = self.reward.numpy()
        if len(columns) != expected_column_count(self.spec):
            raise ValueError(f"knob, metric and instance names must be distinct from each "
                             f"other and from episode_seed/invalid_reason/reward; got "
                             f"columns {list(columns)}")
        return columns

    def save(self, path: str | Path) -> Path:
        """Write the dataset to ``path`` (.csv, or .parquet with pyarrow) and its sidecar
        ``path``.json, each atomically (data first). Returns ``path``."""
        path = Path(path)
        if path.suffix not in SUFFIXES:
            raise ValueError(f"path must end in one of {SUFFIXES}, got {str(path)!r}")
        columns = self.columns()
        digest = {}

        def write(temporary: Path) -> None:
            if path.suffix == ".csv":
                _write_csv(temporary, columns)
            else:
                _write_parquet(temporary, columns, self.knobs)
            digest["sha256"] = _sha256(temporary)

        write_atomically(path, write)
        write_json_atomically(sidecar_path(path), {
            **self.spec, "rows": len(self), "columns": list(columns),
            "data_sha256": digest["sha256"]})
        return path


def expected_column_count(spec: Mapping[str, Any]) -> int:
    """Columns of a saved dataset with this spec."""
    return 3 + 2 * len(spec["knobs"]) + len(spec["instance_features"]) \
        + len(recorded_metrics(spec))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_csv(path: Path, columns: Mapping[str, np.ndarray | list]) -> None:
    # tolist() gives Python numbers, whose str() round-trips exactly (a float32 reward
    # widens exactly to float64 first).
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*(column.tolist() if isinstance(column, np.ndarray) else column
                           for column in columns.values())))
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as error:
        raise ImportError("writing or reading a .parquet design dataset needs pyarrow "
                          "(pip install pyarrow); .csv needs nothing more") from error
    return pyarrow


def _write_parquet(path: Path, columns: Mapping[str, np.ndarray | list],
                   knobs: tuple[Knob, ...]) -> None:
    pyarrow = _pyarrow()
    # A knob mixing value types (say 1 and "auto") is stored as text.
    mixed = {knob.name for knob in knobs if len({type(choice) for choice in knob.choices}) > 1}
    table = pyarrow.table({name: [str(value) for value in column] if name in mixed else column
                           for name, column in columns.items()})
    pyarrow.parquet.write_table(table, path)


def _read_columns(path: Path) -> dict[str, list | np.ndarray]:
    """{column name: values} of a saved data file, values as text (CSV) or typed (Parquet)."""
    if path.suffix == ".parquet":
        table = _pyarrow().parquet.read_table(path)
        return {name: table.column(name).to_numpy(zero_copy_only=False)
                for name in table.column_names}
    with open(path, newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    if not rows:
        raise ValueError(f"{path} is empty: expected a header row of column names")
    header, body = rows[0], rows[1:]
    if any(len(row) != len(header) for row in body):
        line = next(number for number, row in enumerate(body, start=2)
                    if len(row) != len(header))
        raise ValueError(f"{path} line {line} has a different number of fields than its "
                         f"header ({len(header)}): the file is corrupt")
    return {name: [row[column] for row in body] for column, name in enumerate(header)}


def _numeric(path: Path, name: str, values, dtype: np.dtype) -> torch.Tensor:
    try:
        array = np.asarray(values).astype(dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} column {name!r} must hold {np.dtype(dtype).name} values: "
                         f"{error}") from error
    return torch.from_numpy(array)


def load_design_dataset(path: str | Path) -> DesignDataset:
    """Read a dataset written by :meth:`DesignDataset.save` (``path`` and ``path``.json).

    Raises:
        FileNotFoundError: ``path`` or its sidecar is missing.
        ValueError: the sidecar is not a tunegym design dataset spec of a known version,
            the data file does not match the sidecar (SHA-256, columns, row count), or a
            value is not a number or not a valid choice index.
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(f"path must end in one of {SUFFIXES}, got {str(path)!r}")
    sidecar = sidecar_path(path)
    for required in (path, sidecar):
        if not required.is_file():
            raise FileNotFoundError(f"{required} not found: a design dataset is a data file "
                                    f"plus its JSON sidecar {sidecar.name}")
    try:
        spec = json.loads(sidecar.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{sidecar} is not valid JSON: {error}") from error
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise ValueError(f"{sidecar} is not a tunegym design dataset sidecar "
                         f"(format must be {FORMAT!r})")
    if spec.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{sidecar} has format_version {spec.get('format_version')!r}; this "
                         f"tunegym reads version {FORMAT_VERSION}")
    missing = [key for key in SIDECAR_KEYS if key not in spec]
    if missing:
        raise ValueError(f"{sidecar} lacks the entries {missing}: the sidecar is corrupt")
    if _sha256(path) != spec.pop("data_sha256"):
        raise ValueError(f"{path} does not match its sidecar {sidecar.name} (the SHA-256 of "
                         f"its bytes differs): one of the two is corrupt or was replaced "
                         f"without the other")
    rows, expected = spec.pop("rows"), spec.pop("columns")
    columns = _read_columns(path)
    if list(columns) != expected or len(expected) != expected_column_count(spec):
        raise ValueError(f"{path} has columns {list(columns)}, its sidecar lists {expected}")
    if any(len(column) != rows for column in columns.values()):
        raise ValueError(f"{path} must have {rows} rows as its sidecar says")
    knobs = spec_knobs(spec)
    designs = torch.stack([_numeric(path, f"choice:{knob.name}", columns[f"choice:{knob.name}"],
                                    np.int64) for knob in knobs], dim=1)
    nvec = torch.tensor([len(knob.choices) for knob in knobs])
    if bool(((designs < 0) | (designs >= nvec)).any()):
        raise ValueError(f"{path} has choice indices outside [0, number of choices) "
                         f"(choices per knob: {nvec.tolist()})")
    return DesignDataset(
        spec, _numeric(path, "episode_seed", columns["episode_seed"], np.int64), designs,
        {key: _numeric(path, key, columns[key], np.float64) for key in recorded_metrics(spec)},
        _numeric(path, "invalid_reason", columns["invalid_reason"], np.int64),
        _numeric(path, "reward", columns["reward"], np.float32),
        {name: _numeric(path, f"instance:{name}", columns[f"instance:{name}"], np.float64)
         for name in instance_names(spec)})


class DesignRecorder:
    """Records every design a design env evaluates, without changing what it returns.

    Attaching wraps the batched env's ``step`` (an instance attribute shadowing the
    method); :meth:`detach` removes the wrapper. Every
    successful step appends B rows: episode seed, design, metrics and invalid code from
    ``info``, reward. Tensors stay on the env's device until :meth:`dataset`.

    Args:
        env: a :class:`~tunegym.envs.design_space.DesignEnv`, or a gymnasium env (single
            or vector) whose ``unwrapped.batched`` is one.
        env_id: stored in the spec; default the gymnasium env's ``spec.id`` (if any).
        env_kwargs: the env's kwargs, stored in the spec; default the gymnasium env's
            ``spec.kwargs`` (if any). Runtime kwargs (num_envs, device) are left out.
    """

    def __init__(self, env: Any, env_id: str | None = None,
                 env_kwargs: Mapping[str, Any] | None = None) -> None:
        self.env = _design_env_of(env)
        gymnasium_spec = getattr(getattr(env, "unwrapped", None), "spec", None)
        self.env_id = env_id if env_id is not None else getattr(gymnasium_spec, "id", None)
        self.env_kwargs = dict(env_kwargs if env_kwargs is not None
                               else getattr(gymnasium_spec, "kwargs", None) or {})
        if "step" in vars(self.env):
            raise ValueError("env already has a recorder (or another step wrapper) attached; "
                             "detach it first")
        self._steps: list[tuple[torch.Tensor, ...]] = []
        self._infos: list[dict[str, torch.Tensor]] = []
        self._original_step = self.env.step
        self.env.step = self._recording_step

    def _recording_step(self, action):
        result = self._original_step(action)
        _observation, reward, _terminated, _truncated, info = result
        designs = torch.as_tensor(action, device=self.env.device).to(torch.int64, copy=True)
        self._steps.append((self.env.episode_seeds(), designs,
                            info["invalid_reason"].clone(), reward))
        self._infos.append({key: value for key, value in info.items()
                            if value.is_floating_point() and value.dim() == 1})
        return result

    def detach(self) -> None:
        """Stop recording: the env's ``step`` is the class's again (idempotent)."""
        if vars(self.env).get("step") == self._recording_step:
            del self.env.step

    def __len__(self) -> int:
        return sum(step[0].shape[0] for step in self._steps)

    def dataset(self) -> DesignDataset:
        """Everything recorded so far, as a :class:`DesignDataset` on the CPU."""
        if not self._steps:
            raise ValueError("nothing recorded yet: step the env after attaching the recorder")
        episode_seed, designs, invalid_reason, reward = (torch.cat(parts).cpu()
                                                         for parts in zip(*self._steps))
        instance, dtypes = _instance_features(self.env, episode_seed)
        extra = [key for key in self._infos[0] if key not in self.env.metric_keys]
        spec = design_env_spec(self.env, self.env_id, self.env_kwargs, extra, dtypes)
        return DesignDataset(
            spec, episode_seed, designs,
            {key: torch.cat([info[key] for info in self._infos]).to("cpu", torch.float64)
             for key in recorded_metrics(spec)},
            invalid_reason, reward.to(torch.float32), instance)

    def save(self, path: str | Path) -> Path:
        """``self.dataset().save(path)``: see :meth:`DesignDataset.save`."""
        return self.dataset().save(path)


def collect_random_designs(env_id: str, count: int, seed: int = 0, batch_size: int = 4096,
                           **env_kwargs: Any) -> DesignDataset:
    """Evaluate ``count`` uniformly random designs of a registered design env.

    Builds the batched env with B = min(batch_size, count) envs, resets env i to episode
    ``seed + i`` and steps it with designs drawn uniformly per knob (a CPU
    ``torch.Generator`` seeded with ``seed``); envs whose episode ends start the next
    episode as the vector env would. Each step evaluates B designs.

    Args:
        env_id: a registered id whose family is a DesignEnv.
        count: designs to evaluate (>= 1).
        seed: >= 0, first episode seed and seed of the designs.
        batch_size: designs per batched step (>= 1).
        **env_kwargs: env kwargs overriding the registered ones (device, split, ...).

    Returns:
        The :class:`DesignDataset` of the ``count`` designs, in evaluation order.
    """
    count = check_integer("count", count)
    seed = check_integer("seed", seed, minimum=0)
    num_envs = min(check_integer("batch_size", batch_size), count)
    env = make_batched_env(env_id, num_envs=num_envs, **env_kwargs)
    if not isinstance(env, DesignEnv):
        raise ValueError(f"env_id {env_id!r} is not a design env (its family "  # noqa: TRY004
                         f"{type(env).__name__} is not a DesignEnv)")
    generator = torch.Generator().manual_seed(seed)
    recorder = DesignRecorder(env, env_id, {**gymnasium.spec(env_id).kwargs, **env_kwargs})
    env.reset(torch.arange(seed, seed + num_envs))
    for _ in range(math.ceil(count / num_envs)):
        designs = torch.stack([torch.randint(int(choices), (num_envs,), generator=generator)
                               for choices in env.design_space.nvec], dim=1)
        _observation, _reward, terminated, truncated, _info = env.step(designs.to(env.device))
        env.autoreset(terminated | truncated)
    return recorder.dataset().subset(slice(0, count))
