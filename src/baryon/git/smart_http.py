"""One smart-HTTP request (ref advertisement, upload-pack or receive-pack) answered by
dulwich's WSGI application from inside an ASGI server.

The body is read here first, against a size limit and an idle deadline, into a spooled file
(gzip bodies, which git sends for large fetch negotiations, are inflated against the same
limit), so dulwich never waits on the network and no client can grow the process. dulwich
then runs in a worker thread and its output is handed to the event loop chunk by chunk, with
back pressure: a slow reader slows the thread, not the loop.
"""

from __future__ import annotations

import io
import logging
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from tempfile import SpooledTemporaryFile
from typing import IO, Any

import anyio
import anyio.from_thread
import anyio.to_thread
from dulwich.objects import ObjectID
from dulwich.refs import Ref
from dulwich.repo import Repo
from dulwich.server import Backend, BackendRepo, ReceivePackHandler, UploadPackHandler
from dulwich.web import HTTPGitApplication
from starlette.types import Message, Receive, Send

log = logging.getLogger(__name__)

# Bodies up to this size stay in memory; larger ones (pushed packs) go to a temporary file.
_IN_MEMORY_BYTES = 1024 * 1024
_HANDLERS: dict[bytes, Any] = {
    b"git-upload-pack": UploadPackHandler,
    b"git-receive-pack": ReceivePackHandler,
}


class BodyTooLarge(Exception):
    pass


class BodyStalled(Exception):
    pass


class ClientGone(Exception):
    pass


async def read_body(receive: Receive, max_bytes: int, idle_seconds: float) -> IO[bytes]:
    """The whole request body in a spooled file at offset 0."""
    spool: IO[bytes] = SpooledTemporaryFile(max_size=_IN_MEMORY_BYTES)  # noqa: SIM115
    size = 0
    try:
        while True:
            try:
                with anyio.fail_after(idle_seconds):
                    message = await receive()
            except TimeoutError:
                raise BodyStalled from None
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge
            spool.write(chunk)
            if not message.get("more_body", False):
                break
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def gunzipped(body: IO[bytes], max_bytes: int) -> IO[bytes]:
    """The inflated body (blocking: call it from a worker thread); closes ``body``."""
    out: IO[bytes] = SpooledTemporaryFile(max_size=_IN_MEMORY_BYTES)  # noqa: SIM115
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    size = 0
    try:
        with body:
            while chunk := body.read(64 * 1024):
                pending = chunk
                while pending:
                    data = inflater.decompress(pending, 64 * 1024)
                    size += len(data)
                    if size > max_bytes:
                        raise BodyTooLarge
                    out.write(data)
                    pending = inflater.unconsumed_tail
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


@dataclass
class PushRecorder:
    """dulwich's post-receive hook: told the refs a push updated, once they are updated."""

    updates: list[tuple[ObjectID, ObjectID, Ref]] = field(default_factory=list)

    def execute(self, client_refs: Iterable[tuple[ObjectID, ObjectID, Ref]]) -> None:
        self.updates.extend(client_refs)


class _OneRepository(Backend):
    """The request's repository was chosen (and its name checked) before dulwich sees it."""

    def __init__(self, repo: Repo) -> None:
        self._repo = repo

    def open_repository(self, path: str) -> BackendRepo:
        return self._repo


@dataclass(frozen=True)
class SmartRequest:
    method: str
    # "/info/refs", "/git-upload-pack" or "/git-receive-pack"
    action: str
    query_string: str
    content_type: str
    body: IO[bytes] | None


def serve_request(
    repo_path: str,
    request: SmartRequest,
    recorder: PushRecorder,
    send: Send,
) -> None:
    """Runs dulwich for one request in the calling worker thread, sending its answer through
    the event loop; the caller ends the response body (after any push has been reported)."""
    started = False
    status = 500
    headers: list[tuple[bytes, bytes]] = []

    def start_response(
        status_line: str, response_headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], None]:
        nonlocal status, headers
        status = int(status_line.split(" ", 1)[0])
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response_headers]
        return write

    def start() -> None:
        nonlocal started
        if not started:
            started = True
            _send_from_thread(
                send, {"type": "http.response.start", "status": status, "headers": headers}
            )

    def write(data: bytes) -> None:
        start()
        if data:
            _send_from_thread(send, {"type": "http.response.body", "body": data, "more_body": True})

    repo = Repo(repo_path, bare=True)
    # No shell hooks: a hosted repository runs no program on push, only this recorder.
    repo.hooks = {"post-receive": recorder}  # type: ignore[dict-item]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "PATH_INFO": request.action,
        "QUERY_STRING": request.query_string,
        "CONTENT_TYPE": request.content_type,
        "wsgi.input": request.body if request.body is not None else io.BytesIO(),
        "wsgi.errors": _LogStream(),
        "wsgi.url_scheme": "http",
    }
    if request.body is not None:
        request.body.seek(0, 2)
        environ["CONTENT_LENGTH"] = str(request.body.tell())
        request.body.seek(0)
    app = HTTPGitApplication(_OneRepository(repo), dumb=False, handlers=_HANDLERS)
    try:
        result = app(environ, start_response)
        try:
            for chunk in result:
                write(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        start()
    except Exception as exc:
        # A malformed request (dulwich raises on protocol errors) or a client gone away.
        log.info("git request %s %s ended early: %s", request.method, request.action, exc)
        if not started:
            status, headers = 400, [(b"content-type", b"text/plain; charset=utf-8")]
            write(f"git request failed: {' '.join(str(exc).split())[:300]}\n".encode())
    finally:
        repo.close()


def _send_from_thread(send: Send, message: Message) -> None:
    """Waits until the event loop has sent it: back pressure for the worker thread."""

    async def sending() -> None:
        await send(message)

    anyio.from_thread.run(sending)


class _LogStream:
    def write(self, text: str) -> None:
        log.info("dulwich: %s", text.rstrip())

    def flush(self) -> None:
        pass
