"""Statements of a validation's path, each written once as SQLAlchemy Core and, on SQLite, run
straight through the driver (sqlite3) with its SQL compiled once.

On SQLite every validation's statements run one after the other in the group commit's one
writer thread (verifier/group_commit.py), so their cost bounds how many validations a second
the store takes: SQLAlchemy's `Connection.execute` costs about 50 us a statement (execution
context, parameters, result set-up) where sqlite3 itself takes 5 to 10 us, and a wrong code
runs five statements (docs/performance.md, "HTTP validate throughput"). The SQL, its parameter
order and its type conversions (a Double bound as a float, a Boolean read back as a bool) come
from SQLAlchemy's own compilation for the connection's dialect, once, and rows come back as
SQLAlchemy rows, so callers see the same results on either path. Errors are SQLAlchemy's too
(`sa.exc.DBAPIError.instance`), so verifier/store.py's `_failures` still turns an unusable
database into one StoreError line.

On PostgreSQL they run straight through psycopg too, for the same reason on every node: a
validation's two statements through SQLAlchemy cost a node more CPU than psycopg's own work
for them (docs/performance.md, "Scale-out"), and nodes share their machine's cores in
bench/scale_out.py. psycopg prepares each on the server (verifier/store.py, `make_engine`). A
psycopg error goes through SQLAlchemy's own handling of the connection's errors, so a
disconnect still discards the pool's connections (verifier/store.py, `make_engine`) and the
error is SQLAlchemy's, as above.

On a SQLite connection outside a transaction (sqlite3 would otherwise begin none), the
statement goes through SQLAlchemy.
"""

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Row
from sqlalchemy.engine.result import result_tuple

Values = Mapping[str, Any]
# The statements it runs: SELECTs, and INSERTs and UPDATEs (with or without RETURNING).
S = TypeVar("S", bound=sa.Select[Any] | sa.UpdateBase, covariant=True)


class Result(Protocol):
    """What callers read of a statement's result (SQLAlchemy's CursorResult has it too)."""

    @property
    def rowcount(self) -> int: ...

    def first(self) -> Row[Any] | None: ...

    def scalar(self) -> Any: ...


class _DriverResult:
    """The rows (already converted) and the row count of one statement run by the driver."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Row[Any]], rowcount: int) -> None:
        self._rows, self.rowcount = rows, rowcount

    def first(self) -> Row[Any] | None:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None


class _Compiled:
    """A statement compiled for one SQLite dialect: its SQL, the names of its positional
    parameters (sqlite3's paramstyle is qmark), the values the statement carries itself (the
    0 of `fail_count=0`), the bind conversions, and how to make a row of what it returns."""

    __slots__ = (
        "dialect",
        "sql",
        "positional",
        "names",
        "defaults",
        "binders",
        "columns",
        "converters",
        "make_row",
    )

    def __init__(
        self, statement: sa.Select[Any] | sa.UpdateBase, dialect: Dialect, keys: Sequence[str]
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) or None)
        self.dialect = dialect
        self.sql = compiled.string
        # sqlite3's paramstyle is qmark (positional); psycopg's here pyformat (named).
        self.positional = compiled.positiontup is not None
        self.names = tuple(compiled.positiontup or dict.fromkeys(compiled.bind_names.values()))
        self.defaults = compiled.params
        self.binders = [
            (i, convert)
            for i, name in enumerate(self.names)
            if (convert := compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
        ]
        self.columns = list(getattr(statement, "exported_columns", ()))
        self.converters: list[tuple[int, Callable[[Any], Any]]] | None = None
        self.make_row = result_tuple([column.key for column in self.columns])

    def parameters(self, values: Values) -> list[Any] | dict[str, Any]:
        merged = {**self.defaults, **values}
        ordered = [merged[name] for name in self.names]
        for i, convert in self.binders:
            ordered[i] = convert(ordered[i])
        return ordered if self.positional else dict(zip(self.names, ordered, strict=True))

    def rows(
        self, fetched: Iterable[Sequence[Any]], type_codes: Sequence[Any] | None = None
    ) -> list[Row[Any]]:
        """SQLAlchemy rows of what the driver fetched. A PostgreSQL conversion depends on the
        column's type as the server sent it (`type_codes`, from the cursor's description, the
        same for every run of the statement); SQLite's on the declared type only."""
        if self.converters is None:
            dialect = self.dialect
            self.converters = [
                (i, convert)
                for i, column in enumerate(self.columns)
                if (
                    convert := column.type.dialect_impl(dialect).result_processor(
                        dialect, type_codes[i] if type_codes else None
                    )
                )
            ]
        if not self.converters:
            return [self.make_row(row) for row in fetched]
        made = []
        for row in fetched:
            converted = list(row)
            for i, convert in self.converters:
                converted[i] = convert(converted[i])
            made.append(self.make_row(converted))
        return made


