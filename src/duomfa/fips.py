"""FIPS mode: whether OpenSSL runs with a FIPS provider enforced, what the proxy sets up at start (the TLS settings
for Duo, the random source, RADIUS's MD5 outside the boundary), and the openssl.cnf that enforces the provider —
the FIPS image and the tests write the same one. `python -m duomfa.fips` is the FIPS image's self-check.

What runs where, and why, is in docs/proxy.md ("FIPS mode") and docs/deploy.md ("Duo Federal and CMMC").
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import hashlib
import hmac
import json
import ssl
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from duomfa.options import ConfigError
from duomfa.radius import md5 as radius_md5

# The OpenSSL FIPS provider the FIPS image builds (Dockerfile.fips) and its check requires: the upstream version that
# holds a FIPS 140-3 certificate (docs/deploy.md says what was verified about it)
VALIDATED_PROVIDER_VERSION = "3.1.2"
VALIDATED_PROVIDER_CERTIFICATE = "CMVP #4985"

# TLS 1.2 suites for Duo in FIPS mode: ECDHE key agreement and AES-GCM only, a subset of what NIST SP 800-52 Rev. 2
# allows. TLS 1.3 keeps its AES-GCM suites: the FIPS provider has no ChaCha20, so OpenSSL offers no other.
FIPS_TLS12_CIPHERS = ("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")

HOW_TO_RUN = ("run the FIPS image (docs/deploy.md, \"Duo Federal and CMMC\"), or start the proxy with OPENSSL_CONF "
              "naming an openssl.cnf that activates the FIPS and base providers with default_properties = fips=yes, "
              "and OPENSSL_MODULES naming the directory that holds the FIPS provider's fips.so (`python -m "
              "duomfa.fips --write-config` writes such a file); or set fips_mode = false")


class FipsUnavailable(ConfigError):
    """fips_mode = true, but OpenSSL does not run with a FIPS provider enforced: the proxy must not start.
    `finding`: what was found, without the advice on how to run with a provider that the message adds."""

    def __init__(self, finding: str) -> None:
        self.finding = finding
        super().__init__(f"{finding}. To run in FIPS mode, {HOW_TO_RUN}")


class CryptoSelfTestFailed(ConfigError):
    """The MD5 the RADIUS core needs cannot be had, or failed its known-answer test: the proxy must not start."""


@dataclass(frozen=True)
class Provider:
    """OpenSSL's FIPS provider as it describes itself (OSSL_PROVIDER_get_params)."""

    name: str
    version: str
    build: str
    running: bool

    def __str__(self) -> str:
        return f"{self.name} {self.version}" + ("" if self.running else " (not running)")


@dataclass(frozen=True)
class FipsReport:
    """What the probes found: `enforced` only when every one of them says FIPS."""

    openssl: str
    found: tuple[str, ...]  # each probe's result, in words
    problems: tuple[str, ...]  # the probes that say OpenSSL does not enforce FIPS
    provider: Provider | None

    @property
    def enforced(self) -> bool:
        return not self.problems


def probe() -> FipsReport:
    """Ask OpenSSL, through Python's own bindings, whether the FIPS provider is enforced for everything the proxy
    uses OpenSSL for: the default properties, a non-approved digest and cipher refused, SHA-1/SHA-512 and HMAC from
    OpenSSL (not Python's fallbacks), and the DRBG."""
    import _hashlib

    found: list[str] = []
    problems: list[str] = []

    def check(ok: bool, good: str, bad: str) -> None:
        (found if ok else problems).append(good if ok else bad)

    check(_hashlib.get_fips_mode() == 1, "OpenSSL's default properties require FIPS (fips=yes)",
          "OpenSSL's default properties do not require FIPS (_hashlib.get_fips_mode() is 0)")
    try:
        _hashlib.openssl_md5(b"")
        md5_refused = False
    except ValueError:
        md5_refused = True
    check(md5_refused, "OpenSSL refuses MD5 (not approved)",
          "OpenSSL computes MD5: a provider outside the FIPS boundary serves the default properties")
    check(not _chacha20_available(), "ssl offers no ChaCha20 cipher (not approved)",
          "ssl still offers ChaCha20 ciphers: TLS is not limited to the FIPS provider's algorithms")
    from_openssl = all(getattr(hashlib, name) is getattr(_hashlib, f"openssl_{name}") for name in ("sha1", "sha512"))
    check(from_openssl, "SHA-1 and SHA-512 come from OpenSSL",
          "hashlib's SHA-1 or SHA-512 is Python's built-in fallback, not OpenSSL's")
    signer = hmac.new(b"k" * 40, b"probe", hashlib.sha512)
    check(isinstance(getattr(signer, "_hmac", None), _hashlib.HMAC), "HMAC-SHA-512 (Duo's signatures) runs in OpenSSL",
          "HMAC-SHA-512 falls back to Python's HMAC construction: OpenSSL's HMAC is refused")
    check(_drbg_works(), "OpenSSL's DRBG gives random bytes", "OpenSSL's DRBG gives no random bytes")
    provider = fips_provider()
    if provider is not None:
        check(provider.running, f"the FIPS provider is loaded: {provider} (build {provider.build})",
              f"the FIPS provider is loaded but not running: {provider}")
    return FipsReport(ssl.OPENSSL_VERSION, tuple(found), tuple(problems), provider)


