"""An OpenSSL FIPS provider for the tests, built once from the OpenSSL source that Debian's security archive serves
and cached outside the repository (~/.cache/duomfa/fips-<version>, or $DUOMFA_FIPS_CACHE/fips-<version>).

What it builds is functionally the FIPS provider — the same code, self-tests and algorithm restrictions — but not
the validated build: a validated provider is one upstream version built as its security policy says (the FIPS
image does that; docs/deploy.md, "Duo Federal and CMMC"). Run it as a script to build it ahead of the tests and
print where it is: `python tests/fips_provider.py`.

The build is robust to two test processes at once (a file lock: the second waits and then uses the first's build)
and to a build that dies half-way (it happens in a temporary directory that is renamed into place when complete).
A finished build is used without touching the network; DUOMFA_FIPS_REFRESH=1 asks the archive for a newer source.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from duomfa.fips import openssl_config  # noqa: E402  (the same openssl.cnf as the FIPS image's)

ARCHIVE = "http://deb.debian.org/debian-security"
SUITE = "bookworm-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
BUILD_TIMEOUT = 1800.0  # seconds; a build takes about half a minute on two cores
LOCK_TIMEOUT = BUILD_TIMEOUT + 300.0


class ProviderUnavailable(Exception):
    """The provider could not be had here (no apt, no network, a build that failed): the reason, for a skip."""


@dataclass(frozen=True)
class FipsProvider:
    root: Path  # ~/.cache/duomfa/fips-<version>
    version: str  # the OpenSSL source version, e.g. 3.0.22
    build_seconds: float | None = None  # None: taken from the cache

    @property
    def modules(self) -> Path:
        return self.root / "ossl-modules"

    @property
    def openssl_conf(self) -> Path:
        return self.root / "openssl.cnf"

    def environ(self) -> dict[str, str]:
        """What a process needs in its environment to run with the FIPS provider enforced."""
        return {"OPENSSL_CONF": str(self.openssl_conf), "OPENSSL_MODULES": str(self.modules)}


def cache_root() -> Path:
    configured = os.environ.get("DUOMFA_FIPS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "duomfa"


def provider() -> FipsProvider:
    """The cached provider, or one built now (under a lock). Raises ProviderUnavailable with the reason."""
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not os.environ.get("DUOMFA_FIPS_REFRESH") and (found := newest_cached(root)) is not None:
            check_enforced(found)  # the system's OpenSSL may have changed since it was built
            return found
        with _locked(root / "fips.lock"):
            if not os.environ.get("DUOMFA_FIPS_REFRESH") and (found := newest_cached(root)) is not None:
                return found  # another process built it while this one waited
            return _build(root)
    except OSError as exc:  # a cache directory that cannot be written, a full disk
        raise ProviderUnavailable(f"{root}: {exc}") from None


def newest_cached(root: Path) -> FipsProvider | None:
    """The newest complete build in the cache: only a finished build is ever renamed to fips-<version>."""
    builds = []
    for path in root.glob("fips-*"):
        version = path.name.removeprefix("fips-")
        if re.fullmatch(r"\d+\.\d+\.\d+", version) and (path / "ossl-modules" / "fips.so").exists() \
                and (path / "openssl.cnf").exists():
            builds.append((tuple(int(part) for part in version.split(".")), path, version))
    if not builds:
        return None
    _, path, version = max(builds)
    return FipsProvider(path, version)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ProviderUnavailable(f"another process has held {path} for {LOCK_TIMEOUT:.0f} s") from None
                time.sleep(2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(args: list[str], cwd: Path, what: str, timeout: float = BUILD_TIMEOUT,
         env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, "LC_ALL": "C", **(env or {})})
    except FileNotFoundError:
        raise ProviderUnavailable(f"{what}: {args[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise ProviderUnavailable(f"{what}: no result in {timeout:.0f} s") from None
    if check and result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ProviderUnavailable(f"{what} failed ({result.returncode}): " + " | ".join(tail))
    return result


def _apt_options(apt: Path) -> list[str]:
    """A private apt configuration: the security archive's sources only, lists and cache of its own, so the
    system's apt settings are neither needed nor changed."""
    (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    sources = apt / "sources.list"
    sources.write_text(f"deb-src [signed-by={KEYRING}] {ARCHIVE} {SUITE} main\n")
    options = ["-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/nonexistent",
               "-o", f"Dir::State::Lists={apt / 'lists'}", "-o", f"Dir::Cache={apt / 'cache'}",
               "-o", "Debug::NoLocking=true", "-qq"]
    if os.geteuid() == 0:  # apt would hand the download to _apt, which cannot write to a private directory
        options += ["-o", "APT::Sandbox::User=root"]
    return options


def _download_source(work: Path) -> Path:
    """openssl_<version>.orig.tar.gz from the archive. apt checks it against the archive's signed Sources index;
    the .dsc of the security archive may be missing (HTTP 404), which is why the exit code alone is not judged."""
    options = _apt_options(work / "apt")
    _run(["apt-get", *options, "update"], work, "apt-get update (deb-src bookworm-security)", timeout=300)
    result = _run(["apt-get", *options, "source", "--download-only", "openssl"], work,
                  "apt-get source --download-only openssl", timeout=600, check=False)
    tarballs = sorted(work.glob("openssl_*.orig.tar.gz"))
    if not tarballs:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ProviderUnavailable("apt-get source fetched no openssl_*.orig.tar.gz: " + " | ".join(tail))
    return tarballs[-1]


def _build(root: Path) -> FipsProvider:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        tarball = _download_source(work)
        version = tarball.name.removeprefix("openssl_").removesuffix(".orig.tar.gz")
        final = root / f"fips-{version}"
        if (final / "ossl-modules" / "fips.so").exists():
            return FipsProvider(final, version)
        _run(["tar", "xzf", str(tarball)], work, "unpacking the source")
        source = work / f"openssl-{version}"
        openssl = shutil.which("openssl")
        if openssl is None:
            raise ProviderUnavailable("the openssl command (Debian package openssl) is needed for fipsinstall")
        # Only the provider is compiled (about 20 s on two cores, a tenth of the whole library and apps); the
        # system's openssl command writes its fipsmodule.cnf, as `make install_fips` would with the one it builds.
        jobs = f"-j{min(os.cpu_count() or 1, 2)}"
        _run(["./Configure", "enable-fips", "no-tests"], source, "Configure")
        _run(["make", jobs, "build_generated"], source, "make build_generated")
        _run(["make", jobs, "providers/fips.so"], source, "make providers/fips.so")
        staged = work / f"fips-{version}"
        (staged / "ossl-modules").mkdir(parents=True)
        shutil.copy2(source / "providers" / "fips.so", staged / "ossl-modules" / "fips.so")
        _run([openssl, "fipsinstall", "-module", str(staged / "ossl-modules" / "fips.so"),
              "-out", str(staged / "fipsmodule.cnf")], work, "openssl fipsinstall")
        (staged / "openssl.cnf").write_text(openssl_config(staged / "fipsmodule.cnf"))
        check_enforced(FipsProvider(staged, version))  # before it is cached: a build Python cannot use is no use
        (staged / "openssl.cnf").write_text(openssl_config(final / "fipsmodule.cnf"))
        seconds = time.monotonic() - started
        (staged / "BUILD").write_text(f"OpenSSL {version} from {ARCHIVE} {SUITE}, built in {seconds:.0f} s: "
                                      "functionally the FIPS provider, not the validated build\n")
        os.rename(staged, final)  # complete, or not there at all
        return FipsProvider(final, version, build_seconds=seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_enforced(found: FipsProvider) -> None:
    """That this Python, with the provider's environment, reports FIPS mode: else the build is no use here."""
    result = subprocess.run([sys.executable, "-c", "import _hashlib; print(_hashlib.get_fips_mode())"],
                            capture_output=True, text=True, timeout=60, env={**os.environ, **found.environ()})
    if result.stdout.strip() != "1":
        raise ProviderUnavailable(f"{found.root}: Python does not run in FIPS mode with it: "
                                  f"{(result.stdout + result.stderr).strip()[-300:]}")


if __name__ == "__main__":
    try:
        made = provider()
    except ProviderUnavailable as exc:
        print(f"no FIPS provider: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    took = f" (built in {made.build_seconds:.0f} s)" if made.build_seconds is not None else " (cached)"
    print(f"OpenSSL {made.version} FIPS provider at {made.root}{took}")
    for name, value in made.environ().items():
        print(f"{name}={value}")
