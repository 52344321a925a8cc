"""The metrics folder shared by a server's processes (prometheus_client's multiprocess
mode).

prometheus_client decides when it is first imported whether it keeps values in memory
or in files, from PROMETHEUS_MULTIPROC_DIR: the server prepares the folder and exports
the variable before anything imports it, and its workers, forked or spawned, inherit
both. The server's own process id is left in the folder, so that any worker can report
the resources of the whole process tree. This module must not import prometheus_client.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..settings import SERVICE_NAME, Settings

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
SERVER_PID_FILE = "server.pid"


@contextmanager
def metrics_directory(settings: Settings) -> Iterator[Path]:
    """An empty folder for this server's metrics, exported to its workers.

    A configured folder is emptied (a restarted container finds its predecessor's
    files there) and kept; otherwise a new temporary one is made and removed at exit.
    """
    configured = settings.prometheus_multiproc_dir
    if configured is None:
        directory = Path(tempfile.mkdtemp(prefix=f"{SERVICE_NAME}-metrics-"))
    else:
        directory = configured
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    owner = os.getpid()
    (directory / SERVER_PID_FILE).write_text(str(owner))
    os.environ[VARIABLE] = str(directory)
    try:
        yield directory
    finally:
        # A forked worker leaves through this block too, when it exits: only the
        # server removes the folder.
        if configured is None and os.getpid() == owner:
            shutil.rmtree(directory, ignore_errors=True)


def metrics_in_memory() -> None:
    """For a one-off command: keep its metrics to itself, even where the container's
    configuration names the serving processes' folder."""
    os.environ.pop(VARIABLE, None)


def server_pid(directory: Path) -> int:
    return int((directory / SERVER_PID_FILE).read_text())
