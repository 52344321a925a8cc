"""The tables, as SQLAlchemy's typed ORM declares them: Alembic compares its
migrations with `Base.metadata` (`alembic check`, `alembic revision --autogenerate`).

`Note` is the example resource's table: replace it with your own.
"""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NOTE_TEXT_MAX_LENGTH = 1000
# Ids are PostgreSQL's bigint: a larger one names no note (and must not reach a query).
NOTE_ID_MAX = 2**63 - 1


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"
    __table_args__ = (
        CheckConstraint(
            f"char_length(text) BETWEEN 1 AND {NOTE_TEXT_MAX_LENGTH}",
            name="notes_text_length",
        ),
        # Newest first, a page at a time, without sorting the whole table.
        Index("notes_newest_first", "created_at", "id"),
    )
    # The server's defaults come back with the INSERT (RETURNING): no second query.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
