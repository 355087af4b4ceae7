"""Databases already at the newest schema revision, for tests that build the service over a fresh
database: one template per backend is migrated once a session (from empty, through every
migration), and each test's database starts as a copy of it instead of running every migration
again. Tests of the migrations themselves keep empty databases (`database_url`)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ledger_service.core.db import make_engine, upgrade_schema
from tests.utils.postgres import POSTGRES_ADMIN_URL


class MigratedTemplates:
    """The session's migrated templates, made on first use and removed by `close`."""

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="provenance-template-"))
        self._sqlite: Path | None = None
        self._postgres: str | None = None

    def fill(self, database_url: str) -> None:
        """Makes the fresh, empty database at `database_url` a copy of the migrated template."""
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite":
            assert url.database and not Path(url.database).exists(), "a fresh SQLite file is filled"
            shutil.copyfile(self._sqlite_template(), url.database)
            return
        template = self._postgres_template()
        name = url.database
        _admin(f'DROP DATABASE "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def _sqlite_template(self) -> Path:
        if self._sqlite is None:
            path = self._folder / "template.db"
            _migrate(f"sqlite:///{path}")
            self._sqlite = path
        return self._sqlite

    def _postgres_template(self) -> str:
        if self._postgres is None:
            name = f"provenance_template_{uuid.uuid4().hex[:12]}"
            _admin(f'CREATE DATABASE "{name}"')
            _migrate(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
            self._postgres = name
        return self._postgres

    def close(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)
        if self._postgres is not None:
            _admin(f'DROP DATABASE IF EXISTS "{self._postgres}" WITH (FORCE)')


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade_schema(engine)
    finally:
        engine.dispose()  # a template must have no open connections


def _admin(*statements: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        admin.dispose()
