"""Running the proxy: the UDP transport (receive bytes, hand them to the pipeline, send what comes back), the
health and metrics HTTP listener, and the loop that re-reads the secrets source."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from duomfa import __version__, emf, fips, logline
from duomfa.config import CP1252, ConfigError, FailMode, ProxySettings
from duomfa.duo import DuoClient
from duomfa.duo.keys import DuoKeys
from duomfa.logline import JsonLog, SyslogSink
from duomfa.ports import port_unavailable
from duomfa.process import raise_open_file_limit, tune_garbage_collector
from duomfa.proxy.metrics import ProxyMetrics
from duomfa.proxy.pipeline import Pending, Pipeline
from duomfa.proxy.secrets_source import (
    FileSource,
    InlineSource,
    SecretsManagerSource,
    SecretsSourceError,
    SourceState,
    build_client_table,
    open_source,
    resolve_duo_keys,
)

READY_PING_SECONDS = 15.0
STATS_SECONDS = 60.0


class RadiusProtocol(asyncio.DatagramProtocol):
    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            outcome = self.pipeline.receive(data, addr)
        except Exception as exc:  # nothing that arrives may stop the receive loop
            self.pipeline.metrics.drop("internal_error")
            self.pipeline.log.event("ERROR", "internal_error", client=addr[0], error=type(exc).__name__,
                                    detail=str(exc)[:200])
            return
        if type(outcome) is bytes:
            self.transport.sendto(outcome, addr)  # type: ignore[union-attr]
        elif isinstance(outcome, Pending):
            task = asyncio.ensure_future(outcome.reply)
            self._tasks.add(task)
            task.add_done_callback(lambda done: self._send_result(done, addr))
        # else a Drop: the pipeline has counted it

    def _send_result(self, done: asyncio.Future[Any], addr: tuple[str, int]) -> None:
        self._tasks.discard(done)
        if done.cancelled() or done.exception() is not None:
            return
        reply = done.result()
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors for replies to vanished clients: nothing to do

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass
class RunningProxy:
    settings: ProxySettings
    pipeline: Pipeline
    protocol: RadiusProtocol
    transport: asyncio.DatagramTransport
    http_runner: web.AppRunner | None
    port: int
    http_port: int | None
    log: JsonLog
    duo_keys: DuoKeys | None = None
    duo_keys_problem: str | None = None  # why there are no usable Duo keys, while there are none
    duo_reachable: bool = False
    syslog: SyslogSink | None = None  # the copy to syslog this proxy opened (log_syslog)
    _background: list[asyncio.Task[Any]] = field(default_factory=list)

    async def close(self, drain_seconds: float = 0.0) -> None:
        """Stop. With `drain_seconds`, first finish the requests already being decided (a push a user is about to
        approve) while refusing new ones; what is still open after that is abandoned without a reply."""
        self.pipeline.draining = True
        pending = set(self.protocol._tasks)
        if pending and drain_seconds > 0:
            self.log.event("INFO", "draining", in_flight=len(pending), seconds=drain_seconds)
            _, pending = await asyncio.wait(pending, timeout=drain_seconds)
        if pending:
            self.log.event("WARNING", "abandoned", in_flight=len(pending),
                           detail="still waiting for Duo when the proxy stopped; the client will retry elsewhere")
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for task in self._background:
            task.cancel()
        if self._background:  # bounded: a background loop must never keep the proxy from stopping
            await asyncio.wait(self._background, timeout=5)
        self.transport.close()
        if self.http_runner is not None:
            await self.http_runner.cleanup()
        if self.pipeline.duo is not None:
            await self.pipeline.duo.close()
        self.log.event("INFO", "stopped")
        self.log.flush()
        if self.syslog is not None:
            if self.log.syslog is self.syslog:
                self.log.syslog = None
            self.syslog.close()


def _duo_client(settings: ProxySettings, keys: DuoKeys, metrics: ProxyMetrics, log: JsonLog) -> DuoClient:
    return DuoClient(keys.ikey, keys.skey.reveal(), keys.api_host, ca_certs=settings.ca_certs,
                     api_timeout=settings.api_timeout, http_proxy=settings.http_proxy,
                     long_poll_grace=settings.long_poll_grace_seconds, on_response=metrics.observe_duo, log=log,
                     fips_mode=settings.fips_mode)


def _use_duo_keys(proxy: RunningProxy, keys: DuoKeys | str) -> None:
    """Make these keys (or their absence) the ones requests use; a client on the old keys finishes what it has."""
    metrics = proxy.pipeline.metrics
    if isinstance(keys, str):
        proxy.duo_keys, proxy.duo_keys_problem = None, keys
        metrics.duo_keys_missing.set(1)
        old, proxy.pipeline.duo = proxy.pipeline.duo, None
    else:
        proxy.duo_keys_problem = None
        metrics.duo_keys_missing.set(0)
        if keys == proxy.duo_keys and proxy.pipeline.duo is not None:
            return
        old, proxy.pipeline.duo = proxy.pipeline.duo, _duo_client(proxy.settings, keys, metrics, proxy.log)
        proxy.duo_keys = keys
    if old is not None:  # let requests already talking to Duo finish on the old client
        asyncio.get_running_loop().call_later(
            proxy.settings.push_wait_seconds + 5, lambda: asyncio.ensure_future(old.close()))


def _http_app(proxy: RunningProxy) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        healthy = not proxy.transport.is_closing()
        return web.json_response({"status": "ok" if healthy else "closing", "version": __version__},
                                 status=200 if healthy else 503)

    async def readyz(request: web.Request) -> web.Response:
        listening = not proxy.transport.is_closing()
        duo_ok = proxy.duo_reachable or proxy.settings.failmode is FailMode.SAFE
        clients = len(proxy.pipeline.clients)
        reasons = [why for failed, why in (
            (not listening, "the RADIUS listener is closed"),
            (proxy.duo_keys_problem is not None, proxy.duo_keys_problem),
            (not duo_ok, "Duo's /ping does not answer (failmode secure)"),
            (clients == 0, "no RADIUS clients with a shared secret"),
        ) if failed]
        return web.json_response({"ready": not reasons, "listening": listening, "duo_reachable": proxy.duo_reachable,
                                  "duo_keys": proxy.duo_keys_problem is None, "failmode": proxy.settings.failmode,
                                  "clients": clients, "reasons": reasons},
                                 status=503 if reasons else 200)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=proxy.pipeline.metrics.exposition(),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def _watch_duo(proxy: RunningProxy) -> None:
    """Keep /readyz honest: is Duo's /ping answering?"""
    while True:
        duo = proxy.pipeline.duo
        reachable = False
        if duo is not None:
            with contextlib.suppress(Exception):
                await duo.ping()
                reachable = True
        if reachable != proxy.duo_reachable:
            proxy.log.event("INFO" if reachable else "WARNING", "duo_reachability", reachable=reachable)
        proxy.duo_reachable = reachable
        await asyncio.sleep(READY_PING_SECONDS)


