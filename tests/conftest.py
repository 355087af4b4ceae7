"""Fixtures: one real anvil per test session, compiled artifacts, deployed contracts, databases. Shared by
every directory (unit, contracts, service, e2e); each test gets its directory's marker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger_service.core.chain.client import ChainClient, connect
from ledger_service.core.chain.context import ChainContext
from ledger_service.core.chain.deploy import deploy
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.chain.node import ManagedAnvil
from ledger_service.core.compiler import Artifact, compile_contracts
from ledger_service.core.settings import Settings
from ledger_service.services.container import Services
from tests.utils.db_templates import MigratedTemplates
from tests.utils.postgres import postgres_database
from tests.utils.settings import make_settings

TESTS = Path(__file__).resolve().parent
#: The test directories; each is also the marker of its tests (registered in pyproject.toml, used by `make test-fast`).
DIRECTORIES = ("unit", "contracts", "service", "e2e")

pytest_plugins = ["tests.utils.event_flow"]  # the `flow` fixture of the event, GraphQL and EPCIS tests


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks each test with its directory: tests/unit/... gets `unit`, tests/contracts/... `contracts`, and so on."""
    for item in items:
        try:
            directory = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:  # not under tests/
            continue
        if directory in DIRECTORIES:
            item.add_marker(directory)


@pytest.fixture(scope="session")
def artifacts() -> dict[str, Artifact]:
    """The project's contracts, compiled once (or taken from build/)."""
    return compile_contracts(Settings(_env_file=None).build_dir)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def anvil() -> Iterator[ManagedAnvil]:
    """A fresh anvil for the test session, stopped at the end."""
    with ManagedAnvil(state_dir=None) as node:
        yield node


@pytest.fixture(scope="session")
def chain_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The settings the session's deployment was made with (its data dir holds manifest and operator key)."""
    return make_settings(tmp_path_factory.mktemp("chain"))


@pytest.fixture(scope="session")
def chain(anvil: ManagedAnvil, artifacts: dict[str, Artifact], chain_settings: Settings) -> ChainContext:
    """The contracts deployed once on the session's anvil."""
    settings = chain_settings
    client = connect(settings, anvil.url)
    deployment, deployed = deploy(client, artifacts, settings.manifest_path)
    return ChainContext(client, deployment, artifacts, deployed)


@pytest.fixture(scope="session")
def client(chain: ChainContext) -> ChainClient:
    """The operator's chain client."""
    return chain.client


@pytest.fixture(scope="session")
def admin(chain: ChainContext) -> ChainClient:
    """The admin's chain client (on the test chain the admin's key is in the session's data dir)."""
    return chain.client.for_role("admin")


@pytest.fixture(scope="session")
def ledger(chain: ChainContext) -> Ledger:
    """The deployed contracts."""
    return Ledger(chain.client, chain.deployment, chain.artifacts)


@pytest.fixture(scope="session")
def fallback_ledger(artifacts: dict[str, Artifact], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """The contracts on a second anvil running Prague: no P256VERIFY precompile, so P-256
    signatures go through OpenZeppelin's Solidity fallback (the default, Osaka, has the precompile)."""
    with ManagedAnvil(state_dir=None, extra_args=["--hardfork", "prague"]) as node:
        settings = make_settings(tmp_path_factory.mktemp("fallback"))
        client = connect(settings, node.url)
        deployment, _ = deploy(client, artifacts, settings.manifest_path)
        yield Ledger(client, deployment, artifacts)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite in a temporary folder, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'provenance.db'}"
    else:
        yield from postgres_database()


@pytest.fixture(scope="session")
def migrated_templates() -> Iterator[MigratedTemplates]:
    """Databases at the newest revision to copy (`tests.utils.db_templates`), removed at the end."""
    templates = MigratedTemplates()
    try:
        yield templates
    finally:
        templates.close()


@pytest.fixture
def services(
    database_url: str, chain: ChainContext, tmp_path: Path, migrated_templates: MigratedTemplates
) -> Iterator[Services]:
    """The service's parts over a fresh database (a copy of the migrated template) and the session's chain."""
    migrated_templates.fill(database_url)
    settings = make_settings(tmp_path / "data", database_url=database_url, batch_size=4, batch_age=60.0)
    built = Services.build(settings, chain.client, chain.deployment, chain.artifacts)
    try:
        yield built
    finally:
        built.close()
