"""Canary stage: a configured share to the candidate, sticky when asked, failover when it is down."""

from __future__ import annotations

import threading
from collections import Counter

from deploy.drivers.traffic import replay
from tests.deploy.conftest import MakeStack


def test_canary_sends_about_the_configured_share(make_stack: MakeStack, bodies) -> None:
    stack = make_stack(mode="canary", canary_percent=25)
    replies = list(replay(stack.cfg.url, bodies, 400))
    assert {r.status for r in replies} == {200}
    share = Counter(r.variant for r in replies)["candidate"] / len(replies)
    # binomial sd at n=400, p=0.25 is 0.022; the band is +-3.7 sd
    assert 0.17 <= share <= 0.33, f"candidate got {share:.0%} of traffic, configured 25 %"


def test_sticky_canary_keeps_each_customer_on_one_model(make_stack: MakeStack, bodies) -> None:
    stack = make_stack(mode="canary", canary_percent=50, canary_sticky=True)
    per_customer: dict[str, set[str]] = {}
    for body in bodies[:20]:
        for reply in replay(stack.cfg.url, [body], 5, sticky=True):
            per_customer.setdefault(body["customer_id"], set()).add(reply.variant)
    flipping = {c: v for c, v in per_customer.items() if len(v) > 1}
    assert not flipping, f"customers saw both models: {flipping}"
    assert {v for vs in per_customer.values() for v in vs} == {"stable", "candidate"}


def test_sticky_canary_without_the_header_still_splits(make_stack: MakeStack, bodies) -> None:
    stack = make_stack(mode="canary", canary_percent=50, canary_sticky=True)
    variants = Counter(r.variant for r in replay(stack.cfg.url, bodies, 100))
    assert set(variants) == {"stable", "candidate"}, (
        f"header-less requests all went to one model {dict(variants)}: an empty hash key is one bucket"
    )


def test_a_dead_candidate_fails_over_to_stable(make_stack: MakeStack, bodies) -> None:
    stack = make_stack(mode="canary", canary_percent=100)
    stack.procs["candidate"].kill()
    stack.procs["candidate"].wait()
    replies = list(replay(stack.cfg.url, bodies, 30))
    assert {(r.status, r.variant) for r in replies} == {(200, "stable")}, "users must not see a dead canary"


def test_a_candidate_answering_500_is_not_hidden_by_failover(make_stack: MakeStack, bodies) -> None:
    stack = make_stack(
        mode="canary",
        canary_percent=100,
        candidate_app="deploy.drivers.faulty:app",
        candidate_env={"FAULT_ERROR_RATE": "1.0"},
    )
    replies = list(replay(stack.cfg.url, bodies, 10))
    assert {(r.status, r.variant) for r in replies} == {(500, "candidate")}, (
        "a 500 is the candidate's answer: the canary analysis must see it, not a silent retry on stable"
    )


def test_stage_changes_under_traffic_route_the_next_request_by_the_new_stage(make_stack: MakeStack, bodies) -> None:
    stack = make_stack(mode="shadow")
    replies = []
    stop = threading.Event()

    def drive() -> None:
        while not stop.is_set():
            replies.extend(replay(stack.cfg.url, bodies, 20))

    driver = threading.Thread(target=drive)
    driver.start()
    try:
        stack.set_stage("canary", 100)
        after_canary = list(replay(stack.cfg.url, bodies, 20))
        stack.set_stage("canary", 0)
        after_rollback = list(replay(stack.cfg.url, bodies, 20))
    finally:
        stop.set()
        driver.join()
    assert {r.variant for r in after_canary} == {"candidate"}
    assert {r.variant for r in after_rollback} == {"stable"}, "weight 0 must send everything back to stable"
    failed = [r for r in replies if r.status != 200]
    assert not failed, f"{len(failed)} of {len(replies)} requests failed during the stage changes"
