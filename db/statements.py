"""Statements for the hot path that SQLAlchemy would otherwise compile again on every call.

SQLAlchemy 2.0 never serves its dialects' `insert(...).on_conflict_do_nothing()` from the statement cache
(`inherit_cache = False`): each such insert is compiled anew, ~0.2–0.5 ms on this machine, on every stored
update and every queued message. `INSERT … ON CONFLICT DO NOTHING RETURNING …` is spelled the same on SQLite
(3.35 and later) and PostgreSQL, so one textual statement with typed binds serves both, and a textual statement
is compiled once per engine and cached like any other.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import Table, TextClause, bindparam, text

from db.models import Base


@cache
def insert_new(model: type[Base], columns: tuple[str, ...], returning: str) -> TextClause:
    """`INSERT INTO table (columns) VALUES (:column, …) ON CONFLICT DO NOTHING RETURNING returning`: executed
    with one dict of values, its first row is None when a unique key already held such a row (nothing was
    written), else the new row's `returning` column. Binds carry their columns' types (JSON, UTC datetimes)."""
    table = model.__table__
    assert isinstance(table, Table)
    unknown = [name for name in (*columns, returning) if name not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
    names = ", ".join(columns)
    values = ", ".join(f":{name}" for name in columns)
    statement = text(
        f"INSERT INTO {table.name} ({names}) VALUES ({values}) ON CONFLICT DO NOTHING RETURNING {returning}"
    )
    return statement.bindparams(*(bindparam(name, type_=table.c[name].type) for name in columns))
