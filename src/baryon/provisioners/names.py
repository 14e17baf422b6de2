"""CloudFormation names made from Proton names, which CloudFormation would reject.

Proton allows '_' and names up to 100 characters; a stack name must match
``[A-Za-z][-A-Za-z0-9]*`` and fit in 128. Sanitizing alone would map ``a_b`` and ``a-b`` to one
stack, so every name ends in a hash of the exact parts.
"""

from __future__ import annotations

import hashlib
import json
import re

from baryon.provisioners.base import ResourceIdentity, ResourceKind

STACK_NAME_MAX = 128
TOKEN_MAX = 128
HASH_CHARS = 12  # 48 bits: collisions stay improbable across millions of stacks
_STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]*")
_INVALID = re.compile(r"[^A-Za-z0-9]+")


def _digest(*parts: str) -> str:
    # JSON keeps ("a-b",) and ("a", "b") apart.
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _sanitize(text: str) -> str:
    return _INVALID.sub("-", text).strip("-")


def stack_name_for(*parts: str, prefix: str = "baryon") -> str:
    """``stack_name_for("dev_env", "svc")`` -> ``baryon-dev-env-svc-<hash>``; deterministic."""
    if not parts:
        raise ValueError("a stack name needs at least one part")
    if not _STACK_NAME.fullmatch(prefix) or prefix.endswith("-"):
        raise ValueError(f"stack name prefix {prefix!r} must match [A-Za-z][-A-Za-z0-9]*")
    suffix = _digest(*parts)[:HASH_CHARS]
    room = STACK_NAME_MAX - len(prefix) - len(suffix) - 2
    if room < 1:
        raise ValueError(f"stack name prefix {prefix!r} is too long")
    readable = "-".join(p for p in (_sanitize(part) for part in parts) if p)
    readable = readable[:room].rstrip("-")
    return "-".join(p for p in (prefix, readable, suffix) if p)


# The word each kind's stacks are named with; stacks already exist under these names.
_STACK_KINDS = {
    ResourceKind.ENVIRONMENT: "environment",
    ResourceKind.SERVICE_INSTANCE: "service-instance",
    ResourceKind.SERVICE_PIPELINE: "service-pipeline",
    ResourceKind.COMPONENT: "component",
}


def resource_stack_name(resource: ResourceIdentity) -> str:
    """The stack of a resource: the one it adopted, else derived from its names only, so any
    worker finds it again."""
    if resource.stack_name is not None:
        return resource.stack_name
    return stack_name_for(_STACK_KINDS[resource.kind], *resource.names)


def request_token(base: str, action: str) -> str:
    """A ClientRequestToken (``[a-zA-Z0-9][-a-zA-Z0-9]*``, <= 128) per deployment and action."""
    token = _sanitize(f"{base}-{action}")
    if len(token) <= TOKEN_MAX and token == f"{base}-{action}":
        return token
    # Sanitizing or cutting could make two deployments' tokens equal; the hash keeps them apart.
    suffix = _digest(base, action)[:HASH_CHARS]
    return f"{token[: TOKEN_MAX - HASH_CHARS - 1].rstrip('-')}-{suffix}".lstrip("-")