async def _log_stats(proxy: RunningProxy, interval: float = STATS_SECONDS) -> None:
    """Once a minute, what happened in that minute: one line that log-based alarms can count."""
    previous = proxy.pipeline.metrics.totals()
    proxy.pipeline.metrics.login_latency.take()  # the samples, like the counts, start with the first interval
    proxy.pipeline.metrics.duo_latency_sample.take()
    syslog_dropped = proxy.syslog.dropped if proxy.syslog is not None else 0
    while True:
        await asyncio.sleep(interval)
        current = proxy.pipeline.metrics.totals()
        delta = {key: int(current[key] - previous.get(key, 0.0)) for key in current}
        previous = current
        if proxy.syslog is not None:  # lines syslog did not take (the daemon behind or gone); stdout has them all
            delta["syslog_dropped"] = proxy.syslog.dropped - syslog_dropped
            syslog_dropped = proxy.syslog.dropped
        metrics = proxy.pipeline.metrics
        fields: dict[str, Any] = {
            "interval_s": interval, "pending_pushes": proxy.pipeline.pending_pushes,
            "secret_versions": len({v.label for e in proxy.pipeline.clients.entries() for v in e.secrets}),
            "duo_reachable": proxy.duo_reachable, "duo_keys": proxy.duo_keys_problem is None, **delta,
            emf.LOGIN_LATENCY: metrics.login_latency.take(), emf.DUO_LATENCY: metrics.duo_latency_sample.take()}
        if proxy.settings.metrics_namespace:  # CloudWatch Logs turns these fields into metrics
            fields["_aws"] = emf.metrics_block(proxy.settings.metrics_namespace, {
                name: unit for name, unit in emf.PROXY_METRICS.items() if fields.get(name) != []})
        proxy.log.event("INFO", logline.STATS, **fields)
        proxy.pipeline.notices.summarize(interval)
        _report_missing_keys(proxy)


