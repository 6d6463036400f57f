"""``tunegym proxy collect|fit``: design datasets and surrogate models (see
:mod:`tunegym.proxy`)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from tunegym.io import markdown_table
from tunegym.proxy.dataset import collect_random_designs
from tunegym.proxy.model import MODELS, fit_proxy


def register(commands) -> None:
    """Add ``tunegym proxy collect|fit``."""
    proxy = commands.add_parser("proxy", help="log random designs of a design env and fit "
                                  "a proxy (surrogate) model of it")
    commands = proxy.add_subparsers(dest="proxy_command", required=True)
    collect = commands.add_parser("collect", help="evaluate uniform random designs, save "
                                  "them as a design dataset (CSV or Parquet + JSON sidecar)")
    collect.add_argument("env_id", help="a registered design env, e.g. "
                         "tunegym/DRAMController-v0")
    collect.add_argument("--designs", type=int, default=20_000, help="designs to evaluate")
    collect.add_argument("--output", required=True, help="FILE.csv or FILE.parquet")
    collect.add_argument("--seed", type=int, default=0)
    collect.add_argument("--batch-size", type=int, default=4096,
                         help="designs per batched env step")
    collect.add_argument("--env-kwargs", default="{}",
                         help='env kwargs as a JSON object, e.g. \'{"split": "test"}\'')
    collect.add_argument("--device", default="cpu")
    fit = commands.add_parser("fit", help="fit a proxy on a design dataset, print its "
                              "held-out RMSE per metric, save it")
    fit.add_argument("dataset", help="a saved design dataset (FILE.csv or FILE.parquet)")
    fit.add_argument("--output", required=True, help="the proxy file to write, e.g. proxy.pt")
    fit.add_argument("--model", choices=MODELS, default="mlp")
    fit.add_argument("--holdout", type=float, default=0.2,
                     help="fraction of rows kept out of training for the report")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--epochs", type=int, default=200, help="MLP training epochs")
    for command in (collect, fit):
        command.add_argument("--threads", type=int, default=1,
                             help="torch intra-op threads (default 1: fastest on small CPUs)")
    proxy.set_defaults(handler=run)


def format_report(report: Mapping[str, Any]) -> str:
    """The held-out figures of a proxy as a markdown table, one row per metric."""
    summary = (f"{report['model']} proxy: {report['train_rows']} training rows, "
               f"{report['holdout_valid_rows']} valid of {report['holdout_rows']} held out; "
               f"validity predicted right for {100 * report['validity_accuracy']:.2f} %")
    lines = [summary, "", markdown_table(
        ["metric", "RMSE of relative error", "RMSE (metric's unit)"],
        [[key, f"{100 * relative:.3f} %", f"{report['rmse'][key]:.4g}"]
         for key, relative in report["relative_rmse"].items()])]
    if report["unmodelled_metrics"]:
        skipped = ", ".join(report["unmodelled_metrics"])
        lines += ["", f"not modelled (zero or negative on some valid designs): {skipped}"]
    return "\n".join(lines)


def run(arguments) -> int:
    """Run ``tunegym proxy collect|fit`` from parsed ``arguments``; returns the exit code."""
    try:
        if arguments.proxy_command == "collect":
            env_kwargs = json.loads(arguments.env_kwargs)
            if not isinstance(env_kwargs, dict):
                raise ValueError(f"--env-kwargs must be a JSON object, got "
                                 f"{arguments.env_kwargs!r}")
            began = time.perf_counter()
            dataset = collect_random_designs(arguments.env_id, arguments.designs,
                                             arguments.seed, arguments.batch_size,
                                             device=arguments.device, **env_kwargs)
            path = dataset.save(arguments.output)
            print(f"{len(dataset)} designs of {arguments.env_id} ({int(dataset.valid.sum())} "
                  f"valid) in {time.perf_counter() - began:.1f} s; wrote {path} and "
                  f"{path.name}.json")
            return 0
        proxy = fit_proxy(arguments.dataset, arguments.model, arguments.holdout,
                          arguments.seed, epochs=arguments.epochs)
        path = proxy.save(arguments.output)
        if proxy.report is not None:
            print(format_report(proxy.report))
        print(f"\nwrote {path}")
        return 0
    except (ValueError, TypeError, ImportError, FileNotFoundError) as error:
        raise SystemExit(f"tunegym proxy {arguments.proxy_command}: {error}") from error
