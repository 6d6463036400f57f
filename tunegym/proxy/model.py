"""Proxy (surrogate) models of design envs, and design envs that evaluate with them.

ArchGym (Krishnan et al., ISCA 2023) fits a proxy model on the designs its agents
logged and then explores with the proxy instead of the slow simulator. Here
:func:`fit_proxy` fits a :class:`DesignProxy` on a
:class:`~tunegym.proxy.dataset.DesignDataset` and
:func:`make_proxy_env` builds a design env with the simulator's spaces, knobs,
instances, targets and reward whose ``evaluate_designs`` calls the proxy.

Inputs
    Per knob a one-hot vector of the choice, preceded by log2(value) if every choice is
    a positive number (sizes, counts, bandwidths): the log lets the model interpolate
    smooth trends, the one-hot lets it learn thresholds (a tile that stops fitting);
    with both, the held-out latency error of an AcceleratorDesign-v0 MLP fell from
    7.1 % to 5.3 % (20 epochs) against log2 alone. Then the dataset's scalar instance
    parameters: an integer one (a workload index) one-hot over the values seen in
    training, a floating one as is.
    Every input column is standardised with the training rows' mean and deviation.
Targets
    The natural log of every metric (metrics are positive and span decades),
    standardised, fitted on the valid training designs only. The env's metric keys must
    be positive on those; an extra metric of the dataset (an energy term) that is zero
    or negative on some of them is left out (``report["unmodelled_metrics"]``) and is
    missing from the proxy env's ``info``.
Validity
    If the training rows hold invalid designs, a classifier over the env's invalid
    reason codes (0 = valid) is fitted on all training rows: one more head of the MLP
    (softmax, cross-entropy), or a random-forest classifier. A design is predicted
    invalid when its most likely code is not 0 (the proxy env then reports +inf metrics
    and the invalid reward, as the simulator's env does). Without invalid training rows
    every design is predicted valid.
Models
    ``"mlp"`` (default): a torch MLP (SiLU, ``layers`` hidden layers of ``hidden_size``)
    trained with Adam on the mean squared error of the standardised log metrics (plus
    the classifier's cross-entropy). ``"forest"``: scikit-learn's random forests
    (optional: only this model needs scikit-learn), converted to tensors after fitting,
    so a saved forest proxy loads and predicts with torch alone, on any device.
Held-out figures
    ``fit_proxy(..., holdout=0.2)`` keeps 20 % of the rows (a seeded random split) out of
    training and reports, per metric over the held-out designs the simulator found
    valid, the RMSE of the relative error ``sqrt(mean(((predicted - true) / true)**2))``
    (ArchGym's figure: their DRAMSys proxy has 0.61 %) and the plain RMSE in the metric's
    unit; and the fraction of held-out designs whose validity code is predicted right.

Saved proxies (:meth:`DesignProxy.save`, :func:`load_proxy`) are one ``torch.save`` file
of tensors and plain data (the dataset's spec, the architecture, the report), written
atomically and read back with ``torch.load(weights_only=True)``.

Proxy envs: :func:`proxy_env_class` makes, per design family, a subclass of
:class:`ProxyDesignEnv` and the family's class; :func:`make_proxy_env` and
:func:`make_proxy_vector_env` build its gymnasium single and vector envs,
:func:`make_proxy_batched_env` the batched env itself, and :func:`register_proxy_env`
registers them under an id of your choice:

    proxy = fit_proxy(collect_random_designs("tunegym/DRAMController-v0", 20_000))
    proxy.save("dram_proxy.pt")
    env = make_proxy_env("dram_proxy.pt")                  # gymnasium.Env, B = 1
    vector = make_proxy_vector_env(proxy, num_envs=4096)   # gymnasium VectorEnv

Command line (:mod:`tunegym.cli.proxy`):

    tunegym proxy collect tunegym/DRAMController-v0 --designs 20000 --output dram.csv
    tunegym proxy fit dram.csv --output dram_proxy.pt [--model mlp|forest]
"""

from __future__ import annotations

