"""Template registry rules that rest on the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from baryon.domain import idempotency, templates
from baryon.domain.errors import Conflict, InvalidInput
from baryon.domain.template_versions import NewVersion, create_version
from baryon.domain.templates import TemplateFields, TemplateKind
from baryon.service_models.proton import TemplateVersionStatus
from baryon.store.database import Database
from baryon.store.paging import fetch_page
from baryon.store.tables import Template, TemplateVersion

NOW = datetime(2026, 11, 27, tzinfo=UTC)
FIELDS = TemplateFields(None, None, None, None)
ENV = TemplateKind.ENVIRONMENT


def _template(db: Database, name: str) -> int:
    with db.session(write=True) as session:
        row, _ = templates.create_template(session, ENV, name, FIELDS, now=NOW, max_templates=1000)
        return row.id


def test_same_name_may_exist_once_per_kind(database: Database) -> None:
    _template(database, "shared")
    with database.session(write=True) as session:
        templates.create_template(
            session, TemplateKind.SERVICE, "shared", FIELDS, now=NOW, max_templates=10
        )
    with database.session(write=True) as session, pytest.raises(Conflict):
        templates.create_template(
            session,
            ENV,
            "shared",
            TemplateFields("x", None, None, None),
            now=NOW,
            max_templates=10,
        )


def test_concurrent_version_creates_get_distinct_numbers(database: Database) -> None:
    _template(database, "numbered")
    errors: list[Exception] = []

    def create() -> None:
        try:
            with database.session(write=True) as session:
                create_version(
                    session,
                    ENV,
                    "numbered",
                    NewVersion(None, None, {"s3": {"bucket": "b", "key": "k"}}, None, None),
                    now=NOW,
                    max_versions=100,
                )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.session() as session:
        majors = sorted(v.major for v in session.query(TemplateVersion))
    assert majors == [1, 2, 3, 4, 5, 6]


def test_recommended_version_is_the_highest_published(database: Database) -> None:
    template_id = _template(database, "rec")
    with database.session(write=True) as session:
        for major, minor, status in [
            (1, 0, TemplateVersionStatus.PUBLISHED),
            (1, 1, TemplateVersionStatus.PUBLISHED),
            (1, 2, TemplateVersionStatus.DRAFT),
            (2, 0, TemplateVersionStatus.DRAFT),
            (3, 0, TemplateVersionStatus.PUBLISHED),
            (3, 1, TemplateVersionStatus.DRAFT),
        ]:
            session.add(
                TemplateVersion(
                    template_id=template_id,
                    major=major,
                    minor=minor,
                    status=status,
                    source={},
                    created_at=NOW,
                    last_modified_at=NOW,
                )
            )
    with database.session() as session:
        assert templates.recommended_versions(session, [template_id]) == {template_id: "3.0"}
        assert templates.recommended_minors(session, template_id) == {1: 1, 3: 0}


def test_keyset_pages_cover_everything_once(database: Database) -> None:
    for index in range(23):
        _template(database, f"t{index:03d}")
    seen: list[str] = []
    after = None
    while True:
        with database.session() as session:
            rows, after = fetch_page(
                session, Template.__table__.select(), [Template.name], after=after, limit=5
            )
        seen += [row.name for row in rows]
        if after is None:
            break
    assert seen == sorted(f"t{index:03d}" for index in range(23))


def test_client_tokens(database: Database) -> None:
    request = {"templateName": "a", "clientToken": "tok-1", "source": {"s3": {"bucket": "b"}}}
    with database.session(write=True) as session:
        assert idempotency.recall(session, "Op", request, NOW) is None
        idempotency.remember(session, "Op", request, "42", NOW)
    with database.session(write=True) as session:
        assert idempotency.recall(session, "Op", dict(request), NOW) == "42"
        changed = {**request, "description": "other"}
        with pytest.raises(InvalidInput, match="IdempotentParameterMismatch"):
            idempotency.recall(session, "Op", changed, NOW)
