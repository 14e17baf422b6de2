"""Request bodies: read against a deadline and a budget, decoded or refused as AWS does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.requests import Request

from baryon.api.errors import SerializationException, UnrecognizedClientException
from baryon.api.json_body import MAX_JSON_DEPTH, decode_json_body
from baryon.api.request_body import (
    BodyBudget,
    BodyBudgetExhausted,
    BodyLimits,
    BodyTimedOut,
    BodyTooLarge,
    ClientDisconnect,
    buffered_body,
    declared_too_large,
)
from baryon.api.sigv4 import admit, verify, verify_signature
from baryon.web.http import PortalError, parse_form
from tests.api.test_sigv4 import KEY, SECRET, SKEW, _signed

LIMITS = BodyLimits(max_bytes=1024, timeout_seconds=0.2, min_bytes_per_second=1000)

Message = dict[str, Any]


def _request(
    messages: list[Message | float],
    *,
    length: int | None = None,
    method: str = "POST",
    content_type: bytes = b"application/x-amz-json-1.0",
) -> Request:
    """A request whose body arrives as ``messages``; a number is a pause, in seconds."""
    headers = [(b"content-type", content_type)]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    script = list(messages)

    async def receive() -> Message:
        while script:
            step = script.pop(0)
            if isinstance(step, (int, float)):
                await asyncio.sleep(step)
                continue
            return step
        await asyncio.sleep(3600)  # a client that stalls for good
        raise AssertionError("unreachable")

    scope = {"type": "http", "method": method, "headers": headers, "path": "/"}
    return Request(scope, receive)


def _part(data: bytes, more: bool = True) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


def _run(factory: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(factory())


async def _read(request: Request, budget: BodyBudget, limits: BodyLimits = LIMITS) -> bytes:
    async with buffered_body(request, limits, budget) as body:
        return body


# --- reading -----------------------------------------------------------------------------


def test_a_body_that_arrives_in_parts_is_read_whole_and_its_bytes_given_back() -> None:
    budget = BodyBudget(4096)
    request = _request([_part(b'{"a":'), 0.01, _part(b"1}", more=False)], length=7)
    assert _run(lambda: _read(request, budget)) == b'{"a":1}'
    assert budget.in_use == 0


def test_a_stalled_body_times_out_at_its_deadline_and_gives_its_bytes_back() -> None:
    budget = BodyBudget(4096)
    request = _request([_part(b"{")], length=100)
    with pytest.raises(BodyTimedOut) as caught:
        _run(lambda: _read(request, budget))
    assert caught.value.received == 1 and caught.value.declared == 100
    assert "1 of 100 bytes" in str(caught.value)
    assert budget.in_use == 0


def test_a_trickle_slower_than_the_minimum_rate_times_out() -> None:
    # 10 bytes every 0.05 s is 200 B/s: the deadline moves 0.01 s per chunk, time 0.05 s.
    trickle: list[Message | float] = []
    for _ in range(40):
        trickle += [0.05, _part(b"x" * 10)]
    with pytest.raises(BodyTimedOut):
        _run(lambda: _read(_request(trickle, length=400), BodyBudget(4096)))


def test_a_fast_start_buys_no_long_silence_afterwards() -> None:
    # 1000 bytes at 100 B/s would earn 10 s; a pause of 0.2 s is all the body may take.
    limits = BodyLimits(max_bytes=4096, timeout_seconds=0.2, min_bytes_per_second=100)
    request = _request([_part(b"x" * 1000)], length=2000)

    async def read_within_the_rate_allowance() -> bytes:
        return await asyncio.wait_for(_read(request, BodyBudget(4096), limits), 5)

    with pytest.raises(BodyTimedOut) as caught:
        _run(read_within_the_rate_allowance)
    assert caught.value.received == 1000


def test_a_steady_upload_at_the_minimum_rate_is_read_past_the_base_timeout() -> None:
    steady: list[Message | float] = []
    for _ in range(6):
        steady += [0.05, _part(b"y" * 100)]  # 2000 B/s, for 0.3 s in all
    steady.append(_part(b"", more=False))
    body = _run(lambda: _read(_request(steady, length=600), BodyBudget(4096)))
    assert body == b"y" * 600


def test_a_client_that_goes_away_is_a_disconnect_not_an_error_of_ours() -> None:
    budget = BodyBudget(4096)
    request = _request([_part(b"{"), {"type": "http.disconnect"}], length=10)
    with pytest.raises(ClientDisconnect):
        _run(lambda: _read(request, budget))
    assert budget.in_use == 0


def test_too_large_is_refused_from_the_header_or_from_what_arrives() -> None:
    with pytest.raises(BodyTooLarge):
        _run(lambda: _read(_request([], length=LIMITS.max_bytes + 1), BodyBudget(1 << 20)))
    chunked = _request([_part(b"z" * 600), _part(b"z" * 600, more=False)])
    with pytest.raises(BodyTooLarge):
        _run(lambda: _read(chunked, BodyBudget(1 << 20)))


def test_a_body_announced_over_the_limit_is_known_from_the_headers() -> None:
    assert declared_too_large(_request([], length=LIMITS.max_bytes + 1), LIMITS)
    assert not declared_too_large(_request([], length=LIMITS.max_bytes), LIMITS)
    assert not declared_too_large(_request([]), LIMITS)  # chunked: counted as it comes


# --- the budget --------------------------------------------------------------------------


def test_when_the_budget_is_used_up_an_upload_waits_briefly_then_is_throttled() -> None:
    async def scenario() -> None:
        budget = BodyBudget(1000)
        await budget.reserve(800)
        with pytest.raises(BodyBudgetExhausted):
            await budget.reserve(300, wait_seconds=0.05)
        waiting = asyncio.create_task(budget.reserve(300, wait_seconds=5))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        budget.release(800)
        await asyncio.wait_for(waiting, 1)
        assert budget.in_use == 300

    _run(scenario)


def test_a_body_larger_than_the_whole_budget_is_throttled_at_once() -> None:
    with pytest.raises(BodyBudgetExhausted):
        _run(lambda: _read(_request([], length=900), BodyBudget(500)))


def test_chunked_bodies_reserve_what_arrives() -> None:
    async def scenario() -> None:
        budget = BodyBudget(4096)
        request = _request([_part(b"a" * 300), _part(b"b" * 200, more=False)])
        async with buffered_body(request, LIMITS, budget) as body:
            assert len(body) == 500 and budget.in_use == 500
        assert budget.in_use == 0

    _run(scenario)


# --- authentication before the body ------------------------------------------------------


def test_the_key_is_checked_from_the_headers_alone() -> None:
    request = _signed(b'{"a":1}')
    with pytest.raises(UnrecognizedClientException):
        admit(
            request.headers,
            regions=frozenset({"us-east-1"}),
            services=frozenset({"proton"}),
            secret_for=lambda key: None,
            max_skew=SKEW,
        )
    admission = admit(
        request.headers,
        regions=frozenset({"us-east-1"}),
        services=frozenset({"proton"}),
        secret_for=lambda key: SECRET if key == KEY else None,
        max_skew=SKEW,
    )
    assert verify_signature(request, admission).access_key_id == KEY
    assert (
        verify(
            request,
            regions=frozenset({"us-east-1"}),
            services=frozenset({"proton"}),
            secret_for=lambda key: SECRET,
            max_skew=SKEW,
        ).access_key_id
        == KEY
    )


# --- decoding JSON -----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_a_serialization_error_not_a_recursion_error(depth: int) -> None:
    for body in (b"[" * depth + b"]" * depth, b"[" * depth, b'{"a":' * depth + b"1"):
        with pytest.raises(SerializationException, match=f"more than {MAX_JSON_DEPTH} levels"):
            decode_json_body(body)


def test_nesting_up_to_the_bound_and_brackets_inside_strings_are_fine() -> None:
    depth = MAX_JSON_DEPTH
    assert decode_json_body(b"[" * depth + b"]" * depth) is not None
    spec = json.dumps({"spec": "[" * 10_000 + '\\"{' * 100})
    assert decode_json_body(spec.encode())["spec"].startswith("[[[")


def test_a_lone_surrogate_escape_is_refused_naming_where_it_is() -> None:
    body = b'{"name":"dev","description":"a \\ud800 b"}'
    with pytest.raises(SerializationException, match=r"surrogate \(\\ud800\) in 'description'"):
        decode_json_body(body)
    nested = b'{"tags":[{"key":"k","value":"\\udfff"}]}'
    with pytest.raises(SerializationException, match=r"in 'tags\[0\]\.value'"):
        decode_json_body(nested)
    with pytest.raises(SerializationException, match="member name"):
        decode_json_body(b'{"\\ud800":1}')


def test_escaped_surrogate_pairs_and_escaped_backslashes_are_ordinary_text() -> None:
    assert decode_json_body(b'{"d":"\\ud83d\\ude00"}') == {"d": "\U0001f600"}
    assert decode_json_body(b'{"d":"\\\\ud800"}') == {"d": "\\ud800"}


def test_bytes_that_are_not_utf8_are_refused_with_their_offset() -> None:
    with pytest.raises(SerializationException, match="byte 0xed at offset 7"):
        decode_json_body(b'{"d":"x\xed\xa0\x80"}')  # an encoded surrogate is not UTF-8
    with pytest.raises(SerializationException, match="byte 0xff at offset 0"):
        decode_json_body(b"\xff{}")


def test_nan_and_infinity_are_not_json() -> None:
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        with pytest.raises(SerializationException, match="is not a number"):
            decode_json_body(b'{"maxResults":' + constant + b"}")


def test_numbers_that_overflow_or_run_to_thousands_of_digits_are_not_json() -> None:
    # Python refuses int() of more than 4,300 digits with a plain ValueError, once a 500.
    with pytest.raises(SerializationException, match="more than 100 digits"):
        decode_json_body(b'{"maxResults":' + b"9" * 5000 + b"}")
    with pytest.raises(SerializationException, match="too large for a number"):
        decode_json_body(b'{"maxResults":1e999999}')
    assert decode_json_body(b'{"a":-9223372036854775808,"b":1.5e3}') == {
        "a": -9223372036854775808,
        "b": 1500.0,
    }


def test_an_empty_body_is_an_empty_request() -> None:
    assert decode_json_body(b"") == {} and decode_json_body(b"  \n") == {}


# --- portal forms ------------------------------------------------------------------------


def test_a_form_field_that_is_not_utf8_is_refused_by_name_not_replaced() -> None:
    request = _request([], content_type=b"application/x-www-form-urlencoded")
    for encoded in (b"%ED%A0%80", b"%FF", b"ok%C3"):
        with pytest.raises(PortalError, match="field 'description'") as caught:
            parse_form(request, b"name=dev&description=" + encoded)
        assert caught.value.status == 400
    with pytest.raises(PortalError, match="field name"):
        parse_form(request, b"%ED%A0%80=1")
    form = parse_form(request, b"name=d%C3%A9v&spec=a%0D%0Ab")
    assert form["name"] == "d\u00e9v" and form["spec"] == "a\nb"


# --- specs -------------------------------------------------------------------------------


SURROGATE_SPECS = {
    "a raw surrogate": "proton: EnvironmentSpec\nspec:\n  size: \ud800\n",
    "a YAML escape": 'proton: EnvironmentSpec\nspec:\n  size: "\\ud800"\n',
}


@pytest.mark.parametrize("spec", SURROGATE_SPECS.values(), ids=SURROGATE_SPECS.keys())
@pytest.mark.parametrize("loader", ["libyaml", "pure-python"])
def test_a_spec_holding_a_lone_surrogate_is_refused_naming_its_line(
    monkeypatch: pytest.MonkeyPatch, spec: str, loader: str
) -> None:
    import yaml

    from baryon.bundles import yaml_source
    from baryon.domain.errors import InvalidInput
    from baryon.domain.specs import parse_environment_spec

    if loader == "pure-python":  # what runs where PyYAML was built without libyaml
        resolvers = yaml_source._Loader.yaml_implicit_resolvers
        pure = type("PureLoader", (yaml.SafeLoader,), {"yaml_implicit_resolvers": resolvers})
        monkeypatch.setattr(yaml_source, "_Loader", pure)
    with pytest.raises(InvalidInput, match="spec line 3"):
        parse_environment_spec(spec)
