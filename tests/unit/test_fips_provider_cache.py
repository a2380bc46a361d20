"""The FIPS provider fixture's cache (tests/fips_provider.py): one build when two test processes want it at once,
and only a complete build is ever used — a build that died half-way is not."""

from __future__ import annotations

import threading
import time

import pytest

import fips_provider


def complete(root, version: str) -> None:
    (root / f"fips-{version}" / "ossl-modules").mkdir(parents=True)
    (root / f"fips-{version}" / "ossl-modules" / "fips.so").write_bytes(b"\x7fELF")
    (root / f"fips-{version}" / "openssl.cnf").write_text("# test\n")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DUOMFA_FIPS_CACHE", str(tmp_path))
    monkeypatch.delenv("DUOMFA_FIPS_REFRESH", raising=False)
    monkeypatch.setattr(fips_provider, "check_enforced", lambda found: None)
    return tmp_path


def test_two_processes_wanting_the_provider_at_once_build_it_once(cache, monkeypatch):
    builds = []

    def slow_build(root):
        builds.append(root)
        time.sleep(0.5)
        complete(root, "3.0.22")
        return fips_provider.FipsProvider(root / "fips-3.0.22", "3.0.22", build_seconds=0.5)

    monkeypatch.setattr(fips_provider, "_build", slow_build)
    found = []
    workers = [threading.Thread(target=lambda: found.append(fips_provider.provider())) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert len(builds) == 1  # the second waited for the lock, then took the first one's build
    assert {provider.root for provider in found} == {cache / "fips-3.0.22"}


def test_only_complete_builds_are_used_and_the_newest_wins(cache):
    (cache / ".build-abc123" / "fips-3.0.30" / "ossl-modules").mkdir(parents=True)  # a build under way, or dead
    (cache / "fips-3.0.40").mkdir()  # no fips.so: not one of ours
    assert fips_provider.newest_cached(cache) is None
    complete(cache, "3.0.9")
    complete(cache, "3.0.22")
    newest = fips_provider.newest_cached(cache)
    assert newest is not None and newest.version == "3.0.22"
    assert newest.environ() == {"OPENSSL_CONF": str(cache / "fips-3.0.22" / "openssl.cnf"),
                                "OPENSSL_MODULES": str(cache / "fips-3.0.22" / "ossl-modules")}


def test_a_cache_that_cannot_be_written_is_a_reason_to_skip_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("DUOMFA_FIPS_CACHE", str(blocker / "cache"))
    with pytest.raises(fips_provider.ProviderUnavailable, match="cache"):
        fips_provider.provider()
