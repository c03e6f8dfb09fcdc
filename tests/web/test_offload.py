"""app.web.offload: short calls run on the event loop, the rest in worker threads."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import pytest

from app.web.offload import MIN_SAMPLES, WINDOW, Offload


def _where() -> int:
    return threading.get_ident()


def _run(offload: Offload, key: str, call, *, eligible: bool = True):
    """``offload.run`` on an event loop of its own, in a fresh thread (a test elsewhere in the
    suite may leave this thread marked as running a loop); returns the call's result and the
    loop's thread."""

    async def main():
        return await offload.run(key, call, eligible=eligible), threading.get_ident()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, main).result()


def test_a_kind_of_work_runs_in_threads_until_it_is_known_to_be_short():
    offload = Offload(budget_s=1.0)
    for _ in range(MIN_SAMPLES):
        ran_on, loop = _run(offload, "search", _where)
        assert ran_on != loop
    assert offload.runs_inline("search")
    ran_on, loop = _run(offload, "search", _where)
    assert ran_on == loop
    assert not offload.runs_inline("another kind")


def test_one_long_call_sends_its_kind_back_to_threads_for_a_window():
    offload = Offload(budget_s=0.01)
    for _ in range(WINDOW):
        _run(offload, "search", _where)
    assert offload.runs_inline("search")
    _run(offload, "search", lambda: _sleep(0.05))  # five budgets
    for _ in range(WINDOW):
        assert not offload.runs_inline("search")
        _run(offload, "search", _where)
    assert offload.runs_inline("search")  # the long call has left the window


def test_a_stray_slow_call_is_tolerated_but_a_slow_kind_is_not():
    offload = Offload(budget_s=0.01)
    for _ in range(WINDOW):
        _run(offload, "search", _where)
    _run(offload, "search", lambda: _sleep(0.015))  # over budget, but once in the window
    assert offload.runs_inline("search")
    for _ in range(WINDOW // 5):
        _run(offload, "search", lambda: _sleep(0.015))
    assert not offload.runs_inline("search")  # more than one call in ten over budget


def test_work_the_caller_marks_ineligible_always_runs_in_a_thread():
    offload = Offload(budget_s=1.0)
    for _ in range(MIN_SAMPLES + 2):
        ran_on, loop = _run(offload, "filtered", _where, eligible=False)
        assert ran_on != loop
    assert not offload.runs_inline("filtered")  # not even timed


def test_errors_pass_through_and_are_timed():
    offload = Offload(budget_s=1.0)

    def broken() -> None:
        raise ValueError("wrong dimension")

    for _ in range(MIN_SAMPLES):
        with pytest.raises(ValueError, match="wrong dimension"):
            _run(offload, "search", broken)
    assert offload.runs_inline("search")
    with pytest.raises(ValueError, match="wrong dimension"):
        _run(offload, "search", broken)  # inline now: the same error


def _sleep(seconds: float) -> int:
    time.sleep(seconds)
    return threading.get_ident()
