"""HTTP plumbing of the remote backends, standard library only.

Streams are read on worker threads; cancellation, preemption and deadlines are applied
by one watchdog thread that shuts the socket down, which wakes the blocked read at once
and tells the server (by the closed connection) to stop generating. A circuit breaker
keeps a dead server from costing a connect timeout on every keystroke.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from engine.types import CompletionError

log = logging.getLogger(__name__)


class RemoteError(CompletionError):
    """A failed exchange with the server, in one sentence.

    `unreachable` marks failures a fallback may answer (connection refused or reset,
    timeouts, 5xx, the breaker open, a stream cut off); `status` is the HTTP status or 0.
    """

    def __init__(
        self, message: str, *, unreachable: bool = False, status: int = 0, retryable: bool = False
    ):
        super().__init__(message)
        self.unreachable = unreachable
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class Endpoint:
    """Where the server listens: scheme, host, port and a base path (without `/v1`)."""

    scheme: str
    host: str
    port: int
    base_path: str = ""

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """`http://gpu-box:8080/v1/` → Endpoint("http", "gpu-box", 8080, ""). Raises ValueError."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"backend.url {url!r} is not an http:// or https:// address")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        base = parts.path.rstrip("/")
        base = base.removesuffix("/v1")
        return cls(parts.scheme, parts.hostname, port, base)

    @property
    def display(self) -> str:
        """The address for logs and `cove doctor`: never user info, query or key."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.base_path}"

    @property
    def is_loopback(self) -> bool:
        """True when the server is on this machine (nothing leaves it)."""
        if self.host.lower() in ("localhost", "localhost.localdomain"):
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class CircuitBreaker:
    """Closed → open after `threshold` failures in a row → half-open after a cooldown.

    While open, calls are refused at once. After the cooldown one probe is let through;
    its success closes the breaker, its failure reopens it with a doubled cooldown.
    """

    def __init__(
        self,
        *,
        threshold: int = 3,
        cooldown_s: float = 2.0,
        max_cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.base_cooldown = cooldown_s
        self.max_cooldown = max_cooldown_s
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._cooldown = cooldown_s
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        """One of "closed", "open" or "half-open"."""
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if self._probing or self._cooled() else "open"

    def _cooled(self) -> bool:
        return self._opened_at is not None and self.clock() - self._opened_at >= self._cooldown

    def retry_in(self) -> float:
        """Seconds until the next probe is allowed (0 when closed or cooled down)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._cooldown - (self.clock() - self._opened_at))

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one probe at a time."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._probing or not self._cooled():
                return False
            self._probing = True
            return True

    def record_success(self) -> None:
        """A call reached the server: close the breaker."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False
            self._cooldown = self.base_cooldown

    def release_probe(self) -> None:
        """The half-open probe ended without news (cancelled): let the next call probe."""
        with self._lock:
            self._probing = False

    def record_failure(self) -> None:
        """A call could not reach the server: count it, open or reopen."""
        with self._lock:
            self._failures += 1
            if self._probing:
                self._cooldown = min(self.max_cooldown, self._cooldown * 2)
                self._opened_at = self.clock()
                self._probing = False
            elif self._opened_at is None and self._failures >= self.threshold:
                self._opened_at = self.clock()


def backoff_delays(
    retries: int,
    *,
    base_s: float = 0.05,
    cap_s: float = 1.0,
    rng: Callable[[], float] = random.random,
) -> list[float]:
    """Sleeps between attempts: exponential with full jitter, so editors do not retry in step."""
    return [rng() * min(cap_s, base_s * 2**attempt) for attempt in range(retries)]


def iter_sse(lines: Iterator[bytes]) -> Iterator[tuple[str, str]]:
    """Server-sent events from raw lines: yields (event, data).

    `data: [DONE]` comes out as ("done", "") and ends the stream; comment lines (`: ping`)
    are skipped; several `data:` lines join with newlines; llama-server's `error: {...}`
    lines come out as event "error".
    """
    event = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                payload = "\n".join(data)
                if payload.strip() == "[DONE]":
                    yield "done", ""
                    return
                yield event, payload
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field == "error":
            yield "error", value
    if data:
        payload = "\n".join(data)
        yield ("done", "") if payload.strip() == "[DONE]" else (event, payload)


class Stream:
    """One streaming HTTP response; `abort()` from any thread ends it within one read."""

    def __init__(self) -> None:
        self.conn: http.client.HTTPConnection | None = None
        self.response: http.client.HTTPResponse | None = None
        self.aborted = ""  # why it was aborted: "cancelled", "deadline", "stopped"
        self.finished = False  # the body was read to its end (the connection may be reused)
        self._lock = threading.Lock()

    def attach(self, conn: http.client.HTTPConnection) -> None:
        """Bind the connection about to carry the request (an abort before this is kept)."""
        with self._lock:
            self.conn = conn
            aborted = self.aborted
        if aborted:
            self._shutdown(conn)

    @staticmethod
    def _shutdown(conn: http.client.HTTPConnection) -> None:
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def abort(self, reason: str) -> None:
        """Shut the socket down: the reader wakes up and the server sees the client leave."""
        with self._lock:
            if self.aborted or self.finished:
                return
            self.aborted = reason
            conn = self.conn
        if conn is not None:
            self._shutdown(conn)

    def events(self) -> Iterator[tuple[str, str]]:
        """The response's events; a JSON (non-SSE) body comes out as one event."""
        response = self.response
        if response is None:
            raise RuntimeError("Stream.events() called before a response was attached")
        kind = response.getheader("Content-Type", "")
        if "text/event-stream" not in kind:
            yield "message", response.read().decode("utf-8", errors="replace")
            self.finished = True
            return
        yield from iter_sse(iter(response.readline, b""))
        self.finished = response.isclosed() or not response.read(1)

    def close(self) -> None:
        """Drop the connection."""
        if self.conn is not None:
            self.conn.close()


