"""Closing a PoolWatcher ends it, whatever the lookup in flight does with the cancel.

dnspython waits for every DNS read with `asyncio.wait_for`, which on Python 3.11 returns
the answer instead of raising when the cancel lands as the answer comes in. Before the
watcher's `closed` flag, its task then went on looking every TTL and `aclose()` (so the
proxy's `__aexit__`) waited forever. The real race is shown against dnsmasq in
tests/integration/test_discovery.py; here it is made certain by a lookup that is the
same `wait_for` on an answer the test gives at the very moment it closes the watcher.
"""

from __future__ import annotations

import asyncio

import pytest

from engine.discovery import SrvSource, Target
from engine.discovery import watcher as watcher_module
from engine.discovery.resolve import Resolution
from engine.discovery.watcher import PoolWatcher


async def test_closing_during_a_lookup_that_swallows_the_cancel_still_ends_the_watcher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers: list[asyncio.Future[Resolution]] = []

    async def resolve(source: object) -> Resolution:  # dnspython's read: a wait_for
        answers.append(asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(answers[-1], 5)

    monkeypatch.setattr(watcher_module, "resolve", resolve)
    watcher = PoolWatcher(SrvSource("_http._tcp.green.surge.test", "127.0.0.1", 53))
    watcher.start()
    while not answers:
        await asyncio.sleep(0)
    answers[0].set_result(Resolution((Target("127.0.0.1", 8080),), ttl=1.0))
    closing = asyncio.create_task(watcher.aclose())  # in the same turn as the answer
    done, _ = await asyncio.wait([closing], timeout=3)
    if not done:  # leave nothing running behind the failure
        watcher._task.cancel()  # type: ignore[union-attr]
        for answer in answers:
            answer.cancel()
    assert done, "aclose() hung: the watcher kept looking after its cancel was swallowed"
    assert len(answers) == 1  # and it did not look again
