"""The wheel ships every exercise's task text, starter and grader, and no reference solution."""

import subprocess
import sys
import zipfile
from pathlib import Path

from tunegym.exercises import EXERCISES

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_has_the_material_and_graders_but_no_solutions(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path)
    wheel, = tmp_path.glob("tunegym-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for exercise in EXERCISES:
        for file in ("README.md", "starter.py"):
            assert f"tunegym/exercises/material/{exercise.slug}/{file}" in names
        assert exercise.grader.replace(".", "/") + ".py" in names
    assert not any("solutions" in name or name.startswith("tests/") for name in names)
