"""The digest run holds Python's cycle collector off only while it runs (bot/digest_jobs.py)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from bot.digest_jobs import _CyclesLater


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_off_during_a_run_and_on_after_it_even_after_an_error(collector_on: None) -> None:
    cycles = _CyclesLater()
    with cycles:
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cycles:
        raise RuntimeError("a digest failed")
    assert gc.isenabled()


def test_overlapping_runs_turn_it_back_on_only_when_the_last_ends(collector_on: None) -> None:
    cycles = _CyclesLater()
    first_in, second_done, first_may_end = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with cycles:
            first_in.set()
            first_may_end.wait(5)

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with cycles:
        pass
    second_done.set()
    seen.append(gc.isenabled())  # the first run is still going
    first_may_end.set()
    thread.join(5)
    assert seen == [False] and gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with _CyclesLater():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
