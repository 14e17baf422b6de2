"""Repositories: the registered ones with their connections, registering one, and a
repository's page (what syncs from it, and its sync attempts with their events).

Everything goes through the API's own operations (ListRepositories, ListConnections,
CreateRepository, GetRepository, ListRepositorySyncDefinitions), so the portal refuses what
the API refuses, with the error beside the field it is about.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from starlette.responses import Response

from baryon.operations import connections, repositories, repository_views, template_sync
from baryon.operations.errors import Conflict, DomainError, NotFound
from baryon.service_models import baryon, proton
from baryon.web import members, urls
from baryon.web.http import NotFound as PageNotFound
from baryon.web.http import Visit

# Lists are read a page at a time, as a client of the API would; a portal page shows at most
# this many of each (a deployment with more has the API and the CLI).
PAGE_SIZE = 100
MAX_ROWS = 1000

# The register form's fields, by the CreateRepository member each one fills.
_MEMBERS = {"name": "name", "provider": "provider", "connection": "connectionArn"}
_FIELD_OF = {member: form_field for form_field, member in _MEMBERS.items()}
PROVIDERS = [provider.value for provider in proton.RepositoryProvider]


@dataclass(frozen=True)
class ConnectionRow:
    connection: baryon.Connection
    hosted: bool  # Baryon's own git server


@dataclass(frozen=True)
class RepositoryRow:
    repository: proton.RepositorySummary
    connection: ConnectionRow | None  # None: its connection is not registered (any more)
    clone_url: str | None  # on Baryon's own server: where to push to


@dataclass
class RegisterForm:
    name: str = ""
    provider: str = proton.RepositoryProvider.GITHUB.value
    connection: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # errors that belong to no field


# --- reading ----------------------------------------------------------------------------------

T = TypeVar("T")
# One page of a List operation: given the page token (None first), its items and the next token.
Pager = Callable[[str | None], tuple[list[T], str | None]]


def all_pages(read: Pager[T]) -> list[T]:
    """Every item of a List operation, following nextToken, up to MAX_ROWS items."""
    items: list[T] = []
    token: str | None = None
    while len(items) < MAX_ROWS:
        page, token = read(token)
        items += page
        if not token:
            break
    return items[:MAX_ROWS]


def connection_rows(visit: Visit) -> list[ConnectionRow]:
    ctx = visit.context("ListConnections")

    def read(token: str | None) -> tuple[list[baryon.Connection], str | None]:
        request: baryon.ListConnectionsInput = {"maxResults": PAGE_SIZE}
        if token:
            request["nextToken"] = token
        answer = connections.list_connections(ctx, request)
        return answer["connections"], answer.get("nextToken")

    return [
        ConnectionRow(c, c["provider"] == baryon.ConnectionProvider.BARYON) for c in all_pages(read)
    ]


def origin(visit: Visit) -> str:
    """Where users reach this Baryon: the configured public URL, else the page's own origin."""
    configured = visit.runtime.settings.public_url.rstrip("/")
    if configured:
        return configured
    url = visit.request.url
    return f"{url.scheme}://{url.netloc}"


def clone_url(visit: Visit, name: str) -> str:
    """The address of a repository on Baryon's own git server (app.py mounts it at /git)."""
    return f"{origin(visit)}/git/{name}.git"


def repository_rows(visit: Visit, by_arn: Mapping[str, ConnectionRow]) -> list[RepositoryRow]:
    ctx = visit.context("ListRepositories")

    def read(token: str | None) -> tuple[list[proton.RepositorySummary], str | None]:
        request: proton.ListRepositoriesInput = {"maxResults": PAGE_SIZE}
        if token:
            request["nextToken"] = token
        answer = repositories.list_repositories(ctx, request)
        return answer["repositories"], answer.get("nextToken")

    rows = []
    for summary in all_pages(read):
        connection = by_arn.get(summary["connectionArn"])
        hosted = connection is not None and connection.hosted
        rows.append(
            RepositoryRow(
                summary, connection, clone_url(visit, summary["name"]) if hosted else None
            )
        )
    return rows


# --- the list and the register form -------------------------------------------------------------


