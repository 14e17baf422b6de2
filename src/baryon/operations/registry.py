"""Maps operation names to their handler functions, for every front door.

Handlers register with ``@proton_operation("Name")`` or ``@baryon_operation("Name")``; the
name is checked against the model at import time so a typo fails loudly at start-up. The
table lives here, beside the operations, so that front doors look handlers up in the
application layer and operations import no front door. Every modeled operation without a
handler is still routed by the API and answers a clear error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from baryon.operations import approval_rules, audit_trail, authorization
from baryon.operations.context import RequestContext
from baryon.service_models import BARYON, PROTON, service_model

# A handler takes its operation's generated input TypedDict and returns its output TypedDict
# (or None for an empty output); the table holds handlers of every operation, so it names
# neither.
Handler = Callable[[RequestContext, Any], Mapping[str, Any] | None]
H = TypeVar("H", bound=Handler)

_HANDLERS: dict[str, dict[str, Handler]] = {PROTON: {}, BARYON: {}}


def _register(service: str, name: str) -> Callable[[H], H]:
    if name not in service_model(service).operation_names:
        raise LookupError(f"{name} is not an operation of the {service} model")

    def decorate(handler: H) -> H:
        if name in _HANDLERS[service]:
            raise LookupError(f"{service}.{name} already has a handler")

        # Every front door calls the handler through this: the API by its name in the table,
        # the portal by the function itself. So each call is authorized and audited once,
        # the same way, whichever door it came through.
        @functools.wraps(handler)
        def governed(context: RequestContext, request: Any, /, **options: Any) -> Any:
            with audit_trail.recorded(context, service, name, request) as call:
                authorization.authorize(context, service, name, request)
                # Deployments the handler starts wait when approval rules say so.
                with approval_rules.in_effect(context):
                    call.result = handler(context, request, **options)
                return call.result

        _HANDLERS[service][name] = governed
        return cast(H, governed)

    return decorate


def proton_operation(name: str) -> Callable[[H], H]:
    return _register(PROTON, name)


def baryon_operation(name: str) -> Callable[[H], H]:
    return _register(BARYON, name)


def handler_for(service: str, name: str) -> Handler | None:
    return _HANDLERS[service].get(name)


def implemented(service: str) -> frozenset[str]:
    return frozenset(_HANDLERS[service])
