"""Every DVC command the README tells a user to type to inspect a study runs, offline, on the micro
project. The commands are read from the README itself (the block after the
`<!-- commands under test -->` marker), so the README cannot drift from what is tested."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import DVC, REPO, dvc_env

MARKER = "<!-- commands under test -->"


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    assert MARKER in text, f"README.md lost its {MARKER!r} block"
    block = re.search(re.escape(MARKER) + r"\s*```(?:bash)?\n(.*?)```", text, re.S)
    assert block, f"README.md: no code block after {MARKER!r}"
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line.startswith(("dvc ", "python -m selfsynth"))]


def commit(root: Path) -> None:
    """`dvc exp show` and `dvc params diff` compare with a git commit, as in a user's clone."""
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "add", "-A"], cwd=root, check=True, capture_output=True)
    subprocess.run([*git, "commit", "-q", "-m", "study", "--allow-empty"], cwd=root, check=True, capture_output=True)


def test_the_readme_lists_the_inspection_commands():
    commands = readme_commands()
    for needed in ("dvc status", "dvc metrics show", "dvc metrics show --md", "dvc params diff",
                   "dvc plots show", "dvc dag"):
        assert any(c == needed or c.startswith(needed + " ") for c in commands), needed
    assert "python -m selfsynth table" in commands  # `dvc exp show` with the README's columns


def test_every_readme_command_runs_on_the_micro_study(micro_project):
    root, _ = micro_project
    commit(root)
    outputs = {}
    for command in readme_commands():
        program = DVC if command.startswith("dvc ") else sys.executable
        proc = subprocess.run([program, *shlex.split(command)[1:]], cwd=root, env=dvc_env(root),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"`{command}` failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        assert "unexpected error" not in proc.stderr, f"`{command}`:\n{proc.stderr[-3000:]}"
        outputs[command] = proc.stdout
    assert "up to date" in outputs["dvc status"]
    assert "accuracy" in outputs["dvc metrics show"]
    assert outputs["dvc metrics show --md"].lstrip().startswith("|")
    show = outputs["python -m selfsynth table"]
    assert "workspace" in show and "ours.r2.acc" in show  # the micro world's last round is 2
    assert max(len(line) for line in show.splitlines()) <= 200, "the README's `dvc exp show` is wider than 200 columns"
    assert (root / "dvc_plots" / "index.html").exists()
