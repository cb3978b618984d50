"""Docs that cannot rot, run for real: every shell block marked runnable works as written on a fresh copy.

A block is marked by the HTML comment on the line before its fence, which
GitHub does not render:

    <!-- runnable -->                      each line must exit 0
    <!-- runnable expect="churn_probability" -->   ... and the block must print this

The blocks of one page run in order, line by line, in one fresh copy of the
tree (tracked and unignored files only: no artifacts, no .stack, a git
repository with one commit, as a clone is), with the project's venv on PATH
as the pages tell users to activate it (its `python` ahead of it the same
interpreter, forking `python -m` lines from the suite's launcher as make's
own lines are, src/launcher.py). A line still running once it prints
"Uvicorn running on" is a server: it keeps serving while the page's later
blocks run, then gets Ctrl-C (SIGINT) and must stop. Free ports replace the
documented defaults (8000, 8080, 8001, 8002, 9090), in the environment and in
the commands, so a busy machine cannot make a page fail; nothing else in a
command is changed. Every line has a time bound.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from src import launcher
from src.config import ROOT
from src.processes import free_port, stop_group
from tools.copies import copy_tree, git_identity, one_commit

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKED = re.compile(r"^<!-- runnable(?P<attrs>[^>]*)-->\n```(?:sh|bash)\n(?P<body>.*?)^```", re.S | re.M)
SERVING = "Uvicorn running on"
LINE_TIMEOUT_S = 300.0  # a bound for hangs: the slowest documented line (a rollout) takes ~1-2 min here
PORTS = {"PORT": 8000, "STACK_PORT": 8080, "STABLE_PORT": 8001, "CANDIDATE_PORT": 8002, "PROMETHEUS_PORT": 9090}


@dataclass(frozen=True)
class Block:
    page: str
    lines: tuple[str, ...]
    expect: str | None


def _lines(body: str) -> tuple[str, ...]:
    """Shell lines, with backslash continuations joined; blank lines dropped (comments are bash's job)."""
    joined = re.sub(r"\\\n\s*", " ", body)
    return tuple(line for line in joined.splitlines() if line.strip())


def blocks(page: Path) -> list[Block]:
    found = []
    for match in MARKED.finditer(page.read_text()):
        expect = re.search(r'expect="([^"]+)"', match.group("attrs"))
        found.append(Block(page.relative_to(ROOT).as_posix(), _lines(match.group("body")), expect and expect.group(1)))
    return found


RUNNABLE = {page.relative_to(ROOT).as_posix(): blocks(page) for page in PAGES}
RUNNABLE = {page: found for page, found in RUNNABLE.items() if found}


def fresh_copy(dest: Path) -> Path:
    """The tree as a clone would have it: a git repository with one commit, no artifacts, no .stack."""
    return one_commit(copy_tree(dest), "fresh copy", who="docs")


class Shell:
    """Runs a page's lines in the copy; keeps the servers they start until the page is done."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.ports = {name: free_port() for name in PORTS}
        venv = ROOT / ".venv"
        # A line that types `python -m` itself forks it from the suite's launcher, as make's lines do (src/launcher.py)
        shim = launcher.write_python_shim(cwd.parent / f"{cwd.name}-bin" / "python").parent
        self.env = {
            **git_identity("docs"),
            **{name: str(port) for name, port in self.ports.items()},
            "VENV": str(venv),
            "VIRTUAL_ENV": str(venv),
            "PATH": f"{shim}:{venv / 'bin'}:{os.environ['PATH']}",
        }
        for name in ("CHURN_DATA", "ARTIFACT_DIR", "PROD_METRICS", "STACK_DIR", "MODEL_PATH"):
            self.env.pop(name, None)  # the page's defaults, not the test run's
        for name in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS"):
            self.env.pop(name, None)  # a user's shell, not a sub-make of `make docs` ("Entering directory")
        self.servers: list[tuple[str, subprocess.Popen]] = []

    def command(self, line: str) -> str:
        for name, default in PORTS.items():
            line = re.sub(rf"(?<=[:=]){default}\b", str(self.ports[name]), line)
        return line

    def run(self, line: str) -> str:
        """One line; its output. A failure names the line, its exit code and the tail of its output."""
        command = self.command(line)
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        output = _read_until_exit_or(proc, SERVING, LINE_TIMEOUT_S, line)
        if proc.poll() is None:
            self.servers.append((line, proc))
            return output
        proc.stdout.close()
        assert proc.returncode == 0, f"`{line}` exited {proc.returncode}:\n{output[-3000:]}"
        return output

    def stop_servers(self) -> None:
        for line, proc in reversed(self.servers):
            try:  # Ctrl-C to the line's whole group, as the page says; what outlives it 30 s is killed
                stopped = stop_group(proc.pid, signal.SIGINT, proc, timeout=30, whole_group=True)
            finally:
                proc.stdout.close()
            if not stopped:
                pytest.fail(f"`{line}` kept running 30 s after Ctrl-C")
        self.servers.clear()


def _read_until_exit_or(proc: subprocess.Popen, marker: str, timeout: float, line: str) -> str:
    """Output until the process exits, or prints `marker` (a server is up), or the bound is hit."""
    assert proc.stdout is not None
    fd, output, deadline = proc.stdout.fileno(), b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        chunk = os.read(fd, 65536) if ready else b""
        output += chunk
        if marker.encode() in output and proc.poll() is None:
            return output.decode(errors="replace")
        if ready and not chunk:  # end of output: the command is done
            proc.wait(timeout=timeout)
            return output.decode(errors="replace")
    stop_group(proc.pid, signal.SIGKILL, proc)
    proc.stdout.close()
    pytest.fail(f"`{line}` still running after {timeout:.0f} s without serving:\n{output.decode()[-3000:]}")


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    session = Shell(fresh_copy(tmp_path / "clone"))
    try:
        yield session
    finally:
        session.stop_servers()
        subprocess.run(
            ["make", "--no-print-directory", "stack-down"], cwd=session.cwd, env=session.env, capture_output=True
        )


@pytest.mark.parametrize("page", sorted(RUNNABLE))
def test_every_runnable_block_of_the_page_works_as_written_on_a_fresh_copy(page: str, shell: Shell) -> None:
    for block in RUNNABLE[page]:
        output = "".join(shell.run(line) for line in block.lines)
        if block.expect:
            assert block.expect in output, (
                f"{page}: the block {shlex.quote(block.lines[0])}... should print {block.expect!r}:\n{output[-3000:]}"
            )
    shell.stop_servers()


def test_the_quick_start_is_marked_runnable() -> None:
    lines = [line for block in RUNNABLE.get("README.md", []) for line in block.lines]
    assert any(line.startswith("make run") for line in lines), "README's quick start must be a runnable block"


def test_a_mistyped_command_fails_with_its_line_and_output(shell: Shell) -> None:
    with pytest.raises(AssertionError, match=r"`make stack-sett` exited 2:\n.*No rule to make target"):
        shell.run("make stack-sett")


def test_documented_ports_are_replaced_by_free_ones(shell: Shell) -> None:
    command = shell.command("curl -s http://127.0.0.1:8000/predict; make stack-up STACK_PORT=8080")
    port, stack = shell.ports["PORT"], shell.ports["STACK_PORT"]
    expected = f"curl -s http://127.0.0.1:{port}/predict; make stack-up STACK_PORT={stack}"
    assert command == expected, "a documented default port reached the command: a busy machine would fail the page"
