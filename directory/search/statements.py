"""Running the search's own statements with as little overhead as the database's own work allows.

A small search at a million centers spends about a millisecond in SQLite; SQLAlchemy's work
around each execution (the statement's cache key, parameter and result processing) cost as
much again over the four statements of a search, and on PostgreSQL about 1.5 ms of an 8 ms
search. The search's statements are built once per shape and cached, so on SQLite (sqlite3)
and PostgreSQL (psycopg) each is compiled once here and then sent straight to the driver.

On PostgreSQL they are compiled with PostgreSQL's own `$1` placeholders and sent through
psycopg's `RawCursor`, which passes the SQL on as it is: psycopg parses the `%(name)s` form
on every execution of a statement longer than 4,096 characters (about 0.25 ms for the longest
of them: confirmed-first with several filters).
"""

from __future__ import annotations

import copy
import functools
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import RawCursor
from sqlalchemy import ColumnElement, Dialect, Select, bindparam, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

#: Called with (sql, parameters) before each statement goes straight to the driver: what
#: SQLAlchemy's `before_cursor_execute` event is for the statements it runs (the benchmarks and
#: tests record both). The parameters are a list, in the order of the SQL's `?` (sqlite3) or
#: `$1` (psycopg: run them again through a `psycopg.RawCursor`).
LISTENERS: list[Callable[[str, Any], None]] = []

#: The drivers statements are sent to straight (SQLAlchemy's names for them).
DRIVERS = frozenset({"pysqlite", "psycopg"})


@dataclass(frozen=True)
class CompiledStatement:
    """A statement compiled once for one database: its SQL, its parameters in order, and what
    each parameter needs before the driver takes it (e.g. datetimes as SQLAlchemy stores them)."""

    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]
    #: Per column, what turns the driver's value into the column's type (None: nothing to do).
    results: tuple[Callable[[Any], Any] | None, ...]
    #: Whether the SQL has PostgreSQL's `$1` placeholders, for psycopg's `RawCursor` (sqlite3: `?`).
    raw: bool = False

    @functools.cached_property
    def _arguments(self) -> tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]:
        """(name, default, processor) of each parameter, in order: what `arguments` walks."""
        missing = object()
        return tuple((name, self.defaults.get(name, missing), self.processors.get(name)) for name in self.names)

    @functools.cached_property
    def _conversions(self) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
        return tuple((i, f) for i, f in enumerate(self.results) if f is not None)

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        """The driver's arguments for these parameter values (defaults where absent), in order."""
        args = []
        for name, default, processor in self._arguments:
            value = params.get(name, default)
            args.append(value if processor is None else processor(value))
        return args

    def convert(self, rows: list[Any]) -> list[Sequence[Any]]:
        """The driver's rows with each column turned into its type (as SQLAlchemy would)."""
        if not self._conversions:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for i, f in self._conversions:
                values[i] = f(values[i])
            converted.append(values)
        return converted


@functools.lru_cache(maxsize=1024)
def compiled_statement(stmt: Select, dialect: Dialect) -> CompiledStatement | None:
    """`stmt` compiled for `dialect`, or None if it has a parameter expanded per call (a list)."""
    raw = dialect.driver == "psycopg"
    compiled = stmt.compile(dialect=_numbered(dialect) if raw else dialect)
    if any(bind.expanding for bind in compiled.binds.values()):
        return None
    processors = {}
    for name, bind in compiled.binds.items():
        if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None:
            processors[name] = processor
    sql = str(compiled)
    names = tuple(compiled.positiontup or ())
    for bind in compiled.literal_execute_params:  # constants SQLAlchemy writes into the SQL (a separator)
        name = compiled.bind_names[bind]
        sql = sql.replace(f"__[POSTCOMPILE_{name}]", bind.type.literal_processor(dialect)(bind.value))
        names = tuple(n for n in names if n != name)
    if raw:  # psycopg returns PostgreSQL's values as Python's types already
        results: tuple[Callable[[Any], Any] | None, ...] = ()
    else:
        results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in stmt.selected_columns)
    return CompiledStatement(sql, names, dict(compiled.params), processors, results, raw)


@functools.lru_cache(maxsize=16)
def _numbered(dialect: Dialect) -> Dialect:
    """`dialect` (as its engine set it up) writing PostgreSQL's numbered `$1` placeholders, in
    order of first use (a parameter used twice keeps its number), for psycopg's `RawCursor`."""
    numbered = copy.copy(dialect)
    numbered.paramstyle, numbered.positional = "numeric_dollar", True
    numbered.identifier_preparer = numbered.preparer(numbered)  # it escapes "%" for pyformat only
    return numbered


def driver_connection(session: Session) -> Any:
    """The driver's own connection under the session's transaction (sqlite3 or psycopg), or None
    for any other driver. Pending changes are flushed first, as `session.execute` would."""
    if session.get_bind().dialect.driver not in DRIVERS:
        return None
    if session.autoflush:
        session.flush()
    return session.connection().connection.driver_connection


def sqlite_connection(session: Session) -> Any:
    """The sqlite3 connection under the session's transaction, or None on any other database:
    what `run_sqlite` sends statements to (look it up once for several statements)."""
    return driver_connection(session) if session.get_bind().dialect.name == "sqlite" else None


def run_select(session: Session, stmt: Select, params: dict[str, Any]) -> list[Sequence[Any]]:
    """The rows of one of the search's cached statements: straight to the driver on SQLite and
    PostgreSQL (psycopg), through the session elsewhere or for a statement with a list parameter."""
    dialect = session.get_bind().dialect
    compiled = compiled_statement(stmt, dialect) if dialect.driver in DRIVERS else None
    if compiled is None:
        return list(session.execute(stmt, params).all())
    return run_compiled(driver_connection(session), compiled, params)