def _report_missing_keys(proxy: RunningProxy) -> None:
    """While there are no usable Duo keys, an ERROR each minute: every non-exempt login is being rejected."""
    if proxy.duo_keys_problem is not None:
        proxy.log.event("ERROR", logline.DUO_KEYS_MISSING, detail=proxy.duo_keys_problem,
                        secrets_source=_source_name(proxy.settings),
                        effect="every login that needs Duo is rejected until the keys are fixed")


def _source_name(settings: ProxySettings) -> str:
    return str(settings.secrets_source)  # inline, file:PATH or aws-secretsmanager:ARN: no secret in any of them


def apply_source_state(proxy: RunningProxy, state: SourceState) -> None:
    """Make a new reading of the secrets source the one in use, whole or not at all: anything unusable raises
    before a thing has changed."""
    clients = build_client_table(proxy.settings, state)
    keys = resolve_duo_keys(proxy.settings, state)
    if isinstance(keys, str) and proxy.duo_keys is not None:
        raise SecretsSourceError(f"{keys}; the Duo keys in use are kept", state.version)
    if not isinstance(keys, str) and keys != proxy.duo_keys:
        _duo_client(proxy.settings, keys, proxy.pipeline.metrics, proxy.log)  # constructs, or raises: nothing in use
    proxy.pipeline.clients = clients
    proxy.pipeline.metrics.secret_versions.set(len(state.versions))
    _use_duo_keys(proxy, keys)


async def _refresh_secrets(proxy: RunningProxy, source: FileSource | SecretsManagerSource,
                           state: SourceState | None) -> None:
    """Read the source again and again; a reading that cannot be used is logged and counted, and the proxy keeps
    the last good one — it must never lock everyone out, nor stop refreshing."""
    fingerprint = state.fingerprint if state else None
    while True:
        await asyncio.sleep(proxy.settings.secrets_refresh_seconds)
        fresh: SourceState | None = None
        try:
            fresh = await source.read()
            if fresh.fingerprint == fingerprint:
                continue
            apply_source_state(proxy, fresh)
        except Exception as exc:
            proxy.pipeline.metrics.secrets_errors.inc()
            version = getattr(exc, "version", None) or (fresh.version if fresh is not None else None)
            # only our own messages are logged whole: another exception's text could quote a secret's value
            detail = str(exc) if isinstance(exc, SecretsSourceError) else _where(exc)
            proxy.log.event("ERROR", logline.SECRETS_SOURCE_ERROR, source=_source_name(proxy.settings), version=version,
                            error=type(exc).__name__, detail=detail, action="keeping the last good secrets")
            continue
        fingerprint = fresh.fingerprint
        proxy.log.event("INFO", "secrets_updated", source=_source_name(proxy.settings), version=fresh.version,
                        versions=[v.label for v in fresh.versions], clients=len(proxy.pipeline.clients),
                        duo_keys=proxy.duo_keys_problem is None)


