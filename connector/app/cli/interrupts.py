"""Ctrl-C in the commands that decide. A decision is all or nothing: Ctrl-C at a prompt stops the
command at once with nothing decided, and Ctrl-C while a decision is being recorded lets that
decision finish first (a second Ctrl-C stops at once, as a crash would).

Why this is needed: inside ``asyncio.run`` (Python 3.11+) Ctrl-C does not interrupt a blocking
prompt; it only cancels the main task at its next ``await``. The answer typed after it was acted
on, and the cancellation then landed between the desk's decision and the service reading it back,
leaving a ticket approved on the desk while its request still waited."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class Interrupted(Exception):
    """The user stopped the command (exit 130); the message says what was left as it was."""


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt at once, wherever the main thread is. Around ``asyncio.run``
    this also keeps asyncio from installing its own handler (it does so only over the default
    one), whose cancellation would wait for the next ``await``; around a prompt inside a running
    loop it puts the immediate behaviour back."""
    if not _main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_interruptible(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` for the commands that decide: Ctrl-C stops them at once (KeyboardInterrupt)
    except inside ``finishing``."""
    with interruptible():
        return asyncio.run(coroutine)


@contextmanager
def finishing(what: str) -> Iterator[Callable[[], bool]]:
    """While ``what`` is under way, the first Ctrl-C only asks to stop once it is done (the
    yielded function says whether it was pressed); a second one raises KeyboardInterrupt."""
    pressed: list[bool] = []
    if not _main_thread():
        yield lambda: False
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if pressed:
            raise KeyboardInterrupt
        pressed.append(True)
        os.write(2, f"\nfinishing {what} first; press Ctrl-C again to stop at once\n".encode())

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)
