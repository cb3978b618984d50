"""The launcher (src/launcher.py): a forked child must be indistinguishable from a fresh `python -m`.

Each behaviour is run both ways, through the launcher and through a plain
subprocess.Popen, and the two must agree: exit codes, output, cwd, argv,
environment, signals, atexit. A test that only checked the launcher would
pass on a launcher that is wrong in the same way a test author expects.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from src import artifacts, fork_client, launcher, loopback, schema
from src.config import ROOT
from src.processes import free_port, poll_until, stop_group, wait_healthy
from tools.copies import copy_tree

PY = sys.executable
# Bodies of a probe module run as `python -m probe`, and what a fresh interpreter does with each.
EXITS = {
    "a clean end": ("print('done')", 0),
    "sys.exit(3)": ("import sys; sys.exit(3)", 3),
    "sys.exit with a message": ("import sys; sys.exit('refused: bad input')", 1),
    "an uncaught exception": ("raise ValueError('boom')", 1),
    "an uncaught KeyboardInterrupt": ("raise KeyboardInterrupt", -signal.SIGINT),
    "a crash (SIGKILL to itself)": ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", -signal.SIGKILL),
    "output left unflushed": ("import sys; sys.stdout.write('no newline, never flushed')", 0),
    "an atexit handler": ("import atexit; atexit.register(print, 'atexit ran'); print('main')", 0),
    "a non-daemon thread": (
        "import threading, time; threading.Thread(target=lambda: (time.sleep(0.2), print('joined'))).start()",
        0,
    ),
}
PROBE = """
import json, os, sys
print(json.dumps({
    "name": __name__, "argv": sys.argv[1:], "argv0": os.path.basename(sys.argv[0]), "cwd": os.getcwd(),
    "path0": sys.path[0], "probe_var": os.environ.get("PROBE_VAR"), "launcher_var": os.environ.get("ONLY_IN_LAUNCHER"),
    "stdin": sys.stdin.read(),
}))
"""


@pytest.fixture
def via_launcher(server: launcher.Server, monkeypatch: pytest.MonkeyPatch) -> launcher.Server:
    monkeypatch.setenv(launcher.ENV, server.path)
    return server


def _probe(folder: Path, body: str) -> Path:
    (folder / "probe.py").write_text(textwrap.dedent(body))
    return folder


def _both(argv: list[str], cwd: Path, server: launcher.Server, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple, tuple]:
    """(returncode, stdout, stderr) through the launcher and through Popen, same call."""
    results = []
    for socket_path in (server.path, launcher.OFF):
        monkeypatch.setenv(launcher.ENV, socket_path)
        env = dict(os.environ)
        proc = launcher.launch(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert isinstance(proc, launcher.Launched) == (socket_path == server.path), "the wrong kind of start"
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out, err))
    return results[0], results[1]


@pytest.mark.parametrize("case", EXITS, ids=list(EXITS))
def test_a_launched_child_ends_exactly_as_a_fresh_interpreter_does(
    case: str, tmp_path: Path, server: launcher.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, expected = EXITS[case]
    forked, fresh = _both([PY, "-m", "probe"], _probe(tmp_path, body), server, monkeypatch)
    assert fresh[0] == expected, f"the reference itself: {case} should exit {expected}, got {fresh}"
    assert forked[0] == fresh[0], f"{case}: exit code {forked[0]} through the launcher, {fresh[0]} fresh"
    assert forked[1] == fresh[1], f"{case}: stdout differs: {forked[1]!r} vs {fresh[1]!r}"
    assert forked[2].splitlines()[-1:] == fresh[2].splitlines()[-1:], f"{case}: stderr ends differently"


def test_cwd_argv_environment_and_stdin_reach_the_child_as_given(tmp_path: Path, via_launcher: launcher.Server) -> None:
    folder = _probe(tmp_path, PROBE)
    env = {"PATH": os.environ["PATH"], "PROBE_VAR": "from the caller"}  # the whole env, not the launcher's
    os.environ["ONLY_IN_LAUNCHER"] = "must not leak"
    try:
        argv = [PY, "-m", "probe", "--flag", "two words"]
        proc = launcher.launch(argv, cwd=folder, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        out, _ = proc.communicate(b"typed in", timeout=60)
    finally:
        del os.environ["ONLY_IN_LAUNCHER"]
    assert isinstance(proc, launcher.Launched)
    seen = json.loads(out)
    assert seen == {
        "name": "__main__",
        "argv": ["--flag", "two words"],
        "argv0": "probe.py",
        "cwd": str(folder),
        "path0": str(folder),
        "probe_var": "from the caller",
        "launcher_var": None,
        "stdin": "typed in",
    }


def test_the_callers_pythonpath_is_searched_after_the_cwd_as_python_dash_m_does(
    tmp_path: Path, server: launcher.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "helper.py").write_text("WHERE = 'pythonpath'\n")
    folder = tmp_path / "cwd"
    folder.mkdir()
    _probe(folder, "import helper; print(helper.WHERE)")
    monkeypatch.setenv("PYTHONPATH", str(extra))
    forked, fresh = _both([PY, "-m", "probe"], folder, server, monkeypatch)
    assert fresh == (0, b"pythonpath\n", b""), fresh
    assert forked == fresh


def test_output_goes_to_a_file_and_a_pipe_as_asked(tmp_path: Path, via_launcher: launcher.Server) -> None:
    folder = _probe(tmp_path, "import sys; print('to the file'); print('to the pipe', file=sys.stderr)")
    log = tmp_path / "out.log"
    with open(log, "w") as out:
        proc = launcher.launch([PY, "-m", "probe"], cwd=folder, stdout=out, stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert log.read_text() == "to the file\n"
    assert err == b"to the pipe\n"


def test_stderr_to_stdout_interleaves_into_one_pipe(tmp_path: Path, via_launcher: launcher.Server) -> None:
    folder = _probe(tmp_path, "import sys; print('out', flush=True); print('err', file=sys.stderr)")
    proc = launcher.launch([PY, "-m", "probe"], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, err = proc.communicate(timeout=60)
    assert (out, err) == (b"out\nerr\n", None)


def test_sigterm_to_a_new_session_stops_the_child_and_its_own_children(
    tmp_path: Path, via_launcher: launcher.Server
) -> None:
    folder = _probe(
        tmp_path,
        """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print(child.pid, flush=True)
        time.sleep(600)
        """,
    )
    proc = launcher.launch([PY, "-m", "probe"], cwd=folder, stdout=subprocess.PIPE, start_new_session=True)
    assert isinstance(proc, launcher.Launched)
    grandchild = int(proc.stdout.readline())
    assert os.getsid(proc.pid) == proc.pid, "start_new_session must make the child a session leader"
    assert os.getpgid(grandchild) == proc.pid, "the child's own children must be in its group"
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    poll_until(lambda: not Path(f"/proc/{grandchild}").exists() or _zombie(grandchild), timeout=30, what="grandchild")
    proc.stdout.close()


def test_stop_group_ends_a_launched_server_as_it_ends_a_popen_one(
    tmp_path: Path, via_launcher: launcher.Server
) -> None:
    folder = _probe(tmp_path, "import time; print('up', flush=True); time.sleep(600)")
    proc = launcher.launch([PY, "-m", "probe"], cwd=folder, stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout.readline() == b"up\n"
    assert proc.poll() is None
    stop_group(proc.pid, proc=proc)
    assert proc.returncode == -signal.SIGTERM
    proc.stdout.close()


def test_a_dead_launcher_kills_its_children_and_later_starts_fall_back_in_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    own = launcher.start()
    monkeypatch.setenv(launcher.ENV, own.path)
    folder = _probe(tmp_path, "import time; print('up', flush=True); time.sleep(600)")
    proc = launcher.launch([PY, "-m", "probe"], cwd=folder, stdout=subprocess.PIPE)
    assert isinstance(proc, launcher.Launched)
    assert proc.stdout.readline() == b"up\n"
    own.proc.kill()
    own.proc.wait()
    assert proc.wait(timeout=30) == -signal.SIGKILL, "a child must not outlive its launcher"
    proc.stdout.close()
    assert "the launcher died" in capfd.readouterr().err
    own.stop()  # removes the socket's folder
    fallback = launcher.launch([PY, "-m", "probe"], cwd=_probe(tmp_path, "print('plain')"), stdout=subprocess.PIPE)
    out, _ = fallback.communicate(timeout=60)
    assert isinstance(fallback, subprocess.Popen)
    assert (fallback.returncode, out) == (0, b"plain\n")
    said = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(said) == 1, f"the fallback must be said in one line: {said}"
    assert said[0].startswith(f"launcher {own.path} did not start probe"), said


def test_anything_but_python_dash_m_with_this_interpreter_is_a_plain_popen(via_launcher: launcher.Server) -> None:
    for argv in ([PY, "-c", "print(1)"], [PY, "-X", "importtime", "-m", "json.tool", "--help"], ["true"]):
        proc = launcher.launch(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert isinstance(proc, subprocess.Popen), argv
        assert proc.wait(timeout=60) == 0


def test_a_project_cli_says_the_same_through_the_launcher_and_fresh(
    server: launcher.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    forked, fresh = _both([PY, "-m", "labs", "list"], ROOT, server, monkeypatch)
    assert fresh[0] == 0, fresh
    assert fresh[1], "the reference printed no labs"
    assert forked == fresh
    forked, fresh = _both([PY, "-m", "src.drift", "--log", str(ROOT / "no" / "such.log")], ROOT, server, monkeypatch)
    assert fresh[0] != 0, "the reference must refuse a missing log"
    assert forked == fresh


# Where `import src.schema` lands, the temp folder, and whether the project was imported before the probe ran.
PROJECT_PROBE = """
import json, sys, tempfile
preloaded = "app.main" in sys.modules
try:
    import src.schema
    where = src.schema.__file__
