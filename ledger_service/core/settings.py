"""The service's settings: one class, read from `PROVENANCE_*` environment variables and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Configuration of every component. Defaults run everything locally with nothing installed."""

    model_config = SettingsConfigDict(env_prefix="PROVENANCE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".provenance"), description="Where state lives: database, chain, manifest, keys.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite under the data directory.")
    rpc_url: str | None = Field(None, description="Attach to this EVM JSON-RPC node instead of starting anvil.")
    anvil_port: int = Field(0, ge=0, le=65535, description="Port of the managed anvil; 0 picks a free one.")
    anvil_bin: Path | None = Field(None, description="anvil binary; default the one from npm under node_modules.")
    chain_id: int = Field(31337, gt=0, description="Chain id of the managed anvil.")
    signer_url: str | None = Field(
        None,
        description="A remote signer (Web3Signer-compatible `eth_signTransaction`) holding the accounts named "
        "in PROVENANCE_SIGNER_ACCOUNTS; unset: keys are held here.",
    )
    signer_accounts: dict[str, str] = Field(
        default_factory=dict, description='Role -> address signed for by the remote signer, e.g. {"anchorer": "0x..."}.'
    )
    keystore_password: SecretStr | None = Field(
        None, description="Password of the service's key stores; default: a password made in the data directory."
    )
    keystore_password_file: Path | None = Field(None, description="A file holding the key stores' password.")
    keystore_scrypt_n: int = Field(2**15, ge=2**10, le=2**20, description="scrypt work factor of new key stores.")
    operator_key: SecretStr | None = Field(
        None, description="Private key that deploys and anchors; default a key generated in the data directory."
    )
    api_host: str = Field("127.0.0.1", description="Address the HTTP API listens on.")
    api_port: int = Field(8000, ge=0, le=65535, description="Port the HTTP API listens on.")
    api_workers: int = Field(
        1, ge=1, le=64, description="API server processes sharing the port (the kernel spreads connections)."
    )
    api_threads: int = Field(
        40,
        ge=1,
        le=1000,
        description="Threads per API process that run request handlers (fewer contend less for the GIL; "
        "handlers that wait on the chain hold one each).",
    )
    batch_size: int = Field(1000, ge=1, le=100_000, description="A batch closes when it holds this many readings.")
    batch_age: float = Field(5.0, gt=0, description="A batch closes when its oldest reading is this many seconds old.")
    batch_poll: float = Field(0.25, gt=0, description="Seconds between the batcher's checks.")
    mqtt_host: str | None = Field(None, description="MQTT broker host; unset: no MQTT ingest.")
    mqtt_port: int = Field(1883, ge=1, le=65535, description="MQTT broker port.")
    mqtt_topic_prefix: str = Field("devices", description="Readings arrive on {prefix}/{device id}/readings.")
    mqtt_client_id: str | None = Field(None, description="Stable MQTT client id (the broker keeps its session).")
    mqtt_username: str | None = Field(None, description="MQTT user name.")
    mqtt_password: SecretStr | None = Field(None, description="MQTT password.")
    broker_url: str | None = Field(
        None, description="Celery broker (redis://, amqp://) for anchoring tasks; unset: tasks run in-process."
    )
    worker_concurrency: int = Field(2, ge=1, description="Processes of a `provenance worker`.")
    ipfs_api_url: str | None = Field(None, description="IPFS HTTP RPC API; unset: payloads stay in the data dir.")
    confirmations: int = Field(1, ge=1, description="Blocks (the anchor's included) before a batch is confirmed.")
    use_finalized: bool = Field(False, description="Confirm batches by the chain's `finalized` tag instead.")
    max_fee_gwei: float | None = Field(
        None,
        gt=0,
        description="Highest fee per gas (EIP-1559 max fee, or legacy gas price) ever offered; unset: no cap.",
    )
    priority_fee_gwei: float | None = Field(
        None, ge=0, description="Tip per gas on EIP-1559 chains; unset: what the node suggests."
    )
    tx_replace_after: float = Field(
        30.0, gt=0, description="Seconds a transaction may wait unmined before it is sent again with higher fees."
    )
    gas_budget_eth_per_hour: float | None = Field(
        None, gt=0, description="Most ether the operator's transactions may spend in fees per hour; unset: no budget."
    )
    min_balance_eth: float = Field(
        0.0, ge=0, description="Sending pauses while a sender's balance is below this much ether (0: never)."
    )
    max_batch_readings: int = Field(5000, ge=1, description="Most readings accepted in one batch request.")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes.")
    device_rate: float = Field(200.0, ge=0, description="Readings per second a device may send on average (0: off).")
    device_burst: float = Field(10_000.0, ge=1, description="Readings a device may send at once above its rate.")
    verify_processes: int = Field(
        2, ge=0, le=64, description="Processes that check the signatures of batch requests (0: in the request thread)."
    )
    max_clock_skew: float = Field(300.0, ge=0, description="How far (seconds) a reading's timestamp may be ahead.")
    max_reading_age: float = Field(
        86_400.0, gt=0, description="How old (seconds, by its timestamp) a reading may be when it arrives."
    )
    accept_late_readings: bool = Field(
        False,
        description="Accept a reading below its device's last sequence if no other reading holds that sequence.",
    )
    strict_time_order: bool = Field(
        False,
        description="Refuse a reading dated in the same second as the device's previous one (default: only earlier).",
    )
    final_depth: int = Field(
        64,
        ge=1,
        description="Blocks (the anchor's included) before a batch is final, where the chain has no `finalized` tag.",
    )
    registry_poll: float = Field(1.0, gt=0, description="Seconds between the device registry cache's syncs.")
    index: bool = Field(True, description="Run the chain indexer (SQL mirror) as part of `provenance up`.")
    index_confirmations: int = Field(
        0, ge=0, description="Blocks the indexer stays behind the head (0: follow the head, rolling back reorgs)."
    )
    index_finalized: bool = Field(False, description="Index only up to the chain's `finalized` block.")
    index_transactions: Literal["all", "project"] = Field(
        "all",
        description="Transactions the mirror keeps: all of every block, or project (those that emitted project "
        "events; for a shared public chain).",
    )
    index_max_span: int = Field(5000, ge=1, description="Most blocks the indexer reads in one chunk.")
    private_reads: bool = Field(False, description="Reads (API and explorer) need an API key of any role.")
    api_key_rate: float = Field(100.0, ge=0, description="Requests per second one API key may make (0: off).")
    api_client_rate: float = Field(
        200.0, ge=0, description="Requests per second one client address may make without a key (0: off)."
    )
    ready_max_lag: int = Field(10, ge=0, description="Blocks the SQL mirror may trail the head for /readyz to pass.")
    index_poll: float = Field(0.1, gt=0, description="Seconds between the indexer's looks at the chain head.")
    oracle: bool = Field(True, description="Run the oracle daemon as part of `provenance up`.")
    oracle_poll: float = Field(0.2, gt=0, description="Seconds between the oracle daemon's looks at new readings.")
    graphql_max_depth: int = Field(8, ge=2, le=50, description="Deepest GraphQL query accepted.")
    graphql_max_cost: int = Field(
        10_000,
        ge=10,
        description="Costliest GraphQL query accepted (a field costs 1 times the limits of lists above it).",
    )
    webhooks: bool = Field(True, description="Run the webhook deliverer as part of `provenance up`.")
    log_name: str = Field(
        "provenance-ledger",
        pattern=r"^[A-Za-z0-9.-]{1,64}$",
        description="The transparency log's key name in its checkpoints.",
    )
    webhook_key: SecretStr | None = Field(
        None, description="Key each subscription's signing secret is derived from; default: a key made in the data dir."
    )
    webhook_allow_private: bool = Field(
        False, description="Allow webhook URLs on loopback and private addresses (tests, a closed network)."
    )
    webhook_timeout: float = Field(10.0, gt=0, description="Seconds a webhook receiver has to answer.")
    webhook_in_flight: int = Field(
        1, ge=1, le=64, description="Deliveries one subscription may have in flight at once (1: strictly in order)."
    )
    webhook_poll: float = Field(0.2, gt=0, description="Seconds between the webhook deliverer's looks at the feed.")
    webhook_max_backoff: float = Field(300.0, gt=0, description="Longest wait before retrying a failing receiver.")
    oracle_scheme: Literal["bls", "ecdsa"] = Field(
        "bls", description="How the committee signs heartbeat and aggregate reports: one aggregate BLS or ECDSA each."
    )
    # Roles: each on-chain role is its own account (keys under {data_dir}/roles/ unless given here).
    admin_address: str | None = Field(
        None,
        description="Admin of every contract (a multisig in production); default: an admin account whose key is "
        "kept in the data directory (dev chains).",
    )
    deployer_key: SecretStr | None = Field(
        None, description="Key that deploys and wires the contracts, then renounces every role; default: generated."
    )
    anchorer_key: SecretStr | None = Field(None, description="Key that anchors batch roots; default: generated.")
    registrar_key: SecretStr | None = Field(None, description="Key that registers devices; default: generated.")
    reporter_key: SecretStr | None = Field(None, description="Key that submits oracle reports; default: generated.")
    oracle_members: str = Field(
        "", description="Comma-separated URLs of the committee members' signing endpoints (the daemon's coordinator)."
    )
    member_timeout: float = Field(30.0, gt=0, description="Seconds the coordinator waits for one member to sign.")
    # End of roles.
    build_dir: Path = Field(PROJECT_ROOT / "build", description="Where compiled contract artifacts are cached.")
    solc: Path | None = Field(None, description="Solidity compiler; default a native solc on PATH, else scripts/solc.")
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_json: bool = Field(False, description="Write logs as JSON lines instead of text.")
    # Tenants, floods and secrets (issue 13)
    ingest_client_rate: float = Field(
        500.0, ge=0, description="Ingest requests per second one client address may make without a key (0: off)."
    )
    max_bad_signatures: int = Field(
        64, ge=0, description="A batch request is refused once more than this many of its signatures fail."
    )
    client_bad_signature_rate: float = Field(
        20.0, ge=0, description="Bad signatures per second a client address may send on average (0: off)."
    )
    client_bad_signature_burst: float = Field(
        128.0, ge=1, description="Bad signatures a client address may send at once above its rate."
    )
    mqtt_tls: bool = Field(False, description="Connect to the MQTT broker over TLS (implied by a CA file).")
    mqtt_ca_file: Path | None = Field(None, description="CA certificate(s) that sign the MQTT broker's certificate.")
    mqtt_cert_file: Path | None = Field(None, description="Client certificate for MQTT over TLS (PEM).")
    mqtt_key_file: Path | None = Field(None, description="Private key of the MQTT client certificate (PEM).")
    edge_upstream_url: str | None = Field(None, description="`provenance edge`: the service the gateway forwards to.")
    edge_forward_batch: int = Field(
        500, ge=1, le=10_000, description="`provenance edge`: readings per upstream request."
    )
    edge_registry_poll: float = Field(
        5.0, gt=0, description="`provenance edge`: seconds between syncs of the gateway's registry copy."
    )
    edge_key_file: Path | None = Field(
        None, description="`provenance edge`: the gateway's own key file; with it, the gateway aggregates."
    )
    edge_aggregate_every: float = Field(
        10.0, gt=0, description="`provenance edge` aggregating: seconds between the roots it seals."
    )
    edge_alarm_webhook_url: str | None = Field(
        None, description="`provenance edge`: a local URL that receives each alarm of the sensor rules as JSON."
    )
    edge_aggregate_max: int = Field(
        10_000, ge=1, le=1_000_000, description="`provenance edge` aggregating: readings under one root at most."
    )

    def model_post_init(self, context: object, /) -> None:
        """Registers the secret settings, so that no error text, log line or stored error shows them."""
        from ledger_service.core.redact import remember_settings

        secrets = [value.get_secret_value() for value in vars(self).values() if isinstance(value, SecretStr)]
        remember_settings(
            [
                *secrets,  # the operator's and the roles' keys, the keystore and MQTT passwords
                self.rpc_url,
                self.signer_url,
                self.database_url,
                self.broker_url,
                self.ipfs_api_url,
            ]
        )

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @property
    def resolved_database_url(self) -> str:
        """The database URL in force: the configured one, or SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'provenance.db').resolve()}"

    @property
    def manifest_path(self) -> Path:
        """Where the deployment manifest is kept."""
        return self.data_dir / "deployment.json"

    @property
    def content_dir(self) -> Path:
        """Where the local content store keeps blobs."""
        return self.data_dir / "content"

    @property
    def chain_dir(self) -> Path:
        """Where the managed anvil keeps its state."""
        return self.data_dir / "chain"

    def ensure_dirs(self) -> None:
        """Creates the data directory tree."""
        self.chain_dir.mkdir(parents=True, exist_ok=True)
