"""``tunegym leaderboard``: normalised scores of every agent across the registered envs.

:func:`build_leaderboard` reads result files of ``tunegym evaluate`` (JSONL, one row
per test episode, fields :data:`tunegym.evaluation.rows.FIELDS`), adds the shipped
baseline entries (``tunegym/evaluation/data/baseline_entries.jsonl``, written by
``scripts/compute_baseline_entries.py``) and the shipped learned-agent entries
(``agent_entries.jsonl``, written by ``scripts/compute_agent_entries.py``: the families'
comparison configs trained by ``tunegym reproduce``'s path) unless told not to, and
scores every episode.

Normalisation, per env (:func:`tunegym.evaluation.scores.normalised_score`): 0 is the
mean return of ``baseline:random`` on the env's shipped test episodes and 1 the mean
return of the env's best baseline there (the *anchor*: the non-random baseline with the
highest mean return; the leaderboard lists it per env). Anchors come from the shipped
entries, also with ``include_shipped=False``, so every leaderboard built with one tunegym
version uses the same ones; only an env the shipped entries do not cover at all (a family
added since) is anchored on the baseline rows among the results (the outputs say so). An
env without an anchor (no baseline beating random) is not scored; the outputs say so and
how many result rows on it were left out.

Ranking (:func:`ranking_tables`): one table per family and set of envs some agent covers,
ranking every agent that covers all of that set on exactly those envs (agents are
compared only on envs they all cover), each aggregated over them: IQM, mean,
median and optimality gap of the normalised scores with 95% stratified-bootstrap
confidence intervals (strata = envs), and the probability of improvement over
``against`` (default ``baseline:random``). When the envs span several families, a last
table ranks the agents that cover every env. These statistics need the same number of
episodes on every env of a table, so an env with more episodes than the agent's smallest
count keeps its lowest seeds only there (the outputs note every cut); the per-env means
of a table average all of an env's episodes. ``leaderboard.json`` also keeps one summary
per agent over all the envs it covers (``agents``), which the figures plot.

Result rows are refused (ValueError naming the file and line) when they are not JSON
objects, lack a field, come from another tunegym version or from an env spec other than
the registered one (their scores are not comparable: re-run ``tunegym evaluate``), name
an unregistered env, or repeat an (agent, env, checkpoint, seed) row. Blank lines are
skipped. Shipped entries of another version or env spec are left out instead, and their
envs are not scored (rerun ``scripts/compute_baseline_entries.py --envs ID``).

Outputs, under ``output_dir``, each written atomically once everything is computed (an
error leaves earlier outputs as they were): ``leaderboard.md`` (anchors and the table),
``leaderboard.html`` (one static file, no network: the table sorts by a click on a
header, per-env plots embedded as PNG), ``performance_profile.png``,
``score_distribution.png`` and ``leaderboard.json``.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from importlib.metadata import version
from pathlib import Path

import numpy as np

from tunegym.core import check_integer
from tunegym.core.registration import env_class, is_batched_env, registered_ids, spec_hash
from tunegym.evaluation.rows import BASELINE_PREFIX, RANDOM, read_rows, stale_reason
from tunegym.evaluation.scores import (
    iqm,
    mean,
    median,
    normalised_score,
    optimality_gap,
    performance_profile_ci,
    probability_of_improvement_ci,
    stratified_bootstrap_ci,
)
from tunegym.io import (
    markdown_table,
    pyplot,
    write_atomically,
    write_json_atomically,
)

SHIPPED_ENTRIES = Path(__file__).with_name("data") / "baseline_entries.jsonl"
#: Learned agents' rows (``scripts/compute_agent_entries.py``), ranked beside the baselines.
SHIPPED_AGENT_ENTRIES = Path(__file__).with_name("data") / "agent_entries.jsonl"
CONFIDENCE = 0.95
#: The aggregates of the table, in the order :func:`_aggregates` returns them.
AGGREGATES = ("iqm", "mean", "median", "optimality_gap")
#: Column of the table the HTML self-test (``leaderboard.html#selftest``) sorts by.
SELFTEST_COLUMN = "mean"


@dataclass(frozen=True)
class Anchor:
    """The normalisation of one env: mean returns over its shipped test episodes."""

    env_id: str
    random_return: float
    anchor_agent: str
    anchor_return: float
    episodes: int


def _read_rows(path: Path, stale: dict[str, str] | None) -> list[tuple[str, dict]]:
    """Rows of ``path`` (see :func:`load_rows`); with a dict ``stale``, rows of another
    version or env spec, or of an unregistered env, are left out instead of refused,
    ``stale`` recording {env: why} for the registered ones."""
    spec_hashes = {env_id: spec_hash(env_id) for env_id in registered_ids()}
    rows = []
    for where, row in read_rows(path):
        if row["env_id"] not in spec_hashes and is_batched_env(row["env_id"]):
            spec_hashes[row["env_id"]] = spec_hash(row["env_id"])     # a user's own family
        if row["env_id"] not in spec_hashes:
            if stale is not None:
                continue
            raise ValueError(f"{where} has env_id {row['env_id']!r}; it must be one of "
                             f"{sorted(spec_hashes)}")
        reason = stale_reason(row, spec_hashes)
        if reason is not None:
            if stale is None:
                raise ValueError(f"{where} was {reason}: its score is not comparable; "
                                 f"re-run `tunegym evaluate`")
            stale[row["env_id"]] = reason
            continue
        rows.append((where, row))
    return rows


def load_rows(path: str | Path) -> list[tuple[str, dict]]:
    """The rows of a results file as (location, row) pairs, the location naming the file
    and line, checked as the module docstring says (ValueError naming the location)."""
    return _read_rows(Path(path), None)


def load_shipped_entries() -> tuple[list[tuple[str, dict]], dict[str, str]]:
    """The shipped baseline entries as :func:`load_rows` gives them, and {env: why its
    entries are left out} for envs changed since they were computed (those envs are
    not scored until ``scripts/compute_baseline_entries.py --envs ID`` is rerun)."""
    stale: dict[str, str] = {}
    rows = _read_rows(SHIPPED_ENTRIES, stale)
    return rows, {env: f"its shipped baseline entries were {reason}; rerun "
                       f"scripts/compute_baseline_entries.py --envs {env}"
                  for env, reason in stale.items()}


def load_shipped_agent_entries() -> tuple[list[tuple[str, dict]], dict[str, str]]:
    """The shipped learned-agent entries as :func:`load_rows` gives them (none when the
    file is absent), and {env: why its agent entries are left out} for envs changed
    since they were computed."""
    if not SHIPPED_AGENT_ENTRIES.is_file():
        return [], {}
    stale: dict[str, str] = {}
    rows = _read_rows(SHIPPED_AGENT_ENTRIES, stale)
    return rows, {env: f"its shipped agent entries were {reason}; rerun "
                       f"scripts/compute_agent_entries.py --envs {env}"
                  for env, reason in stale.items()}


def compute_anchors(rows: list[dict]) -> tuple[dict[str, Anchor], dict[str, str]]:
    """Per env of ``rows`` (baseline rows, e.g. the shipped entries): the mean return
    of ``baseline:random`` and of the best other baseline.

    Returns:
        (anchors {env: Anchor}, {env: why it has none} for the envs of ``rows`` that
        lack ``baseline:random`` or a baseline beating it; they cannot be scored).
    """
    returns: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        if row["agent"].startswith(BASELINE_PREFIX):
            returns.setdefault(row["env_id"], {}).setdefault(row["agent"], []).append(
                row["episode_return"])
    anchors, unscored = {}, {}
    for env_id, by_agent in sorted(returns.items()):
        means = {agent: float(np.mean(values)) for agent, values in by_agent.items()}
        others = [agent for agent in means if agent != RANDOM]
        if RANDOM not in means:
            unscored[env_id] = f"its baseline entries lack {RANDOM}"
            continue
        if not others:
            unscored[env_id] = f"it has no baseline besides {RANDOM} to anchor a score of 1"
            continue
        best = max(others, key=means.get)
        if means[best] <= means[RANDOM]:
            unscored[env_id] = f"no baseline beats {RANDOM}"
            continue
        anchors[env_id] = Anchor(env_id, means[RANDOM], best, means[best],
                                 len(by_agent[RANDOM]))
    return anchors, unscored


@dataclass
class AgentScores:
    """An agent's normalised scores: ``per_env`` {env: (episodes,) float64, sorted by
    seed then checkpoint} and the returns the same way."""

    agent: str
    per_env: dict[str, np.ndarray]
    returns: dict[str, np.ndarray]

    def matrix(self, envs: list[str]) -> tuple[np.ndarray, dict[str, int]]:
        """(runs, len(envs)) scores, runs = the smallest episode count of ``envs``
        (lowest seeds kept), and {env: episodes dropped} for the envs that were cut."""
        runs = min(self.per_env[env].size for env in envs)
        cut = {env: self.per_env[env].size - runs for env in envs
               if self.per_env[env].size > runs}
        return np.stack([self.per_env[env][:runs] for env in envs], axis=1), cut


def score_agents(rows: list[tuple[str, dict]], anchors: dict[str, Anchor]) -> dict[str,
                                                                                  AgentScores]:
    """Normalised scores of every agent of ``rows`` ((location, row) pairs) on the envs
    of ``anchors`` (rows of other envs are left out); ValueError naming both locations
    for a repeated (agent, env, checkpoint, seed)."""
    seen: dict[tuple, str] = {}
    episodes: dict[str, dict[str, list[tuple]]] = {}
    for where, row in rows:
        key = (row["agent"], row["env_id"], row["checkpoint"], row["seed"])
        if key in seen:
            raise ValueError(f"{where} repeats the row of agent {row['agent']!r}, env "
                             f"{row['env_id']}, checkpoint {row['checkpoint']!r}, seed "
                             f"{row['seed']} of {seen[key]} (pass each result once; "
                             f"--no-shipped leaves out the shipped baseline entries)")
        seen[key] = where
        if row["env_id"] not in anchors:
            continue
        episodes.setdefault(row["agent"], {}).setdefault(row["env_id"], []).append(
            (row["seed"], str(row["checkpoint"]), row["episode_return"]))
    agents = {}
    for agent, by_env in episodes.items():
        returns = {env: np.array([value for *_, value in sorted(entries)], dtype=np.float64)
                   for env, entries in sorted(by_env.items())}
        per_env = {env: normalised_score(values, anchors[env].random_return,
                                         anchors[env].anchor_return)
                   for env, values in returns.items()}
        agents[agent] = AgentScores(agent, per_env, returns)
    return agents


def _aggregates(matrix: np.ndarray) -> np.ndarray:
    """IQM, mean, median and optimality gap of a (runs, envs) score matrix, (4,)."""
    return np.array([iqm(matrix), mean(matrix), median(matrix), optimality_gap(matrix)])


def _interval(point: float, low: float, high: float) -> dict[str, float]:
    return {"point": float(point), "low": float(low), "high": float(high)}


def summarise(agents: dict[str, AgentScores], against: AgentScores, all_envs: list[str],
              reps: int, seed: int) -> list[dict]:
    """One summary per agent, best IQM first: envs (and those of ``all_envs`` it
    misses), episodes, the aggregates with their CIs, the probability of improvement
    over ``against`` (all over the agent's score matrix, see :meth:`AgentScores.matrix`)
    and per-env means (over all the env's episodes)."""
    summaries = []
    for name, scores in agents.items():
        envs = list(scores.per_env)
        matrix, cut = scores.matrix(envs)
        point, low, high = stratified_bootstrap_ci(matrix, _aggregates, reps=reps,
                                                   confidence=CONFIDENCE, seed=seed)
        improvement = None
        common = [env for env in envs if env in against.per_env]
        if name != against.agent and common:
            p_point, p_low, p_high = probability_of_improvement_ci(
                scores.matrix(common)[0], against.matrix(common)[0], reps=reps,
                confidence=CONFIDENCE, seed=seed)
            improvement = {"against": against.agent, "envs": common,
                           **_interval(p_point, p_low, p_high)}
        summaries.append({
            "agent": name, "envs": envs, "missing_envs": [env for env in all_envs
                                                          if env not in envs],
            "episodes": int(matrix.size), "episodes_per_env": int(matrix.shape[0]),
            "episodes_dropped": cut,
            **{aggregate: _interval(point[index], low[index], high[index])
               for index, aggregate in enumerate(AGGREGATES)},
            "probability_of_improvement": improvement,
            "per_env": {env: {"normalised_mean": float(scores.per_env[env].mean()),
                              "mean_return": float(scores.returns[env].mean()),
                              "episodes": int(scores.returns[env].size)}
                        for env in envs}})
    return sorted(summaries, key=lambda summary: (-summary["iqm"]["point"], summary["agent"]))


def _restricted(scores: AgentScores, envs: list[str]) -> AgentScores:
    return AgentScores(scores.agent, {env: scores.per_env[env] for env in envs},
                       {env: scores.returns[env] for env in envs})


def family_of(env_id: str) -> tuple[str, str]:
    """(family name, title) of a registered env (the title from its family record)."""
    batched_class = env_class(env_id)
    record = batched_class.record
    return batched_class.family, record.title if record is not None else batched_class.family


def ranking_tables(agents: dict[str, AgentScores], references: dict[str, AgentScores],
                   against: str, envs: list[str], reps: int, seed: int) -> list[dict]:
    """The ranked tables: per family, one table per set of the family's ``envs`` that
    some agent covers, ranking every agent that covers all of that set on exactly those
    envs (so agents are compared only on envs they all cover), largest set first; then,
    when the envs span several families, one table of the agents covering every env.

    Returns:
        [{"family", "title", "envs", "agents": summaries (see :func:`summarise`)}].
    """
    families: dict[str, list[str]] = {}
    titles = {}
    for env in envs:
        family, titles[family] = family_of(env)
        families.setdefault(family, []).append(env)
    tables = []
    for family, family_envs in families.items():
        covered = {name: tuple(env for env in family_envs if env in scores.per_env)
                   for name, scores in agents.items()}
        for env_set in sorted({value for value in covered.values() if value},
                              key=lambda key: (-len(key), key)):
            members = {name: _restricted(agents[name], list(env_set))
                       for name, value in covered.items() if set(env_set) <= set(value)}
            reference = references[against]
            reference = _restricted(reference, [env for env in env_set
                                                if env in reference.per_env])
            tables.append({"family": family, "title": titles[family], "envs": list(env_set),
                           "agents": summarise(members, reference, list(env_set), reps,
                                               seed)})
    everywhere = {name: scores for name, scores in agents.items()
                  if all(env in scores.per_env for env in envs)}
    if len(families) > 1 and everywhere:
        tables.append({"family": None, "title": "All families", "envs": list(envs),
                       "agents": summarise(everywhere, references[against], list(envs), reps,
                                           seed)})
    return tables


# ----------------------------------------------------------------------------- figures
def _png(figure) -> bytes:
    """The figure as PNG bytes (laid out, then closed)."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    pyplot().close(figure)
    return buffer.getvalue()


def _short(env_id: str) -> str:
    return env_id.removeprefix("tunegym/")


def _score_axis(axes, axis: str) -> None:
    """Make ``axis`` ("x" or "y") of ``axes`` a normalised-score axis: symlog (linear in
    [-1, 1], so 0 and 1 stay apart while outliers fit), plain tick labels, and reference
    lines at 0 (random) and 1 (anchor)."""
    from matplotlib.ticker import FormatStrFormatter

    getattr(axes, f"set_{axis}scale")("symlog", linthresh=1.0)
    getattr(axes, f"{axis}axis").set_major_formatter(FormatStrFormatter("%g"))
    line = axes.axvline if axis == "x" else axes.axhline
    line(0.0, color="grey", linewidth=0.8)
    line(1.0, color="grey", linewidth=0.8, linestyle="--")


def performance_profile_png(agents: dict[str, AgentScores], summaries: list[dict], reps: int,
                            seed: int) -> bytes:
    """Score distributions (rliable's performance profiles): per agent the fraction of
    episodes scoring above tau (each env weighted equally), with pointwise 95% CIs."""
    plt = pyplot()
    pooled = np.concatenate([values for scores in agents.values()
                             for values in scores.per_env.values()])
    taus = np.linspace(min(float(pooled.min()), 0.0), max(float(pooled.max()), 1.0), 201)
    figure, axes = plt.subplots(figsize=(9, 5.5))
    for index, summary in enumerate(summaries):
        matrix = agents[summary["agent"]].matrix(summary["envs"])[0]
        point, low, high = performance_profile_ci(matrix, taus, reps=reps,
                                                  confidence=CONFIDENCE, seed=seed)
        colour = f"C{index % 10}"
        axes.plot(taus, point, color=colour, linestyle=("-", "--", ":")[index // 10 % 3],
                  label=f"{summary['agent']} ({len(summary['envs'])} envs)")
        axes.fill_between(taus, low, high, color=colour, alpha=0.12)
    _score_axis(axes, "x")
    axes.set_xlabel("normalised score tau (0 = random, 1 = anchor baseline; symlog)")
    axes.set_ylabel("fraction of episodes with score > tau")
    axes.set_title("Performance profiles (95% stratified-bootstrap CIs)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _png(figure)


def score_distribution_png(agents: dict[str, AgentScores], summaries: list[dict]) -> bytes:
    """Per agent: a box plot of its episodes' normalised scores (envs it covers) with
    its IQM and 95% CI."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(max(6.0, 1.5 + 0.6 * len(summaries)), 5.5))
    data = [agents[summary["agent"]].matrix(summary["envs"])[0].ravel() for summary in summaries]
    positions = np.arange(len(summaries))
    axes.boxplot(data, positions=positions, widths=0.6, flierprops={"markersize": 3})
    for position, summary in zip(positions, summaries):
        interval = summary["iqm"]
        axes.plot([position, position], [interval["low"], interval["high"]], color="tab:red",
                  linewidth=3, alpha=0.7)
        axes.plot(position, interval["point"], "o", color="tab:red")
    axes.set_xticks(positions, [f"{summary['agent']} ({len(summary['envs'])} envs)"
                                for summary in summaries], fontsize=8, rotation=40, ha="right")
    _score_axis(axes, "y")
    axes.set_ylabel("normalised score per episode (symlog)")
    axes.set_title("Score distributions (red: IQM, 95% CI)")
    axes.grid(alpha=0.3, axis="y")
    return _png(figure)


def env_plot_png(env_id: str, anchor: Anchor, agents: dict[str, AgentScores],
                 summaries: list[dict]) -> bytes:
    """One env: every covering agent's episode scores (dots) and their mean (bar)."""
    plt = pyplot()
    names = [summary["agent"] for summary in summaries if env_id in summary["envs"]][::-1]
    figure, axes = plt.subplots(figsize=(7, 0.8 + 0.35 * len(names)))
    for position, name in enumerate(names):
        values = agents[name].per_env[env_id]
        axes.plot(values, np.full(values.size, position), "o", alpha=0.5, markersize=4,
                  color="tab:blue")
        axes.plot([values.mean()] * 2, [position - 0.3, position + 0.3], color="black",
                  linewidth=2.5)
    axes.set_yticks(range(len(names)), names, fontsize=8)
    _score_axis(axes, "x")
    axes.set_xlabel("normalised score per episode (symlog); bar: mean")
    axes.set_title(f"{_short(env_id)}: 0 = {RANDOM}, 1 = {anchor.anchor_agent}", fontsize=9)
    axes.grid(alpha=0.3, axis="x")
    return _png(figure)


# ----------------------------------------------------------------------------- tables
def _columns(against: str, envs: list[str]) -> list[tuple[str, str]]:
    """(header, type) of the table's columns."""
    return ([("agent", "text"), ("envs", "number"), ("episodes", "number"),
             ("IQM [95% CI]", "number"), ("mean", "number"), ("median", "number"),
             ("optimality gap", "number"), (f"P(> {against})", "number")]
            + [(_short(env), "number") for env in envs])


def _cells(summary: dict, envs: list[str]) -> list[tuple[str, str]]:
    """(shown text, sort value) of an agent's table cells ("" = not covered)."""
    def number(value: float) -> tuple[str, str]:
        return f"{round(value, 3) + 0.0:.3f}", repr(value)      # + 0.0: no "-0.000"

    interval = summary["iqm"]
    improvement = summary["probability_of_improvement"]
    return ([(summary["agent"], summary["agent"]),
             (f"{len(summary['envs'])}/{len(envs)}", str(len(summary["envs"]))),
             (str(summary["episodes"]), str(summary["episodes"])),
             (f"{interval['point']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]",
              repr(interval["point"])),
             number(summary["mean"]["point"]), number(summary["median"]["point"]),
             number(summary["optimality_gap"]["point"]),
             ("–", "") if improvement is None else number(improvement["point"])]
            + [number(summary["per_env"][env]["normalised_mean"]) if env in summary["per_env"]
               else ("–", "") for env in envs])


def _notes(report: dict) -> list[str]:
    """Plain-text notes under the table: scoring, partial coverage, cut episodes,
    envs that cannot be scored."""
    against, reps = report["against"], report["reps"]
    notes = [(f"Normalised score per test episode: 0 = {RANDOM}'s mean return on the env's "
              f"test split, 1 = the env's anchor baseline's (table of anchors). Aggregates "
              f"per agent over the envs of its table (a table ranks the agents covering all "
              f"of its envs, on those only); [95% CI] from {reps} stratified-bootstrap "
              f"replicates (strata = envs). P(> {against}): probability of improvement over "
              f"{against} on the envs both cover. Optimality gap: mean shortfall below 1.")]
    cut = {summary["agent"]: summary for table in report["tables"]
           for summary in table["agents"] if summary["episodes_dropped"]}
    for summary in cut.values():
        if summary["episodes_dropped"]:
            dropped = ", ".join(f"{_short(env)} {count}"
                                for env, count in summary["episodes_dropped"].items())
            notes.append(f"{summary['agent']}: aggregates over {summary['episodes_per_env']} "
                         f"episodes per env (the lowest seeds), so that every env weighs the "
                         f"same; left out: {dropped}.")
    for env, reason in report.get("stale_agent_entries", {}).items():
        notes.append(f"{_short(env)}: {reason}, so they are left out.")
    for env in report.get("anchored_on_results", []):
        notes.append(f"{_short(env)} has no shipped baseline entries: its scores are anchored "
                     f"on the baseline rows of the results themselves.")
    for env, reason in report["unscored_envs"].items():
        rows = report["unscored_rows"].get(env, 0)
        notes.append(f"{_short(env)} is not scored: {reason}"
                     + (f"; {rows} result rows on it are left out." if rows else "."))
    return notes


ANCHOR_HEADERS = ["env", f"{RANDOM} mean return", "anchor baseline", "anchor mean return",
                  "episodes"]


def _anchor_rows(report: dict) -> list[list[str]]:
    """The anchors of the envs the tables rank."""
    ranked = {env for table in report["tables"] for env in table["envs"]}
    return [[_short(env), f"{anchor['random_return']:.4f}", anchor["anchor_agent"],
             f"{anchor['anchor_return']:.4f}", str(anchor["episodes"])]
            for env, anchor in report["anchors"].items() if env in ranked]


def _heading(table: dict) -> str:
    return f"{table['title']}: {', '.join(map(_short, table['envs']))}"


def markdown(report: dict) -> str:
    """``leaderboard.md`` of a report (see :func:`build_leaderboard`): one table per
    family and env set, notes and the anchors."""
    sections = [f"## {_heading(table)}\n\n" + markdown_table(
        [header for header, _ in _columns(report["against"], table["envs"])],
        [[text for text, _ in _cells(summary, table["envs"])] for summary in table["agents"]])
        for table in report["tables"]]
    notes = "\n".join(f"- {note}" for note in _notes(report))
    return ("# tunegym leaderboard\n\n" + "\n\n".join(sections) + f"\n\n{notes}\n\n"
            f"## Anchors\n\n{markdown_table(ANCHOR_HEADERS, _anchor_rows(report))}\n")


_SCRIPT = """
(function () {
  function sortable(table) {
    var headers = table.tHead.rows[0].cells;
    function sortBy(column) {
      var header = headers[column];
      var ascending = header.getAttribute("aria-sort") !== "ascending";
      var numeric = header.dataset.type === "number";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (x, y) {
        var a = x.cells[column].dataset.value, b = y.cells[column].dataset.value;
        if (a === "" || b === "") { return (a === "") - (b === ""); }  // empty cells: last
        var order = numeric ? Number(a) - Number(b) : a.localeCompare(b);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      for (var i = 0; i < headers.length; i++) { headers[i].removeAttribute("aria-sort"); }
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      table.dataset.sortedBy = header.dataset.key + ":" + (ascending ? "ascending" : "descending");
    }
    for (var i = 0; i < headers.length; i++) {
      headers[i].addEventListener("click", sortBy.bind(null, i));
    }
    table.dataset.sortable = "ready";
  }
  var tables = document.querySelectorAll('table[id^="leaderboard"]');
  for (var t = 0; t < tables.length; t++) { sortable(tables[t]); }
  var first = document.getElementById("leaderboard");
  if (window.location.hash === "#selftest") {  // scripts/check_leaderboard_html.py
    first.querySelector('th[data-key="' + first.dataset.selftestColumn + '"]').click();
  }
})();
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: right; }
td { white-space: nowrap; }
th { background: #f3f3f3; }
#leaderboard th { cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td:first-child, th:first-child { text-align: left; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
img { max-width: 100%; }
"""


def _html_table(table_id: str, headers: list[tuple[str, str]],
                rows: list[list[tuple[str, str]]], keys: list[str], attributes: str = "") -> str:
    head = "".join(f'<th data-type="{kind}" data-key="{html.escape(key)}">'
                   f"{html.escape(header)}</th>" for (header, kind), key in zip(headers, keys))
    body = "".join("<tr>" + "".join(f'<td data-value="{html.escape(value)}">'
                                    f"{html.escape(text)}</td>" for text, value in row)
                   + "</tr>\n" for row in rows)
    return (f'<table id="{table_id}"{attributes}>'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>")


def _image(png: bytes, caption: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def html_page(report: dict, figures: dict[str, bytes], env_figures: dict[str, bytes]) -> str:
    """``leaderboard.html`` of a report (see :func:`build_leaderboard`): the sortable
    table, notes, anchors and every plot (``figures`` {name: PNG}, ``env_figures``
    {env: PNG}) inline."""
    keys = ["agent", "envs", "episodes", "iqm", "mean", "median", "optimality_gap",
            "probability_of_improvement"]
    table = "\n".join(
        f"<h2>{html.escape(_heading(ranked))}</h2>\n" + _html_table(
            "leaderboard" if index == 0 else f"leaderboard-{index}",
            _columns(report["against"], ranked["envs"]),
            [_cells(summary, ranked["envs"]) for summary in ranked["agents"]],
            keys + ranked["envs"], f' data-selftest-column="{SELFTEST_COLUMN}"' * (index == 0))
        for index, ranked in enumerate(report["tables"]))
    anchor_table = _html_table("anchors", [(header, "text") for header in ANCHOR_HEADERS],
                               [[(text, text) for text in row] for row in _anchor_rows(report)],
                               ANCHOR_HEADERS)
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in _notes(report))
    plots = "".join(_image(png, f"{_short(env)}: normalised score per episode")
                    for env, png in env_figures.items())
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>tunegym leaderboard</title><style>{_STYLE}</style></head><body>\n"
            f"<h1>tunegym leaderboard</h1>\n<p>Click a column header to sort its "
            f"table.</p>\n{table}\n"
            f"<ul>{notes}</ul>\n<h2>Anchors</h2>\n{anchor_table}\n<h2>Aggregates</h2>\n"
            + "".join(_image(png, name) for name, png in figures.items())
            + f"\n<h2>Per env</h2>\n{plots}\n<script>{_SCRIPT}</script>\n</body></html>\n")


class _TableReader(HTMLParser):
    """Collects the attributes, header cells and body rows of the table ``table_id``."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.attributes: dict | None = None
        self.headers: list[dict] = []
        self.rows: list[list[dict]] = []
        self._inside, self._row, self._cell = False, [], None

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("id") == self.table_id:
            self.attributes, self._inside = attributes, True
        elif self._inside and tag == "tr":
            self._row = []
        elif self._inside and tag in ("th", "td"):
            self._cell = {**attributes, "tag": tag, "text": ""}

    def handle_data(self, data) -> None:
        if self._cell is not None:
            self._cell["text"] += data

    def handle_endtag(self, tag) -> None:
        if not self._inside:
            return
        if tag in ("th", "td") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr":
            if self._row and all(cell["tag"] == "th" for cell in self._row):
                self.headers = self._row
            else:
                self.rows.append(self._row)
        elif tag == "table":
            self._inside = False


def read_html_table(page: str, table_id: str = "leaderboard") -> dict:
    """The table ``table_id`` of an HTML page (ours, or a browser's dump of its DOM).

    Returns:
        {"attributes": the table's attributes, "headers": header cells, "rows": body
        rows as lists of cells}; a cell is a dict of its attributes (``data-value``,
        ``data-key``, ...) plus ``tag`` and ``text``. ValueError if there is no such
        table.
    """
    reader = _TableReader(table_id)
    reader.feed(page)
    reader.close()
    if reader.attributes is None:
        raise ValueError(f"the page has no table with id {table_id!r}")
    return {"attributes": reader.attributes, "headers": reader.headers, "rows": reader.rows}


# ----------------------------------------------------------------------------- entry points
def build_leaderboard(result_paths: list[str | Path], output_dir: str | Path = "leaderboard",
                      include_shipped: bool = True, against: str = RANDOM, reps: int = 2000,
                      seed: int = 0) -> dict:
    """Score the agents of ``result_paths`` (and the shipped baselines) and write the
    leaderboard files (see the module docstring).

    Args:
        result_paths: JSONL files of ``tunegym evaluate`` (or of the baselines).
        output_dir: folder of the outputs (created).
        include_shipped: also rank the shipped baseline entries (the anchors come from
            them either way).
        against: the agent the probability of improvement is computed against.
        reps: bootstrap replicates, >= 1.
        seed: seed of the bootstrap.

    Returns:
        The content of ``leaderboard.json`` (anchors, one summary per agent, the paths
        written).
    """
    if isinstance(result_paths, (str, Path)):
        raise TypeError(f"result_paths must be a list of paths, got {result_paths!r}")
    if include_shipped not in (True, False):
        raise ValueError(f"include_shipped must be True or False, got {include_shipped!r}")
    reps = check_integer("reps", reps)
    shipped, unscored = load_shipped_entries()
    anchors, no_anchor = compute_anchors([row for _, row in shipped])
    unscored.update(no_anchor)
    unscored.update({env: "the shipped baseline entries lack it (run "
                          f"scripts/compute_baseline_entries.py --envs {env})"
                     for env in registered_ids() if env not in anchors and env not in unscored})
    results = [entry for path in result_paths for entry in load_rows(path)]
    # an env the shipped entries do not cover (a family added since) is anchored on the
    # baseline rows among the results, and the outputs say so
    unshipped = {row["env_id"] for _, row in results} - {row["env_id"] for _, row in shipped}
    own, _ = compute_anchors([row for _, row in results if row["env_id"] in unshipped])
    for env, anchor in own.items():
        anchors[env] = anchor
        unscored.pop(env, None)
    anchored_on_results = sorted(own)
    if not include_shipped and not results:
        raise ValueError("result_paths must name at least one results file when "
                         "include_shipped is False")
    shipped_agents, stale_agents = load_shipped_agent_entries() if include_shipped else ([], {})
    agents = score_agents((shipped + shipped_agents if include_shipped else []) + results,
                          anchors)
    if not agents:
        raise ValueError(f"no row of {[str(path) for path in result_paths]} is on an env "
                         f"that can be scored ({sorted(anchors)})")
    # the shipped baselines are references even when they are not ranked
    references = {**score_agents(shipped, anchors), **agents}
    if against not in references:
        raise ValueError(f"against must be one of the agents {sorted(references)}, got "
                         f"{against!r}")
    summaries = summarise(agents, references[against], list(anchors), reps, seed)
    tables = ranking_tables(agents, references, against,
                            [env for env in anchors if any(env in scores.per_env
                                                           for scores in agents.values())],
                            reps, seed)
    figures = {"performance_profile.png": performance_profile_png(agents, summaries, reps,
                                                                  seed),
               "score_distribution.png": score_distribution_png(agents, summaries)}
    env_figures = {env: env_plot_png(env, anchor, agents, summaries)
                   for env, anchor in anchors.items()
                   if any(env in summary["envs"] for summary in summaries)}
    output_dir = Path(output_dir)
    report = {"tunegym_version": version("tunegym"), "against": against, "reps": reps,
              "confidence": CONFIDENCE, "include_shipped": include_shipped,
              "results": [str(path) for path in result_paths],
              "anchors": {env: asdict(anchor) for env, anchor in anchors.items()},
              "unscored_envs": unscored, "anchored_on_results": anchored_on_results,
              "stale_agent_entries": stale_agents,
              "unscored_rows": dict(Counter(row["env_id"] for _, row in results
                                            if row["env_id"] not in anchors)),
              "agents": summaries, "tables": tables,
              "files": [str(output_dir / name) for name in
                        ("leaderboard.md", "leaderboard.html", *figures, "leaderboard.json")]}
    outputs = {"leaderboard.md": markdown(report).encode(),
               "leaderboard.html": html_page(report, figures, env_figures).encode(), **figures}
    for name, data in outputs.items():
        write_atomically(output_dir / name,
                         lambda temporary, data=data: temporary.write_bytes(data))
    write_json_atomically(output_dir / "leaderboard.json", report)
    return report
