"""The service's parts wired together once per process, from settings and a chain connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from ledger_service.core.chain.client import ChainClient
from ledger_service.core.chain.deploy import Deployment
from ledger_service.core.chain.ledger import Ledger
from ledger_service.core.chain.outbox import Outbox
from ledger_service.core.compiler import Artifact
from ledger_service.core.db import create_schema, make_engine
from ledger_service.core.ratelimit import RateLimiter
from ledger_service.core.settings import Settings
from ledger_service.core.supply_chain import SupplyChainContract
from ledger_service.services.batcher import Batcher
from ledger_service.services.content import ContentStore, IpfsContentStore, LocalContentStore
from ledger_service.services.ingest import Ingestor
from ledger_service.services.parties import Parties
from ledger_service.services.proofs import HeadTracker, ProofService
from ledger_service.services.reading_query import ReadingQueries
from ledger_service.services.registry import RegistryCache
from ledger_service.services.transparency_log import TransparencyLog


@dataclass
class Services:
    """Everything a request handler or a worker needs."""

    settings: Settings
    engine: Engine
    ledger: Ledger
    registry: RegistryCache
    ingestor: Ingestor
    proofs: ProofService
    parties: Parties
    artifacts: dict[str, Artifact]
    transparency_log: TransparencyLog
    queries: ReadingQueries = field(init=False)

    def __post_init__(self) -> None:
        self.queries = ReadingQueries(self.engine)

    @classmethod
    def build(
        cls, settings: Settings, client: ChainClient, deployment: Deployment, artifacts: dict[str, Artifact]
    ) -> Services:
        """Opens the database and binds the contracts of `deployment`."""
        settings.ensure_dirs()
        engine = make_engine(settings.resolved_database_url)
        create_schema(engine)
        client.use_outbox(Outbox(engine))  # every transaction of every role, before it is sent
        ledger = Ledger(client, deployment, artifacts)
        registry = RegistryCache(ledger.registry, deployment.contracts["DeviceRegistry"].block_number)
        registry.sync()
        ingestor = Ingestor(
            engine,
            ledger.domain,
            registry,
            max_clock_skew=settings.max_clock_skew,
            max_reading_age=settings.max_reading_age,
            strict_time_order=settings.strict_time_order,
            accept_late=settings.accept_late_readings,
            limiter=RateLimiter(settings.device_rate, settings.device_burst),
            verify_processes=settings.verify_processes,
        )
        head = HeadTracker(lambda: int(client.w3.eth.block_number))
        origin = f"{settings.log_name}/{deployment.chain_id}/{deployment.address_of('DataNotary').lower()}"
        log = TransparencyLog(engine, settings, origin)
        proofs = ProofService(engine, deployment, ledger.domain, registry=registry, head=head, log=log)
        parties = Parties(settings, client.rpc_url, client)
        return cls(
            settings=settings, engine=engine, ledger=ledger, registry=registry, ingestor=ingestor, proofs=proofs,
            parties=parties, artifacts=artifacts, transparency_log=log,
        )  # fmt: skip

    def content_store(self) -> ContentStore:
        """The content store the settings name: IPFS when an API URL is set, else the data directory."""
        if self.settings.ipfs_api_url:
            return IpfsContentStore(self.settings.ipfs_api_url)
        return LocalContentStore(self.settings.content_dir)

    def batcher(self, dispatch: Callable[[int], None] | None = None) -> Batcher:
        """A batcher over this service's database, chain and content store."""
        deployment = self.ledger.deployment
        return Batcher(
            self.engine,
            self.ledger,
            batch_size=self.settings.batch_size,
            batch_age=self.settings.batch_age,
            content=self.content_store(),
            payload_header={
                "chain_id": deployment.chain_id,
                "notary": deployment.address_of("DataNotary"),
                "registry": deployment.address_of("DeviceRegistry"),
            },
            confirmations=self.settings.confirmations,
            use_finalized=self.settings.use_finalized,
            final_depth=self.settings.final_depth,
            dispatch=dispatch,
        )

    def supply_chain(self, party: str | None = None) -> SupplyChainContract:
        """SupplyChain called as `party` (None: the operator)."""
        return SupplyChainContract(self.parties.client(party), self.ledger.deployment, self.artifacts)

    def close(self) -> None:
        """Stops the verification threads, detaches the outbox from the chain client (which may
        outlive these services) and releases database connections."""
        self.ingestor.close()
        client = self.ledger.client
        if client.sender.outbox is not None and client.sender.outbox.engine is self.engine:
            client.use_outbox(None)
        self.engine.dispose()
