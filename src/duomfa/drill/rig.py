"""What every drill sets up: moto's server as the AWS side, the local MFA service as Duo (a drill application and a
user Duo lets through), a timeline of what happened, and the drill's own error."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from duomfa.drill.local_aws import REGION
from duomfa.secret_document import API_HOST, IKEY, RADIUS_SECRET, SKEY

EXEMPT_USER = "drill-exempt"  # let in by the proxy without Duo
DUO_USER = "drill-bypass"  # through Duo's preauth, answered allow: a Duo round trip without a phone
CLIENT_ADDRESS = "127.0.0.1"  # the "domain controller"


class DrillError(Exception):
    """The drill could not be set up or run (not: logins failed — that is its result)."""


@dataclass
class Timeline:
    """What happened when, printed as it happens and returned with the result."""

    progress: TextIO
    started: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str]] = field(default_factory=list)

    def say(self, what: str) -> None:
        self.events.append((round(time.monotonic() - self.started, 2), what))
        print(f"[{self.events[-1][0]:6.2f}s] {what}", file=self.progress, flush=True)

    def as_json(self) -> list[dict[str, Any]]:
        return [{"t": t, "event": what} for t, what in self.events]


@dataclass
class Rig:
    endpoint: str  # moto's server
    api_host: str  # the MFA service, as the proxies' Duo API host
    ca_cert: Path  # the MFA service's CA, for the proxies' ca_certs
    ikey: str
    skey: str
    _clients: dict[str, Any] = field(default_factory=dict)

    def aws(self, service: str) -> Any:
        """A boto3 client of moto's server (one per service; boto3 clients are thread-safe)."""
        import boto3

        if service not in self._clients:
            self._clients[service] = boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                                                  aws_access_key_id="drill", aws_secret_access_key="drill")
        return self._clients[service]

    def secret_document(self, shared_secret: str) -> dict[str, str]:
        return {IKEY: self.ikey, SKEY: self.skey, API_HOST: self.api_host, RADIUS_SECRET: shared_secret}

    def proxy_env(self, *, with_aws: bool) -> dict[str, str]:
        """This process's environment without any DUOMFA_ or AWS_ setting, plus moto's endpoint if asked."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DUOMFA_", "AWS_"))}
        env["PYTHONUNBUFFERED"] = "1"
        if with_aws:
            env.update(AWS_ENDPOINT_URL=self.endpoint, AWS_DEFAULT_REGION=REGION, AWS_ACCESS_KEY_ID="drill",
                       AWS_SECRET_ACCESS_KEY="drill")
        return env


@contextlib.asynccontextmanager
async def drill_rig(workdir: Path) -> AsyncIterator[Rig]:
    """Start moto's server and the MFA service (data in `workdir`/mfa); stop both on the way out."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise DrillError(f"the drill needs moto's server and boto3 ({exc.name} is missing): "
                         "pip install 'duomfa[drill]'") from None
    from duomfa.mfaservice.admin import Admin
    from duomfa.mfaservice.server import start_service

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        moto_port = sock.getsockname()[1]
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    try:
        mfa = await start_service(workdir / "mfa", "127.0.0.1", 0)
        try:
            admin = Admin(workdir / "mfa")
            app = admin.add_app("drill")
            admin.add_user(DUO_USER, totp=True, push=False, phone=None)
            admin.set_status(DUO_USER, "bypass")
            admin.close()
            yield Rig(endpoint=f"http://127.0.0.1:{moto_port}", api_host=mfa.api_host,
                      ca_cert=mfa.data_dir.ca_cert, ikey=app["ikey"], skey=app["skey"])
        finally:
            await mfa.close()
    finally:
        moto.stop()
