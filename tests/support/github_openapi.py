"""GitHub's published OpenAPI descriptions as a test oracle: a request Baryon sends the test
forge, an answer the test forge gives, and a webhook payload the tests send Baryon are each
checked against what GitHub says its API accepts and sends.

The descriptions come from the npm packages ``@octokit/openapi`` (the REST API, OpenAPI 3.0)
and ``@octokit/openapi-webhooks`` (the webhooks, OpenAPI 3.1), pinned in
tests/support/github/package-lock.json and installed by scripts/dev-setup
(``npm ci --prefix tests/support/github``).

Requests are held to more than the schemas say: GitHub ignores a body member or a query
parameter it does not know, so a misspelt one would pass a plain schema check and silently
do nothing on the real API. Here any member or parameter the description does not declare is
a violation. Answers and webhook payloads are checked as the schemas say (GitHub adds members
freely, so unknown ones are fine there).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OCTOKIT = Path(__file__).parent / "github" / "node_modules" / "@octokit"
REST_DESCRIPTIONS = OCTOKIT / "openapi" / "generated"
WEBHOOK_DESCRIPTIONS = OCTOKIT / "openapi-webhooks" / "generated"
# The descriptions each test forge flavour is checked against.
GITHUB_COM = "api.github.com"
GITHUB_ENTERPRISE_SERVER = "ghes-3.19"

_INSTALL_HINT = (
    "GitHub's OpenAPI descriptions are missing; run scripts/dev-setup (it runs "
    "`npm ci --prefix tests/support/github`)."
)
_PARAMETER = re.compile(r"\{([^}/]+)\}")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path, query or header
    required: bool
    schema: dict[str, Any]


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # "/repos/{owner}/{repo}/pulls"
    operation_id: str
    parameters: tuple[Parameter, ...]
    body_schema: dict[str, Any] | None  # the application/json request body's schema
    body_required: bool
    responses: Mapping[str, dict[str, Any] | None]  # status -> its JSON schema (None: none)


class OpenApiViolation(AssertionError):
    """What GitHub's description says is wrong with a request, an answer or a payload."""


