"""The built-in roles every install has: what a user, a robot or a team may be granted.

What each role may do is written as a Cedar policy (auth/policies/builtin/<role>.cedar), stored
editable in the database; docs/roles-and-policies.md explains them.
"""

from __future__ import annotations

from enum import StrEnum


class BuiltinRole(StrEnum):
    ADMIN = "admin"  # everything
    PLATFORM = "platform"  # templates, versions, environments, sync configs, connections, fleet
    DEVELOPER = "developer"  # services, service instances, pipelines, components, and reads
    VIEWER = "viewer"  # reads only: Get*, List*, and the like
