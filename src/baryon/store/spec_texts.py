"""Each spec text is stored once, in ``spec_texts`` under its SHA-256; rows hold the key.

A service, its instances and pipeline, and every deployment of them carry the same spec, often
a large one. The mapped classes keep their ``spec`` (and a deployment its ``target_state`` and
``initial_state``) as Python attributes that read and write through a key column, so callers
see text as before: a row reads its text with one primary-key get (a listing, which never reads
``spec``, reads none), and the session stores a new text before the rows that name it and
removes a text once the last row naming it has let go of it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from sqlalchemy import Select, delete, event, exists, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, object_session

if TYPE_CHECKING:
    from sqlalchemy.orm import UOWTransaction

_Row = TypeVar("_Row")

# Texts a row was given or has read, by key (kept on the instance: rows outlive sessions).
_KNOWN = "_baryon_spec_texts"
# Keys given this session and not yet written to spec_texts.
_PENDING = "_baryon_spec_texts_pending"
# (mapped class, key attribute) of every row that names a text: who may still refer to one.
_REFERRERS: list[tuple[type, str]] = []


def key_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _remember(row: object, text: str | None) -> str | None:
    if text is None:
        return None
    key = key_of(text)
    row.__dict__.setdefault(_KNOWN, {})[key] = text
    row.__dict__.setdefault(_PENDING, set()).add(key)
    return key


def _text(row: object, key: str | None) -> str | None:
    if key is None:
        return None
    known: dict[str, str] = row.__dict__.setdefault(_KNOWN, {})
    if key not in known:
        text = _READ_TEXTS.get(key)
        if text is None:
            from baryon.store.tables import SpecText

            session = object_session(row)
            if session is None:
                raise RuntimeError(f"{type(row).__name__}'s spec was not read inside its session")
            stored = session.get(SpecText, key)
            if stored is None:
                raise LookupError(f"spec text {key} is missing")
            text = stored.text
            _READ_TEXTS.put(key, text)
        known[key] = text
    return known[key]


class _TextCache:
    """Texts read from spec_texts, by key, shared by every session of the process. A key is
    its text's SHA-256, so a text kept here is never stale, whatever commits meanwhile; the
    rows that name a key keep its text stored. Bounded by characters, least recently used
    out first. A fleet's deployments name a handful of texts: the worker read one per
    deployment and the server one per update, each a primary-key get (bench.fleet_upgrade
    profile: 3.5% of the worker's CPU)."""

    def __init__(self, max_chars: int) -> None:
        self._max_chars = max_chars
        self._chars = 0
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            text = self._texts.get(key)
            if text is not None:
                self._texts.move_to_end(key)
            return text

    def put(self, key: str, text: str) -> None:
        if len(text) > self._max_chars:
            return
        with self._lock:
            if key in self._texts:
                return
            self._texts[key] = text
            self._chars += len(text)
            while self._chars > self._max_chars:
                _, dropped = self._texts.popitem(last=False)
                self._chars -= len(dropped)


# 4 Mi characters: a few hundred specs of the usual size, 80 of Proton's largest (51,200).
_READ_TEXTS = _TextCache(4 * 1024 * 1024)


def read_texts(*rows: object) -> None:
    """Reads the texts the rows name now, inside their session, for rows handed on past it
    (a page renders them after the transaction has ended)."""
    for row in rows:
        for owner, key_attribute in _REFERRERS:
            if isinstance(row, owner):
                _text(row, getattr(row, key_attribute))


def first_with_text(
    session: Session,
    stmt: Select[tuple[_Row]],
    key_column: Any,
    params: Mapping[str, Any] | None = None,
) -> _Row | None:
    """The first row of ``stmt`` with its text read in the same statement (an outer join on
    ``key_column``): a Get answers in one round trip instead of two (measured: GetServiceInstance
    on PostgreSQL lost 12% of its throughput to the second one). Not for locking reads: the
    nullable side of an outer join cannot be locked."""
    from baryon.store.tables import SpecText

    joined = stmt.add_columns(SpecText.text).outerjoin(SpecText, SpecText.key == key_column)
    found = session.execute(joined, params).first()
    if found is None:
        return None
    row, text = found
    key = getattr(row, key_column.key)
    if key is not None and text is not None:
        row.__dict__.setdefault(_KNOWN, {})[key] = text
    return row


class StoredText:
    """A text attribute whose value lives in spec_texts; the row's ``key_attribute`` names it."""

    def __init__(self, key_attribute: str) -> None:
        self.key_attribute = key_attribute

    def __set_name__(self, owner: type, name: str) -> None:
        _REFERRERS.append((owner, self.key_attribute))

    @overload
    def __get__(self, row: None, owner: type) -> StoredText: ...
    @overload
    def __get__(self, row: object, owner: type) -> Any: ...
    def __get__(self, row: object | None, owner: type) -> Any:
        if row is None:
            return self
        return _text(row, getattr(row, self.key_attribute))

    def __set__(self, row: object, text: str | None) -> None:
        if text is not None and getattr(row, self.key_attribute) == (key := key_of(text)):
            # The row names this text already, so it is stored and held: nothing to write
            # (a deployment's outcome sets the spec it deployed, most often the one it had).
            row.__dict__.setdefault(_KNOWN, {})[key] = text
            return
        setattr(row, self.key_attribute, _remember(row, text))


class StateWithStoredSpec:
    """A deployment state (``{"serviceInstance": {..., "spec": text}}``) whose one entry's spec
    lives in spec_texts: the JSON keeps ``"spec": null`` in its place and ``key_attribute``
    names the text, so the state reads back exactly as it was written, keys in order."""

    def __init__(self, document_attribute: str, key_attribute: str) -> None:
        self.document_attribute = document_attribute
        self.key_attribute = key_attribute

    def __set_name__(self, owner: type, name: str) -> None:
        _REFERRERS.append((owner, self.key_attribute))

    @overload
    def __get__(self, row: None, owner: type) -> StateWithStoredSpec: ...
    @overload
    def __get__(self, row: object, owner: type) -> Any: ...
    def __get__(self, row: object | None, owner: type) -> Any:
        if row is None:
            return self
        document = getattr(row, self.document_attribute)
        key = getattr(row, self.key_attribute)
        if key is None:
            return document
        ((name, entry),) = document.items()
        return {name: {**entry, "spec": _text(row, key)}}

    def __set__(self, row: object, state: Mapping[str, Any] | None) -> None:
        entries = list(state.values()) if isinstance(state, Mapping) else []
        spec = (
            entries[0].get("spec") if len(entries) == 1 and isinstance(entries[0], dict) else None
        )
        if state is None or not isinstance(spec, str):
            setattr(row, self.document_attribute, state)
            setattr(row, self.key_attribute, None)
            return
        ((name, entry),) = state.items()
        setattr(row, self.document_attribute, {name: {**entry, "spec": None}})
        setattr(row, self.key_attribute, _remember(row, spec))


def _store_new_texts(session: Session, rows: Iterable[object]) -> None:
    from baryon.store.tables import SpecText

    texts: dict[str, str] = {}
    for row in rows:
        pending: set[str] = row.__dict__.pop(_PENDING, set())
        texts.update({key: row.__dict__[_KNOWN][key] for key in pending})
    if not texts:
        return
    connection = session.connection()
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    # Like a foreign key: each text is held with a KEY SHARE lock until commit, which writers
    # of the same text share but a removal (below) waits for; a text removed between the insert
    # and the lock is not returned by the lock, and is inserted again.
    missing = dict(sorted(texts.items()))
    while missing:
        connection.execute(
            dialect.insert(SpecText)
            .values([{"key": key, "text": text} for key, text in missing.items()])
            .on_conflict_do_nothing(index_elements=["key"])
        )
        held = set(
            connection.scalars(
                select(SpecText.key)
                .where(SpecText.key.in_(list(missing)))
                .with_for_update(read=True, key_share=True)
            )
        )
        missing = {key: text for key, text in missing.items() if key not in held}


def _released_keys(session: Session) -> set[str]:
    released: set[str] = set()
    for row in [*session.deleted, *session.dirty]:
        state = inspect(row)
        for owner, key_attribute in _REFERRERS:
            if isinstance(row, owner):
                history = state.attrs[key_attribute].history
                old = [*history.deleted, *(history.unchanged if row in session.deleted else ())]
                released.update(key for key in old if key)
    return released


def _referring_columns() -> list[Any]:
    """The key columns of every mapped table (a mixin's descriptor names its tables' own)."""
    from baryon.store.tables import Base

    return [
        getattr(mapper.class_, key_attribute)
        for mapper in Base.registry.mappers
        for owner, key_attribute in _REFERRERS
        if issubclass(mapper.class_, owner)
    ]


def _remove_unreferenced(session: Session, keys: set[str]) -> None:
    from baryon.store.tables import SpecText

    connection = session.connection()
    # Lock the texts first (waiting for the writers that hold them); the DELETE, a later
    # statement, then sees every row committed meanwhile that names one of them (PostgreSQL;
    # SQLite has one writer at a time).
    connection.execute(select(SpecText.key).where(SpecText.key.in_(sorted(keys))).with_for_update())
    still_named = [exists().where(column == SpecText.key) for column in _referring_columns()]
    connection.execute(
        delete(SpecText).where(SpecText.key.in_(sorted(keys)), *[~named for named in still_named])
    )


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    _store_new_texts(session, [*session.new, *session.dirty])


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    released = _released_keys(session)
    if released:
        _remove_unreferenced(session, released)
