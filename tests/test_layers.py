"""The package's layers (pyproject.toml's [tool.importlinter]): imports only go down, and
no two modules import each other in a circle."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_imports_only_go_down_the_layers():
    program = ("import sys; from importlinter.cli import lint_imports_command; "
               "sys.exit(lint_imports_command())")
    result = subprocess.run(
        [sys.executable, "-c", program, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout
