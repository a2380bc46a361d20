"""A Duo application's keys, and the one check of their form that the configuration and the secrets source share.
No message here ever shows a key: a swapped ikey and skey would otherwise print the skey."""

from __future__ import annotations

import re
from dataclasses import dataclass

from duomfa.duo.client import split_api_host
from duomfa.secret import Secret

IKEY_FORM = re.compile(r"DI[A-Z0-9]{18}")
SKEY_LENGTH = 40


@dataclass(frozen=True)
class DuoKeys:
    ikey: str
    skey: Secret
    api_host: str


def ikey_problem(ikey: object) -> str | None:
    if isinstance(ikey, str) and IKEY_FORM.fullmatch(ikey):
        return None
    hint = ""
    if isinstance(ikey, str) and len(ikey) == SKEY_LENGTH:
        hint = "; it has 40 characters — is it the skey? (the value is not shown)"
    elif not isinstance(ikey, str):
        hint = f"; it is a {type(ikey).__name__}, not a string"
    return f"ikey is not an integration key (20 characters, starting with DI){hint}"


def skey_problem(skey: object) -> str | None:
    if isinstance(skey, str) and len(skey) == SKEY_LENGTH:
        return None
    if not isinstance(skey, str):
        return f"skey is not a Duo secret key (a string of {SKEY_LENGTH} characters; it is a {type(skey).__name__})"
    hint = " — is it the ikey?" if IKEY_FORM.fullmatch(skey) else ""
    return f"skey is not a Duo secret key ({SKEY_LENGTH} characters; it has {len(skey)}{hint})"


def api_host_problem(api_host: object) -> str | None:
    if not isinstance(api_host, str):
        return f"api_host is a {type(api_host).__name__}, not a host name"
    try:
        split_api_host(api_host)
    except ValueError as exc:
        return str(exc)
    return None


def duo_keys(ikey: object, skey: object, api_host: object) -> DuoKeys | str:
    """The keys, or why they cannot be a Duo application's (without showing them)."""
    problem = ikey_problem(ikey) or skey_problem(skey) or api_host_problem(api_host)
    if problem:
        return problem
    assert isinstance(ikey, str) and isinstance(skey, str) and isinstance(api_host, str)
    return DuoKeys(ikey, Secret(skey), api_host.strip().lower())
