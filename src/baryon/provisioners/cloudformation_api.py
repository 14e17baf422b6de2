"""CloudFormation calls with bounded retries, and the stack events of the current operation.

Two retry budgets: throttling and connection trouble are waited out (the cloud is busy or
far), while a 5xx (InternalFailure, an error page) gets only a short second chance -- botocore
has already retried it a few times within a second, and a cloud that keeps failing a call has
a cause worth showing at once, in its own words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserError

from baryon.provisioners.base import DeploymentIO
from baryon.provisioners.polling import Backoff, pause

THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
    "SlowDown", "PriorRequestNotComplete",
})  # fmt: skip
# Stack-level events that begin an operation; everything after one belongs to it.
OPERATION_STARTS = frozenset({
    "CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS",
    "IMPORT_IN_PROGRESS", "REVIEW_IN_PROGRESS",
})  # fmt: skip
# What a boto3 call raises when the cloud, not our code, is at fault. ResponseParserError
# (an HTML error page where XML was due) is neither a ClientError nor a BotoCoreError.
CLOUD_ERRORS = (ClientError, BotoCoreError, ResponseParserError)
EVENT_PAGES_MAX = 10
_TITLE = re.compile(
    r"<title>([^<]{1,200})</title>", re.IGNORECASE
)  # how far back the first look at a stack's history goes


class CloudFailure(Exception):
    """CloudFormation could not be reached or kept failing; the operation ends FAILED.

    ``code`` is the cloud's own error code (InternalFailure, Throttling, ...) when it gave
    one; the message carries the cloud's own message.
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def error_message(exc: BaseException) -> str:
    """CloudFormation's own words where there are some."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return str(error.get("Message") or error.get("Code") or exc)
    if isinstance(exc, ResponseParserError):
        # An HTML error page where XML was due; its text quotes the whole page.
        title = _TITLE.search(str(exc))
        page = f" ({title.group(1)})" if title else ""
        return f"CloudFormation answered with an error page{page}"
    return f"{type(exc).__name__}: {exc}"


def error_text(exc: BaseException) -> str:
    """The cloud's code and message together (``InternalFailure: <cause>``), for logs and
    failure messages: the code says what kind of trouble, the message why."""
    code, message = error_code(exc), error_message(exc)
    if not code or code == message or code.isdigit():
        return message  # an error page's bare HTTP status adds nothing to its text
    return f"{code}: {message}"


def api_name(operation: str) -> str:
    """describe_stacks -> DescribeStacks, as CloudFormation's documentation says it."""
    return "".join(word.title() for word in operation.split("_"))


def is_server_error(exc: BaseException) -> bool:
    """The cloud failed the call itself (HTTP 5xx, or an error page where XML was due)."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return int(status) >= 500 and error_code(exc) not in THROTTLING_CODES
    return isinstance(exc, ResponseParserError)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: throttling, 5xx, connection trouble, a garbled (error) page."""
    if isinstance(exc, ClientError):
        return error_code(exc) in THROTTLING_CODES or is_server_error(exc)
    return isinstance(exc, HTTPClientError | BotoConnectionError | ResponseParserError)


def is_missing_stack(exc: BaseException) -> bool:
    return error_code(exc) == "ValidationError" and "does not exist" in error_message(exc)


@dataclass(frozen=True)
class Retrying:
    """Settings for `StackApi.call`'s bounded retries of transient errors: throttling and
    connection trouble ``max_retries`` times with backoff, a server error (5xx)
    ``server_error_retries`` times after ``server_error_pause`` seconds."""

    poll_initial: float
    poll_max: float
    max_retries: int
    heartbeat_interval: float
    server_error_retries: int = 1
    server_error_pause: float = 1.0

    def budget(self, exc: BaseException) -> int:
        return self.server_error_retries if is_server_error(exc) else self.max_retries


