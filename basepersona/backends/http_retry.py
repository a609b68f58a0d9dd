"""POST JSON to an HTTP API with bounded retries, and run such calls with bounded concurrency.

Transient faults (429, 5xx, timeouts, refused, dropped or cut-short connections, TLS errors, a body
that is not JSON or not UTF-8, or a reply the caller's ``check`` rejects) are retried with exponential backoff; anything else is the
user's to fix and becomes a UserError at once. Secrets never appear in messages: headers are not
quoted, and a server's words pass through ``redact`` (a 401 body may echo the Authorization header).
The timeout is a deadline for the whole request, not for each socket read.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar

from ..errors import UserError
from ..redaction import redact

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_BACKOFF_S = 60.0


class HttpStatusError(UserError):
    """The server answered with an HTTP status that retrying cannot fix (400, 401, 404, ...)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class BadReply(Exception):
    """A reply that parsed but cannot be used (e.g. fewer choices than asked); worth retrying."""


@dataclass(frozen=True)
class RetryPolicy:
    timeout: float = 600.0  # seconds for one whole request: connection, reply and reading it
    max_retries: int = 5  # retries after the first attempt
    backoff: float = 1.0  # first wait; doubles on each retry (with jitter), capped at MAX_BACKOFF_S

    def wait(self, retry: int, retry_after: float | None = None) -> float:
        delay = self.backoff * (2 ** retry) * (0.5 + random.random() / 2)
        if retry_after is not None:
            delay = max(delay, retry_after)  # the server's own Retry-After wins when longer
        return min(delay, MAX_BACKOFF_S)


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    value = error.headers.get("Retry-After") if error.headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date; our own backoff is good enough


def _server_message(error: urllib.error.HTTPError) -> str:
    try:
        body = error.read(1 << 16).decode("utf-8", "replace")  # an error page, not a reply: the start is enough
    except OSError:
        return ""
    try:
        parsed = json.loads(body)
        detail = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
        if isinstance(detail, dict):
            detail = detail.get("message", detail)
        return str(detail)[:500]
    except json.JSONDecodeError:
        return body.strip()[:500]


class _Deadline:
    """A whole-request time limit. urllib's timeout bounds each socket read, so a server trickling a
    byte per second could hold a request for ever; at the deadline this shuts the connection's
    socket, which ends any read in progress."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def watch(self, sock: socket.socket) -> None:
        # the socket itself, not its connection: urllib detaches it from the connection once the
        # headers are in, while the response goes on reading from it
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def opener(self) -> urllib.request.OpenerDirector:
        deadline = self

        def tracked(base: type) -> type:
            class Tracked(base):
                def connect(self) -> None:
                    super().connect()
                    deadline.watch(self.sock)
            return Tracked

        class Http(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(tracked(http.client.HTTPConnection), req)

        class Https(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(tracked(http.client.HTTPSConnection), req, context=self._context)

        return urllib.request.build_opener(Http, Https, _NoRedirect)

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect with the Authorization header, handing the key to whatever host
    the server names; a redirect instead ends as its HTTP status (see call_json)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


REDIRECTS = {301, 302, 303, 307, 308}
MAX_REPLY_BYTES = 64 << 20  # far above any completion reply; a server sending more is broken or hostile


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _read_body(response: http.client.HTTPResponse) -> bytes:
    """The whole body, or BadReply past MAX_REPLY_BYTES. With a Content-Length it is checked first and
    read whole, so a reply cut short still raises IncompleteRead (and is retried)."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit():
        if int(length) > MAX_REPLY_BYTES:
            raise BadReply(f"the reply is larger than {MAX_REPLY_BYTES:,} bytes")
        return response.read()
    return response.read(MAX_REPLY_BYTES + 1)


def _fetch(request: urllib.request.Request, timeout: float) -> Any:
    """The parsed JSON reply, read completely within ``timeout`` seconds."""
    with _Deadline(timeout) as deadline:
        try:
            with deadline.opener().open(request, timeout=timeout) as response:
                body = _read_body(response)
        except (http.client.HTTPException, OSError):
            if deadline.expired:
                raise TimeoutError(f"no complete reply within {timeout:g} s") from None
            raise
        if deadline.expired:
            raise TimeoutError(f"no complete reply within {timeout:g} s")
    if len(body) > MAX_REPLY_BYTES:
        raise BadReply(f"the reply is larger than {MAX_REPLY_BYTES:,} bytes")
    try:
        return json.loads(body)
    except RecursionError:  # JSON nested thousands deep
        raise BadReply("the reply nests too deeply to be a completion") from None


def call_json(url: str, body: Mapping[str, Any] | None, headers: Mapping[str, str], policy: RetryPolicy,
              check: Callable[[Any], None] = lambda reply: None) -> Any:
    """POST ``body`` as JSON (GET when it is None); return the parsed reply once ``check`` accepts it."""
    data = json.dumps(body).encode() if body is not None else None
    last_fault = ""
    for attempt in range(policy.max_retries + 1):
        retry_after = None
        request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST",
                                         headers={"Content-Type": "application/json", **headers})
        try:
            reply = _fetch(request, policy.timeout)
            check(reply)
            return reply
        except urllib.error.HTTPError as error:
            message = redact(_server_message(error))
            if error.code in REDIRECTS:
                where = redact(str(error.headers.get("Location", "elsewhere"))) if error.headers else "elsewhere"
                raise HttpStatusError(redact(f"{url} redirects to {where} (HTTP {error.code}); redirects are not "
                                             "followed, since they would carry the API key along: set base_url "
                                             "to the final address"), error.code) from None
            if error.code not in RETRY_STATUS:
                hint = " (check the API key's environment variable)" if error.code in (401, 403) else ""
                raise HttpStatusError(redact(f"{url} refused the request: HTTP {error.code} {message}{hint}"), error.code) from None
            last_fault, retry_after = f"HTTP {error.code} {message}".strip(), _retry_after(error)
        except (json.JSONDecodeError, UnicodeDecodeError):  # cut off, or bytes that are not UTF-8
            last_fault = "the reply was not valid JSON"
        except BadReply as error:
            last_fault = redact(str(error))
        except (http.client.HTTPException, OSError) as error:
            # OSError covers URLError, refused/reset connections, timeouts and ssl errors;
            # HTTPException a reply cut short (IncompleteRead) or a garbled status line
            reason = getattr(error, "reason", None) or error
            last_fault = redact(f"connection failed: {type(error).__name__}: {reason}".rstrip(": "))
        if attempt < policy.max_retries:
            time.sleep(policy.wait(attempt, retry_after))
    raise UserError(redact(f"{url} failed {policy.max_retries + 1} times; last fault: {last_fault}. "
                           "Finished samples are saved; fix the server and continue with --resume"))


T = TypeVar("T")
R = TypeVar("R")


def bounded_map(function: Callable[[T], R], items: Iterable[T], concurrency: int) -> Iterator[R]:
    """Yield ``function(item)`` results as they finish, at most ``concurrency`` calls at a time.

    When a call fails, no new calls start; the calls already running are finished and their results
    yielded (so the caller can store them) before the first error is raised.
    """
    pending: set[Future] = set()
    source = iter(items)
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        try:
            while True:
                while failure is None and len(pending) < concurrency:
                    item = next(source, _END)
                    if item is _END:
                        break
                    pending.add(pool.submit(function, item))
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    if future.exception() is not None:
                        failure = failure or future.exception()
                    else:
                        yield future.result()
        finally:
            for future in pending:
                future.cancel()
    if failure is not None:
        raise failure


_END: Any = object()
