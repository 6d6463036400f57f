"""MkDocs hooks of the tunegym site (registered under ``hooks:`` in mkdocs.yml).

Many docstrings cross-reference with Sphinx roles (``:class:`BatchedEnv```,
``:func:`~tunegym.core.random.hash_keys```). mkdocstrings renders Google-style docstrings
as Markdown, where a role is no markup: the backticks become a code span and the role's
name stays in front of it as plain text. :func:`on_page_content` drops the role's name from
every built page and keeps the code span, shortened the way Sphinx shows it.
"""

from __future__ import annotations

import re
from typing import Any

#: Sphinx's Python-domain roles (also spelled ``:py:class:``) that docstrings use.
ROLES = ("class", "func", "meth", "mod", "data", "attr", "obj", "exc", "const")
#: A role in rendered HTML: its name directly before the code span its backticks became.
ROLE_HTML = re.compile(r":(?:py:)?(?:" + "|".join(ROLES) + r"):<code>(?P<target>.*?)</code>",
                       re.DOTALL)


def sphinx_text(target: str) -> str:
    """The text Sphinx shows for a role's ``target``.

    A dotted name broken over two docstring lines is joined again, and a leading ``~``
    keeps only the last dotted component (``~tunegym.core.BatchedEnv.reset`` shows
    ``reset``).

    Args:
        target: the content of the role's code span (HTML-escaped, as rendered).

    Returns:
        The code span's new content.
    """
    target = re.sub(r"\s*\.\s*", ".", target.strip())
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return target


def on_page_content(html: str, **kwargs: Any) -> str:
    """Replace every ``:role:<code>X</code>`` of a page's HTML by ``<code>X</code>``.

    Runs after a page's Markdown (the API pages' docstrings included) became HTML and
    before the search index reads it.

    Args:
        html: the page's body HTML.
        **kwargs: ``page``, ``config`` and ``files`` of MkDocs's event (unused).

    Returns:
        The HTML without role names.
    """
    return ROLE_HTML.sub(lambda match: f"<code>{sphinx_text(match['target'])}</code>", html)
