"""The proxy's Prometheus metrics, each label set bound once so the hot path only increments."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from duomfa.emf import DROP_REASONS, DUO_ERROR_KINDS, MAX_VALUES
from duomfa.logline import STATS_DROPPED

RESULTS = ("accept", "reject")
# the proxy's Duo failure names → the kinds of the stats line (duo_errors_<kind>); HTTP 4xx answers are "refused"
DUO_ERROR_KIND = {"timeout": "timeout", "connect": "unreachable", "dns": "unreachable", "http_5xx": "http_5xx",
                  "tls": "not_duo", "tls_verify": "not_duo", "truncated": "not_duo", "bad_response": "not_duo",
                  "no_keys": "no_keys", "busy": "busy"}
assert set(DUO_ERROR_KIND.values()) | {"refused"} == set(DUO_ERROR_KINDS)


class IntervalSample:
    """Up to MAX_VALUES observations of one interval, drawn uniformly from all of them (reservoir sampling), for
    the percentiles CloudWatch computes from the stats line; `take` returns them and starts the next interval."""

    def __init__(self, size: int = MAX_VALUES, rng: random.Random | None = None):
        self.size = size
        self.seen = 0
        self.values: list[float] = []
        self._rng = rng or random.Random()

    def observe(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append(value)
        elif (slot := self._rng.randrange(self.seen)) < self.size:
            self.values[slot] = value

    def take(self) -> list[float]:
        values, self.values, self.seen = self.values, [], 0
        return values


def _sum(counter: Counter) -> float:
    """A labelled counter's total over all its labels."""
    return sum(sample.value for metric in counter.collect() for sample in metric.samples
               if sample.name.endswith("_total"))


class ProxyMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        requests = Counter("duomfa_radius_requests", "RADIUS requests answered, by result",
                           ["result"], registry=self.registry)
        self.requests = {result: requests.labels(result) for result in RESULTS}
        self.exempt = Counter("duomfa_exempt_accepts", "Logins accepted without Duo (exempt users)",
                              registry=self.registry)
        self.login_latency = IntervalSample()  # milliseconds from the request to the reply, this minute
        self.duo_latency_sample = IntervalSample()  # milliseconds of each call to Duo, this minute
        self.status_server = Counter("duomfa_radius_status_server", "Status-Server requests answered",
                                     registry=self.registry)
        drops = Counter("duomfa_radius_drops", "Datagrams dropped without a reply, by reason",
                        ["reason"], registry=self.registry)
        self.drops = {reason: drops.labels(reason) for reason in DROP_REASONS}
        retransmissions = Counter("duomfa_radius_retransmissions",
                                  "Retransmitted requests: joined an in-flight request or got the cached reply",
                                  ["kind"], registry=self.registry)
        self.joined = retransmissions.labels("joined")
        self.resent = retransmissions.labels("resent")
        self.fail_open = Counter("duomfa_fail_open", "Requests accepted because Duo could not be reached "
                                 "(failmode safe)", registry=self.registry)
        self.fail_closed = Counter("duomfa_fail_closed", "Requests rejected because Duo could not be reached "
                                   "(failmode secure)", registry=self.registry)
        self.faults_after_preauth = Counter(
            "duomfa_duo_faults_after_preauth", "Logins rejected because Duo failed after asking for a second factor "
            "(never a reason to fail open), by fault", ["fault"], registry=self.registry)
        self.duo_keys_missing = Gauge("duomfa_duo_keys_missing", "1 while the proxy has no usable Duo keys (every "
                                      "non-exempt login is rejected)", registry=self.registry)
        self.duo_errors = Counter("duomfa_duo_errors", "Duo calls that failed, by kind", ["kind"],
                                  registry=self.registry)
        self.duo_latency = Histogram(
            "duomfa_duo_request_seconds", "Latency of HTTP calls to Duo, by endpoint", ["endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=self.registry)
        self.pending_pushes = Gauge("duomfa_pending_pushes", "Pushes and calls waiting for the user",
                                    registry=self.registry)
        self.push_guard = Counter("duomfa_push_guard_rejects", "Requests refused by the push-bombing guard",
                                  registry=self.registry)
        self.secret_versions = Gauge("duomfa_secret_versions", "Shared-secret versions currently accepted",
                                     registry=self.registry)
        self.secrets_errors = Counter("duomfa_secrets_source_errors", "Failed reads of the secrets source",
                                      registry=self.registry)
        self.fips_mode = Gauge("duomfa_fips_mode", "1 when the proxy runs in FIPS mode (fips_mode = true, checked at "
                               "start: OpenSSL enforces its FIPS provider)", registry=self.registry)

    def drop(self, reason: str) -> None:
        self.drops[reason].inc()

    def observe_duo(self, endpoint: str, seconds: float, status: int | None) -> None:
        self.duo_latency.labels(endpoint).observe(seconds)
        if not endpoint.endswith("_wait"):  # a long poll's time is mostly the user's
            self.duo_latency_sample.observe(round(seconds * 1000, 1))

    def totals(self) -> dict[str, float]:
        """Running totals for the periodic stats log line (CloudWatch metric filters read that line)."""
        value = self.registry.get_sample_value
        totals = {
            "accepted": value("duomfa_radius_requests_total", {"result": "accept"}) or 0.0,
            "rejected": value("duomfa_radius_requests_total", {"result": "reject"}) or 0.0,
            "exempt": value("duomfa_exempt_accepts_total") or 0.0,
            "fail_open": value("duomfa_fail_open_total") or 0.0,
            "fail_closed": value("duomfa_fail_closed_total") or 0.0,
            "push_guard": value("duomfa_push_guard_rejects_total") or 0.0,
        }
        totals["faults_after_preauth"] = _sum(self.faults_after_preauth)
        drops = {reason: value("duomfa_radius_drops_total", {"reason": reason}) or 0.0 for reason in DROP_REASONS}
        totals[STATS_DROPPED] = sum(drops.values())
        totals.update({f"dropped_{reason}": count for reason, count in drops.items()})
        totals["duo_errors"] = _sum(self.duo_errors)
        kinds = dict.fromkeys(DUO_ERROR_KINDS, 0.0)
        for metric in self.duo_errors.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    label = sample.labels["kind"]
                    kinds[DUO_ERROR_KIND.get(label, "refused" if label.startswith("http_4") else "not_duo")] += \
                        sample.value
        totals.update({f"duo_errors_{kind}": count for kind, count in kinds.items()})
        return totals

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
