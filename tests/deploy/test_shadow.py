"""Shadow stage: users only ever see stable; the candidate sees a copy of every /predict."""

from __future__ import annotations

import time
from pathlib import Path

from deploy.drivers.traffic import replay
from tests.deploy.conftest import MakeStack, log_events


def _wait_for_requests(log: Path, request_ids: set[str], timeout: float = 10.0) -> set[str]:
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        seen = {e["request_id"] for e in log_events(log, "prediction")} & request_ids
        if seen == request_ids:
            break
        time.sleep(0.1)
    return seen


def test_users_get_stable_and_candidate_gets_a_copy_joinable_by_request_id(make_stack: MakeStack, bodies) -> None:
    stack = make_stack(mode="shadow")
    replies = list(replay(stack.cfg.url, bodies, 60))
    assert {r.status for r in replies} == {200}
    assert {r.variant for r in replies} == {"stable"}, "in shadow every answer comes from stable"
    ids = {r.request_id for r in replies}
    assert len(ids) == 60, "nginx must give every request its own X-Request-ID"
    stable_seen = _wait_for_requests(stack.cfg.stack_dir / "stable.log", ids)
    candidate_seen = _wait_for_requests(stack.cfg.stack_dir / "candidate.log", ids)
    assert stable_seen == ids, "stable's log must carry the request ids nginx assigned"
    assert candidate_seen == ids, f"the candidate missed {len(ids - candidate_seen)} mirrored requests"


def test_a_dead_shadow_never_reaches_users(make_stack: MakeStack, bodies) -> None:
    stack = make_stack(mode="shadow")
    stack.procs["candidate"].kill()
    stack.procs["candidate"].wait()
    replies = list(replay(stack.cfg.url, bodies, 30))
    assert {(r.status, r.variant) for r in replies} == {(200, "stable")}


def test_a_hanging_shadow_holds_a_keepalive_client_only_until_the_mirror_timeout(make_stack: MakeStack, bodies) -> None:
    """nginx finalises a request only when its mirror ends; the mirror's read timeout caps the wait."""
    candidate_delay_s = 3.0
    stack = make_stack(
        mode="shadow",
        shadow_timeout="300ms",
        candidate_app="deploy.drivers.faulty:app",
        candidate_env={"FAULT_DELAY_S": str(candidate_delay_s)},
    )
    replies = list(replay(stack.cfg.url, bodies, 4))
    assert {(r.status, r.variant) for r in replies} == {(200, "stable")}
    slowest = max(r.latency_ms for r in replies[1:])  # requests 2..4 reuse the connection the mirror held
    assert slowest < candidate_delay_s * 1000 / 2, (
        f"a keepalive request waited {slowest:.0f} ms: the mirror is not cut off by its timeout "
        f"and a {candidate_delay_s:.0f} s shadow would stall every user"
    )
