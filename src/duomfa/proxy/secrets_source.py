"""Where the Duo keys and RADIUS shared secrets come from — the configuration, a JSON file, or AWS Secrets Manager —
read again every few seconds, every stage at once, so a rotation reaches the proxy without a restart; the previous
secret is dropped once the control plane's tag retires it (docs/proxy.md, "Secrets sources and rotation")."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duomfa.config import IpNetwork, ProxySettings, Secret, parse_networks, shown_address
from duomfa.control.inline_support import error_code
from duomfa.duo.keys import DuoKeys, duo_keys
from duomfa.proxy.clients import ClientEntry, ClientTable, SecretVersion
from duomfa.secret_document import (
    API_HOST,
    IKEY,
    RADIUS_CLIENTS,
    RADIUS_SECRET,
    RETIRED_TAG,
    SKEY,
    STAGES,
    parse_retired,
)


class SecretsSourceError(Exception):
    """The source could not be read or holds something unusable; the message never contains a secret.
    `version` names the secret version at fault, when one is known."""

    def __init__(self, message: str, version: str | None = None):
        super().__init__(message)
        self.version = version


@dataclass(frozen=True)
class SourceState:
    """What a source said at one reading: Duo keys (if it carries them) and the valid shared-secret versions."""

    ikey: str | None
    skey: Secret | None
    api_host: str | None
    versions: tuple[SecretVersion, ...]
    clients: tuple[IpNetwork, ...]
    fingerprint: str  # changes when anything above changes; lets the proxy skip identical re-reads
    version: str = "AWSCURRENT"  # the current version's id, for logs


def _stage_document(stage: str, version_id: str, document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise SecretsSourceError(f"the {stage} secret is not a JSON object", version_id)
    secret = document.get(RADIUS_SECRET)
    if not isinstance(secret, str) or not secret:
        raise SecretsSourceError(f"the {stage} secret has no radius_secret string", version_id)
    for name in (IKEY, SKEY, API_HOST):
        if document.get(name) is not None and not isinstance(document[name], str):
            raise SecretsSourceError(f"the {stage} secret's {name} is a {type(document[name]).__name__}, not a "
                                     "string", version_id)
    return document


def state_from_stages(stages: Mapping[str, tuple[str, Any]], retired: tuple[str, float] | None = None,
                      now: float | None = None) -> SourceState:
    """Build the state from {stage: (version id, parsed JSON)}; AWSCURRENT is required."""
    if "AWSCURRENT" not in stages:
        raise SecretsSourceError("no AWSCURRENT version")
    now = time.time() if now is None else now
    current_id, current = stages["AWSCURRENT"]
    current = _stage_document("AWSCURRENT", current_id, current)
    versions: list[SecretVersion] = []
    seen: set[str] = set()
    for stage in STAGES:
        if stage not in stages:
            continue
        version_id, document = stages[stage]
        document = _stage_document(stage, version_id, document)
        if stage == "AWSPREVIOUS" and retired is not None and retired[0] == version_id and retired[1] <= now:
            continue  # the control plane retired it: the directory has used the current secret long enough
        secret = document[RADIUS_SECRET]
        if secret in seen:
            continue  # AWSPENDING may still sit on the current version right after finishSecret
        seen.add(secret)
        label = stage if version_id in ("", stage) else f"{stage}:{version_id[:8]}"
        versions.append(SecretVersion(label, secret.encode("utf-8")))
    clients: list[IpNetwork] = []
    listed = current.get(RADIUS_CLIENTS) or []
    if not isinstance(listed, list):  # a string would be read character by character
        raise SecretsSourceError(f"radius_clients is a {type(listed).__name__}, not a list of addresses", current_id)
    for item in listed:
        try:
            if not isinstance(item, str):
                raise ValueError(f"a {type(item).__name__}")
            clients.extend(parse_networks(item))
        except ValueError:
            raise SecretsSourceError(f"radius_clients entry {shown_address(str(item))} is not an address, CIDR "
                                     "block or range", current_id) from None
    skey = current.get(SKEY)
    fingerprint = json.dumps([[v.label for v in versions], [str(n) for n in clients], current.get(IKEY),
                              current.get(API_HOST), sorted(s for s in seen), skey], sort_keys=True)
    return SourceState(
        ikey=current.get(IKEY), skey=Secret(skey) if isinstance(skey, str) else None,
        api_host=current.get(API_HOST),
        versions=tuple(versions), clients=tuple(clients), fingerprint=str(hash(fingerprint)),
        version=current_id or "AWSCURRENT",
    )


class InlineSource:
    """Secrets written in the configuration itself: nothing to re-read."""

    refreshes = False

    async def read(self) -> SourceState | None:
        return None


class FileSource:
    refreshes = True

    def __init__(self, path: Path):
        self.path = path

    async def read(self) -> SourceState:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SecretsSourceError(f"cannot read {self.path}: {exc.strerror}") from None
        except ValueError:
            raise SecretsSourceError(f"{self.path} is not JSON") from None
        if isinstance(document, dict) and "AWSCURRENT" in document:
            stages = {stage: (stage, document[stage]) for stage in STAGES if stage in document}
            return state_from_stages(stages, parse_retired(document.get("retired")))
        return state_from_stages({"AWSCURRENT": ("AWSCURRENT", document)})


class SecretsManagerSource:
    refreshes = True

    def __init__(self, secret_id: str, client: Any = None):
        self.secret_id = secret_id
        self._client = client

    def _secretsmanager(self) -> Any:
        if self._client is None:
            try:
                import boto3
            except ImportError:
                raise SecretsSourceError("secrets_source = aws-secretsmanager needs boto3 "
                                         "(pip install 'duomfa[aws]')") from None
            region = self.secret_id.split(":")[3] if self.secret_id.startswith("arn:") else None
            self._client = boto3.client("secretsmanager", region_name=region or None)
        return self._client

    def _read_stages(self) -> tuple[dict[str, tuple[str, Any]], tuple[str, float] | None]:
        client = self._secretsmanager()
        stages: dict[str, tuple[str, Any]] = {}
        try:
            tags = client.describe_secret(SecretId=self.secret_id).get("Tags", [])
        except Exception as exc:
            raise SecretsSourceError(f"describing the secret failed: {error_code(exc)}") from None
        retired = parse_retired(next((t.get("Value") for t in tags if t.get("Key") == RETIRED_TAG), None))
        for stage in STAGES:
            try:
                answer = client.get_secret_value(SecretId=self.secret_id, VersionStage=stage)
            except Exception as exc:  # botocore's error classes are generated per service
                code = error_code(exc)
                if stage != "AWSCURRENT" and code == "ResourceNotFoundException":
                    continue  # no such stage right now: normal outside a rotation
                raise SecretsSourceError(f"reading {stage} of the secret failed: {code}") from None
            try:
                stages[stage] = (answer.get("VersionId", ""), json.loads(answer.get("SecretString") or ""))
            except ValueError:
                raise SecretsSourceError(f"the {stage} version of the secret is not JSON") from None
        return stages, retired

    async def read(self) -> SourceState:
        stages, retired = await asyncio.to_thread(self._read_stages)
        return state_from_stages(stages, retired)


def open_source(settings: ProxySettings) -> InlineSource | FileSource | SecretsManagerSource:
    source = settings.secrets_source
    if source.inline:
        return InlineSource()
    if source.kind == "file":
        return FileSource(Path(source.location))
    return SecretsManagerSource(source.location)


def build_client_table(settings: ProxySettings, state: SourceState | None) -> ClientTable:
    """Clients from the configuration (radius_ip_N) plus those the source lists, with their valid secrets."""
    entries: list[tuple[IpNetwork, ClientEntry]] = []
    shared = state.versions if state is not None else ()
    for client in settings.clients:
        if client.secret is not None:
            versions: tuple[SecretVersion, ...] = (SecretVersion(client.name.replace("radius_ip_", "radius_secret_"),
                                                                 client.secret.reveal().encode("utf-8")),)
        else:
            versions = shared
        if not versions:
            continue  # no secret known yet: the client cannot be authenticated, so it is not a client
        entry = ClientEntry(client.name, versions, status_only=client.status_only)
        entries.extend((network, entry) for network in client.networks)
    if state is not None and state.versions:
        entry = ClientEntry("radius_clients", state.versions)
        entries.extend((network, entry) for network in state.clients)
    return ClientTable(entries)


def resolve_duo_keys(settings: ProxySettings, state: SourceState | None) -> DuoKeys | str:
    """ikey, skey and api_host — from the secrets source when it carries them, else from the configuration — or
    why there are none that can be used."""
    ikey = (state.ikey if state and state.ikey else None) or settings.ikey
    skey = (state.skey if state and state.skey else None) or settings.skey
    api_host = (state.api_host if state and state.api_host else None) or settings.api_host
    missing = [name for name, value in (("ikey", ikey), ("skey", skey), ("api_host", api_host)) if not value]
    if missing:
        return (f"no Duo {', '.join(missing)}: set {' and '.join(missing)} in the secrets source's secret or in the "
                "configuration")
    return duo_keys(ikey, skey.reveal() if skey is not None else None, api_host)
