"""One DATABASE_URL, two drivers' spellings: libpq for psycopg, SQLAlchemy's for Alembic."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def libpq_url(url: str) -> str:
    """``postgresql+psycopg://…`` or ``postgres://…`` → ``postgresql://…`` for psycopg."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def sqlalchemy_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))
