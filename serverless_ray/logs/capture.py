"""A replica process's output, captured line by line for its endpoint's log group.

Installed once per process (a Serve replica or a standby that adopted a model): the
process's ``sys.stdout`` and ``sys.stderr`` are wrapped so that what the model prints
still goes where it went (Ray's worker log) and also becomes log events, and a handler
on the root logger turns ``logging`` records (tracebacks included, as one event) into
events too, at INFO and above unless the model configured logging itself. Each event
carries the time it was written. Output written below Python (C extensions writing to
file descriptor 1 or 2, subprocesses) is not captured.

Events are handed to a ``sink`` in batches from a background thread, about twice a
second, and on ``flush()`` (the replica's shut-down calls it).
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from typing import Callable, Sequence

from serverless_ray.messages import LogLine

Sink = Callable[[Sequence[LogLine]], None]
FLUSH_INTERVAL_S = 0.5
MAX_BUFFERED = 10_000  # a sink that cannot keep up costs the oldest lines, not memory
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


class LogCapture:
    """One process's capture; ``attach`` names the endpoint and stream its lines go to."""

    def __init__(self, sink: Sink, *, clock: Callable[[], float] = time.time,
                 interval_s: float = FLUSH_INTERVAL_S) -> None:
        self._sink = sink
        self._clock = clock
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._buffer: list[LogLine] = []
        self._endpoint: str | None = None
        self.stream: str | None = None
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._sinking = threading.Lock()

    def attach(self, endpoint: str, stream: str) -> None:
        self._endpoint, self.stream = endpoint, stream

    def write_line(self, message: str, at: float | None = None) -> None:
        """One event (dropped until the capture is attached to an endpoint)."""
        endpoint, stream = self._endpoint, self.stream
        if endpoint is None or stream is None:
            return
        line = LogLine(endpoint, stream, int((self._clock() if at is None else at) * 1000), message)
        with self._lock:
            self._buffer.append(line)
            if len(self._buffer) > MAX_BUFFERED:
                del self._buffer[: len(self._buffer) - MAX_BUFFERED]
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="log-capture", daemon=True)
            self._thread.start()

    def flush(self) -> None:
        """Hand everything buffered to the sink now (in the caller's thread)."""
        with self._sinking:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if batch:
                try:
                    self._sink(batch)
                except Exception:  # the platform is away: these lines are lost, the model is not
                    pass

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        self.flush()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait()
            time.sleep(self._interval_s)  # gather what comes with it into one batch
            self._wake.clear()
            self.flush()


class _Tee(io.TextIOBase):
    """A text stream that writes through to ``original`` and captures whole lines."""

    def __init__(self, original, capture: LogCapture) -> None:
        self._original = original
        self._capture = capture
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        written = self._original.write(text)
        with self._lock:
            pending = self._partial + text
            *lines, self._partial = pending.split("\n")
        for line in lines:
            self._capture.write_line(line)
        return written if isinstance(written, int) else len(text)

    def flush(self) -> None:
        self._original.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._original.fileno()

    @property
    def encoding(self):  # type: ignore[override]
        return getattr(self._original, "encoding", "utf-8")


class _Handler(logging.Handler):
    def __init__(self, capture: LogCapture) -> None:
        super().__init__(logging.INFO)
        self._capture = capture
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._capture.write_line(self.format(record), at=record.created)
        except Exception:
            self.handleError(record)


_installed: LogCapture | None = None


def install(sink: Sink) -> LogCapture:
    """Capture this process's output into ``sink`` (once per process; later calls return
    the capture already installed)."""
    global _installed
    if _installed is not None:
        return _installed
    capture = LogCapture(sink)
    sys.stdout = _Tee(sys.stdout, capture)
    sys.stderr = _Tee(sys.stderr, capture)
    root = logging.getLogger()
    root.addHandler(_Handler(capture))
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    capture.start()
    _installed = capture
    return capture
