"""The README's Python quick start runs as written."""

import re
import runpy
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quick_start_runs(tmp_path, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks, "the README has a python quick start"
    for number, block in enumerate(blocks):
        script = tmp_path / f"readme_block_{number}.py"
        script.write_text(block)
        runpy.run_path(str(script), run_name="__main__")
    assert "SOR iterations over 200 systems:" in capsys.readouterr().out
