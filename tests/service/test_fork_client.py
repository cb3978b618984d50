"""`python -m src.fork_client SOCKET ...`, the Makefile's $(PY) under `make test`: the same command, forked.

A make target the suite runs must end, print and stop exactly as the plain
interpreter would, or the suite tests a command nobody types. Each behaviour
runs both ways (the client in front, and the plain `python` it stands for) and
the two must agree.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from src import launcher
from src.config import ROOT
from src.processes import poll_until, run_to_exit
from tests.service.test_launcher import EXITS, _zombie

PY = sys.executable
PROBE_WAITS = "import os, time; print(os.getpid(), flush=True); time.sleep(600)"


def _folder(tmp_path: Path, body: str) -> Path:
    (tmp_path / "probe.py").write_text(textwrap.dedent(body))
    return tmp_path


def _env() -> dict[str, str]:
    """The probe's folder is the cwd; the client itself is found on PYTHONPATH, as make finds it in the root."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _commands(server: launcher.Server, *args: str) -> dict[str, list[str]]:
    return {"client": [PY, "-m", "src.fork_client", server.path, *args], "plain": [PY, *args]}


@pytest.mark.parametrize("case", EXITS, ids=list(EXITS))
def test_a_line_through_the_client_ends_exactly_as_the_plain_interpreter(
    case: str, tmp_path: Path, server: launcher.Server
) -> None:
    folder = _folder(tmp_path, EXITS[case][0])
    ran = {
        way: subprocess.run(argv, cwd=folder, env=_env(), capture_output=True, text=True, timeout=120)
        for way, argv in _commands(server, "-m", "probe").items()
    }
    client, plain = ran["client"], ran["plain"]
    assert plain.returncode == EXITS[case][1], f"the reference itself: {plain}"
    assert client.returncode == plain.returncode, f"{case}: make would see {client.returncode}, not {plain.returncode}"
    assert client.stdout == plain.stdout, f"{case}: stdout differs: {client.stdout!r} vs {plain.stdout!r}"
    assert client.stderr.splitlines()[-1:] == plain.stderr.splitlines()[-1:], f"{case}: stderr ends differently"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_to_the_client_stops_the_child_as_it_stops_the_plain_interpreter(
    sig: signal.Signals, tmp_path: Path, server: launcher.Server
) -> None:
    folder = _folder(tmp_path, PROBE_WAITS)
    ends = {}
    for way, argv in _commands(server, "-m", "probe").items():
        proc = subprocess.Popen(argv, cwd=folder, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        child = int(proc.stdout.readline())
        assert (child != proc.pid) == (way == "client"), f"{way}: the module should run forked only via the client"
        proc.send_signal(sig)
        ends[way] = proc.wait(timeout=60)
        proc.stdout.close()
        poll_until(lambda pid=child: _zombie(pid), timeout=30, what=f"the {way} child after {sig.name}")
    assert ends["plain"] == -sig, f"the reference itself should die of {sig.name}: {ends['plain']}"
    assert ends["client"] == ends["plain"], f"{sig.name}: the client ended {ends['client']}, plain {ends['plain']}"


def test_a_client_killed_outright_takes_its_child_with_it(tmp_path: Path, server: launcher.Server) -> None:
    folder = _folder(tmp_path, PROBE_WAITS)
    argv = _commands(server, "-m", "probe")["client"]
    proc = subprocess.Popen(argv, cwd=folder, env=_env(), stdout=subprocess.PIPE)
    child = int(proc.stdout.readline())
    proc.kill()
    proc.wait(timeout=30)
    proc.stdout.close()
    poll_until(lambda: _zombie(child), timeout=30, what="the child of a client killed with -9 (an orphan server)")


def test_anything_but_dash_m_runs_as_the_plain_interpreter(server: launcher.Server) -> None:
    argv = _commands(server, "-c", "import os, sys; print(os.getpid(), sys.argv[1:])", "x")["client"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=60)
    assert out == f"{proc.pid} ['x']\n", "a -c line must become the interpreter itself (exec), same pid, same argv"


def test_no_launcher_at_the_socket_means_the_plain_interpreter_said_in_one_line(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "print('plain')")
    argv = [PY, "-m", "src.fork_client", str(tmp_path / "no.sock"), "-m", "probe"]
    done = subprocess.run(argv, cwd=folder, env=_env(), capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "plain\n"), done
    said = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(said) == 1, f"the fallback must be said in one line, not: {said}"
    assert "starting it as a plain process" in said[0], said


def test_a_launched_child_reports_its_peak_memory(
    tmp_path: Path, server: launcher.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(launcher.ENV, server.path)
    grow = "x = bytearray(64 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])"  # 64 MiB, every page touched
    peaks = {}
    for name, body in (("idle", "pass"), ("grows", grow)):
        (tmp_path / name).mkdir()
        proc = launcher.launch([PY, "-m", "probe"], cwd=_folder(tmp_path / name, body))
        assert isinstance(proc, launcher.Launched)
        assert proc.wait(timeout=60) == 0
        peaks[name] = proc.peak_rss_kib
    assert all(peaks.values()), f"the launcher must report each child's ru_maxrss: {peaks}"
    assert peaks["grows"] - peaks["idle"] >= 60 * 1024, f"64 MiB touched must show in the peak: {peaks}"


@pytest.mark.parametrize("ending", ["kill -9 the suite", "SIGTERM to its process group"])
def test_a_suite_ended_outright_leaves_no_launcher_no_child_and_no_socket_behind(tmp_path: Path, ending: str) -> None:
    """`make test` killed with -9, or its whole group terminated (a CI cancel, `timeout`), runs no teardown: the
    launcher ends with it, its children with it, and it removes its socket's folder, which nobody else will."""
    folder = _folder(tmp_path, PROBE_WAITS)
    starter = textwrap.dedent(
        f"""
        import subprocess, sys, time
        from src import launcher
        server = launcher.start()
        print(server.proc.pid, server.path, flush=True)
        subprocess.run([sys.executable, "-m", "src.fork_client", server.path, "-m", "probe"], cwd={str(folder)!r})
        """
    )
    suite = subprocess.Popen(
        [PY, "-c", starter], cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    pid, path = suite.stdout.readline().split()
    server, child = int(pid), int(suite.stdout.readline())
    if ending == "kill -9 the suite":
        suite.kill()
    else:
        os.killpg(suite.pid, signal.SIGTERM)
    suite.wait(timeout=30)
    suite.stdout.close()
    poll_until(lambda: _zombie(server), timeout=30, what=f"the launcher of a suite ended by {ending}")
    poll_until(lambda: _zombie(child), timeout=30, what="a child of that launcher")
    poll_until(lambda: not Path(path).parent.exists(), timeout=30, what="the ended suite's launcher folder removed")


def test_without_an_answering_launcher_run_to_exit_still_measures_and_bounds_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback is a plain child: its exit code and a real peak, and a hang still ends at the timeout."""
    monkeypatch.setenv(launcher.ENV, str(tmp_path / "no.sock"))
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {"PYTHONPATH": str(_folder(tmp_path, "import sys; sys.exit(3)"))}
    done = run_to_exit([PY, "-m", "probe"], env, logs)
    assert done.returncode == 3, done
    assert done.peak_rss_mb > 1, f"no peak measured for a plain child: {done.peak_rss_mb} MB"
    (tmp_path / "probe.py").write_text(PROBE_WAITS)
    with pytest.raises(subprocess.TimeoutExpired):
        run_to_exit([PY, "-m", "probe"], env, logs, timeout=2)
    child = int((logs / "stdout.log").read_text())
    poll_until(lambda: _zombie(child), timeout=30, what="a plain child past its timeout")


def test_the_python_shim_forks_its_m_lines_from_the_named_launcher_and_is_plain_otherwise(
    tmp_path: Path, server: launcher.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workflow step or a docs line types `python -m` itself: the shim on its PATH makes that line fork."""
    folder = _folder(tmp_path, "import os; print(os.getpid(), os.getppid())")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the shim must work from any folder
    monkeypatch.setenv(launcher.ENV, server.path)
    forked = launcher.write_python_shim(tmp_path / "forked" / "python")
    plain = launcher.write_python_shim(tmp_path / "plain" / "python", fresh=True)
    for shim, parent in ((forked, server.proc.pid), (plain, None)):
        proc = subprocess.Popen([shim, "-m", "probe"], cwd=folder, env=env, stdout=subprocess.PIPE, text=True)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{shim}: exited {proc.returncode}"
        pid, ppid = map(int, out.split())
        if parent is None:
            assert pid == proc.pid, f"the fresh shim must exec the interpreter itself, not fork: {out}"
        else:
            assert ppid == parent, f"the shim's `-m` line was not forked by the launcher {parent}: ppid {ppid}"


def test_a_child_terminated_the_moment_it_is_launched_leaves_the_launchers_socket_alone(
    tmp_path: Path, server: launcher.Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child forked a moment ago still runs the launcher's SIGTERM handler, which removes the socket of an
    orphaned launcher: it must die of SIGTERM as a fresh interpreter does, and every later start still fork."""
    folder = _folder(tmp_path, PROBE_WAITS)
    monkeypatch.setenv(launcher.ENV, server.path)
    for attempt in range(20):
        with launcher.launch([PY, "-m", "probe"], cwd=folder, stdout=subprocess.DEVNULL) as child:
            assert isinstance(child, launcher.Launched), f"start {attempt} was not forked: the launcher is gone"
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=30) == -signal.SIGTERM, f"start {attempt} did not die of SIGTERM"
        assert os.path.exists(server.path), f"SIGTERM to a child at start {attempt} removed the launcher's socket"
