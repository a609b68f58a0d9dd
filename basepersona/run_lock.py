"""One writer per run directory: an exclusive lock held while a stage writes into a run.

Two ``sample --resume`` on one run (a SLURM requeue, a second terminal) would each draw every
missing sample and duplicate them. The lock is an OS file lock (``flock``) on ``.basepersona.lock``,
so the kernel releases it when its holder exits, however it exits. The file also says who holds
it; a file still naming a holder when the lock is free means that holder died without cleaning up
(a stale lock), which the next writer reports and takes over.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable

from .errors import UserError

LOCK_FILE = ".basepersona.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; runs there are unguarded
    fcntl = None  # type: ignore[assignment]


class RunBusy(UserError):
    """Another process is writing into the run."""


def _describe(holder: dict[str, Any]) -> str:
    return (f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')} "
            f"({holder.get('stage')}: {holder.get('command') or 'no command recorded'})")


def _read_holder(handle) -> dict[str, Any]:
    handle.seek(0)
    try:
        holder = json.loads(handle.read() or "null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return holder if isinstance(holder, dict) else {}


class RunLock:
    """Held from ``acquire`` until ``release`` (or process exit); not re-entrant."""

    def __init__(self, run_dir: Path, stage: str, command: str = ""):
        self.path = Path(run_dir) / LOCK_FILE
        self.stage = stage
        self.command = command
        self._handle: IO[str] | None = None
        self.stale: dict[str, Any] = {}  # what a dead holder had written, when the lock was taken over

    def acquire(self, announce: Callable[[str], None] = print) -> "RunLock":
        if not self.path.parent.is_dir():
            raise UserError(f"run directory {self.path.parent} does not exist")
        handle = self.path.open("a+", encoding="utf-8")
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(handle)
                handle.close()
                raise RunBusy(f"{self.path.parent} is in use by {_describe(holder)}; wait for it to finish or stop "
                              "it (two writers on one run would duplicate its records)") from None
            except OSError:
                pass  # a file system without locks (some NFS mounts): run unguarded rather than not at all
        self.stale = _read_holder(handle)
        if self.stale:
            announce(f"note: {self.path} named {_describe(self.stale)}, which ended without releasing it "
                     "(killed or crashed); its finished records are kept and the lock is taken over")
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "stage": self.stage,
                                 "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "command": self.command}))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        """Empty the file (an empty file is a clean release) and drop the lock. The file stays: removing
        it would let a waiter lock a deleted file while a third process locks a new one."""
        if self._handle is None:
            return
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.close()
        self._handle = None

    def __enter__(self) -> "RunLock":
        return self if self._handle is not None else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_run(run_dir: str | Path, stage: str, *, command: str = "",
             announce: Callable[[str], None] = print) -> RunLock:
    """Take the run's lock for ``stage`` (sample, score, judge, merge, doctor) or raise RunBusy."""
    return RunLock(Path(run_dir), stage, command).acquire(announce)
