"""One process at a time per run folder: an exclusive ``fcntl`` lock on ``RUN/.lock``.

Two runs started into the same ``--run-dir``, or two ``--resume`` of one run, would write
checkpoints and event files over each other. The first takes the lock for as long as it trains;
the second stops at once, in one line that names the process holding it. The lock is the
kernel's (``flock``), so it goes away with its process, even after a SIGKILL: a stale
``.lock`` file never blocks a resume. The file itself stays (removing it would let a third
process lock a new file while a second still waits on the old one); it holds the holder's
process id, host and start time, for that message.

POSIX only (Linux, macOS), like the rest of the CLI's signal handling.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path

LOCK_NAME = ".lock"


class RunFolderLocked(RuntimeError):
    """The run folder is in use by another process."""


@contextlib.contextmanager
def run_folder_lock(run_dir: str | Path):
    """Holds the lock of ``run_dir`` (created if missing) for the ``with`` block.

    Raises ``RunFolderLocked`` when another process holds it, and ``OSError`` when the folder
    cannot be created or written. A folder that this call created and that is left holding
    nothing but the lock file is removed again, so a run that fails before it writes anything
    leaves nothing behind.
    """
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            raise RunFolderLocked(
                f"run folder {run_dir} is in use by {holder}; wait for it to finish (or stop "
                "it), or choose another --run-dir"
            ) from None
        os.ftruncate(fd, 0)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode())
        try:
            yield path
        finally:
            if created and [p.name for p in run_dir.iterdir()] == [LOCK_NAME]:
                path.unlink()
                run_dir.rmdir()
    finally:
        os.close(fd)  # closing the descriptor releases the lock