def _chacha20_available() -> bool:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if any("CHACHA20" in cipher["name"] for cipher in context.get_ciphers()):  # TLS 1.3's suites included
        return True
    try:
        context.set_ciphers("CHACHA20")
    except ssl.SSLError:
        return False
    return True


def _drbg_works() -> bool:
    try:
        return ssl.RAND_status() and len(ssl.RAND_bytes(32)) == 32
    except ssl.SSLError:
        return False


# --- the provider's own description, through libcrypto (best effort: None when it cannot be read) -----------------

class _Param(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("data_type", ctypes.c_uint), ("data", ctypes.c_void_p),
                ("data_size", ctypes.c_size_t), ("return_size", ctypes.c_size_t)]


_UTF8_PTR = 6  # OSSL_PARAM_UTF8_PTR
_INTEGER = 1  # OSSL_PARAM_INTEGER


def fips_provider() -> Provider | None:
    """The FIPS provider's name, version and build as it reports them, or None when no FIPS provider is loaded (or
    libcrypto cannot be reached from here). The version is the one to compare with the certificate's."""
    libcrypto = _libcrypto()
    if libcrypto is None:
        return None
    try:
        libcrypto.OSSL_PROVIDER_available.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        libcrypto.OSSL_PROVIDER_available.restype = ctypes.c_int
        if not libcrypto.OSSL_PROVIDER_available(None, b"fips"):
            return None
        libcrypto.OSSL_PROVIDER_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        libcrypto.OSSL_PROVIDER_load.restype = ctypes.c_void_p
        libcrypto.OSSL_PROVIDER_get_params.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Param)]
        libcrypto.OSSL_PROVIDER_get_params.restype = ctypes.c_int
        libcrypto.OSSL_PROVIDER_unload.argtypes = [ctypes.c_void_p]
        handle = libcrypto.OSSL_PROVIDER_load(None, b"fips")  # already loaded: this only takes a reference
        if not handle:
            return None
        try:
            texts = [ctypes.c_char_p() for _ in range(3)]
            status = ctypes.c_int(0)
            params = (_Param * 5)(
                *(_Param(key, _UTF8_PTR, ctypes.cast(ctypes.byref(text), ctypes.c_void_p),
                         ctypes.sizeof(text), 0)
                  for key, text in zip((b"name", b"version", b"buildinfo"), texts, strict=True)),
                _Param(b"status", _INTEGER, ctypes.cast(ctypes.byref(status), ctypes.c_void_p),
                       ctypes.sizeof(status), 0),
                _Param(None, 0, None, 0, 0))
            if not libcrypto.OSSL_PROVIDER_get_params(handle, params):
                return None
            name, version, build = ((text.value or b"").decode("utf-8", "replace") for text in texts)
            return Provider(name, version, build, bool(status.value))
        finally:
            libcrypto.OSSL_PROVIDER_unload(handle)
    except (AttributeError, OSError):
        return None


