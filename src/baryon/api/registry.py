"""Maps operation names to their handler functions.

Handlers register with ``@proton_operation("Name")`` or ``@baryon_operation("Name")``; the
name is checked against the model at import time so a typo fails loudly at start-up. Every
modeled operation without a handler still gets routed (see app.py) and answers a clear error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from baryon.api.service_models import BARYON, PROTON, service_model

if TYPE_CHECKING:
    from baryon.operations.context import RequestContext

Handler = Callable[["RequestContext", dict[str, Any]], dict[str, Any] | None]

_HANDLERS: dict[str, dict[str, Handler]] = {PROTON: {}, BARYON: {}}


def _register(service: str, name: str) -> Callable[[Handler], Handler]:
    if name not in service_model(service).operation_names:
        raise LookupError(f"{name} is not an operation of the {service} model")

    def decorate(handler: Handler) -> Handler:
        if name in _HANDLERS[service]:
            raise LookupError(f"{service}.{name} already has a handler")
        _HANDLERS[service][name] = handler
        return handler

    return decorate


def proton_operation(name: str) -> Callable[[Handler], Handler]:
    return _register(PROTON, name)


def baryon_operation(name: str) -> Callable[[Handler], Handler]:
    return _register(BARYON, name)


def handler_for(service: str, name: str) -> Handler | None:
    return _HANDLERS[service].get(name)


def implemented(service: str) -> frozenset[str]:
    return frozenset(_HANDLERS[service])
