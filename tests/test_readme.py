"""The README's quick start stays true: its first commands exist and its CLI lines parse."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands():
    first_block = README.split("```", 2)[1]
    assert "make run" in first_block and "make test" in first_block


def test_every_make_target_named_in_the_readme_exists():
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", README))
    assert named, "the README names no make target"
    assert named <= targets, f"README names make targets the Makefile lacks: {sorted(named - targets)}"


def test_every_cli_line_in_the_readme_parses():
    from assistant.cli import build_parser

    lines = re.findall(r"python -m assistant ([^\n#`]+)", README)
    assert len(lines) >= 4
    parser = build_parser()
    for line in lines:
        args = shlex.split(line.strip())
        parser.parse_args(args)  # SystemExit here means the README shows a command that does not exist


def test_status_command_reports_the_built_index(settings, built_index):
    env = {"ASSISTANT_DATA_DIR": str(settings.data_dir), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "assistant", "status"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "index ok" in done.stdout and str(built_index.chunks) in done.stdout


def test_status_command_says_how_to_build_a_missing_index(tmp_path):
    env = {"ASSISTANT_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "assistant", "status"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "python -m assistant ingest" in done.stderr
    assert "Traceback" not in done.stderr