class Prepared(Generic[S]):
    """One statement, `statement`, run by `execute`; `keys` names the columns an INSERT sets
    (the others take their defaults), as the keys of its values do through SQLAlchemy."""

    __slots__ = ("statement", "_keys", "_compiled")

    def __init__(self, statement: S, keys: Sequence[str] = ()) -> None:
        self.statement = statement
        self._keys = tuple(keys)
        self._compiled: _Compiled | None = None

    def execute(self, conn: Connection, values: Values | Sequence[Values]) -> Result:
        """Run the statement in `conn`'s transaction with `values` (a sequence of them: once
        per item, as an executemany)."""
        postgres = conn.dialect.name == "postgresql"
        if not postgres and (conn.dialect.name != "sqlite" or not conn.in_transaction()):
            return conn.execute(self.statement, values)
        compiled = self._compiled
        if compiled is None or compiled.dialect is not conn.dialect:
            compiled = self._compiled = _Compiled(self.statement, conn.dialect, self._keys)
        driver = conn.connection.driver_connection
        assert driver is not None  # a connection in use has its driver's
        if postgres:
            return _run_psycopg(conn, driver, compiled, values)
        try:
            if isinstance(values, Mapping):
                cursor = driver.execute(compiled.sql, compiled.parameters(values))
                return _DriverResult(compiled.rows(cursor.fetchall()), cursor.rowcount)
            many = [compiled.parameters(one) for one in values]
            return _DriverResult([], driver.executemany(compiled.sql, many).rowcount)
        except sqlite3.Error as exc:
            raise _wrapped(compiled.sql, exc) from exc


def _run_psycopg(
    conn: Connection, driver: Any, compiled: _Compiled, values: Values | Sequence[Values]
) -> Result:
    """The statement through psycopg; an error as SQLAlchemy would have raised it, after its
    handling (a disconnect invalidates the connection and the pool's others)."""
    cursor = driver.cursor()
    try:
        if isinstance(values, Mapping):
            cursor.execute(compiled.sql, compiled.parameters(values))
            description = cursor.description
            types = [column.type_code for column in description] if description else None
            rows = compiled.rows(cursor.fetchall(), types) if description else []
            return _DriverResult(rows, cursor.rowcount)
        cursor.executemany(compiled.sql, [compiled.parameters(one) for one in values])
        return _DriverResult([], cursor.rowcount)
    except psycopg.Error as exc:
        # SQLAlchemy's handling of a DB-API error on this connection: what a statement run
        # through it gets (statement values hidden, as the engine would not hide them here).
        conn._handle_dbapi_exception(exc, compiled.sql, None, cursor, None)  # noqa: SLF001
        raise  # not reached: it raises SQLAlchemy's error
    finally:
        cursor.close()


def _wrapped(sql: str, exc: sqlite3.Error) -> BaseException:
    """The SQLAlchemy error SQLAlchemy would have raised (OperationalError, IntegrityError...),
    without the statement's values."""
    return sa.exc.DBAPIError.instance(sql, None, exc, sqlite3.Error, hide_parameters=True)