def _libcrypto() -> ctypes.CDLL | None:
    """The libcrypto the ssl module runs on: the one already loaded, so its providers are the ones probed."""
    for name in ("libcrypto.so.3", ctypes.util.find_library("crypto")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def require(origin: str | None = None) -> FipsReport:
    """The probe's report when OpenSSL enforces FIPS; else FipsUnavailable saying what was found and what to do.
    `origin`: where fips_mode = true was set (FILE:LINE or the environment variable), for the message."""
    report = probe()
    if not report.enforced:
        where = f"{origin}: " if origin else ""
        raise FipsUnavailable(
            f"{where}fips_mode = true, but OpenSSL ({report.openssl}) does not run with a FIPS provider enforced: "
            + "; ".join(report.problems))
    return report


# --- what the proxy sets up at start ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CryptoSetup:
    """What the proxy runs on, for its start log: FIPS mode or not, and where each algorithm comes from."""

    fips_mode: bool
    openssl: str
    radius_md5: str  # duomfa.radius.md5's name of the MD5 bound
    random_source: str
    fips_provider: str | None  # "OpenSSL FIPS Provider 3.1.2", in FIPS mode when it can be read


def prepare(fips_mode: bool, origin: str | None = None) -> CryptoSetup:
    """Once, at the proxy's start: in FIPS mode, check that OpenSSL enforces the FIPS provider (FipsUnavailable if
    not) and take Request Authenticators from its DRBG; in either mode, bind RADIUS's MD5 — Python's built-in one in
    FIPS mode, OpenSSL's otherwise (the built-in one where OpenSSL refuses MD5) — after its known-answer test
    (CryptoSelfTestFailed if it fails). `origin`: where fips_mode was set, for the message."""
    report = require(origin) if fips_mode else None
    wanted = radius_md5.BUILTIN if fips_mode else radius_md5.OPENSSL
    try:
        try:
            radius_md5.select(wanted)
        except radius_md5.Md5Unavailable:
            if fips_mode:
                raise
            wanted = radius_md5.BUILTIN  # OpenSSL refuses MD5 here although fips_mode is false
            radius_md5.select(wanted)
        source = radius_md5.select_random_source(radius_md5.OPENSSL_DRBG if fips_mode else radius_md5.KERNEL)
    except (radius_md5.Md5Unavailable, radius_md5.Md5SelfTestFailed) as exc:
        raise CryptoSelfTestFailed(f"RADIUS needs MD5 and cannot have it: {exc}; the proxy does not start") from None
    provider = report.provider if report is not None else None
    return CryptoSetup(fips_mode, ssl.OPENSSL_VERSION, wanted, source, str(provider) if provider else None)


ENVIRONMENT_VARIABLE = "DUOMFA_FIPS_MODE"  # the FIPS image sets it true; so does the stack with FipsMode = Yes


def wanted(environ: Mapping[str, str]) -> bool:
    """DUOMFA_FIPS_MODE is true (the words the proxy's option accepts for true)."""
    return environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() in ("true", "yes", "on", "1")


def requested(environ: Mapping[str, str]) -> str | None:
    """Why a process that is not a FIPS component should say it is not one: DUOMFA_FIPS_MODE set true, or OpenSSL
    running in FIPS mode; None when neither."""
    import _hashlib

    if wanted(environ):
        return f"{ENVIRONMENT_VARIABLE} is true"
    if _hashlib.get_fips_mode():
        return "OpenSSL runs in FIPS mode (OPENSSL_CONF)"
    return None


def openssl_config(fipsmodule_cnf: Path | str) -> str:
    """An openssl.cnf that includes the FIPS provider's module configuration (written by `openssl fipsinstall`),
    activates the FIPS and base providers — not the default one — and makes fips=yes the default property query."""
    return "\n".join([
        "# OpenSSL with the FIPS provider enforced: written by duomfa.fips.openssl_config",
        "config_diagnostics = 1",
        "openssl_conf = openssl_init",
        "",
        f".include {fipsmodule_cnf}",
        "",
        "[openssl_init]",
        "providers = provider_sect",
        "alg_section = algorithm_sect",
        "",
        "[provider_sect]",
        "fips = fips_sect",
        "base = base_sect",
        "",
        "[base_sect]",
        "activate = 1",
        "",
        "[algorithm_sect]",
        "default_properties = fips=yes",
        "",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m duomfa.fips",
        description="The proxy's FIPS start check, on its own: exit 0 when OpenSSL enforces the FIPS provider and "
                    "RADIUS's MD5 passes its self-test, 1 otherwise. The FIPS image's build runs it.")
    parser.add_argument("--provider-version", metavar="X.Y.Z",
                        help="also require the FIPS provider to report this version (the validated one)")
    parser.add_argument("--write-config", metavar="PATH", type=Path,
                        help="write an openssl.cnf enforcing the FIPS provider to PATH, and check nothing")
    parser.add_argument("--fipsmodule", metavar="PATH", default="fipsmodule.cnf",
                        help="the fipsmodule.cnf that openssl fipsinstall wrote (with --write-config)")
    args = parser.parse_args(argv)
    if args.write_config is not None:
        args.write_config.write_text(openssl_config(args.fipsmodule))
        return 0
    report = probe()
    problems = list(report.problems)
    if args.provider_version and (report.provider is None or report.provider.version != args.provider_version):
        problems.append(f"the FIPS provider reports version {report.provider.version if report.provider else None}, "
                        f"not {args.provider_version}")
    setup = None
    if not problems:
        try:
            setup = prepare(True)
        except ConfigError as exc:
            problems.append(str(exc))
    print(json.dumps({"fips_enforced": not problems, "openssl": report.openssl, "found": report.found,
                      "problems": problems, "provider": asdict(report.provider) if report.provider else None,
                      "radius_md5": setup.radius_md5 if setup else None}, indent=2))
    if problems:
        how = f"; {HOW_TO_RUN}" if not report.enforced else ""
        print(f"duomfa: error: the FIPS check failed: {'; '.join(problems)}{how}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
