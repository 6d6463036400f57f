"""The README's Python quick start runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quick_start_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "the README has a python quick start"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    assert "SOR iterations over 200 systems:" in capsys.readouterr().out
