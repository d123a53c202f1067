"""Running the search's own statements with as little overhead as SQLite's work allows.

A small search at a million centers spends about a millisecond in SQLite; SQLAlchemy's work
around each execution (the statement's cache key, parameter and result processing) cost as
much again over the four statements of a search. The engine's statements are built once per
shape and cached, so on SQLite each is compiled once here and then sent straight to the driver.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.orm import Session

#: Called with (sql, parameters) before each statement goes straight to SQLite: what SQLAlchemy's
#: `before_cursor_execute` event is for the statements it runs (the benchmark records both).
LISTENERS: list[Callable[[str, list[Any]], None]] = []


@dataclass(frozen=True)
class SQLiteStatement:
    """A statement compiled once for SQLite: its SQL, its parameters in order, and what each
    parameter needs before the driver takes it (e.g. datetimes as SQLAlchemy stores them)."""

    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]
    #: Per column, what turns the driver's value into the column's type (None: nothing to do).
    results: tuple[Callable[[Any], Any] | None, ...]


@functools.lru_cache(maxsize=1024)
def sqlite_statement(stmt: Select) -> SQLiteStatement | None:
    """`stmt` compiled for SQLite, or None if it has a parameter expanded per call (a list)."""
    dialect = sqlite_dialect()
    compiled = stmt.compile(dialect=dialect)
    if any(bind.expanding for bind in compiled.binds.values()):
        return None
    processors = {}
    for name, bind in compiled.binds.items():
        if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None:
            processors[name] = processor
    sql, names = str(compiled), tuple(compiled.positiontup or ())
    for bind in compiled.literal_execute_params:  # constants SQLAlchemy writes into the SQL (a separator)
        name = compiled.bind_names[bind]
        sql = sql.replace(f"__[POSTCOMPILE_{name}]", bind.type.literal_processor(dialect)(bind.value))
        names = tuple(n for n in names if n != name)
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in stmt.selected_columns)
    return SQLiteStatement(sql, names, dict(compiled.params), processors, results)


def run_select(session: Session, stmt: Select, params: dict[str, Any]) -> list[Sequence[Any]]:
    """The rows of one of the engine's cached statements. On SQLite it goes straight to the
    driver with the SQL compiled once: SQLAlchemy's per-execution work (the statement's cache
    key, result processing) cost more than SQLite's own for a small search."""
    compiled = sqlite_statement(stmt) if session.get_bind().dialect.name == "sqlite" else None
    if compiled is None:
        return session.execute(stmt, params).all()
    args = []
    for name in compiled.names:
        value = params[name] if name in params else compiled.defaults[name]
        processor = compiled.processors.get(name)
        args.append(processor(value) if processor is not None else value)
    for listener in LISTENERS:
        listener(compiled.sql, args)
    rows = session.connection().connection.driver_connection.execute(compiled.sql, args).fetchall()
    if not any(compiled.results):
        return rows
    convert = [(i, f) for i, f in enumerate(compiled.results) if f is not None]
    converted = []
    for row in rows:
        values = list(row)
        for i, f in convert:
            values[i] = f(values[i])
        converted.append(values)
    return converted


def in_ids(column: ColumnElement[int]) -> ColumnElement[bool]:
    """SQLite: `column` is one of the ids in the JSON array parameter `ids` (see `id_list`): one
    bound value for any number of ids, so the statement compiles once."""
    return column.in_(select(func.json_each(bindparam("ids")).table_valued("value").c.value))


def id_list(ids: Iterable[int]) -> str:
    """The `ids` parameter of `in_ids`."""
    return "[" + ",".join(map(str, ids)) + "]"
