"""Running the MFA service: open the data directory, prepare TLS, serve the Auth API and device pages."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from aiohttp import web

from duomfa.fips import requested as fips_requested
from duomfa.mfaservice import api, devicepage
from duomfa.mfaservice.address import DEFAULT_HOST, DEFAULT_PORT, api_host
from duomfa.mfaservice.auditlog import AuditLog
from duomfa.mfaservice.datadir import DataDir, open_data_dir
from duomfa.mfaservice.service import MfaService, Policy
from duomfa.mfaservice.store import Store
from duomfa.mfaservice.tls import ensure_server_cert, server_names, server_ssl_context
from duomfa.ports import port_unavailable
from duomfa.process import raise_open_file_limit, tune_garbage_collector
from duomfa.signals import wait_for_stop_signal

DEFAULT_POLICY = Policy()  # frozen: one instance serves every caller that passes none


def build_app(service: MfaService, request_log: AuditLog | None = None) -> web.Application:
    app = web.Application(client_max_size=api.MAX_BODY_BYTES, middlewares=[api.duo_api_paths])
    app[api.SERVICE_KEY] = service
    if request_log is not None:
        app[api.REQUEST_LOG_KEY] = request_log
    api.add_routes(app)
    devicepage.add_routes(app)

    async def lifecycle(app: web.Application):
        await service.broker.start()
        yield
        await service.broker.stop()

    app.cleanup_ctx.append(lifecycle)
    return app


@dataclass
class RunningService:
    data_dir: DataDir
    store: Store
    service: MfaService
    runner: web.AppRunner
    api_host: str
    port: int

    async def close(self) -> None:
        await self.runner.cleanup()
        self.service.close()  # lets the store worker finish what it was asked, before the connection goes
        self.store.close()


async def start_service(data_path: Path | str | None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                        policy: Policy = DEFAULT_POLICY, echo: TextIO | None = None,
                        log_requests: bool = False, port_option: str = "--port") -> RunningService:
    """Serve the Auth API and device pages. `echo`: where authentication lines (and, with `log_requests`, request
    lines) are copied besides the data directory's logs; `port_option`: what chose the port, for the message when
    it is taken."""
    data_dir = open_data_dir(data_path)
    store = Store(data_dir.database)
    ensure_server_cert(data_dir, server_names(host))
    store.prune(older_than=time.time() - 86400)
    service = MfaService(store, AuditLog(data_dir.auth_log, echo=echo), policy, base_url="")
    request_log = AuditLog(data_dir.request_log, echo=echo) if log_requests else None
    runner = web.AppRunner(build_app(service, request_log), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=server_ssl_context(data_dir), backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        store.close()
        raise port_unavailable(exc, "TCP", host, port, port_option) from None
    bound_port = port
    if port == 0:
        server = site._server  # the ephemeral port the OS picked
        bound_port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    raise_open_file_limit()
    tune_garbage_collector()
    # requests may already be arriving: from here on, the store belongs to the store worker
    await service.run(store.set_setting, "listen_host", host)
    await service.run(store.set_setting, "listen_port", str(bound_port))
    service.base_url = f"https://{api_host(host, bound_port)}"
    return RunningService(data_dir, store, service, runner, api_host(host, bound_port), bound_port)


NOT_FIPS = ("duomfa MFA service: not a FIPS component ({why}): it is for trials and tests, checks no FIPS provider "
            "and makes its certificates with the cryptography wheel's own OpenSSL; it runs as usual. The proxy and "
            "the control plane are the FIPS components (docs/deploy.md, \"Duo Federal and CMMC\")")


async def serve_forever(data_path: Path | str | None, host: str, port: int, policy: Policy,
                        out: TextIO = sys.stdout, log_requests: bool = False,
                        environ: Mapping[str, str] | None = None) -> None:
    if (why := fips_requested(os.environ if environ is None else environ)) is not None:
        print(NOT_FIPS.format(why=why), file=out, flush=True)
    running = await start_service(data_path, host, port, policy, echo=out, log_requests=log_requests)
    print(f"duomfa MFA service: data directory {running.data_dir.path}", file=out)
    print(f"duomfa MFA service: CA certificate {running.data_dir.ca_cert}", file=out)
    synchronous = await running.service.run(lambda: running.store.synchronous)
    print(f"duomfa MFA service: database {running.data_dir.database} (WAL, synchronous={synchronous}: "
          "a used one-time code is on disk before the answer goes out)", file=out)
    if log_requests:
        print(f"duomfa MFA service: request log {running.data_dir.request_log} (also echoed here)", file=out)
    print(f"duomfa MFA service: listening on https://{running.api_host} "
          f"(Auth API v2; device pages under /device/)", file=out, flush=True)
    try:
        signum = await wait_for_stop_signal()
        print(f"duomfa MFA service: stopping ({signum.name})", file=out, flush=True)
    finally:
        await running.close()
