"""Request members of features Baryon has not built yet, refused in one place.

Proton's model accepts them, and storing them would look like success while Baryon ignores
them (a template "encrypted" with a key Baryon never uses). Until a feature exists, its
members answer an InvalidInput naming the member and the feature; an empty string (Proton's
"remove it") is accepted, as it asks for nothing. Operations register through
``proton_operation`` here, which applies the table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

from baryon.domain.errors import InvalidInput
from baryon.operations import registry
from baryon.operations.context import RequestContext
from baryon.service_models import PROTON, service_model

ENCRYPTION_KEYS = "customer-managed encryption keys"

# provisioningRepository and pipelineProvisioningRepository (self-managed provisioning) are
# built: they must name a registered repository (domain/repositories.require_registered);
# environmentAccountConnectionId too (domain/environment_account_connections.py).
# operation -> member -> the feature it belongs to.
UNBUILT_MEMBERS: dict[str, dict[str, str]] = {
    "CreateEnvironmentTemplate": {"encryptionKey": ENCRYPTION_KEYS},
    "CreateServiceTemplate": {"encryptionKey": ENCRYPTION_KEYS},
}


def _check_table() -> None:
    """A member the model does not have is a typo that would refuse nothing: fail at import."""
    model = service_model(PROTON)
    for operation, members in UNBUILT_MEMBERS.items():
        known = model.operation_model(operation).input_shape.members
        unknown = sorted(set(members) - set(known))
        if unknown:
            raise LookupError(f"{operation} has no input member(s) {', '.join(unknown)}")


_check_table()


def refuse_unbuilt(operation: str, request: Mapping[str, Any]) -> None:
    refused = [
        (member, feature)
        for member, feature in UNBUILT_MEMBERS.get(operation, {}).items()
        if request.get(member) not in (None, "")
    ]
    if refused:
        message = "; ".join(
            f"{member}: {feature} is not yet available in Baryon; leave {member} out"
            for member, feature in refused
        )
        # The message names every refused member; the field, for a form, the first of them.
        raise InvalidInput(message + ".", field=(refused[0][0],))


# A handler's request is its operation's generated input TypedDict, its result the output's.
Request = TypeVar("Request", bound=Mapping[str, Any])
P = ParamSpec("P")
R = TypeVar("R", bound=Mapping[str, Any] | None)


def proton_operation(
    name: str,
) -> Callable[
    [Callable[Concatenate[RequestContext, Request, P], R]],
    Callable[Concatenate[RequestContext, Request, P], R],
]:
    """``operations.registry.proton_operation``, with the operation's unbuilt members refused
    before the handler runs. Options a handler takes besides its request (keyword-only, for
    in-process callers) pass through."""
    register = registry.proton_operation(name)

    def decorate(
        handler: Callable[Concatenate[RequestContext, Request, P], R],
    ) -> Callable[Concatenate[RequestContext, Request, P], R]:
        if name not in UNBUILT_MEMBERS:
            # The module keeps what the registry holds (authorized and audited), so that
            # in-process callers (the portal) go through the same checks as the API.
            return register(handler)

        @functools.wraps(handler)
        def checked(
            ctx: RequestContext, request: Request, /, *args: P.args, **kwargs: P.kwargs
        ) -> R:
            refuse_unbuilt(name, request)
            return handler(ctx, request, *args, **kwargs)

        # The module keeps the checked function, so that in-process callers (the portal, the
        # CLI) meet the same refusals as the API.
        return register(checked)

    return decorate
