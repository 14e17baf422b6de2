"""One forge's REST API over httpx: bounded time, bounded answers, and every failure turned
into a ForgeError that names the forge, the repository and what the forge said.

The forge modules parse the JSON this returns into their typed results; nothing here knows
one forge's shapes but through the ``api_message`` function each hands in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

import httpx

from baryon.git.forges.base import ForgeError, ForgeLimits

# Where a forge's own wording of an error is found in its JSON error body (None: nowhere).
ApiMessage = Callable[[Any], str | None]

# How much of a non-JSON error body (an HTML error page from a proxy) is quoted.
_QUOTED_TEXT = 200


class ForgeHttp:
    def __init__(
        self,
        *,
        forge: str,
        base_url: str,
        headers: Mapping[str, str],
        limits: ForgeLimits,
        api_message: ApiMessage,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.forge = forge
        self.limits = limits
        self._api_message = api_message
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=dict(headers),
            auth=auth,
            timeout=httpx.Timeout(limits.timeout_seconds),
            transport=transport,
            # A renamed repository answers 301/307 to its new place; httpx drops the
            # Authorization header when a redirect leaves the forge's origin.
            follow_redirects=True,
            max_redirects=5,
        )

    def close(self) -> None:
        self._client.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        subject: str,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Collection[int] = (200,),
    ) -> Any:
        """The parsed JSON of a call answered with one of the expected statuses (None for an
        empty body). ``subject`` names what was asked about ("repository o/r", "pull request
        #4 of o/r") for the error messages."""
        try:
            status, content = self._send(method, path, params, body, headers)
        except httpx.TimeoutException as error:
            raise ForgeError(
                f"{self.forge} did not answer within {self.limits.timeout_seconds:g} seconds "
                f"about {subject} ({type(error).__name__})."
            ) from None
        except httpx.HTTPError as error:
            raise ForgeError(
                f"{self.forge} could not be reached about {subject}: "
                f"{error or type(error).__name__}."
            ) from None
        parsed = _json(content)
        if status in expect:
            if content.strip() and parsed is _NOT_JSON:
                raise ForgeError(
                    f"{self.forge} answered {status} about {subject} with a body that is not "
                    "JSON; is the API base URL right?",
                    status,
                )
            return None if parsed is _NOT_JSON else parsed
        raise ForgeError(self._refusal(status, subject, parsed, content), status)

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> tuple[int, bytes]:
        limit = self.limits.max_response_bytes
        with self._client.stream(
            method, path, params=params, json=body, headers=headers
        ) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise self._too_large(path)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise self._too_large(path)
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)

    def _too_large(self, path: str) -> ForgeError:
        return ForgeError(
            f"{self.forge}'s answer to {path} is larger than "
            f"{self.limits.max_response_bytes} bytes; Baryon stopped reading it."
        )

    def _refusal(self, status: int, subject: str, parsed: Any, content: bytes) -> str:
        said = None if parsed is _NOT_JSON else self._api_message(parsed)
        if said is None and content.strip():
            said = content[:_QUOTED_TEXT].decode("utf-8", "replace").strip()
        quoted = f": {said}" if said else ""
        if status in (401, 403):
            return (
                f"{self.forge} refused the credentials for {subject} ({status}){quoted}. "
                "Check the connection's token or app and its access to the repository."
            )
        if status == 404:
            return (
                f"{self.forge}: {subject} was not found, or the connection's credentials "
                f"cannot see it (404){quoted}."
            )
        if status in (400, 409, 422):
            return f"{self.forge} refused the request about {subject} ({status}){quoted}."
        return f"{self.forge} answered {status} about {subject}{quoted}."


class _NotJson:
    pass


_NOT_JSON: Any = _NotJson()


def _json(content: bytes) -> Any:
    if not content.strip():
        return _NOT_JSON
    try:
        return json.loads(content)
    except ValueError:
        return _NOT_JSON


def text(value: Any) -> str | None:
    """A forge's message field when it is a non-empty string."""
    return value.strip() if isinstance(value, str) and value.strip() else None
