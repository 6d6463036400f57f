"""The documentation site builds, and every code block in it runs, so the docs cannot rot.

* ``mkdocs build --strict`` (material theme, API pages by mkdocstrings) into a temporary
  folder: a broken link, a missing page or a docstring griffe cannot place fails it.
* Every ```python block of every page under docs/ runs: a page's blocks in order, in one
  namespace (a fresh module, so a block can define a family module and register it by
  ``__name__``), in a temporary working directory. The README's Python blocks are run
  by tests/test_readme.py.
* Every ``tunegym ...`` command in a ```bash block of the docs and the README parses with
  the real ``tunegym`` parser (a renamed command or flag fails), the configs it names
  exist, and the cheap ones (``tunegym list``, ``tunegym exercise list``) run.
* docs/exercises.md names every exercise of the registry, and every registered id is on
  its family's page.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import gymnasium
import pytest

import tunegym
from tunegym.cli import build_parser, main
from tunegym.exercises import EXERCISES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
#: A fenced block: its indentation, language and body (the closing fence at the same
#: indentation), so blocks inside admonitions or lists are found too.
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<language>[\w+-]*)[^\n]*\n(?P<body>.*?)"
                   r"^(?P=indent)```[ \t]*$", re.DOTALL | re.MULTILINE)
#: Commands cheap enough to run for real (arguments after ``tunegym``).
CHEAP_COMMANDS = (["list"], ["exercise", "list"])
#: family (``BatchedEnv.family``) -> its page under docs/families/.
FAMILY_PAGES = {"sor": "sor.md", "coverage": "coverage.md",
                "solver_schedule": "solver-schedules.md",
                "quantum_arch_search": "quantum-architecture-search.md",
                "architecture_design": "architecture-design.md"}


def code_blocks(path: Path, language: str) -> list[tuple[int, str]]:
    """(line number of the first code line, dedented code) of every ``language`` block."""
    text = path.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        if match["language"] == language:
            first_line = text.count("\n", 0, match.start("body")) + 1
            blocks.append((first_line, textwrap.dedent(match["body"])))
    return blocks


def shell_commands(line: str) -> list[list[str]]:
    """The simple commands of one shell line: split at ``&&``, ``||``, ``;`` and ``|``,
    each cut at its first redirection (``>``, ``<``); comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current, redirected = [], [], False
    for token in lexer:
        if token in ("&&", "||", ";", "|", "&"):
            commands.append(current)
            current, redirected = [], False
        elif set(token) <= set("<>&"):
            redirected = True
        elif not redirected:
            current.append(token)
    return [command for command in [*commands, current] if command]


def command_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(line, argv after ``tunegym``) of every ``tunegym`` command in ``path``'s bash
    blocks (backslash continuations joined; the line is where the command starts)."""
    commands = []
    for first_line, body in code_blocks(path, "bash"):
        logical, start = "", None
        for offset, line in enumerate(body.splitlines()):
            start = first_line + offset if start is None else start
            if line.endswith("\\"):
                logical += line[:-1] + " "
                continue
            for words in shell_commands(logical + line):
                if words[0] == "tunegym":
                    commands.append((start, words[1:]))
            logical, start = "", None
    return commands


def installed(module: str) -> bool:
    """Whether ``module`` (dotted names too) can be imported."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:     # a parent package is missing
        return False


def page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


PYTHON_PAGES = [page for page in PAGES if code_blocks(page, "python")]
COMMANDS = [(page, line, argv) for page in [*PAGES, ROOT / "README.md"]
            for line, argv in command_lines(page)]


def test_docs_exist():
    assert (ROOT / "mkdocs.yml").is_file()
    assert PYTHON_PAGES, "the docs have runnable python blocks"
    assert COMMANDS, "the docs have tunegym commands"


def test_site_builds_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if not installed(module):
            pytest.skip(f"{module} is not installed (pip install -e '.[dev]' installs the "
                        "docs toolchain)")
    site = tmp_path / "site"
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=600, env=environment)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-6000:]}"
    for page in PAGES:
        relative = page.relative_to(DOCS)
        built = site / (relative.parent / "index.html" if relative.stem == "index"
                        else relative.with_suffix("") / "index.html")
        assert built.is_file(), f"{page_id(page)} was not built ({built} is missing)"


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=page_id)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    name = "tunegym_docs_" + re.sub(r"\W", "_", str(page.relative_to(DOCS).with_suffix("")))
    module = types.ModuleType(name)
    registered_before = set(gymnasium.registry)
    sys.modules[name] = module
    try:
        for first_line, code in code_blocks(page, "python"):
            # padded so that a traceback names the line of the markdown file
            exec(compile("\n" * (first_line - 1) + code, str(page), "exec"),  # noqa: S102
                 module.__dict__)
    finally:
        sys.modules.pop(name, None)
        for env_id in set(gymnasium.registry) - registered_before:
            del gymnasium.registry[env_id]


@pytest.mark.parametrize(("page", "line", "argv"), COMMANDS,
                         ids=[f"{page_id(page)}:{line}" for page, line, _ in COMMANDS])
def test_tunegym_commands_parse(page, line, argv, capsys, tmp_path, monkeypatch):
    where = f"{page_id(page)} line {line}: tunegym {shlex.join(argv)}"
    try:
        build_parser().parse_args(argv)
    except SystemExit as error:
        if error.code not in (0, None):     # --help exits 0
            pytest.fail(f"{where} does not parse: {capsys.readouterr().err.strip()}")
    for word in argv:
        if re.fullmatch(r"configs/[\w.-]+\.ya?ml", word):
            assert (ROOT / word).is_file(), f"{where} names a config that does not exist"
    if argv in CHEAP_COMMANDS:
        monkeypatch.chdir(tmp_path)
        assert main(argv) == 0, where
        assert capsys.readouterr().out.strip(), f"{where} printed nothing"


def test_every_cheap_command_is_in_the_docs():
    documented = [argv for _, _, argv in COMMANDS]
    for argv in CHEAP_COMMANDS:
        assert argv in documented, f"tunegym {' '.join(argv)} is not in a bash block"


def test_exercises_page_names_every_exercise():
    text = (DOCS / "exercises.md").read_text()
    for exercise in EXERCISES:
        assert exercise.slug in text, f"docs/exercises.md lacks {exercise.slug}"
        assert exercise.title in text, (f"docs/exercises.md lacks the title of exercise "
                                        f"{exercise.number}: {exercise.title!r}")
        assert f"tunegym exercise start {exercise.number} " in text, (
            f"docs/exercises.md does not show how to start exercise {exercise.number}")


@pytest.mark.parametrize("env_id", tunegym.registered_ids())
def test_every_registered_id_is_on_its_family_page(env_id):
    family = gymnasium.make(env_id).unwrapped.batched.family
    assert family in FAMILY_PAGES, (f"family {family!r} of {env_id} has no page: write "
                                    f"docs/families/<name>.md and add it to FAMILY_PAGES "
                                    "here and to the nav of mkdocs.yml")
    page = DOCS / "families" / FAMILY_PAGES[family]
    assert f"`{env_id}`" in page.read_text(), f"{page_id(page)} does not name {env_id}"
