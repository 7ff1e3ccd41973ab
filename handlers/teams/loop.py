"""One long-lived asyncio event loop per process, on a background thread, for the Teams SDK's coroutines.

The SDK is asyncio throughout (its HTTP client is an `httpx.AsyncClient`, bound to the loop it first runs
on); the rest of the bot is synchronous (Flask under gunicorn's threads, the worker). Every Teams coroutine
of a process runs on this one loop, submitted from any thread with `run()`, which waits a bounded time.
A fresh loop per request would rebuild the SDK's connection pool each time and break its clients.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Threads for the blocking work handlers hand off with asyncio.to_thread (the database): asyncio's default
# is cores + 4, fewer than the web threads that may be waiting on this loop at once.
BLOCKING_THREADS = 16


class LoopThread:
    """An event loop running forever on a daemon thread."""

    def __init__(self, name: str = "teams-asyncio") -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.set_default_executor(ThreadPoolExecutor(BLOCKING_THREADS, thread_name_prefix=f"{name}-work"))
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def alive(self) -> bool:
        return self._thread.is_alive() and not self._loop.is_closed()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coroutine` on the loop and wait up to `timeout` seconds for its result.

        Raises `TimeoutError` when it takes longer; the coroutine then goes on to its end on the loop
        (a reply it sends still arrives), only nobody waits for it.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.run() called from its own loop; await the coroutine instead")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            raise TimeoutError(f"no answer within {timeout:g} s") from None

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()


_lock = threading.Lock()
_shared: tuple[int, LoopThread] | None = None


def process_loop() -> LoopThread:
    """This process's loop, started on first use. Keyed by process id: a gunicorn worker forked from a
    process that had one gets its own (threads do not survive a fork)."""
    global _shared
    with _lock:
        if _shared is None or _shared[0] != os.getpid() or not _shared[1].alive():
            _shared = (os.getpid(), LoopThread())
            logger.debug("started the Teams event loop in process %d", os.getpid())
        return _shared[1]
