"""nextToken: opaque, signed, bound to its operation and filters."""

from __future__ import annotations

import re

import pytest

from baryon.store.page_tokens import InvalidPageToken, PageTokens


def test_round_trip_and_model_pattern() -> None:
    tokens = PageTokens(b"key")
    token = tokens.encode("ListServices", {"a": 1}, ["svc-9", 17])
    assert re.fullmatch(r"[A-Za-z0-9+=/]+", token)
    assert tokens.decode(token, "ListServices", {"a": 1}) == ["svc-9", 17]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),
        lambda t: "garbage",
        lambda t: "",
    ],
)
def test_tampered_tokens_are_refused(mutate) -> None:
    tokens = PageTokens(b"key")
    token = tokens.encode("ListServices", {}, ["x"])
    with pytest.raises(InvalidPageToken, match="nextToken"):
        tokens.decode(mutate(token), "ListServices", {})


def test_token_is_bound_to_operation_filters_and_key() -> None:
    token = PageTokens(b"key").encode("ListServices", {"f": 1}, ["x"])
    with pytest.raises(InvalidPageToken):
        PageTokens(b"key").decode(token, "ListEnvironments", {"f": 1})
    with pytest.raises(InvalidPageToken, match="different parameters"):
        PageTokens(b"key").decode(token, "ListServices", {"f": 2})
    with pytest.raises(InvalidPageToken):
        PageTokens(b"other").decode(token, "ListServices", {"f": 1})
