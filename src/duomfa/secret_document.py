"""The proxies' secret, one contract for everything that reads or writes it — the proxy, the control plane, the
doctor and the CDK app (which copies this file into the inline handlers that need it): its JSON fields, its version
stages, the retirement tag, the shared secret's alphabet and length, and its digest. Standard library only."""

from __future__ import annotations

import hashlib
import json
import string
from typing import Any

# the JSON fields; only radius_secret is required, the Duo keys are read from AWSCURRENT
RADIUS_SECRET = "radius_secret"
IKEY, SKEY, API_HOST = "ikey", "skey", "api_host"
RADIUS_CLIENTS = "radius_clients"  # addresses, CIDR blocks or ranges: the directory's domain controllers

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
STAGES = (CURRENT, PENDING, PREVIOUS)

# The previous secret stays valid until the control plane retires it with this tag: "VERSION_ID@UNIX_TIME". A tag,
# because versions are immutable (writing a date into the current version would make a new version and push the old
# secret out of AWSPREVIOUS); it names the version, so a tag left from an earlier rotation never retires a newer one.
RETIRED_TAG = "duomfa:retired-previous"

SHARED_SECRET_LENGTH = 32
# Directory Service takes 8-512 letters, digits, punctuation and space. Left out, because they break something on
# the way: space (trimmed by consoles and forms); " \ ` and ' (JSON and shell quoting, copy-paste into configs);
# $ and ! (shell expansion); % (configparser interpolation in Duo's authproxy.cfg); ; and # (INI comments); = and :
# (INI key separators); , (comma-separated lists); - (a secret starting with it reads as a command-line option).
EXCLUDED_CHARACTERS = " \"\\`'$!%;#=:,-"
# what a shared secret is drawn from: Secrets Manager's letters, digits and punctuation, less the above. None of these
# needs escaping inside a shell's quotes, and none is special to radclient or authproxy.cfg.
SHARED_SECRET_ALPHABET = "".join(character for character in string.ascii_letters + string.digits + string.punctuation
                                 if character not in EXCLUDED_CHARACTERS)


def retired_tag_value(version_id: str, retire_at: float) -> str:
    return f"{version_id}@{int(retire_at)}"


def parse_retired(value: str | None) -> tuple[str, float] | None:
    """"VERSION_ID@UNIX_TIME" → (version id, time after which that version is no longer accepted)."""
    if not value or "@" not in value:
        return None
    version_id, _, when = value.rpartition("@")
    try:
        return version_id, float(when)
    except ValueError:
        return None


def secret_digest(shared_secret: str) -> str:
    """What may be recorded of a shared secret (the directory updater's state): its SHA-256, never the secret."""
    return hashlib.sha256(shared_secret.encode("utf-8")).hexdigest()


def read_document(secret_string: str | None) -> dict[str, Any] | None:
    """A version's JSON object with a radius_secret string, or None when it is anything else."""
    try:
        document = json.loads(secret_string or "")
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get(RADIUS_SECRET), str):
        return None
    return document