def index(visit: Visit) -> Response:
    connection_list = connection_rows(visit)
    form = RegisterForm()
    if visit.request.method == "POST":
        form = RegisterForm(
            name=visit.form.get("name", "").strip(),
            provider=visit.form.get("provider", ""),
            connection=visit.form.get("connection", ""),
        )
        created = _register(visit, form)
        if created is not None:
            return visit.redirect(
                urls.repository(created["provider"], created["name"]),
                f"Repository {created['name']} is registered.",
            )
    elif len(connection_list) == 1:
        form.connection = connection_list[0].connection["arn"]
    by_arn = {row.connection["arn"]: row for row in connection_list}
    return visit.page(
        "repositories.html",
        status=400 if visit.request.method == "POST" else 200,
        rows=repository_rows(visit, by_arn),
        connections=connection_list,
        provider_options=[(p, p) for p in PROVIDERS],
        connection_options=[
            (c.connection["arn"], f"{c.connection['name']} ({c.connection['provider']})")
            for c in connection_list
        ],
        form=form,
    )


def _register(visit: Visit, form: RegisterForm) -> proton.Repository | None:
    values = {"name": form.name, "provider": form.provider, "connection": form.connection}
    for form_field, member in _MEMBERS.items():
        problem = members.problem("CreateRepository", member, values[form_field])
        if problem:
            form.errors[form_field] = problem
    if form.errors:
        return None
    request: proton.CreateRepositoryInput = {
        "name": form.name,
        "provider": proton.RepositoryProvider(form.provider),
        "connectionArn": form.connection,
    }
    try:
        answer = repositories.create_repository(visit.context("CreateRepository"), request)
    except NotFound as error:  # the connection went away since the page was shown
        form.errors["connection"] = error.message
        return None
    except Conflict as error:
        form.errors["name"] = error.message
        return None
    except DomainError as error:
        place = error.field[0] if error.field else None
        target = _FIELD_OF.get(place) if isinstance(place, str) else None
        if target is None:
            form.problems.append(error.message)
        else:
            form.errors[target] = error.reason
        return None
    return answer["repository"]


# --- one repository ------------------------------------------------------------------------------


def provider_of(visit: Visit) -> proton.RepositoryProvider:
    text = visit.param("provider").upper()
    if text not in PROVIDERS:
        raise PageNotFound(f"'{visit.param('provider')}' is not a repository provider.")
    return proton.RepositoryProvider(text)


def repository_page(visit: Visit) -> Response:
    provider = provider_of(visit)
    name = visit.param("name")
    if members.problem("GetRepository", "name", name):
        raise PageNotFound(f"'{name}' is not a repository name such as owner/name.")
    repository = repositories.get_repository(
        visit.context("GetRepository"), {"provider": provider, "name": name}
    )["repository"]
    connection: baryon.Connection | None
    try:
        connection = connections.get_connection(
            visit.context("GetConnection"), {"arn": repository["connectionArn"]}
        )["connection"]
    except NotFound:
        connection = None
    hosted = connection is not None and connection["provider"] == baryon.ConnectionProvider.BARYON
    return visit.page(
        "repository.html",
        repository=repository,
        connection=connection,
        clone_url=clone_url(visit, name) if hosted else None,
        definitions=sync_definitions(visit, provider, name),
        attempts=repository_views.repository_attempts(
            visit.context("repository_attempts"), provider, name
        ),
    )


def sync_definitions(
    visit: Visit, provider: proton.RepositoryProvider, name: str
) -> list[tuple[proton.SyncType, proton.RepositorySyncDefinition]]:
    """What syncs from the repository (ListRepositorySyncDefinitions, both sync types)."""
    found: list[tuple[proton.SyncType, proton.RepositorySyncDefinition]] = []
    ctx = visit.context("ListRepositorySyncDefinitions")
    for sync_type in proton.SyncType:

        def read(
            token: str | None, sync_type: proton.SyncType = sync_type
        ) -> tuple[list[proton.RepositorySyncDefinition], str | None]:
            request: proton.ListRepositorySyncDefinitionsInput = {
                "repositoryProvider": provider,
                "repositoryName": name,
                "syncType": sync_type,
            }
            if token:
                request["nextToken"] = token
            answer = template_sync.list_repository_sync_definitions(ctx, request)
            return answer["syncDefinitions"], answer.get("nextToken")

        found += [(sync_type, definition) for definition in all_pages(read)]
    return found
