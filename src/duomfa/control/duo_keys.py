"""CloudFormation custom resource that writes the Duo keys from the stack's parameters into the proxies' secret,
leaving the RADIUS shared secret and its versions as they are (docs/design.md, "The Duo keys"). Inline source
(index.py): standard library and boto3; nothing here logs the request or the secret."""

from __future__ import annotations

import json
from typing import Any

from duomfa.control.inline_support import error_code, log, send_response, version_with
from duomfa.secret_document import API_HOST, IKEY, RADIUS_SECRET, SKEY

# resource property -> the secret's JSON field (what duomfa.proxy.secrets_source reads)
DUO_FIELDS = {"IntegrationKey": IKEY, "SecretKey": SKEY, "ApiHost": API_HOST}


class DuoKeysError(Exception):
    """The secret is not in a state the keys can be written to; the message says what to do (never a key)."""


def duo_keys_from(properties: dict[str, Any]) -> dict[str, str]:
    keys = {field: str(properties.get(name, "")).strip() for name, field in DUO_FIELDS.items()}
    missing = [name for name, field in DUO_FIELDS.items() if not keys[field]]
    if missing:
        raise DuoKeysError(f"missing {', '.join(missing)}")
    return keys


def merge_into_current(secretsmanager: Any, secret_id: str, fields: dict[str, Any]) -> str:
    """Store `fields` in the AWSCURRENT JSON, other fields kept, RADIUS secret and its history untouched.
    Returns "unchanged" or "updated"; raises DuoKeysError while a rotation is in progress."""
    stages = secretsmanager.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})
    current = version_with(stages, "AWSCURRENT")
    pending = version_with(stages, "AWSPENDING")
    previous = version_with(stages, "AWSPREVIOUS")
    if current is None:
        raise DuoKeysError(f"secret {secret_id} has no AWSCURRENT version")
    if pending is not None and pending != current:
        # finishSecret would promote the pending version, which lacks these fields: refuse rather than lose them
        raise DuoKeysError(f"a rotation of the RADIUS shared secret is in progress (AWSPENDING on version "
                           f"{pending}); try again once it has finished")
    try:
        document = json.loads(secretsmanager.get_secret_value(SecretId=secret_id, VersionId=current)["SecretString"])
    except (KeyError, ValueError):
        raise DuoKeysError(f"the AWSCURRENT value of secret {secret_id} is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get(RADIUS_SECRET), str):
        raise DuoKeysError(f"the AWSCURRENT value of secret {secret_id} has no {RADIUS_SECRET}")
    if all(document.get(field) == value for field, value in fields.items()):
        return "unchanged"  # no new version: nothing for the proxies to re-read, the history stays as it is
    secretsmanager.put_secret_value(SecretId=secret_id, SecretString=json.dumps({**document, **fields}),
                                    VersionStages=["AWSCURRENT"])
    # Secrets Manager moved AWSPREVIOUS onto the version we replaced, which holds the same RADIUS secret. Put it
    # back where the rotation left it, so the previous shared secret stays valid until the control plane retires it.
    if previous is not None:
        secretsmanager.update_secret_version_stage(SecretId=secret_id, VersionStage="AWSPREVIOUS",
                                                   MoveToVersionId=previous, RemoveFromVersionId=current)
    else:
        secretsmanager.update_secret_version_stage(SecretId=secret_id, VersionStage="AWSPREVIOUS",
                                                   RemoveFromVersionId=current)
    return "updated"


def merge_duo_keys(secretsmanager: Any, secret_id: str, keys: dict[str, str]) -> str:
    """Store the Duo keys in the AWSCURRENT JSON (see merge_into_current)."""
    return merge_into_current(secretsmanager, secret_id, keys)


def apply(event: dict[str, Any], secretsmanager: Any) -> dict[str, Any]:
    """Decide the answer to one CloudFormation request: {Status, PhysicalResourceId, Reason}."""
    properties = event.get("ResourceProperties", {})
    secret_id = str(properties.get("SecretId", ""))
    physical_id = event.get("PhysicalResourceId") or f"duo-keys-{secret_id.rsplit(':', 1)[-1] or 'none'}"
    if event.get("RequestType") == "Delete":
        return {"Status": "SUCCESS", "PhysicalResourceId": physical_id, "Reason": "nothing to delete: the keys "
                                                                                  "go with the secret"}
    try:
        did = merge_duo_keys(secretsmanager, secret_id, duo_keys_from(properties))
    except DuoKeysError as exc:
        return {"Status": "FAILED", "PhysicalResourceId": physical_id, "Reason": str(exc)}
    except Exception as exc:  # botocore's error classes are generated per service; any of them must reach CFN
        return {"Status": "FAILED", "PhysicalResourceId": physical_id,
                "Reason": f"writing the Duo keys to {secret_id} failed: {error_code(exc)}"}
    return {"Status": "SUCCESS", "PhysicalResourceId": physical_id, "Reason": f"Duo keys {did}"}


def handler(event: dict[str, Any], context: Any) -> None:
    answer: dict[str, Any] = {"Status": "FAILED", "PhysicalResourceId": event.get("PhysicalResourceId") or
                              "duo-keys-failed", "Reason": "the Duo keys were not written"}
    try:
        import boto3
        from botocore.config import Config

        secretsmanager = boto3.client("secretsmanager", config=Config(connect_timeout=5, read_timeout=10,
                                                                      retries={"max_attempts": 3}))
        answer = apply(event, secretsmanager)
    except Exception as exc:  # never leave CloudFormation waiting
        answer["Reason"] = f"the Duo keys were not written: {type(exc).__name__}"
    log("duo_keys", request=event.get("RequestType"), status=answer["Status"], reason=answer["Reason"])
    send_response(event, context, answer, no_echo=True)  # the request carried the skey: CloudFormation shows nothing
