"""The README's two set-up commands are what CI runs: a new user's steps and CI's cannot drift apart."""
from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)]


def test_readme_has_the_install_and_test_commands():
    blocks = _bash_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "pip install . && netmirror demo" in blocks
    assert 'pip install ".[test]" && python -m pytest tests' in blocks


def test_ci_runs_exactly_the_readme_test_command_in_a_fresh_venv():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in ci.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert 'pip install ".[test]" && python -m pytest tests' in lines
    venv = next(i for i, line in enumerate(lines) if "-m venv" in line)
    activate = next(i for i, line in enumerate(lines) if line.startswith("source") and "activate" in line)
    test = lines.index('pip install ".[test]" && python -m pytest tests')
    assert venv < activate < test  # the tests run inside the fresh environment
    assert not any("pip install" in line for line in lines[:test])  # no install step the README does not have


def test_test_extra_provides_what_the_suite_builds_with():
    """scripts/sanitize.sh builds with --no-build-isolation: its build backend must come from the test extra."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    extra = re.search(r"^test = \[(.*?)\]", pyproject, flags=re.MULTILINE).group(1)
    build = re.search(r"^requires = \[(.*?)\]", pyproject, flags=re.MULTILINE).group(1)
    for req in re.findall(r'"([A-Za-z0-9_.-]+)', build):
        assert req in extra, f"{req} (a build requirement) is missing from the test extra"
    assert "--no-build-isolation" in (ROOT / "scripts" / "sanitize.sh").read_text(encoding="utf-8")
