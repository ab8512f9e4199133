"""Where the command line writes: rich consoles on the user's terminal, and, while the
platform runs, everything else (Ray's log lines, library warnings) in a log file.

``up`` starts Ray in this process, and Ray prints its own lines (and those of every
worker it runs) to this process's stdout and stderr. :class:`ProcessOutput` sends file
descriptors 1 and 2 to a log file (and, with ``--verbose``, to the terminal too) while
the command's own output goes to the terminal through copies of the original ones.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import TextIO

from rich.console import Console


class Terminal:
    """The user's terminal: ``out`` for results and progress, ``err`` for errors."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        # None: whatever sys.stdout / sys.stderr are when written to (tests replace them).
        self._out, self._err = out, err
        self.out = Console(file=out, highlight=False, width=_width(out or sys.stdout))
        self.err = Console(file=err, highlight=False, soft_wrap=True, stderr=True)

    @property
    def out_stream(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def err_stream(self) -> TextIO:
        return self._err or sys.stderr


def _width(stream: TextIO) -> int | None:
    """The terminal's width; piped output gets room for whole tables (rich assumes 80)."""
    try:
        return None if stream.isatty() else 200
    except (AttributeError, ValueError):
        return 200


TERMINAL = Terminal()


def terminal() -> Terminal:
    return TERMINAL


def use_terminal(out: TextIO, err: TextIO) -> None:
    global TERMINAL
    TERMINAL = Terminal(out, err)


class ProcessOutput:
    """Redirects this process's file descriptors 1 and 2 to ``log_path`` (appending),
    copying them to the terminal as well when ``echo``; the :func:`terminal` stays on the
    real terminal meanwhile. Child processes started meanwhile inherit the redirection."""

    def __init__(self, log_path: Path, *, echo: bool) -> None:
        self.log_path = log_path
        self._echo = echo
        self._saved: tuple[int, int] | None = None
        self._previous_terminal: Terminal | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> "ProcessOutput":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        saved_out, saved_err = os.dup(1), os.dup(2)
        self._saved = (saved_out, saved_err)
        self._previous_terminal = TERMINAL
        use_terminal(os.fdopen(os.dup(saved_out), "w", buffering=1), os.fdopen(os.dup(saved_err), "w", buffering=1))
        read_end, write_end = os.pipe()
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        os.close(write_end)
        self._reader = threading.Thread(
            target=self._copy, args=(read_end, os.dup(saved_err) if self._echo else None), daemon=True,
            name="process-output",
        )
        self._reader.start()
        return self

    def _copy(self, read_end: int, echo_fd: int | None) -> None:
        try:
            with open(self.log_path, "ab", buffering=0) as log, os.fdopen(read_end, "rb", buffering=0) as pipe:
                while chunk := pipe.read(65536):
                    log.write(chunk)
                    if echo_fd is not None:
                        os.write(echo_fd, chunk)
        finally:
            if echo_fd is not None:
                os.close(echo_fd)

    def __exit__(self, *exc) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        assert self._saved is not None
        saved_out, saved_err = self._saved
        # Back to the terminal; the copying thread ends when the last writer (a child
        # process that outlived us, at worst) closes the pipe.
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        if self._reader is not None:
            self._reader.join(timeout=2)
        if self._previous_terminal is not None:
            global TERMINAL
            TERMINAL = self._previous_terminal