class Watchdog:
    """A single thread that aborts streams whose request was cancelled or ran out of time."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval = interval_s
        self._watched: dict[int, tuple[Stream, Callable[[], str]]] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def watch(self, stream: Stream, why_stop: Callable[[], str]) -> int:
        """Abort `stream` as soon as `why_stop()` returns a reason; returns a handle."""
        with self._cond:
            handle = id(stream)
            self._watched[handle] = (stream, why_stop)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="cove-remote-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()
            return handle

    def unwatch(self, handle: int) -> None:
        """Stop watching (the stream ended by itself)."""
        with self._cond:
            self._watched.pop(handle, None)

    def stop(self) -> None:
        """Abort every watched stream and end the thread (the backend is closing)."""
        with self._cond:
            self._stopped = True
            streams = [stream for stream, _ in self._watched.values()]
            self._watched.clear()
            self._cond.notify()
        for stream in streams:
            stream.abort("cancelled")

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._watched and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                items = list(self._watched.items())
            for handle, (stream, why_stop) in items:
                reason = why_stop()
                if reason:
                    stream.abort(reason)
                    self.unwatch(handle)
            time.sleep(self.interval)


class Connector:
    """Opens connections (keeping a few idle ones for reuse) and sends requests."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        timeout_s: float,
        verify_tls: bool = True,
        headers: dict[str, str] | None = None,
        keep_idle: int = 4,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.connect_timeout_s = min(timeout_s, 3.0)
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream, application/json",
            **(headers or {}),
        }
        self.keep_idle = keep_idle
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self.connects = 0  # connection attempts (tests and `describe()` read it)
        self._ssl = None
        if endpoint.scheme == "https":
            self._ssl = ssl.create_default_context()
            if not verify_tls:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE

    def _new(self) -> http.client.HTTPConnection:
        self.connects += 1
        conn: http.client.HTTPConnection
        if self._ssl is not None:
            conn = http.client.HTTPSConnection(
                self.endpoint.host,
                self.endpoint.port,
                timeout=self.connect_timeout_s,
                context=self._ssl,
            )
        else:
            conn = http.client.HTTPConnection(
                self.endpoint.host, self.endpoint.port, timeout=self.connect_timeout_s
            )
        conn.connect()
        conn.sock.settimeout(self.timeout_s)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._new(), False

    def give_back(self, conn: http.client.HTTPConnection) -> None:
        """Keep a connection whose response was read to the end, for the next request."""
        with self._lock:
            if len(self._idle) < self.keep_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Drop idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def send(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        attach: Callable[[http.client.HTTPConnection], None] | None = None,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send a request and read the status line; a stale idle connection is replaced once.

        `attach(conn)` runs before the request is written, so that a watchdog can abort a
        request still waiting for its first byte. Raises OSError / http.client.HTTPException
        for connection-level failures.
        """
        payload = json.dumps(body).encode("utf-8") if body is not None else None
        for _ in range(2):
            conn, reused = self._take()
            if attach is not None:
                attach(conn)
            try:
                conn.request(
                    method, self.endpoint.base_path + path, body=payload, headers=self.headers
                )
                return conn, conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if not reused:
                    raise
                self.close()  # the server dropped its idle connections: the others are stale too
            except BaseException:
                conn.close()
                raise
        raise ConnectionError("the server closed the connection")

    def request_json(self, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        """A whole-body JSON exchange (probes, tokenize): (status, parsed body or text)."""
        conn, response = self.send(method, path, body)
        try:
            raw = response.read()
        except BaseException:
            conn.close()
            raise
        status = response.status
        if response.will_close:
            conn.close()
        else:
            self.give_back(conn)
        try:
            return status, json.loads(raw.decode("utf-8"))
        except ValueError:
            return status, raw.decode("utf-8", errors="replace")