except ImportError:
    where = None
print(json.dumps({"preloaded": preloaded, "schema": where, "tmp": tempfile.gettempdir()}))
"""
# cwd -> (the child's folder, its PYTHONPATH): the probe is in `probe/`, the child's TMPDIR is `tmp/`.
WHERE = {
    "this checkout": ("checkout", "probe"),
    "a copy of the tree": ("copy", "probe"),
    "a folder without the project": ("probe", ""),
    "a src.py first on the path": ("shadow", "probe:checkout"),
    "the checkout through a symlink": ("probe", "link"),
}


@pytest.mark.parametrize("cwd", list(WHERE))
def test_a_child_runs_the_project_files_a_fresh_interpreter_would_import(
    cwd: str, tmp_path: Path, server: launcher.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launcher imported this checkout's modules once; a child that would import others must never see them."""
    (tmp_path / "probe").mkdir()
    _probe(tmp_path / "probe", PROJECT_PROBE)
    copy_tree(tmp_path / "copy")
    (tmp_path / "shadow").mkdir()
    (tmp_path / "shadow" / "src.py").write_text("NOT_THE_PACKAGE = True\n")  # `import src` finds this first
    (tmp_path / "link").symlink_to(ROOT)
    (tmp_path / "tmp").mkdir()
    folders = {"checkout": ROOT} | {name: tmp_path / name for name in ("copy", "probe", "shadow", "link")}
    folder, pythonpath = WHERE[cwd]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(str(folders[p]) for p in pythonpath.split(":") if p))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    forked, fresh = _both([PY, "-m", "probe"], folders[folder], server, monkeypatch)
    assert fresh[0] == 0, fresh
    through, plain = json.loads(forked[1]), json.loads(fresh[1])
    assert through["schema"] == plain["schema"], f"{cwd}: the child imported {through['schema']}, not {plain['schema']}"
    assert through["tmp"] == plain["tmp"] == str(tmp_path / "tmp"), f"{cwd}: the child's TMPDIR was not its own"
    assert through["preloaded"] == (cwd == "this checkout"), (
        f"{cwd}: the launcher's project modules were {'' if through['preloaded'] else 'not '}kept for the child"
    )