import functools
import importlib
import itertools
import math
import time
from pathlib import Path
from typing import Any

import gymnasium
import torch

from tunegym.core.adapters import derive_envs
from tunegym.core.batched import check_choice, check_integer, resolve_device
from tunegym.envs.design_space import DesignEnv, Knob
from tunegym.io import write_atomically
from tunegym.proxy.dataset import (
    DesignDataset,
    instance_names,
    load_design_dataset,
    spec_knobs,
    tunegym_version,
)

MODELS = ("mlp", "forest")
PROXY_FORMAT = "tunegym-design-proxy"
PROXY_FORMAT_VERSION = 1
#: Env kwargs a proxy env may change (the reward's and the device); the others are the
#: dataset's, split included: the proxy knows only the instances it was fit on.
PROXY_ENV_KWARGS = ("device", "targets", "target_mode", "horizon", "invalid_reward")
#: DesignEnv settings recorded in a dataset's spec, restored in its proxy env.
DESIGN_SETTINGS = ("split", "targets", "target_mode", "horizon", "invalid_reward")
#: Largest gradient norm of an MLP step (steadies training at the peak learning rate).
GRADIENT_CLIP = 1.0


# ------------------------------------------------------------------------- inputs
def is_numeric_knob(knob: Knob) -> bool:
    """Whether ``knob`` also enters as log2(value): every choice is a positive number."""
    return all(isinstance(choice, (int, float)) and not isinstance(choice, bool)
               and choice > 0 for choice in knob.choices)


