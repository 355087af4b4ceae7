"""Alembic environment: the service's and the indexer's SQLModel tables, on the connection or URL given."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import ledger_service.core.mirror_models  # noqa: F401 - registers the mirror's tables
import ledger_service.core.models  # noqa: F401 - registers the service's tables

config = context.config
target_metadata = SQLModel.metadata


def run_migrations() -> None:
    """Runs on `config.attributes["connection"]` when the service passes one, else on the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as own:
        context.configure(connection=own, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
