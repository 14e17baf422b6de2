"""The built-in role policies as shipped (builtin/<role>.cedar): what an unedited built-in
policy says, and what ``baryon policy reset`` puts back."""

from __future__ import annotations

import functools
from importlib import resources

from baryon.auth.policies.engine import NamedPolicy
from baryon.auth.roles import BuiltinRole


@functools.cache
def builtin_policies() -> tuple[NamedPolicy, ...]:
    folder = resources.files(__package__).joinpath("builtin")
    return tuple(
        NamedPolicy(str(role), folder.joinpath(f"{role}.cedar").read_text(encoding="utf-8"))
        for role in BuiltinRole
    )


def builtin_text(name: str) -> str | None:
    for policy in builtin_policies():
        if policy.name == name:
            return policy.text
    return None
