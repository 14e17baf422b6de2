"""Where the portal's pages live. Every link is built here, with each name escaped."""

from __future__ import annotations

from urllib.parse import quote, urlencode

PREFIX = "/portal"


def _join(*parts: str | int) -> str:
    return PREFIX + "".join("/" + quote(str(part), safe="") for part in parts)


def home() -> str:
    return PREFIX + "/"


def static(name: str) -> str:
    return f"{PREFIX}/static/{name}"


def live(page: str) -> str:
    """The live fragment of a list page: overview, environments, services or fleet."""
    return _join("live", page)


def sign_in(next_url: str | None = None) -> str:
    return _join("sign-in") + (f"?{urlencode({'next': next_url})}" if next_url else "")


def region() -> str:
    """Where the region selector posts (web/regions.py)."""
    return _join("region")


def sign_out() -> str:
    return _join("sign-out")


def catalog() -> str:
    return _join("templates")


def template(kind: str, name: str) -> str:
    return _join("templates", kind.lower(), name)


def template_version(kind: str, name: str, major: int, minor: int) -> str:
    return _join("templates", kind.lower(), name, f"{major}.{minor}")


def _filtered(path: str, filters: dict[str, str]) -> str:
    query = {k: v for k, v in filters.items() if v}
    return path + (f"?{urlencode(query)}" if query else "")


def environments(**filters: str) -> str:
    return _filtered(_join("environments"), filters)


def instances(**filters: str) -> str:
    """Every service instance (status, template, version, environment and name filters)."""
    return _filtered(_join("instances"), filters)


def resources(**filters: str) -> str:
    """Environments, instances and pipelines in one list: the failed ones, a fleet number."""
    return _filtered(_join("resources"), filters)


def new_environment(template_name: str = "", version: str = "") -> str:
    query = {k: v for k, v in (("template", template_name), ("version", version)) if v}
    return _join("new", "environment") + (f"?{urlencode(query)}" if query else "")


def environment(name: str, *action: str) -> str:
    return _join("environments", name, *action)


def services(**filters: str) -> str:
    return _filtered(_join("services"), filters)


def new_service(template_name: str = "", version: str = "") -> str:
    query = {k: v for k, v in (("template", template_name), ("version", version)) if v}
    return _join("new", "service") + (f"?{urlencode(query)}" if query else "")


def service(name: str, *action: str) -> str:
    return _join("services", name, *action)


def instance(service_name: str, name: str, *action: str) -> str:
    return _join("services", service_name, "instances", name, *action)


def pipeline(service_name: str, *action: str) -> str:
    return _join("services", service_name, "pipeline", *action)


def deployments(**filters: str) -> str:
    query = {k: v for k, v in filters.items() if v}
    return _join("deployments") + (f"?{urlencode(query)}" if query else "")


def deployment(deployment_id: str, *action: str) -> str:
    return _join("deployments", deployment_id, *action)


def fleet() -> str:
    return _join("fleet")


def fleet_upgrade(kind: str, name: str, scope: str, resources: str | None = None) -> str:
    """``resources`` (environment, instance, pipeline) keeps the upgrade to one fleet row."""
    query = f"?{urlencode({'resources': resources})}" if resources else ""
    return _join("fleet", kind.lower(), name, "upgrade", scope) + query


def repositories() -> str:
    return _join("repositories")


def repository(provider: str, name: str) -> str:
    # "owner/name" keeps its slashes: each part is escaped on its own.
    return _join("repositories", provider.lower(), *name.split("/"))


def resolve_blocker(service_name: str, blocker_id: str) -> str:
    return _join("services", service_name, "sync-blockers", blocker_id, "resolve")