def run_selects(
    session: Session, *statements: tuple[Select, dict[str, Any]], generic_plans: bool = False
) -> list[list[Sequence[Any]]]:
    """The rows of each of these (statement, parameters), as `run_select` returns them; on
    PostgreSQL in one round trip (psycopg's pipeline mode: every statement is sent, then one
    Sync, and all results read back), unless one of them cannot go straight to the driver.
    Each statement still runs on its own (at READ COMMITTED, each sees its own snapshot).

    With `generic_plans` (PostgreSQL), even a single statement goes through the pipeline, each
    prepared on the server at its first execution on a connection and run with its generic plan,
    planned once for any values (`plan_cache_mode` set for these statements only: see
    `GENERIC_PLANS_ON`); for statements whose best plan does not depend on their values."""
    dialect = session.get_bind().dialect
    compiled = [compiled_statement(stmt, dialect) if dialect.driver == "psycopg" else None for stmt, _ in statements]
    if None in compiled or (len(statements) < 2 and not generic_plans):
        return [run_select(session, stmt, params) for stmt, params in statements]
    connection = driver_connection(session)
    with ExitStack() as cursors, as_sqlalchemy_errors(compiled[0].sql):
        sent = []
        with connection.pipeline():  # sends everything queued, and reads every result, on leaving
            if generic_plans:
                cursors.enter_context(RawCursor(connection)).execute(GENERIC_PLANS_ON)
            for statement, (_, params) in zip(compiled, statements, strict=True):
                args = statement.arguments(params)
                for listener in LISTENERS:
                    listener(statement.sql, args)
                cursor = cursors.enter_context(RawCursor(connection))
                cursor.execute(statement.sql, args, prepare=generic_plans or None)
                sent.append((statement, cursor))
            if generic_plans:
                cursors.enter_context(RawCursor(connection)).execute(GENERIC_PLANS_OFF)
        return [statement.convert(cursor.fetchall()) for statement, cursor in sent]


#: What `run_selects(..., generic_plans=True)` sends before its statements and after them, in the
#: same round trip. PostgreSQL plans a prepared statement afresh for each execution's values (a
#: "custom" plan) until it judges its generic plan no worse; for the radius search that took
#: about a third of a small search (planning its six index scans), for the same plan every time.
#: SET LOCAL lasts until the transaction ends at most, so an error between the two leaves
#: nothing behind; DEFAULT is the value of the server's configuration (`auto` unless set there).
GENERIC_PLANS_ON = "SET LOCAL plan_cache_mode = force_generic_plan"
GENERIC_PLANS_OFF = "SET LOCAL plan_cache_mode TO DEFAULT"


def run_sqlite(connection: Any, stmt: Select, params: dict[str, Any]) -> list[Sequence[Any]]:
    """SQLite: the rows of `stmt` (no list parameters) sent straight to the sqlite3 `connection`
    (`sqlite_connection`): the engine's hot path, with no per-statement lookups of the session."""
    compiled = compiled_statement(stmt, _sqlite_dialect())
    if compiled is None:
        raise ValueError("a statement with a list parameter cannot be compiled once; use run_select")
    return run_compiled(connection, compiled, params)


def run_compiled(connection: Any, compiled: CompiledStatement, params: dict[str, Any]) -> list[Sequence[Any]]:
    """The rows of a compiled statement, from the driver's own connection."""
    args = compiled.arguments(params)
    for listener in LISTENERS:
        listener(compiled.sql, args)
    with as_sqlalchemy_errors(compiled.sql, args):
        if compiled.raw:
            with RawCursor(connection) as cursor:
                cursor.execute(compiled.sql, args)
                return compiled.convert(cursor.fetchall())
        return compiled.convert(connection.execute(compiled.sql, args).fetchall())


@contextmanager
def as_sqlalchemy_errors(sql: str, args: Any = None) -> Iterator[None]:
    """The driver's errors raised as SQLAlchemy raises them for the statements it runs (e.g. a
    connection dropped mid-statement as `sqlalchemy.exc.OperationalError`), so what handles
    those (the tasks' retries, the error pages) handles these statements' errors alike."""
    try:
        yield
    except (sqlite3.Error, psycopg.Error) as error:
        raise DBAPIError.instance(sql, args, error, Exception) from error


def fetch_all(connection: Any, sql: str) -> list[Any]:
    """The rows of plain SQL (no parameters) run through a DBAPI connection (sqlite3 or psycopg),
    in its transaction if it has one; the driver's errors raised as SQLAlchemy's."""
    with as_sqlalchemy_errors(sql):
        cursor = connection.cursor()
        try:
            cursor.execute(sql)
            return cursor.fetchall()
        finally:
            cursor.close()


@functools.cache
def _sqlite_dialect() -> Dialect:
    from sqlalchemy.dialects.sqlite.pysqlite import dialect

    return dialect(paramstyle="qmark")


def in_ids(column: ColumnElement[int]) -> ColumnElement[bool]:
    """SQLite: `column` is one of the ids in the JSON array parameter `ids` (see `id_list`): one
    bound value for any number of ids, so the statement compiles once."""
    return column.in_(json_each(bindparam("ids")))


def json_each(array: ColumnElement[Any]) -> Select:
    """SQLite: the values of a JSON array (one bound string for any number of values)."""
    return select(func.json_each(array).table_valued("value").c.value)


def id_list(ids: Iterable[int]) -> str:
    """The `ids` parameter of `in_ids`."""
    return "[" + ",".join(map(str, ids)) + "]"