def test_uvicorn_started_by_the_launcher_serves_the_same_predictions_as_a_fresh_one(
    small_artifact: Path, server: launcher.Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probabilities = []
    for socket_path in (server.path, launcher.OFF):
        monkeypatch.setenv(launcher.ENV, socket_path)
        port = free_port()
        env = {**os.environ, "MODEL_PATH": str(small_artifact / artifacts.MODEL_FILE), launcher.ENV: socket_path}
        argv = [PY, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
        with open(tmp_path / f"uvicorn-{port}.log", "w") as log:
            proc = launcher.launch(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                assert isinstance(proc, launcher.Launched) == (socket_path == server.path)
                wait_healthy(f"http://127.0.0.1:{port}/health", proc)
                response = loopback.post(f"http://127.0.0.1:{port}/predict", json=schema.EXAMPLE_CUSTOMER)
                assert response.status_code == 200, response.text
                probabilities.append(response.json()["churn_probability"])
            finally:
                stop_group(proc.pid, proc=proc)
    assert probabilities[0] == probabilities[1], "a forked service must predict exactly what a fresh one does"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_the_registry_extra_is_imported_by_the_launcher_once_a_registry_cli_asks_for_it(
    tmp_path: Path, via_launcher: launcher.Server
) -> None:
    """mlflow costs a registry CLI 0.9 s; the launcher imports it once, for the first `src.registry` child only."""
    registry = launcher.launch([PY, "-m", "src.registry", "--help"], cwd=ROOT, stdout=subprocess.PIPE)
    assert registry.communicate(timeout=120)[0], "the registry CLI printed no help"
    assert registry.returncode == 0
    _probe(tmp_path, "import json, sys; print(json.dumps([m for m in ('mlflow', 'sqlalchemy') if m in sys.modules]))")
    probe = launcher.launch([PY, "-m", "probe"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    found = json.loads(probe.communicate(timeout=60)[0])
    installed = importlib.util.find_spec("mlflow") is not None
    assert found == (["mlflow", "sqlalchemy"] if installed else []), (
        f"after a registry CLI the launcher's children start with {found} imported "
        f"({'with' if installed else 'without'} the registry extra installed)"
    )


def test_pytest_xdist_workers_fork_from_the_launcher_and_run_their_tests(
    tmp_path: Path, via_launcher: launcher.Server
) -> None:
    """`-n 2` under a launcher: both workers are its children (tests/conftest.py, tools/xdist_worker.py)."""
    (tmp_path / "test_where.py").write_text(
        textwrap.dedent(
            """
            import os, pathlib
            def test_one(): pathlib.Path(f"{os.environ['PYTEST_XDIST_WORKER']}.ppid").write_text(str(os.getppid()))
            def test_two(): pathlib.Path(f"{os.environ['PYTEST_XDIST_WORKER']}.ppid").write_text(str(os.getppid()))
            """
        )
    )
    argv = [PY, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.conftest", "-n", "2", "-q", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}  # the caller's plugins are not ours
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    run = launcher.launch(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = run.communicate(timeout=180)[0]
    assert run.returncode == 0, output[-3000:]
    parents = {p.stem: int(p.read_text()) for p in tmp_path.glob("gw*.ppid")}
    assert parents, f"no worker ran a test:\n{output[-2000:]}"
    assert set(parents.values()) == {via_launcher.proc.pid}, (
        f"workers' parents {parents}, the launcher is {via_launcher.proc.pid}: a fresh interpreter per worker"
    )


@pytest.mark.parametrize(
    "argv", [[PY, "-c", "print(1)"], [PY, "-m"], [PY, "probe"]], ids=["-c", "no module", "a script"]
)
def test_a_request_that_is_not_python_dash_m_is_refused_in_one_line_and_the_launcher_keeps_serving(
    argv: list[str], tmp_path: Path, via_launcher: launcher.Server
) -> None:
    with pytest.raises(ValueError, match=r"^a request's argv is \[executable, '-m', module, \.\.\.\]$"):
        fork_client.request(via_launcher.path, argv, str(tmp_path), dict(os.environ), (0, 1, 2))
    _probe(tmp_path, "print('served')")
    after = launcher.launch([PY, "-m", "probe"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert isinstance(after, launcher.Launched), "the launcher stopped answering after a refused request"
    assert after.communicate(timeout=60)[0] == "served\n"
