"""Imported by every Python process started with this folder on PYTHONPATH: each
module the process imports is appended, with the process's id, to the file that
MODULE_CENSUS names, as the import happens, whether the process was forked or
spawned and however it ends. A test reads it to tell what a server's processes
loaded."""

import os
import sys
from typing import Any

CENSUS = os.environ["MODULE_CENSUS"]


def record(event: str, arguments: tuple[Any, ...]) -> None:
    if event == "import":
        # One append per line: the processes of a server share the file.
        census = os.open(CENSUS, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(census, f"{os.getpid()} {arguments[0]}\n".encode())
        finally:
            os.close(census)


sys.addaudithook(record)