def _where(exc: BaseException) -> str:
    """Where an unexpected exception was raised (file:line in function), without its message."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "unexpected error"
    code = tb.tb_frame.f_code
    return f"unexpected error at {code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno} in {code.co_name}"


def _bind_udp_socket(settings: ProxySettings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.interface else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    # no SO_REUSEADDR: on Linux it would let a second proxy bind the same UDP port and take half the requests
    with contextlib.suppress(OSError):  # bigger buffers ride out bursts of logins
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    sock.bind((settings.interface, settings.port))
    return sock


def _open_syslog(settings: ProxySettings, log: JsonLog) -> SyslogSink | None:
    """log_syslog: a copy of every line to the local syslog; with no daemon to send to (a container has none), one
    WARNING, and standard output only."""
    if not settings.log_syslog:
        return None
    sink = SyslogSink(settings.syslog_address, settings.syslog_facility)
    problem = sink.connect()
    if problem is not None:
        log.event("WARNING", "syslog_unavailable", address=settings.syslog_address, error=problem,
                  detail="log_syslog = true, but no syslog daemon listens there (as in a container): logging to "
                         "standard output only")
        return None
    log.syslog = sink
    return sink


# which option chose each port, for the message when it cannot be had; `duomfa up` names its own flags
PORT_OPTIONS = {"port": "port in [radius_server_duo_only] (or DUOMFA_PORT)",
                "http_port": "http_port in [radius_server_duo_only] (or DUOMFA_HTTP_PORT)"}


async def start_proxy(settings: ProxySettings, log: JsonLog | None = None,
                      port_options: dict[str, str] | None = None) -> RunningProxy:
    chosen_by = port_options or PORT_OPTIONS
    log = log or JsonLog(debug=settings.debug)
    crypto = _prepare_crypto(settings, log)
    raise_open_file_limit()
    syslog = _open_syslog(settings, log)
    if settings.config_file is not None:
        log.event("WARNING" if settings.config_encoding == CP1252 else "INFO", "config_read",
                  file=settings.config_file, encoding=settings.config_encoding)
    for notice in settings.notices:
        log.event("WARNING", "config_notice", detail=notice)
    metrics = ProxyMetrics()
    metrics.fips_mode.set(1 if crypto.fips_mode else 0)
    source = open_source(settings)
    state = await source.read() if source.refreshes else None  # a source that cannot be read stops the start
    clients = build_client_table(settings, state)
    if state is not None:
        metrics.secret_versions.set(len(state.versions))
    pipeline = Pipeline(settings, clients, None, metrics, log)
    loop = asyncio.get_running_loop()
    try:
        sock = _bind_udp_socket(settings)
    except OSError as exc:
        if syslog is not None:
            syslog.close()
        raise port_unavailable(exc, "UDP", settings.interface, settings.port, chosen_by["port"]) from None
    transport, protocol = await loop.create_datagram_endpoint(lambda: RadiusProtocol(pipeline), sock=sock)
    port = sock.getsockname()[1]
    proxy = RunningProxy(settings, pipeline, protocol, transport, None, port, None, log, syslog=syslog)
    _use_duo_keys(proxy, resolve_duo_keys(settings, state))
    duo = pipeline.duo
    if settings.http_port is not None:
        runner = web.AppRunner(_http_app(proxy), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, settings.http_interface, settings.http_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            await proxy.close()
            raise port_unavailable(exc, "TCP", settings.http_interface, settings.http_port,
                                   chosen_by["http_port"]) from None
        proxy.http_runner = runner
        proxy.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    proxy._background.append(asyncio.create_task(_watch_duo(proxy)))
    proxy._background.append(asyncio.create_task(_log_stats(proxy)))
    if not isinstance(source, InlineSource):
        proxy._background.append(asyncio.create_task(_refresh_secrets(proxy, source, state)))
    tune_garbage_collector()
    log.event("INFO", "listening", port=port, interface=settings.interface, http_port=proxy.http_port,
              clients=len(clients), failmode=settings.failmode, api_host=duo.api_host if duo else None,
              require_message_authenticator=settings.require_message_authenticator,
              secrets_source=settings.secrets_source.kind, version=__version__, fips_mode=crypto.fips_mode,
              fips_provider=crypto.fips_provider, radius_md5=crypto.radius_md5, random_source=crypto.random_source,
              openssl=crypto.openssl)
    _report_missing_keys(proxy)
    log.flush()
    return proxy


def _prepare_crypto(settings: ProxySettings, log: JsonLog) -> fips.CryptoSetup:
    """FIPS mode's start check and RADIUS's MD5, before anything else: a refusal is logged, then raised."""
    try:
        return fips.prepare(settings.fips_mode, settings.fips_mode_origin)
    except ConfigError as exc:
        log.event("ERROR", "crypto_refused", fips_mode=settings.fips_mode, detail=str(exc))
        log.flush()
        raise


async def serve_until_stopped(settings: ProxySettings) -> None:
    from duomfa.signals import wait_for_stop_signal

    proxy = await start_proxy(settings)
    drain = 0.0
    try:
        signum = await wait_for_stop_signal()
        proxy.log.event("INFO", "stopping", signal=signum.name)
        drain = settings.push_wait_seconds + 5  # within ECS's stop timeout (the task definition gives 120 s)
    finally:
        await proxy.close(drain_seconds=drain)

