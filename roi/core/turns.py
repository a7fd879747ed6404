"""Turns on the embedded warehouse file: one process at a time, in order of arrival.

DuckDB lets one process open a database file for writing, and while it has the file open no
other process may open it, not even read-only. So every process (a served flow run, ``roi
serve`` itself, a command) opens the file only during its turn and closes it before the turn
ends. A turn is an exclusive ``flock`` on ``<database>.lock``: the kernel drops it when the
process exits, however it exits, so a turn cannot outlive its holder and cannot expire while
the holder lives (no lease, no renewal thread, no API to ask).

Order of arrival: a plain lock lets a process that releases it and asks again at once take it
back before a waiting process wakes, so a long run yielding between its steps could starve the
others. Waiters therefore queue on a second lock, ``<database>.queue``, and hold it while they
wait for the turn: a process that has just finished a step must queue behind them, so it gets
the next turn only after the one waiting. A waiter waits at most one step of each process
queued before it.

Inside a process a turn is re-entrant for the thread holding it and excludes the other threads
(two flows run in threads take turns as two processes do). ``pin`` takes the turn for the whole
process until ``unpin``: the fallback for code that uses the warehouse outside any turn, which
stays correct (nobody else opens the file meanwhile) but makes every other process wait.

The lock file names the holder (pid, what, since), so a waiter can say whom it waits for.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

POLL_SECONDS = 0.05


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _flock(fd: int, on_wait: Callable[[], None] | None = None) -> None:
    """Take an exclusive flock, polling so that signals and Prefect's timeouts still reach us."""
    if _try_flock(fd):
        return
    if on_wait is not None:
        on_wait()
    while not _try_flock(fd):
        time.sleep(POLL_SECONDS)


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


class Turn:
    """The turn on one database file (one object per file and process: see :func:`turn_for`)."""

    def __init__(self, database: Path) -> None:
        self.lock_path = database.with_name(database.name + ".lock")
        self.queue_path = database.with_name(database.name + ".queue")
        self._threads = threading.RLock()  # one thread of this process at a time
        self._state = threading.Lock()  # guards _fd / _depth / _pinned
        self._fd: int | None = None
        self._depth = 0
        self._pinned = False
        # What the process opened on the file during its turn (the warehouse keeps its DuckDB
        # connection here, so every Warehouse object on this file shares it and closes it).
        self.opened: Any = None

    # -- what a waiter sees --------------------------------------------------------------
    def holder(self) -> str:
        """Who holds the turn, as the holder wrote it (empty when nobody says)."""
        try:
            info = json.loads(self.lock_path.read_text() or "{}")
        except (OSError, ValueError):
            return ""
        if not info:
            return ""
        return f"{info.get('what') or 'a process'} (pid {info.get('pid')}, since {info.get('since')})"

    @property
    def held(self) -> bool:
        """Whether this process holds the turn (in a thread's session or pinned)."""
        return self._fd is not None

    # -- taking and giving back the file lock ---------------------------------------------
    def _take_file(self, what: str, on_wait: Callable[[str], None] | None) -> None:
        told: list[bool] = []

        def waiting() -> None:  # say it once, whether we wait in the queue or for the turn
            if on_wait is not None and not told:
                told.append(True)
                on_wait(self.holder())

        queue = _open(self.queue_path)
        try:
            _flock(queue, waiting)
            fd = _open(self.lock_path)
            try:
                _flock(fd, waiting)
            except BaseException:
                os.close(fd)
                raise
        finally:
            os.close(queue)  # closing the descriptor drops its flock: the next in line may queue
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "what": what, "since": since}).encode(), 0)
        self._fd = fd

    def _give_back_file(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)
            os.close(fd)

    @contextmanager
    def hold(
        self,
        what: str,
        on_wait: Callable[[str], None] | None = None,
        before_release: Callable[[], None] | None = None,
    ) -> Iterator[None]:
        """Hold the turn for the block (re-entrant in this thread).

        ``on_wait(holder)`` is called once when the turn is busy; ``before_release`` runs when
        the outermost block of the process ends, before the next process may take the file.
        """
        self._threads.acquire()
        try:
            with self._state:
                if self._fd is None:
                    self._take_file(what, on_wait)
                self._depth += 1
            try:
                yield
            finally:
                with self._state:
                    self._depth -= 1
                    if self._depth == 0 and not self._pinned:
                        try:
                            if before_release is not None:
                                before_release()
                        finally:
                            self._give_back_file()
        finally:
            self._threads.release()

    def pin(self, what: str) -> None:
        """Take the turn for the whole process, if it does not hold it already (see module docstring)."""
        with self._state:
            if self._fd is None:
                self._take_file(what, None)
                self._pinned = True

    def unpin(self, before_release: Callable[[], None] | None = None) -> None:
        """End a pinned turn (a session still open gives the file back when it ends)."""
        with self._state:
            if not self._pinned:
                return
            self._pinned = False
            if self._depth == 0:
                try:
                    if before_release is not None:
                        before_release()
                finally:
                    self._give_back_file()


_TURNS: dict[Path, Turn] = {}
_TURNS_LOCK = threading.Lock()


def _forget_in_child() -> None:
    """A forked child shares its parent's locks: close its copies (the parent keeps its turn)."""
    for turn in _TURNS.values():
        if turn._fd is not None:
            os.close(turn._fd)
        turn._fd, turn._depth, turn._pinned = None, 0, False
        turn._threads, turn._state = threading.RLock(), threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


def turn_for(database: Path) -> Turn:
    """The process's one :class:`Turn` on ``database`` (two objects on one file would lock each other out)."""
    key = database.expanduser().resolve()
    with _TURNS_LOCK:
        if key not in _TURNS:
            _TURNS[key] = Turn(key)
        return _TURNS[key]
