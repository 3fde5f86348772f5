"""The warm pool grows with demand and shrinks back when idle (a fake sandbox: no Docker needed)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import anyio
import anyio.lowlevel
import pytest

from gateway.sandbox._pool import WarmPool

pytestmark = pytest.mark.anyio


class Fake:
    def __init__(self, n: int) -> None:
        self.n = n


async def test_the_pool_grows_on_misses_up_to_its_maximum_and_shrinks_when_idle() -> None:
    counter = itertools.count()
    discarded: list[int] = []

    async def start() -> Fake:
        await anyio.lowlevel.checkpoint()
        return Fake(next(counter))

    async def discard(sandbox: Fake) -> None:
        discarded.append(sandbox.n)

    pool = WarmPool(size=1, max_size=3, start=start, discard=discard, is_alive=lambda _: True, shrink_after_s=0.3)

    async def until(predicate: Callable[[], bool]) -> None:
        with anyio.fail_after(10):
            while not predicate():  # noqa: ASYNC110 - the pool has no public "changed" event
                await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        tg.start_soon(pool.run, tg)
        await until(lambda: pool.ready == 1)
        assert pool.take() is not None
        assert pool.take() is None  # a miss: demand outran the pool
        assert pool.target == 2
        assert pool.take() is None
        assert pool.take() is None  # capped at max_size
        assert pool.target == 3
        await until(lambda: pool.ready == 3)
        # No miss for shrink_after_s: back to `size`, the surplus discarded.
        await until(lambda: pool.target == 1)
        await until(lambda: pool.ready == 1 and len(discarded) == 2)  # the surplus is discarded after the shrink
        tg.cancel_scope.cancel()
    await pool.aclose()


async def test_a_pool_of_size_zero_never_grows() -> None:
    async def start() -> Fake:
        raise AssertionError("a pool of size 0 starts nothing")

    async def discard(sandbox: Fake) -> None:
        pass

    pool = WarmPool(size=0, max_size=8, start=start, discard=discard, is_alive=lambda _: True)
    assert pool.take() is None
    assert pool.target == 0