def choice_table(knobs: tuple[Knob, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(table float64 (sum of choices, D), offsets int64 (K,)): the input features of
    design (B, K) are ``table[designs + offsets].sum(1)``, each knob filling its own
    columns: log2(value) for a numeric knob, then a one-hot vector of the choice."""
    blocks = []
    for knob in knobs:
        block = torch.eye(len(knob.choices), dtype=torch.float64)
        if is_numeric_knob(knob):
            logs = torch.tensor([math.log2(choice) for choice in knob.choices],
                                dtype=torch.float64)
            block = torch.cat([logs[:, None], block], dim=1)
        blocks.append(block)
    counts = torch.tensor([len(knob.choices) for knob in knobs])
    return torch.block_diag(*blocks), torch.cumsum(counts, 0) - counts


# ------------------------------------------------------------------------- models
class MLPBackbone(torch.nn.Module):
    """MLP from standardised inputs (B, inputs) to (standardised log metrics (B, outputs),
    validity logits (B, classes) or None when ``classes`` is 0). float32 weights."""

    def __init__(self, inputs: int, outputs: int, classes: int, hidden_size: int,
                 layers: int) -> None:
        super().__init__()
        self.architecture = {"inputs": inputs, "outputs": outputs, "classes": classes,
                             "hidden_size": hidden_size, "layers": layers}
        widths = [inputs] + [hidden_size] * layers
        modules: list[torch.nn.Module] = []
        for width_in, width_out in itertools.pairwise(widths):
            modules += [torch.nn.Linear(width_in, width_out), torch.nn.SiLU()]
        self.network = torch.nn.Sequential(*modules, torch.nn.Linear(widths[-1],
                                                                     outputs + classes))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(float64 (B, outputs), float64 (B, classes) or None) of features (B, inputs)."""
        out = self.network(features.to(torch.float32)).to(torch.float64)
        outputs = self.architecture["outputs"]
        return out[:, :outputs], out[:, outputs:] if self.architecture["classes"] else None


class TensorForest(torch.nn.Module):
    """A fitted scikit-learn forest as tensors: the mean over ``trees`` trees of the
    value (outputs,) of the leaf each input row falls in. Node arrays of all trees are
    concatenated; ``child[node]`` holds the (left, right) children, a leaf's both itself,
    so ``depth`` descents reach every leaf.
    """

    def __init__(self, nodes: int, trees: int, outputs: int, depth: int) -> None:
        super().__init__()
        self.architecture = {"nodes": nodes, "trees": trees, "outputs": outputs,
                             "depth": depth}
        self.register_buffer("feature", torch.zeros(nodes, dtype=torch.int64))
        self.register_buffer("threshold", torch.zeros(nodes, dtype=torch.float64))
        self.register_buffer("child", torch.zeros(nodes, 2, dtype=torch.int64))
        self.register_buffer("value", torch.zeros(nodes, outputs, dtype=torch.float64))
        self.register_buffer("roots", torch.zeros(trees, dtype=torch.int64))

    @classmethod
    def from_sklearn(cls, forest, columns: list[int] | None = None) -> TensorForest:
        """Convert a fitted RandomForestRegressor, or a RandomForestClassifier whose leaf
        values become class probabilities placed in ``columns[i]`` for class i."""
        trees = [estimator.tree_ for estimator in forest.estimators_]
        sizes = torch.tensor([tree.node_count for tree in trees])
        offsets = torch.cumsum(sizes, 0) - sizes
        outputs = forest.n_outputs_ if columns is None else max(columns) + 1
        converted = cls(int(sizes.sum()), len(trees), outputs,
                        max(tree.max_depth for tree in trees))
        features, thresholds, children, values = [], [], [], []
        for tree, offset in zip(trees, offsets.tolist()):
            own = torch.arange(tree.node_count) + offset
            left = torch.as_tensor(tree.children_left) + offset
            right = torch.as_tensor(tree.children_right) + offset
            leaf = torch.as_tensor(tree.children_left) < 0
            children.append(torch.stack([torch.where(leaf, own, left),
                                         torch.where(leaf, own, right)], dim=1))
            features.append(torch.as_tensor(tree.feature).clamp(min=0))
            thresholds.append(torch.as_tensor(tree.threshold))
            value = torch.as_tensor(tree.value, dtype=torch.float64)
            if columns is None:
                values.append(value[:, :, 0])
            else:
                probability = value[:, 0, :] / value[:, 0, :].sum(1, keepdim=True).clamp(
                    min=1e-300)
                placed = torch.zeros(tree.node_count, outputs, dtype=torch.float64)
                placed[:, columns] = probability
                values.append(placed)
        converted.feature.copy_(torch.cat(features))
        converted.threshold.copy_(torch.cat(thresholds))
        converted.child.copy_(torch.cat(children))
        converted.value.copy_(torch.cat(values))
        converted.roots.copy_(offsets)
        return converted

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Mean leaf value (B, outputs) of float64 features (B, inputs)."""
        # scikit-learn compares float32 inputs with float64 thresholds.
        features = features.to(torch.float32).to(torch.float64)
        node = self.roots.expand(features.shape[0], -1)
        for _ in range(self.architecture["depth"]):
            right = torch.gather(features, 1, self.feature[node]) > self.threshold[node]
            node = self.child[node, right.to(torch.int64)]
        return self.value[node].mean(dim=1)


class ForestBackbone(torch.nn.Module):
    """Random-forest regressor of the standardised log metrics, plus a random-forest
    classifier of the validity codes (None without invalid training rows)."""

    def __init__(self, regressor: dict[str, int], classifier: dict[str, int] | None) -> None:
        super().__init__()
        self.architecture = {"regressor": regressor, "classifier": classifier}
        self.regressor = TensorForest(**regressor)
        self.classifier = None if classifier is None else TensorForest(**classifier)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(float64 (B, outputs), class probabilities (B, classes) or None)."""
        return (self.regressor(features),
                None if self.classifier is None else self.classifier(features))


BACKBONES = {"mlp": MLPBackbone, "forest": ForestBackbone}


class DesignProxy(torch.nn.Module):
    """A fitted proxy of one design env: designs -> (metrics, invalid reason code).

    Build with :func:`fit_proxy` or :func:`load_proxy`; call :meth:`predict`.

    Args:
        spec: the dataset's spec (env id, class and kwargs, knobs, metric keys, targets,
            instance parameters).
        model: "mlp" or "forest".
        metric_keys: the metrics the proxy predicts (the env's and the modelled extras).
        categories: {name: values seen in training} of each integer (categorical)
            instance parameter, one-hot encoded over those values.
        backbone: the fitted :class:`MLPBackbone` or :class:`ForestBackbone` (None while
            :func:`fit_proxy` assembles the proxy).
        report: the held-out figures of :func:`fit_proxy` (None if fit without holdout).
    """

    def __init__(self, spec: dict[str, Any], model: str, metric_keys: list[str],
                 categories: dict[str, list[float]], backbone: torch.nn.Module | None = None,
                 report: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.spec, self.model, self.metric_keys = spec, model, metric_keys
        self.categories = categories
        self.backbone, self.report = backbone, report
        self.knobs = spec_knobs(spec)
        table, offsets = choice_table(self.knobs)
        self.register_buffer("choice_table", table)
        self.register_buffer("choice_offsets", offsets)
        # Instance parameter f is one input column (start == stop) or the one-hot columns
        # of instance_categories[start:stop].
        self.category_slices, values = [], []
        for name in instance_names(spec):
            self.category_slices.append((len(values), len(values) + len(categories.get(name, []))))
            values += categories.get(name, [])
        self.register_buffer("instance_categories", torch.tensor(values, dtype=torch.float64))
        inputs = table.shape[1] + sum(max(1, stop - start)
                                      for start, stop in self.category_slices)
        metrics = len(metric_keys)
        self.register_buffer("feature_mean", torch.zeros(inputs, dtype=torch.float64))
        self.register_buffer("feature_std", torch.ones(inputs, dtype=torch.float64))
        self.register_buffer("target_mean", torch.zeros(metrics, dtype=torch.float64))
        self.register_buffer("target_std", torch.ones(metrics, dtype=torch.float64))

    def raw_features(self, designs: torch.Tensor, instance: torch.Tensor | None
                     ) -> torch.Tensor:
        """Unstandardised inputs float64 (B, D) of designs int64 (B, K) and instance
        parameters float64 (B, F) (None when F = 0)."""
        parts = [self.choice_table[designs + self.choice_offsets].sum(dim=1)]
        for column, (start, stop) in enumerate(self.category_slices):
            value = instance[:, column:column + 1]
            parts.append(value if start == stop
                         else (value == self.instance_categories[start:stop]).to(torch.float64))
        return torch.cat(parts, dim=1)

    def log_metrics_and_code(self, designs: torch.Tensor, instance: torch.Tensor | None
                             ) -> tuple[torch.Tensor, torch.Tensor]:
        """(natural log of every metric, float64 (B, M); predicted invalid code, int64
        (B,)), the metrics predicted whatever the code."""
        features = (self.raw_features(designs, instance) - self.feature_mean) / self.feature_std
        standardised, validity = self.backbone(features)
        code = torch.zeros(designs.shape[0], dtype=torch.int64, device=designs.device) \
            if validity is None else validity.argmax(dim=1)
        return standardised * self.target_std + self.target_mean, code

    @torch.no_grad()
    def predict(self, designs: torch.Tensor, instance: torch.Tensor | None = None
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Predicted metrics of designs, as a design env's ``evaluate_designs`` returns.

        Args:
            designs: int64 (B, K) choice indices, on the proxy's device.
            instance: float64 (B, F) instance parameters in ``spec["instance_features"]``
                order; None when F = 0.

        Returns:
            ({metric key: float64 (B,) in the key's unit, predicted for every design},
            predicted invalid reason code int64 (B,), 0 = valid).
        """
        names = instance_names(self.spec)
        if designs.dim() != 2 or designs.shape[1] != len(self.knobs) \
                or designs.is_floating_point():
            raise ValueError(f"designs must be an integer tensor of shape (B, {len(self.knobs)})"
                             f", got {designs.dtype} {tuple(designs.shape)}")
        expected = (designs.shape[0], len(names)) if names else None
        if (None if instance is None else tuple(instance.shape)) != expected:
            raise ValueError(f"instance must be None when the proxy has no instance "
                             f"parameters, else float (B, {len(names)}) for {names}; got "
                             f"{None if instance is None else tuple(instance.shape)}")
        log_metrics, code = self.log_metrics_and_code(
            designs, None if instance is None else instance.to(torch.float64))
        metrics = log_metrics.exp()
        return {key: metrics[:, column]
                for column, key in enumerate(self.metric_keys)}, code

    def save(self, path: str | Path) -> Path:
        """Write the proxy to ``path`` atomically (one ``torch.save`` file)."""
        content = {"format": PROXY_FORMAT, "format_version": PROXY_FORMAT_VERSION,
                   "tunegym_version": tunegym_version(), "spec": self.spec,
                   "model": self.model, "metric_keys": self.metric_keys,
                   "categories": self.categories,
                   "architecture": self.backbone.architecture, "report": self.report,
                   "state": {name: tensor.cpu() for name, tensor in self.state_dict().items()}}
        return write_atomically(path, lambda temporary: torch.save(content, temporary))


def load_proxy(path: str | Path, device: str | torch.device = "cpu") -> DesignProxy:
    """Read a proxy written by :meth:`DesignProxy.save` onto ``device``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a tunegym design proxy of a known format version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"proxy file {path} not found")
    try:
        content = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:      # torch raises several types for a non-torch file
        raise ValueError(f"{path} is not a readable torch file: {error}") from error
    if not isinstance(content, dict) or content.get("format") != PROXY_FORMAT:
        raise ValueError(f"{path} is not a tunegym design proxy (format {PROXY_FORMAT!r})")
    if content.get("format_version") != PROXY_FORMAT_VERSION:
        raise ValueError(f"{path} has format_version {content.get('format_version')!r}; this "
                         f"tunegym reads version {PROXY_FORMAT_VERSION}")
    backbone = BACKBONES[content["model"]](**content["architecture"])
    proxy = DesignProxy(content["spec"], content["model"], content["metric_keys"],
                        content["categories"], backbone, content["report"])
    proxy.load_state_dict(content["state"])
    return proxy.to(device)


# ------------------------------------------------------------------------ fitting
def _standardiser(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) over rows of (n, C) values; a constant column gets std 1."""
    mean, std = values.mean(dim=0), values.std(dim=0, correction=0)
    return mean, torch.where(std > 0, std, torch.ones_like(std))


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _fit_mlp(features: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
             codes: torch.Tensor, classes: int, seed: int, epochs: int, hidden_size: int,
             layers: int, batch_size: int, learning_rate: float) -> MLPBackbone:
    """Train an MLP on standardised features (n, D), targets (n, M) (rows with ``valid``
    False are ignored by the regression loss), codes (n,) (used when classes > 0)."""
    features = features.to(torch.float32)
    targets = torch.where(valid[:, None], targets, 0).to(torch.float32)
    weight = valid.to(torch.float32)[:, None]
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = MLPBackbone(features.shape[1], targets.shape[1], classes, hidden_size,
                               layers).to(features.device)
        steps_per_epoch = math.ceil(features.shape[0] / batch_size)
        optimiser = torch.optim.Adam(backbone.parameters(), lr=learning_rate)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate,
                                                       total_steps=epochs * steps_per_epoch)
        for _ in range(epochs):
            order = torch.randperm(features.shape[0], generator=generator)
            for rows in order.to(features.device).split(batch_size):
                out = backbone.network(features[rows])
                squared = (out[:, :targets.shape[1]] - targets[rows]).square() * weight[rows]
                loss = squared.sum() / (weight[rows].sum() * targets.shape[1]).clamp(min=1)
                if classes:
                    loss = loss + torch.nn.functional.cross_entropy(out[:, targets.shape[1]:],
                                                                    codes[rows])
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(backbone.parameters(), GRADIENT_CLIP)
                optimiser.step()
                schedule.step()
    return backbone.eval()


def _fit_forest(features: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
                codes: torch.Tensor, classes: int, seed: int, trees: int,
                min_samples_leaf: int = 2) -> ForestBackbone:
    """Fit scikit-learn forests (regressor on the valid rows, classifier on all rows
    when classes > 0) and convert them to tensors."""
    try:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    except ImportError as error:
        raise ImportError("model='forest' needs scikit-learn (pip install scikit-learn); "
                          "model='mlp' needs nothing more") from error
    options = {"n_estimators": trees, "min_samples_leaf": min_samples_leaf,
               "random_state": seed, "n_jobs": 1}
    regressor = TensorForest.from_sklearn(RandomForestRegressor(**options).fit(
        features[valid].numpy(), targets[valid].numpy()))
    classifier = None
    if classes:
        fitted = RandomForestClassifier(**options).fit(features.numpy(), codes.numpy())
        classifier = TensorForest.from_sklearn(fitted, [int(code) for code in fitted.classes_])
    backbone = ForestBackbone(regressor.architecture,
                              None if classifier is None else classifier.architecture)
    backbone.regressor, backbone.classifier = regressor, classifier
    return backbone


def holdout_report(proxy: DesignProxy, holdout: DesignDataset) -> dict[str, Any]:
    """Held-out figures of ``proxy`` on ``holdout`` (see the module doc).

    Returns:
        {"holdout_rows", "holdout_valid_rows", "relative_rmse": {metric key: fraction},
        "rmse": {metric key: value in the key's unit}, "validity_accuracy": fraction}.
    """
    device = proxy.choice_table.device
    instance = holdout.instance_matrix().to(device)
    with torch.no_grad():
        log_metrics, code = proxy.log_metrics_and_code(holdout.designs.to(device), instance)
    valid = holdout.valid
    predicted = log_metrics.cpu().exp()[valid]
    relative, plain = {}, {}
    for column, key in enumerate(proxy.metric_keys):
        truth = holdout.metrics[key][valid]
        error = predicted[:, column] - truth
        relative[key] = float((error / truth).square().mean().sqrt())
        plain[key] = float(error.square().mean().sqrt())
    return {"holdout_rows": len(holdout), "holdout_valid_rows": int(valid.sum()),
            "relative_rmse": relative, "rmse": plain,
            "validity_accuracy": float((code.cpu() == holdout.invalid_reason)
                                       .to(torch.float64).mean())}


def fit_proxy(dataset: DesignDataset | str | Path, model: str = "mlp", holdout: float = 0.2,
              seed: int = 0, *, epochs: int = 200, hidden_size: int = 256, layers: int = 3,
              batch_size: int = 256, learning_rate: float = 5e-3, trees: int = 32,
              device: str | torch.device = "cpu") -> DesignProxy:
    """Fit a proxy of the env behind ``dataset`` (see the module doc).

    Args:
        dataset: a :class:`DesignDataset` or the path of a saved one.
        model: "mlp" (torch) or "forest" (scikit-learn random forests).
        holdout: fraction in [0, 1) of the rows kept out of training for the report.
        seed: >= 0, seed of the split, the initial weights and the batches.
        epochs: the MLP's training epochs.
        hidden_size: the width of the MLP's hidden layers.
        layers: the number of the MLP's hidden layers.
        batch_size: rows per Adam batch of the MLP.
        learning_rate: the MLP's peak learning rate (a one-cycle schedule).
        trees: trees per forest.
        device: where the MLP trains (a forest fits on the CPU) and the proxy lives.

    Returns:
        The fitted :class:`DesignProxy` on ``device``; ``proxy.report`` holds the held-out
        figures of :func:`holdout_report` plus "model", "train_rows" and "fit_seconds"
        (None when ``holdout`` is 0).
    """
    began = time.perf_counter()
    if isinstance(dataset, (str, Path)):
        dataset = load_design_dataset(dataset)
    if not isinstance(dataset, DesignDataset):
        raise TypeError(f"dataset must be a DesignDataset or a path, "
                        f"got {type(dataset).__name__}")
    check_choice("model", model, MODELS)
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) \
            or not 0 <= holdout < 1:
        raise ValueError(f"holdout must be a fraction in [0, 1), got {holdout!r}")
    seed = check_integer("seed", seed, minimum=0)
    device = resolve_device(device)
    options = {"trees": check_integer("trees", trees)} if model == "forest" else {
        "epochs": check_integer("epochs", epochs),
        "hidden_size": check_integer("hidden_size", hidden_size),
        "layers": check_integer("layers", layers),
        "batch_size": check_integer("batch_size", batch_size),
        "learning_rate": _check_positive("learning_rate", learning_rate)}
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    held = round(holdout * len(dataset))
    train = dataset.subset(order[held:])
    if int(train.valid.sum()) < 2:
        raise ValueError(f"dataset must hold at least 2 valid designs outside the holdout, "
                         f"got {int(train.valid.sum())} of {len(dataset)} rows")
    positive = {key: bool(torch.isfinite(value[train.valid]).all()
                          and (value[train.valid] > 0).all())
                for key, value in train.metrics.items()}
    for key in dataset.spec["metric_keys"]:
        if not positive[key]:
            raise ValueError(f"dataset metric {key!r} must be positive and finite on every "
                             f"valid design (the proxy fits its log)")
    metric_keys = [key for key in train.metrics if positive[key]]
    metrics = torch.stack([train.metrics[key] for key in metric_keys], dim=1)
    classes = len(dataset.spec["invalid_reasons"]) if bool((~train.valid).any()) else 0
    categories = {feature["name"]: torch.unique(train.instance[feature["name"]]).tolist()
                  for feature in dataset.spec["instance_features"]
                  if not getattr(torch, feature["dtype"]).is_floating_point}
    proxy = DesignProxy(dataset.spec, model, metric_keys, categories)
    raw = proxy.raw_features(train.designs, train.instance_matrix())
    log_metrics = metrics.log()
    for name, value in zip(("feature_mean", "feature_std", "target_mean", "target_std"),
                           (*_standardiser(raw), *_standardiser(log_metrics[train.valid]))):
        getattr(proxy, name).copy_(value)
    features = (raw - proxy.feature_mean) / proxy.feature_std
    targets = (log_metrics - proxy.target_mean) / proxy.target_std
    fit = _fit_mlp if model == "mlp" else _fit_forest
    on = device if model == "mlp" else torch.device("cpu")
    proxy.backbone = fit(features.to(on), targets.to(on), train.valid.to(on),
                         train.invalid_reason.to(on), classes, seed, **options)
    proxy.to(device)
    if held:
        proxy.report = {"model": model, "train_rows": len(train),
                        "unmodelled_metrics": [key for key in train.metrics if not positive[key]],
                        **holdout_report(proxy, dataset.subset(order[:held])),
                        "fit_seconds": time.perf_counter() - began}
    return proxy


# ---------------------------------------------------------------------- proxy envs
class ProxyDesignEnv(DesignEnv):
    """Base of proxy envs: a design family whose ``evaluate_designs`` is a proxy's.

    Concrete classes come from :func:`proxy_env_class`: ``(ProxyDesignEnv, Family)``,
    so the family's knobs, metric keys, instances (``instance_state``), default targets
    and reward are kept and only the simulator is replaced.

    Args:
        proxy: a :class:`DesignProxy` or the path of a saved one, fit on this family;
            it is moved to the env's device.
        num_envs: batch size B.
        **kwargs: any of :data:`PROXY_ENV_KWARGS`; the rest are the dataset's (its env
            kwargs, split, targets, target mode, horizon and invalid reward).
    """

    def __init__(self, proxy: DesignProxy | str | Path, num_envs: int = 1,
                 **kwargs: Any) -> None:
        proxy = _as_proxy(proxy)
        unknown = sorted(set(kwargs) - set(PROXY_ENV_KWARGS))
        if unknown:
            raise ValueError(f"a proxy env takes only {PROXY_ENV_KWARGS} besides proxy and "
                             f"num_envs (the proxy was fit on env_kwargs "
                             f"{proxy.spec['env_kwargs']}); got {unknown}")
        spec = proxy.spec
        super().__init__(num_envs=num_envs, **{**spec["env_kwargs"],
                                               **{key: spec[key] for key in DESIGN_SETTINGS},
                                               **kwargs})
        knobs = [{"name": knob.name, "choices": list(knob.choices), "unit": knob.unit}
                 for knob in self.design_space.knobs]
        if knobs != spec["knobs"] or list(self.metric_keys) != spec["metric_keys"]:
            raise ValueError(f"proxy was fit on knobs {spec['knobs']} and metrics "
                             f"{spec['metric_keys']}, but {type(self).__name__} has "
                             f"{knobs} and {list(self.metric_keys)}")
        self.proxy = proxy.to(self.device)

    def evaluate_designs(self, state: dict[str, torch.Tensor], designs: torch.Tensor
                         ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The proxy's metrics and invalid codes (see :meth:`DesignProxy.predict`)."""
        names = instance_names(self.proxy.spec)
        instance = torch.stack([state[name].to(torch.float64) for name in names], dim=1) \
            if names else None
        return self.proxy.predict(designs, instance)


def _as_proxy(proxy: DesignProxy | str | Path) -> DesignProxy:
    if isinstance(proxy, (str, Path)):
        return load_proxy(proxy)
    if not isinstance(proxy, DesignProxy):
        raise TypeError(f"proxy must be a DesignProxy or the path of a saved one, "
                        f"got {type(proxy).__name__}")
    return proxy


@functools.cache
def proxy_env_class(family: type[DesignEnv]) -> type[ProxyDesignEnv]:
    """The proxy env class of design family ``family`` (one class per family)."""
    if not (isinstance(family, type) and issubclass(family, DesignEnv)):
        raise TypeError(f"family must be a DesignEnv subclass, got {family!r}")
    return type(f"Proxy{family.__name__}", (ProxyDesignEnv, family),
                {"__module__": __name__, "family": family.family,
                 "reward_description": family.reward_description + " (proxy metrics)"})


@functools.cache
def _front_ends(family: type[DesignEnv]):
    return derive_envs(proxy_env_class(family))


def _family_of(proxy: DesignProxy) -> type[DesignEnv]:
    """The design family class a proxy was fit on (its spec's ``env_class``)."""
    module, _, name = proxy.spec["env_class"].partition(":")
    try:
        family = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"proxy was fit on {proxy.spec['env_class']}, which cannot be "
                         f"imported: {error}") from error
    return family


def make_proxy_batched_env(proxy: DesignProxy | str | Path, num_envs: int = 1,
                           **kwargs: Any) -> ProxyDesignEnv:
    """The batched proxy env (tensors in and out) of ``proxy``, with ``num_envs`` envs;
    kwargs as :class:`ProxyDesignEnv`'s."""
    proxy = _as_proxy(proxy)
    return proxy_env_class(_family_of(proxy))(proxy=proxy, num_envs=num_envs, **kwargs)


def make_proxy_env(proxy: DesignProxy | str | Path, **kwargs: Any) -> gymnasium.Env:
    """A ``gymnasium.Env`` (B = 1) of the proxy env of ``proxy`` (a DesignProxy or a path);
    kwargs as :class:`ProxyDesignEnv`'s."""
    proxy = _as_proxy(proxy)
    return _front_ends(_family_of(proxy))[0](proxy=proxy, **kwargs)


def make_proxy_vector_env(proxy: DesignProxy | str | Path, num_envs: int = 1,
                          **kwargs: Any) -> gymnasium.vector.VectorEnv:
    """A ``gymnasium.vector.VectorEnv`` of ``num_envs`` proxy envs stepped in one call."""
    proxy = _as_proxy(proxy)
    return _front_ends(_family_of(proxy))[1](num_envs=num_envs, proxy=proxy, **kwargs)


def register_proxy_env(env_id: str, proxy_path: str | Path) -> None:
    """Register ``env_id`` (e.g. "tunegym/DRAMControllerProxy-v0") for the proxy saved at
    ``proxy_path``: ``gymnasium.make`` and ``gymnasium.make_vec`` then build its proxy
    env (the path is stored in the spec's kwargs; it is read at every make)."""
    gymnasium.register(id=env_id, entry_point=make_proxy_env,
                       vector_entry_point=make_proxy_vector_env,
                       kwargs={"proxy": str(proxy_path)})
