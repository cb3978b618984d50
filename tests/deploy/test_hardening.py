"""The stack's front door under hostile clients and dead processes."""

from __future__ import annotations

import resource
import socket
import time

from deploy.drivers.traffic import replay
from src import loopback
from tests.deploy.conftest import MakeStack

LORIS_SOCKETS = 1100  # more than nginx's old 1,024 worker connections


def test_slow_loris_sockets_leave_users_served(make_stack: MakeStack, bodies) -> None:
    """1,100 connections that never finish their headers must not starve real users."""
    stack = make_stack(mode="stable")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * LORIS_SOCKETS)), hard))
    sockets: list[socket.socket] = []
    try:
        for _ in range(LORIS_SOCKETS):
            sock = socket.socket()
            sock.bind(("127.0.0.2", 0))  # the attacker's own address: a per-client limit must not hit users
            sock.connect(("127.0.0.1", stack.cfg.port))
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: churn\r\nX-Slow: ")
            sockets.append(sock)
        replies = list(replay(stack.cfg.url, bodies, 20))
    finally:
        for sock in sockets:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    served = sum(r.status == 200 for r in replies)
    assert served == 20, f"{served}/20 users served while {LORIS_SOCKETS} slow sockets were open"


def test_a_stalled_header_is_cut_off_not_held(make_stack: MakeStack) -> None:
    stack = make_stack(mode="stable")
    with socket.create_connection(("127.0.0.1", stack.cfg.port)) as sock:
        sock.sendall(b"GET /stage HTTP/1.1\r\nHost: churn\r\n")
        sock.settimeout(30)
        started = time.monotonic()
        data = sock.recv(1024)  # nginx closes (or answers 408) once client_header_timeout passes
        waited = time.monotonic() - started
    assert waited < 20, f"a client that never finished its header held a connection for {waited:.0f} s"
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:80]


def test_nginx_health_reflects_the_stable_process(make_stack: MakeStack) -> None:
    stack = make_stack(mode="stable")
    assert loopback.get(f"{stack.cfg.url}/health", timeout=5).json()["variant"] == "stable"
    stack.procs["stable"].kill()
    stack.procs["stable"].wait()
    response = loopback.get(f"{stack.cfg.url}/health", timeout=5)
    assert response.status_code >= 500, "nginx reported healthy with no stable process behind it"
