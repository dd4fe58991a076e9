"""The api_keys table: a hash, a name, scopes — never the key itself."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, Float, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlmodel import Field, SQLModel


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    key_hash: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    hint: str = Field(sa_column=Column(Text, nullable=False))
    name: str = Field(sa_column=Column(Text, nullable=False))
    scopes: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    rate_limit_per_second: float | None = Field(
        default=None, sa_column=Column(Float, nullable=True)
    )
    origin: str = Field(sa_column=Column(Text, nullable=False, server_default="api"))
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