class RestDescription:
    """One REST description (api.github.com, or one GitHub Enterprise Server release)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._base = f"urn:github-openapi:{name}"
        document = _load(REST_DESCRIPTIONS / f"{name}.json")
        _prepare(document, self._base, openapi_30=True)
        self._document = document
        self._registry = _registry(document, self._base)
        self._operations = _operations(document)

    def operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        """The operation a request's method and path (without the API prefix) reach, and its
        path parameters; a path the description does not have is a violation."""
        segments = path.strip("/").split("/")
        best: tuple[int, Operation, dict[str, str]] | None = None
        for operation, pattern, literals in self._operations.get(len(segments), ()):
            if operation.method != method.lower():
                continue
            matched = pattern.fullmatch(path)
            if matched and (best is None or literals > best[0]):
                values = {key: unquote(value) for key, value in matched.groupdict().items()}
                best = (literals, operation, values)
        if best is None:
            raise OpenApiViolation(
                f"{method} {path}: GitHub's {self.name} API has no such operation"
            )
        return best[1], best[2]

    def check_request(
        self, method: str, path: str, query: str, body: bytes, content_type: str | None
    ) -> Operation:
        operation, path_values = self.operation(method, path)
        problems: list[str] = []
        declared = {(p.location, p.name): p for p in operation.parameters}
        for name, value in path_values.items():
            parameter = declared.get(("path", name))
            if parameter is not None:
                problems += self._check_value(parameter, value)
        given: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            parameter = declared.get(("query", name))
            if parameter is None:
                problems.append(f"query parameter {name!r} is not one {operation.operation_id} has")
            elif name in given:
                problems.append(f"query parameter {name!r} is given twice")
            else:
                given[name] = value
                problems += self._check_value(parameter, value)
        for parameter in operation.parameters:
            if parameter.location == "query" and parameter.required and parameter.name not in given:
                problems.append(f"required query parameter {parameter.name!r} is missing")
        problems += self._check_body(operation, body, content_type)
        if problems:
            raise OpenApiViolation(
                f"{method} {path} ({operation.operation_id}) breaks GitHub's {self.name} "
                "description: " + "; ".join(problems)
            )
        return operation

    def check_response(self, method: str, path: str, status: int, body: bytes) -> None:
        operation, _ = self.operation(method, path)
        if str(status) not in operation.responses and status >= 400:
            # GitHub answers 401 (and more) to every operation without listing it each time.
            return
        if str(status) not in operation.responses:
            raise OpenApiViolation(
                f"{method} {path} ({operation.operation_id}): GitHub's description lists no "
                f"{status} answer (it lists {', '.join(operation.responses)})"
            )
        schema = operation.responses[str(status)]
        if schema is None:
            return
        problems = self._errors(schema, _parsed(body))
        if problems:
            raise OpenApiViolation(
                f"the {status} answer to {method} {path} ({operation.operation_id}) breaks "
                "GitHub's description: " + "; ".join(problems)
            )

    def _check_value(self, parameter: Parameter, raw: str) -> list[str]:
        value = _coerced(raw, parameter.schema)
        return [
            f"{parameter.location} parameter {parameter.name!r}: {problem}"
            for problem in self._errors(parameter.schema, value)
        ]

    def _check_body(self, operation: Operation, body: bytes, content_type: str | None) -> list[str]:
        if not body:
            if operation.body_required:
                return ["the request body is required"]
            return []
        if operation.body_schema is None:
            return [f"{operation.operation_id} takes no request body"]
        if not (content_type or "").startswith("application/json"):
            return [f"the body is sent as {content_type!r}, not application/json"]
        try:
            value = json.loads(body)
        except ValueError:
            return ["the request body is not JSON"]
        problems = self._errors(operation.body_schema, value)
        problems += [
            f"{where or 'the body'} has {name!r}, which the description does not declare"
            for where, name in _undeclared(value, operation.body_schema, self._document)
        ]
        return problems

    def _errors(self, schema: dict[str, Any], value: Any) -> list[str]:
        return _schema_errors(schema, value, self._registry, self._base)


class WebhookDescription:
    """The webhook payloads GitHub sends, by event and action ("pull_request", "closed")."""

    def __init__(self, name: str = GITHUB_COM) -> None:
        self.name = name
        self._base = f"urn:github-webhooks:{name}"
        document = _load(WEBHOOK_DESCRIPTIONS / f"{name}.json")
        _prepare(document, self._base, openapi_30=False)
        self._registry = _registry(document, self._base)
        self._schemas: dict[str, dict[str, Any]] = {}
        for key, item in document["webhooks"].items():
            content = item["post"]["requestBody"]["content"]
            self._schemas[key] = content["application/json"]["schema"]

    def check(self, event: str, payload: Any) -> None:
        """A payload as GitHub would send it for the X-GitHub-Event ``event``."""
        action = payload.get("action") if isinstance(payload, dict) else None
        keys = [f"{event}-{action}".replace("_", "-")] if action else []
        keys.append(event.replace("_", "-"))
        schema = next((self._schemas[key] for key in keys if key in self._schemas), None)
        if schema is None:
            raise OpenApiViolation(
                f"GitHub's {self.name} webhooks have no {event!r} event with action {action!r}"
            )
        problems = _schema_errors(schema, payload, self._registry, self._base)
        if problems:
            raise OpenApiViolation(
                f"the {event} ({action}) webhook payload breaks GitHub's description: "
                + "; ".join(problems)
            )


@cache
def rest_description(name: str = GITHUB_COM) -> RestDescription:
    """Loaded once per test session: the file is 13 MB."""
    return RestDescription(name)


@cache
def webhook_description(name: str = GITHUB_COM) -> WebhookDescription:
    return WebhookDescription(name)


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {_INSTALL_HINT}")
    with path.open("rb") as file:
        loaded: dict[str, Any] = json.load(file)
    return loaded


def _registry(document: dict[str, Any], uri: str) -> Registry:
    # The descriptions' "#/components/..." references resolve inside the whole document.
    resource: Resource[Any] = DRAFT202012.create_resource(document)
    registry: Registry[Any] = Registry().with_resource(uri, resource)
    return registry


def _schema_errors(schema: dict[str, Any], value: Any, registry: Registry, base: str) -> list[str]:
    validator = Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())
    found = sorted(validator.iter_errors(value), key=lambda error: list(error.absolute_path))
    # For anyOf/oneOf, the branch that came closest says more than "is not valid under any".
    closest = [_closest(error) for error in found[:10]]
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '(top)'}: {error.message[:300]}"
        for error in closest
        if error is not None
    ]


def _closest(error: ValidationError) -> ValidationError | None:
    """The error itself, or for anyOf/oneOf the failure of the branch that came closest (a
    nullable value's "null" branch never does)."""
    if not error.context:
        return error
    branches = [
        e for e in error.context if not (e.validator == "type" and e.validator_value == "null")
    ]
    closest: ValidationError | None = best_match(branches or error.context)
    return closest


def _operations(
    document: dict[str, Any],
) -> dict[int, list[tuple[Operation, re.Pattern[str], int]]]:
    """Operations by number of path segments, with the pattern matching their paths and the
    count of literal segments (the most literal match wins: ``pulls/comments`` over
    ``pulls/{pull_number}``)."""
    by_length: dict[int, list[tuple[Operation, re.Pattern[str], int]]] = {}
    for template, item in document["paths"].items():
        shared = item.get("parameters", [])
        segments = template.strip("/").split("/")
        pattern = re.compile(
            "/"
            + "/".join(
                _PARAMETER.sub(lambda m: f"(?P<{_group(m.group(1))}>[^/]+)", segment)
                if "{" in segment
                else re.escape(segment)
                for segment in segments
            )
        )
        literals = sum("{" not in segment for segment in segments)
        for method in _METHODS:
            if method not in item:
                continue
            spec = item[method]
            parameters = tuple(
                _parameter(_resolve(document, p)) for p in [*shared, *spec.get("parameters", [])]
            )
            body = _resolve(document, spec.get("requestBody", {}))
            json_body = body.get("content", {}).get("application/json")
            responses: dict[str, dict[str, Any] | None] = {}
            for status, answer in spec.get("responses", {}).items():
                content = _resolve(document, answer).get("content", {})
                responses[status] = (content.get("application/json") or {}).get("schema")
            operation = Operation(
                method,
                template,
                spec.get("operationId", f"{method} {template}"),
                parameters,
                json_body.get("schema") if json_body else None,
                bool(body.get("required")),
                responses,
            )
            by_length.setdefault(len(segments), []).append((operation, pattern, literals))
    return by_length


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _parameter(spec: dict[str, Any]) -> Parameter:
    return Parameter(spec["name"], spec["in"], bool(spec.get("required")), spec.get("schema", {}))


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        _, _, pointer = node["$ref"].partition("#/")
        target: Any = document
        for part in pointer.split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _coerced(raw: str, schema: dict[str, Any]) -> Any:
    """A query or path value as the type its schema names (query strings hold text only)."""
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "integer" in kinds and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if "boolean" in kinds and raw in ("true", "false"):
        return raw == "true"
    return raw


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError as error:
        raise OpenApiViolation(f"the answer is not JSON: {error}") from None


def _undeclared(
    value: Any, schema: dict[str, Any], document: dict[str, Any], where: str = ""
) -> list[tuple[str, str]]:
    """(where, member) for each object member that no ``properties`` of the schema (its
    allOf/anyOf/oneOf branches included) declares, unless the schema allows extra members."""
    schemas = _branches(schema, document)
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        if any("additionalProperties" in s or "patternProperties" in s for s in schemas):
            return []
        declared: dict[str, list[dict[str, Any]]] = {}
        for branch in schemas:
            for name, sub in branch.get("properties", {}).items():
                declared.setdefault(name, []).append(sub)
        for name, member in value.items():
            if name not in declared:
                found.append((where, name))
                continue
            inner = f"{where}.{name}" if where else name
            for sub in declared[name][:1]:
                found += _undeclared(member, sub, document, inner)
    elif isinstance(value, list):
        items = [s["items"] for s in schemas if isinstance(s.get("items"), dict)]
        for index, member in enumerate(value):
            for sub in items[:1]:
                found += _undeclared(member, sub, document, f"{where}[{index}]")
    return found


def _branches(schema: dict[str, Any], document: dict[str, Any]) -> list[dict[str, Any]]:
    resolved = _resolve(document, schema)
    found = [resolved]
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in resolved.get(key, []):
            found += _branches(branch, document)
    return found


def _prepare(node: Any, base: str, *, openapi_30: bool) -> None:
    """In place: references made absolute (``<base>#/components/...``), so that any schema of
    the document can be checked on its own and still reach the rest; and, for OpenAPI 3.0,
    ``nullable: true`` said as JSON Schema says it (a "null" type, a None enum member)."""
    if isinstance(node, list):
        for item in node:
            _prepare(item, base, openapi_30=openapi_30)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        _prepare(value, base, openapi_30=openapi_30)
    reference = node.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/"):
        node["$ref"] = base + reference
    if not openapi_30 or node.get("nullable") is not True:
        return
    del node["nullable"]
    kind = node.get("type")
    if isinstance(kind, str):
        node["type"] = [kind, "null"]
        if isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"].append(None)
    elif kind is None:
        rest = dict(node)
        node.clear()
        node["anyOf"] = [{"type": "null"}, rest]
