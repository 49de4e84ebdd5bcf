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

On PostgreSQL, and on a SQLite connection outside a transaction (sqlite3 would otherwise begin
none), the statement goes through SQLAlchemy: psycopg prepares it on the server
(verifier/store.py, `make_engine`).
"""

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

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

    __slots__ = ("dialect", "sql", "names", "defaults", "binders", "converters", "make_row")

    def __init__(
        self, statement: sa.Select[Any] | sa.UpdateBase, dialect: Dialect, keys: Sequence[str]
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) or None)
        assert compiled.positiontup is not None  # a positional paramstyle: qmark
        self.dialect = dialect
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup)
        self.defaults = compiled.params
        self.binders = [
            (i, convert)
            for i, name in enumerate(self.names)
            if (convert := compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
        ]
        columns = list(getattr(statement, "exported_columns", ()))
        self.converters = [
            (i, convert)
            for i, column in enumerate(columns)
            if (convert := column.type.dialect_impl(dialect).result_processor(dialect, None))
        ]
        self.make_row = result_tuple([column.key for column in columns])

    def parameters(self, values: Values) -> list[Any]:
        merged = {**self.defaults, **values}
        ordered = [merged[name] for name in self.names]
        for i, convert in self.binders:
            ordered[i] = convert(ordered[i])
        return ordered

    def rows(self, fetched: Iterable[Sequence[Any]]) -> list[Row[Any]]:
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
        if conn.dialect.name != "sqlite" or not conn.in_transaction():
            return conn.execute(self.statement, values)
        compiled = self._compiled
        if compiled is None or compiled.dialect is not conn.dialect:
            compiled = self._compiled = _Compiled(self.statement, conn.dialect, self._keys)
        driver = conn.connection.driver_connection
        assert driver is not None  # a connection in a transaction has its driver's
        try:
            if isinstance(values, Mapping):
                cursor = driver.execute(compiled.sql, compiled.parameters(values))
                return _DriverResult(compiled.rows(cursor.fetchall()), cursor.rowcount)
            many = [compiled.parameters(one) for one in values]
            return _DriverResult([], driver.executemany(compiled.sql, many).rowcount)
        except sqlite3.Error as exc:
            raise _wrapped(compiled.sql, exc) from exc


def _wrapped(sql: str, exc: sqlite3.Error) -> BaseException:
    """The SQLAlchemy error SQLAlchemy would have raised (OperationalError, IntegrityError...),
    without the statement's values."""
    return sa.exc.DBAPIError.instance(sql, None, exc, sqlite3.Error, hide_parameters=True)
