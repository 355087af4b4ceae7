"""`provenance oracle committee ...`: committee member keys (one folder each), their registration on
chain and the committee's state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ledger_service.app.cli.common import console, fail, load_settings
from ledger_service.app.cli.items import _services
from ledger_service.core.errors import ProvenanceError
from ledger_service.core.settings import Settings
from ledger_service.services.container import Services
from oracles.committee import register_member
from oracles.contract import CommitteeMember, SensorOracleContract
from oracles.member_keys import MEMBER_FILE, MemberFile, member_dir

committee_app = typer.Typer(help="The oracle committee: member keys (one folder each) and registration.")
MemberDir = Annotated[Path | None, typer.Option("--dir", help="The member's folder (default: members/NAME/).")]


def member_folder(settings: Settings, member: str | None, key_dir: Path | None) -> Path:
    """The member's folder: the one given, else `members/NAME/` in the data directory."""
    if key_dir is not None:
        return key_dir
    assert member is not None
    try:
        return member_dir(settings.data_dir, member)
    except ProvenanceError as exc:
        fail(exc)


@committee_app.command("init")
def committee_init(
    member: Annotated[
        str | None, typer.Option(help="Create only this member's key (its own folder); register it with `add`.")
    ] = None,
    key_dir: MemberDir = None,
    members: Annotated[int, typer.Option(min=1, max=255, help="How many members to create (m1, m2, ...).")] = 4,
    quorum: Annotated[int, typer.Option(min=1, max=255, help="Signatures a report needs.")] = 3,
) -> None:
    """Create committee member keys, each in its own folder. With --member NAME, one member's key,
    pinned to this deployment's chain and oracle (give the member its folder; it serves with
    `provenance oracle --member NAME`). Without, a dev committee of --members keys registered on
    chain by the admin with --quorum."""
    if member is None and key_dir is None and quorum > members:
        fail(ValueError("the quorum cannot exceed the number of members"))
    settings = load_settings()
    with _services() as services:
        oracle = SensorOracleContract(services.ledger.client, services.ledger.deployment, services.artifacts)
        if member is not None or key_dir is not None:
            folder = member_folder(settings, member, key_dir)
            created = _create_member(services, oracle, folder)
            console.print(f"{'created' if created else 'kept'} the member key in {folder / MEMBER_FILE}")
            print(json.dumps(MemberFile.load(folder).public()))
            return
        folders = [member_dir(settings.data_dir, f"m{i}") for i in range(1, members + 1)]
        made = sum(_create_member(services, oracle, folder) for folder in folders)
        console.print(f"created {made} member keys, each in its own folder under {settings.data_dir / 'members'}")
        try:
            admin = oracle.as_account(services.ledger.client.for_role("admin"))
            for folder in folders:
                register_member(admin, MemberFile.load(folder))
            if admin.quorum() != min(quorum, members):
                admin.set_quorum(min(quorum, members))
        except ProvenanceError as exc:
            fail(exc)
        console.print(
            f"committee on chain: {len(oracle.members())} member(s), quorum {oracle.quorum()}, "
            f"version {oracle.config_version()}"
        )


def _create_member(services: Services, oracle: SensorOracleContract, folder: Path) -> bool:
    """Makes a member's key in `folder` unless one is there; True when made."""
    if (folder / MEMBER_FILE).exists():
        return False
    deployment = services.ledger.deployment
    MemberFile(CommitteeMember.generate(), deployment.chain_id, deployment.genesis_hash, oracle.address).save(folder)
    return True


@committee_app.command("add")
def committee_add(
    member: Annotated[str | None, typer.Argument(help="The member's name (its folder under members/).")] = None,
    key_dir: MemberDir = None,
    quorum: Annotated[int | None, typer.Option(min=1, max=255, help="Then set the quorum to this.")] = None,
) -> None:
    """Register a member on chain (as the admin; the proof of possession is made with its key)."""
    settings = load_settings()
    if member is None and key_dir is None:
        fail(ValueError("name the member, or give --dir"))
    folder = member_folder(settings, member, key_dir)
    with _services() as services:
        try:
            keys = MemberFile.load(folder)
            admin = services.ledger.client.for_role("admin")
            oracle = SensorOracleContract(admin, services.ledger.deployment, services.artifacts)
            added = register_member(oracle, keys)
            if quorum is not None and oracle.quorum() != quorum:
                oracle.set_quorum(quorum)
        except ProvenanceError as exc:
            fail(exc)
        console.print(
            f"member {keys.keys.address} {'added' if added else 'already on the committee'}; "
            f"{len(oracle.members())} member(s), quorum {oracle.quorum()}, version {oracle.config_version()}"
        )


@committee_app.command("show")
def committee_show() -> None:
    """Show the committee on chain and which members have their folder in this data directory."""
    settings = load_settings()
    root = settings.data_dir / "members"
    local = set()
    for path in root.glob(f"*/{MEMBER_FILE}") if root.exists() else []:
        try:
            local.add(MemberFile.load(path.parent).keys.address)
        except ProvenanceError:
            continue
    with _services() as services:
        oracle = SensorOracleContract(services.ledger.client, services.ledger.deployment, services.artifacts)
        on_chain = oracle.members()
        quorum, version = oracle.quorum(), oracle.config_version()
    for position, address in enumerate(on_chain):
        console.print(f"{position:>3}  {address}  {'(key held here)' if address in local else ''}")
    console.print(f"{len(on_chain)} member(s), quorum {quorum}, version {version}")
