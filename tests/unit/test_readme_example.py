"""The Python API example in README.md runs as printed."""

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_api_example_runs(tmp_path, capsys):
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- readme-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its API example"
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(match.group(1), "README.md", "exec"), {"__name__": "readme"})
    finally:
        os.chdir(cwd)
    printed = capsys.readouterr().out.split("\n")
    assert len([line for line in printed if line]) == 5
    assert (tmp_path / "compressed-model" / "removal.json").is_file()