class StackApi:
    """One client and one DeploymentIO: calls retried within bounds, heartbeats while waiting."""

    def __init__(self, client: Any, io: DeploymentIO, retrying: Retrying) -> None:
        self.client = client
        self.io = io
        self.retrying = retrying

    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Calls ``client.<operation>``; transient errors are retried within their budget
        (`Retrying`), then raise `CloudFailure` with the cloud's code and message. Other
        errors propagate at once."""
        method: Callable[..., dict[str, Any]] = getattr(self.client, operation)
        r = self.retrying
        backoff = Backoff(r.poll_initial, r.poll_max)
        attempts = 0
        while True:
            attempts += 1
            try:
                return method(**kwargs)
            except CLOUD_ERRORS as exc:
                if not is_transient(exc):
                    raise
                failure, code = error_text(exc), error_code(exc)
                server_error = is_server_error(exc)
                budget = r.budget(exc)
            if attempts > budget:
                raise CloudFailure(
                    f"CloudFormation {api_name(operation)} kept failing "
                    f"({attempts} attempts): {failure}",
                    code,
                )
            self.io.log(f"CloudFormation {api_name(operation)} failed ({failure}); retrying")
            delay = r.server_error_pause if server_error else backoff.next_delay()
            pause(delay, self.io, heartbeat_interval=r.heartbeat_interval)

    def stack(self, name_or_id: str) -> dict[str, Any] | None:
        """The stack as DescribeStacks tells it; None if absent or DELETE_COMPLETE."""
        try:
            stacks = self.call("describe_stacks", StackName=name_or_id).get("Stacks", [])
        except ClientError as exc:
            if is_missing_stack(exc):
                return None
            raise
        if not stacks or stacks[0].get("StackStatus") == "DELETE_COMPLETE":
            return None
        stack: dict[str, Any] = stacks[0]
        return stack


def _is_operation_start(event: dict[str, Any], stack_id: str) -> bool:
    return (
        event.get("ResourceType") == "AWS::CloudFormation::Stack"
        and event.get("PhysicalResourceId") == stack_id
        and event.get("ResourceStatus") in OPERATION_STARTS
    )


# How the local cloud marks a resource it simulates from CloudFormation's resource schemas
# instead of creating it (moto lacks the type); real CloudFormation never writes it. The
# reason text is the only place the wire carries that fact.
SIMULATED_MARK = "Simulated by the local cloud"


def is_simulated(reason: object) -> bool:
    return isinstance(reason, str) and reason.startswith(SIMULATED_MARK)


def describe_resource(event: dict[str, Any]) -> str:
    return f"{event.get('LogicalResourceId')} ({event.get('ResourceType')})"


def describe_event(event: dict[str, Any]) -> str:
    reason = event.get("ResourceStatusReason")
    mark = " [simulated, not a real resource]" if is_simulated(reason) else ""
    text = f"CloudFormation: {describe_resource(event)} {event.get('ResourceStatus')}{mark}"
    return f"{text}: {reason}" if reason else text


def is_failure(event: dict[str, Any]) -> bool:
    return str(event.get("ResourceStatus", "")).endswith("_FAILED")


class OperationEvents:
    """The stack events of the operation in progress, each logged once as it appears.

    Stateless about the past on purpose: after a crash, a fresh instance finds the
    operation's start in the stack's history, so a resumed wait reports the same reason.
    """

    def __init__(self, api: StackApi, stack_id: str) -> None:
        self.api = api
        self.stack_id = stack_id
        self.events: list[dict[str, Any]] = []  # oldest first
        self._seen: set[str] = set()

    def poll(self) -> int:
        """Fetches new events, logs them, returns how many there were."""
        fresh: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(EVENT_PAGES_MAX):
            kwargs: dict[str, Any] = {"StackName": self.stack_id}
            if token:
                kwargs["NextToken"] = token
            page = self.api.call("describe_stack_events", **kwargs)
            done = False
            for event in page.get("StackEvents", []):  # newest first
                if event.get("EventId") in self._seen:
                    done = True
                    break
                fresh.append(event)
                if _is_operation_start(event, self.stack_id):
                    done = True
                    break
            token = page.get("NextToken")
            if done or not token:
                break
        for event in reversed(fresh):
            self._seen.add(str(event.get("EventId")))
            if _is_operation_start(event, self.stack_id):
                self.events = []  # a new operation began; earlier events are history
            self.events.append(event)
            self.api.io.log(describe_event(event))
        return len(fresh)

    def failures(self) -> list[dict[str, Any]]:
        """The operation's resource-level *_FAILED events with a reason, oldest first."""
        return [
            event
            for event in self.events
            if is_failure(event)
            and event.get("ResourceStatusReason")
            and event.get("PhysicalResourceId") != self.stack_id
        ]

    def failure_reason(self) -> str | None:
        """Every failed resource with its reason (the first is the cause; real CloudFormation
        then fails the others as cancelled), else a stack-level failure or rollback reason."""
        failed = self.failures()
        if failed:
            return "; ".join(
                f"{describe_resource(e)} {e.get('ResourceStatus')}: {e.get('ResourceStatusReason')}"
                for e in failed
            )
        for event in self.events:
            reason = event.get("ResourceStatusReason")
            if reason and is_failure(event):
                return str(reason)
        for event in self.events:
            reason = event.get("ResourceStatusReason")
            if reason and "ROLLBACK" in str(event.get("ResourceStatus", "")):
                return str(reason)
        return None
