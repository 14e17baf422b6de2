"""Opaque, tamper-evident nextToken values.

A token carries the position after the last item served (keyset pagination: stable under
inserts and cheap at any depth) plus a digest of the request's filters, and is signed so
that clients cannot forge positions or reuse a token with other filters. The alphabet is plain
base64, which the model's NextToken pattern allows.

Tokens live beside keyset paging (store/paging.py) because a position is the store's; they
raise their own error, which the operation turns into a refusal of its ``nextToken``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

_MAC_BYTES = 16


class InvalidPageToken(ValueError):
    """A nextToken that was forged, damaged, or issued for another request."""


class PageTokens:
    def __init__(self, signing_key: bytes) -> None:
        self._key = hashlib.sha256(b"baryon-page-token\0" + signing_key).digest()

    def encode(self, operation: str, scope: dict[str, Any], position: list[Any]) -> str:
        body = json.dumps(
            {"o": operation, "s": _digest(scope), "p": position}, separators=(",", ":")
        ).encode()
        return base64.b64encode(self._mac(body) + body).decode()

    def decode(self, token: str, operation: str, scope: dict[str, Any]) -> list[Any]:
        try:
            raw = base64.b64decode(token, validate=True)
            mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
            valid = hmac.compare_digest(mac, self._mac(body))
            data = json.loads(body) if valid else None
        except (ValueError, json.JSONDecodeError):
            data = None
        if not isinstance(data, dict) or data.get("o") != operation:
            raise InvalidPageToken("The nextToken is not valid for this operation.")
        if data.get("s") != _digest(scope):
            raise InvalidPageToken(
                "The nextToken was issued for a request with different parameters."
            )
        position = data.get("p")
        if not isinstance(position, list):
            raise InvalidPageToken("The nextToken is not valid for this operation.")
        return position

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_MAC_BYTES]


def _digest(scope: dict[str, Any]) -> str:
    text = json.dumps(scope, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
