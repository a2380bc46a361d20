"""The `duomfa` command: the local stack, the MFA service and its admin commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from duomfa import __version__


class CommandError(Exception):
    """A command that cannot do what was asked; the message says why and what to do."""


def _emit(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2))
    else:
        print(text)


def _policy(args: argparse.Namespace):
    from duomfa.mfaservice.service import Policy

    if args.lockout_threshold < 0:
        raise CommandError("--lockout-threshold must be 0 (no lockout) or more")
    if args.push_timeout <= 0 or args.long_poll <= 0:
        raise CommandError("--push-timeout and --long-poll must be positive")
    return Policy(new_user_policy=args.new_user_policy, lockout_threshold=args.lockout_threshold,
                  push_timeout=args.push_timeout, long_poll=args.long_poll)


def _add_policy_options(parser: argparse.ArgumentParser) -> None:
    from duomfa.mfaservice.service import NEW_USER_POLICIES

    parser.add_argument("--new-user-policy", choices=NEW_USER_POLICIES, default="enroll",
                        help="what preauth answers for a user it does not know (default: enroll)")
    parser.add_argument("--lockout-threshold", type=int, default=10,
                        help="consecutive failures that lock a user out; 0 turns lockout off (default: 10)")
    parser.add_argument("--push-timeout", type=float, default=60.0,
                        help="seconds before an unanswered push or call is denied as timed out (default: 60)")
    parser.add_argument("--long-poll", type=float, default=15.0,
                        help="longest /auth_status waits for a decision, in seconds (default: 15)")
    parser.add_argument("--log-requests", action="store_true",
                        help="write one JSON line per API request to the MFA service's logs/requests.jsonl: method, "
                             "path, parameter names (never values), ikey, HTTP status, Duo code, duration")


# duomfa mfa serve
def cmd_mfa_serve(args: argparse.Namespace) -> int:
    from duomfa.mfaservice.server import serve_forever

    policy = _policy(args)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(args.data, args.host, args.port, policy, log_requests=args.log_requests))
    return 0


# duomfa mfa app …
def _admin(args: argparse.Namespace):
    from duomfa.mfaservice.admin import Admin

    return Admin(args.data)


def cmd_app_add(args: argparse.Namespace) -> int:
    admin = _admin(args)
    result = admin.add_app(args.name)
    _emit(args, result, "\n".join([
        f"integration {result['name']} created",
        f"  ikey     {result['ikey']}",
        f"  skey     {result['skey']}",
        f"  api_host {result['api_host']}",
        f"  ca_cert  {result['ca_cert']}",
    ]))
    return 0


def cmd_app_list(args: argparse.Namespace) -> int:
    result = _admin(args).list_apps()
    lines = [f"{i['name']:<24} {i['ikey']}  {i['api_host']}" for i in result["integrations"]]
    _emit(args, result, "\n".join(lines) or "no integrations (add one with `duomfa mfa app add NAME`)")
    return 0


def cmd_app_remove(args: argparse.Namespace) -> int:
    result = _admin(args).remove_app(args.name)
    _emit(args, result, f"integration {args.name} removed")
    return 0


# duomfa mfa user …
def _qr_text(uri: str, style: str | None) -> str:
    from duomfa.mfaservice import qr

    return qr.terminal(uri, style or ("ansi" if sys.stdout.isatty() else "plain"))


def cmd_user_add(args: argparse.Namespace) -> int:
    result = _admin(args).add_user(args.username, totp=args.totp, push=args.push, phone=args.phone)
    lines = [f"user {result['username']} ({result['user_id']}) added"]
    for device in result["devices"]:
        lines.append(f"  device {device['device']}: {', '.join(device.get('capabilities', [])) or 'token'}")
        lines.append(f"  device page: {device['device_page']}")
    if "totp_uri" in result:
        lines.append(f"  TOTP: {result['totp_uri']}")
        if args.qr != "none":
            lines.append("  scan this with an authenticator app:")
            lines.append(_qr_text(result["totp_uri"], args.qr))
    _emit(args, result, "\n".join(lines))
    return 0


def cmd_user_status(args: argparse.Namespace) -> int:
    result = _admin(args).set_status(args.username, args.status)
    _emit(args, result, f"user {result['username']} is now {result['status']}")
    return 0


def cmd_user_unlock(args: argparse.Namespace) -> int:
    result = _admin(args).unlock(args.username)
    _emit(args, result, f"user {result['username']} unlocked"
          + ("" if result["was_locked_out"] else " (was not locked out)"))
    return 0


def cmd_user_bypass_codes(args: argparse.Namespace) -> int:
    result = _admin(args).bypass_codes(args.username, args.count)
    _emit(args, result, f"bypass codes for {result['username']} (each works once; older ones no longer work):\n  "
          + "\n  ".join(result["bypass_codes"]))
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    result = _admin(args).list_users()
    lines = []
    for user in result["users"]:
        flags = " LOCKED OUT" if user["locked_out"] else ""
        lines.append(f"{user['username']:<24} {user['user_id']}  {user['status']:<8} "
                     f"{len(user['devices'])} device(s){flags}")
    _emit(args, result, "\n".join(lines) or "no users (add one with `duomfa mfa user add USER`)")
    return 0


def cmd_user_show(args: argparse.Namespace) -> int:
    result = _admin(args).show_user(args.username)
    lines = [f"{result['username']} ({result['user_id']}): {result['status']}"
             + (", locked out" if result["locked_out"] else "")]
    for device in result["devices"]:
        lines.append(f"  {device['device']} {device['type']}: {device['device_page']}")
    _emit(args, result, "\n".join(lines))
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    result = _admin(args).remove_user(args.username)
    _emit(args, result, f"user {result['username']} removed")
    return 0


def _hotp_seed(args: argparse.Namespace) -> str:
    """The token's seed from --secret-file, standard input (--secret-stdin or --secret -) or --secret HEX.

    Error messages name where the seed was to come from, never what was read.
    """
    if args.secret_file is not None:
        try:
            with open(args.secret_file, encoding="ascii") as handle:
                seed = handle.read().strip()
        except OSError as exc:
            raise CommandError(f"cannot read --secret-file {args.secret_file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CommandError(f"--secret-file {args.secret_file} does not hold a hex seed") from None
        source = f"--secret-file {args.secret_file}"
    elif args.secret_stdin or args.secret == "-":
        if sys.stdin.isatty():
            import getpass

            seed = getpass.getpass("HOTP seed (hex, not echoed): ").strip()
        else:
            seed = sys.stdin.readline().strip()
        source = "standard input"
    else:
        print("duomfa: warning: a seed given with --secret is visible to other users of this machine (ps, shell "
              "history); prefer --secret-file PATH or --secret-stdin", file=sys.stderr)
        return args.secret
    if not seed:
        raise CommandError(f"no HOTP seed on {source}")
    return seed


def cmd_hotp_add(args: argparse.Namespace) -> int:
    result = _admin(args).add_hotp(args.username, _hotp_seed(args), args.counter)
    _emit(args, result, f"HOTP token {result['device']['device']} added for {result['username']}")
    return 0


def cmd_push_answer(args: argparse.Namespace) -> int:
    result = _admin(args).answer_push(args.username, approve=args.decision == "approve", txid=args.txid)
    verb = "approved" if result["result"] == "allow" else "denied"
    _emit(args, result, f"{verb} request {result['txid']} for {result['username']}")
    return 0


def cmd_mfa_log(args: argparse.Namespace) -> int:
    from duomfa.mfaservice.admin import read_auth_log

    entries = read_auth_log(args.data, args.user)
    if args.limit:
        entries = entries[-args.limit:]
    if args.json:
        print(json.dumps({"entries": entries}, indent=2))
        return 0
    import datetime

    for entry in entries:
        when = datetime.datetime.fromtimestamp(entry.get("time", 0), datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when} {entry.get('event', ''):<6} {entry.get('username', ''):<16} {entry.get('factor', '') or '':<9}"
              f"{entry.get('result', ''):<6} {entry.get('reason', '')}  ip={entry.get('ipaddr', '') or '-'}"
              + (f" txid={entry['txid']}" if entry.get("txid") else ""))
    return 0


# duomfa proxy
def cmd_proxy(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from duomfa.config import load_settings
    from duomfa.proxy.server import serve_until_stopped

    settings = load_settings(Path(args.config) if args.config else None, os.environ)
    _run(serve_until_stopped(settings))
    return 0


def _run(main) -> None:
    """Run a long-lived coroutine on uvloop when it is installed (it is what the benchmarks measure)."""
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(main)


# duomfa radtest
def cmd_radtest(args: argparse.Namespace) -> int:
    import os

    from duomfa.radtest import radtest

    secret = args.secret if args.secret is not None else os.environ.get("DUOMFA_RADTEST_SECRET")
    if not secret:
        raise CommandError("give the shared secret with --secret or DUOMFA_RADTEST_SECRET")
    result = asyncio.run(radtest(args.username, args.factor, server=args.server, port=args.port,
                                 secret=secret.encode("utf-8"), timeout=args.timeout,
                                 calling_station_id=args.calling_station_id))
    document = {"code": result.code, "reply_message": result.reply_message, "rtt_ms": result.rtt_ms,
                "attempts": result.attempts}
    if result.code is None:
        text = (f"no reply from {args.server}:{args.port} in {args.timeout:g} s ({result.attempts} attempts): "
                "wrong shared secret, not a configured client, or the proxy is not running")
    else:
        text = f"{result.code} in {result.rtt_ms} ms" + (f": {result.reply_message}" if result.reply_message else "")
    _emit(args, document, text)
    return 0 if result.code == "Access-Accept" else (2 if result.code is None else 1)


# duomfa synth
DIRECT_UPLOAD_LIMIT = 51_200  # bytes CloudFormation takes in a request body; larger templates go through S3


SUPPORTED_NODE = (22, 24)  # the Node.js releases jsii 1.142 (and so aws-cdk-lib 2.275) supports


def _node_major_version() -> int | None:
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        return None
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
        return int(version.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def cmd_synth(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    node = _node_major_version()
    if node is None:
        raise CommandError("duomfa synth needs Node.js (22 or 24; the AWS CDK runs on it): install it, then run "
                           "synth again")
    if node < SUPPORTED_NODE[0]:
        supported = " or ".join(map(str, SUPPORTED_NODE))
        print(f"duomfa synth: Node {node} is older than the AWS CDK supports (Node {supported}); the templates are "
              "written, but upgrade Node before relying on it", file=sys.stderr)
    # jsii's own banner about the Node version, printed as Python byte strings, says the same less clearly
    for warning in ("END_OF_LIFE", "DEPRECATED", "UNTESTED"):
        os.environ.setdefault(f"JSII_SILENCE_WARNING_{warning}_NODE_VERSION", str(node))
    try:
        from duomfa.infra.app import synth_templates
    except ImportError as exc:
        raise CommandError(f"duomfa synth needs the CDK libraries ({exc.name} is missing): "
                           "pip install 'duomfa[infra]'") from None
    paths = synth_templates(Path(args.out))
    sizes = [(str(path), path.stat().st_size) for path in paths]
    templates = [{"path": name, "bytes": size} for name, size in sizes]
    lines = [f"{name}  {size:,} bytes" for name, size in sizes]
    if any(size > DIRECT_UPLOAD_LIMIT for _, size in sizes):
        lines.append(f"templates over {DIRECT_UPLOAD_LIMIT:,} bytes deploy through S3: upload them in the console "
                     "(it stores them in S3 for you) or pass --template-url, not --template-body")
    _emit(args, {"templates": templates}, "\n".join(lines))
    return 0


# duomfa drill
def cmd_drill_rotation(args: argparse.Namespace) -> int:
    from duomfa.drill.rotation import DrillError, drill_rotation

    try:
        result = drill_rotation(args.auths, args.order, progress=sys.stderr,
                                control_log=sys.stderr if args.verbose else None, directory=args.directory)
    except DrillError as exc:
        raise CommandError(str(exc)) from None
    summary = {key: result[key] for key in ("order", "directory", "sent", "accepted", "rejected", "timed_out",
                                            "old_secret_refused", "duration_s")}
    _emit(args, summary, "\n".join([
        f"rotation drill, order {result['order']}, {result['directory']} directory: {result['sent']} logins in "
        f"{result['duration_s']} s",
        f"  accepted {result['accepted']}, rejected {result['rejected']}, timed out {result['timed_out']}"
        f" ({result['resends']} resends)",
    ] + ([f"  previous secret refused after its retirement: {'yes' if result['old_secret_refused'] else 'NO'}"]
         if result["order"] == "ours" else [])))
    if result["order"] == "seed":
        return 0
    return 0 if not result["rejected"] and not result["timed_out"] and result["old_secret_refused"] else 1


def cmd_drill_redeploy(args: argparse.Namespace) -> int:
    from duomfa.drill.redeploy import DrillError, drill_redeploy

    try:
        result = drill_redeploy(args.auths, args.layout, args.order, progress=sys.stderr,
                                control_log=sys.stderr if args.verbose else None)
    except DrillError as exc:
        raise CommandError(str(exc)) from None
    summary = {key: result[key] for key in ("layout", "order", "sent", "accepted", "rejected", "timed_out",
                                            "duration_s")}
    _emit(args, summary, "\n".join([
        f"redeploy drill, layout {result['layout']}, order {result['order']}: {result['sent']} logins in "
        f"{result['duration_s']} s",
        f"  accepted {result['accepted']}, rejected {result['rejected']}, timed out {result['timed_out']}"
        f" ({result['resends']} resends)",
    ]))
    promised = result["layout"] == "nlb" and result["order"] == "ours"  # the layout that promises no failed login
    return 1 if promised and (result["rejected"] or result["timed_out"]) else 0


# duomfa doctor
def cmd_doctor(args: argparse.Namespace) -> int:
    import os

    from duomfa.doctor import run_doctor

    if args.probe and args.config is None and args.stack is not None:
        raise CommandError("--probe checks a proxy on this host: give its configuration with -c FILE")
    return run_doctor(config=args.config, stack=args.stack, region=args.region, probe=args.probe, as_json=args.json,
                      environ=os.environ)


# duomfa up
def cmd_up(args: argparse.Namespace) -> int:
    from duomfa.stack import run_stack

    _run(run_stack(args, _policy(args)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duomfa", description=__doc__)
    parser.add_argument("--version", action="version", version=f"duomfa {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", metavar="DIR",
                       help="the directory `duomfa up` printed, or the MFA service's own data directory (default: "
                            "the one `duomfa up` uses, a per-user directory)")

    def json_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print one JSON object, for scripts")

    up = commands.add_parser("up", help="run the local stack: MFA service, RADIUS proxy, demo user")
    up.add_argument("--data", metavar="DIR",
                    help="where the stack keeps its data, the MFA service's in DIR/mfaservice; `duomfa mfa … --data` "
                         "takes the same DIR (default: a per-user directory, printed at start)")
    up.add_argument("--port", type=int, default=1812, help="UDP port of the RADIUS proxy (default: 1812)")
    up.add_argument("--http-port", type=int, default=8080,
                    help="port of the proxy's /healthz, /readyz and /metrics (default: 8080)")
    up.add_argument("--mfa-port", type=int, default=8443, help="HTTPS port of the MFA service (default: 8443)")
    _add_policy_options(up)
    up.set_defaults(func=cmd_up)

    proxy = commands.add_parser("proxy", help="run the RADIUS→Duo proxy")
    proxy.add_argument("-c", "--config", metavar="FILE",
                       help="authproxy.cfg-style file; DUOMFA_* environment variables override it")
    proxy.set_defaults(func=cmd_proxy)

    drill = commands.add_parser("drill", help="exercises that show the system's promises hold").add_subparsers(
        dest="drill_command", required=True, metavar="COMMAND")
    p = drill.add_parser("rotation", help="rotate the shared secret under load; count failed logins")
    p.add_argument("--auths", type=int, default=5000, help="at least this many logins (default: 5000)")
    p.add_argument("--order", choices=("ours", "seed"), default="ours",
                   help="ours, or the original solution's order for comparison (default: ours)")
    p.add_argument("--directory", choices=("normal", "slow"), default="normal",
                   help="slow: the directory keeps showing its old Completed and takes longer than the settle time "
                        "to use the new secret (default: normal)")
    p.add_argument("--verbose", action="store_true", help="also show the control plane's log lines (stderr)")
    p.add_argument("--json", action="store_true", help="print one JSON object, for scripts")
    p.set_defaults(func=cmd_drill_rotation)
    p = drill.add_parser("redeploy", help="replace the proxies one by one under load; count failed logins")
    p.add_argument("--auths", type=int, default=2000, help="at least this many logins (default: 2000)")
    p.add_argument("--layout", choices=("nlb", "addresses"), default="nlb",
                   help="the directory lists a load balancer or the proxies' own addresses (default: nlb)")
    p.add_argument("--order", choices=("ours", "seed"), default="ours",
                   help="ours, or the original solution's order for comparison (default: ours)")
    p.add_argument("--verbose", action="store_true", help="also show the control plane's log lines (stderr)")
    p.add_argument("--json", action="store_true", help="print one JSON object, for scripts")
    p.set_defaults(func=cmd_drill_redeploy)

    doctor = commands.add_parser("doctor", help="check a configuration, Duo, a running proxy or a deployed stack")
    doctor.add_argument("-c", "--config", metavar="FILE",
                        help="check the proxy's authproxy.cfg-style file (DUOMFA_* environment variables apply, as "
                             "for `duomfa proxy`); with neither -c nor --stack, the environment alone is checked")
    doctor.add_argument("--stack", metavar="NAME", help="check this deployed CloudFormation stack")
    doctor.add_argument("--region", help="the stack's AWS region (default: the AWS CLI's)")
    doctor.add_argument("--probe", action="store_true",
                        help="also send a Status-Server to the proxy running on the configured port")
    json_option(doctor)
    doctor.set_defaults(func=cmd_doctor)

    rt = commands.add_parser("radtest", help="send one Access-Request and print the reply")
    rt.add_argument("username")
    rt.add_argument("factor", help="what goes in the MFA code field: a passcode, push, phone, sms, push2 …")
    rt.add_argument("--server", default="127.0.0.1", help="the proxy's address (default: 127.0.0.1)")
    rt.add_argument("--port", type=int, default=1812, help="its UDP port (default: 1812)")
    rt.add_argument("--secret", help="the shared secret (or DUOMFA_RADTEST_SECRET)")
    rt.add_argument("--timeout", type=float, default=90.0,
                    help="give up after this many seconds, resending every 10 (default: 90)")
    rt.add_argument("--calling-station-id", help="the user's IP, as a NAS would send it")
    json_option(rt)
    rt.set_defaults(func=cmd_radtest)

    synth = commands.add_parser("synth", help="write the CloudFormation templates of the AWS deployment")
    synth.add_argument("--out", metavar="DIR", default="cdk.out/templates",
                       help="where to write <partition>/<variant>.template.json (default: cdk.out/templates)")
    json_option(synth)
    synth.set_defaults(func=cmd_synth)

    mfa = commands.add_parser("mfa", help="the local Duo-compatible MFA service").add_subparsers(
        dest="mfa_command", required=True, metavar="COMMAND")

    serve = mfa.add_parser("serve", help="run the HTTPS Auth API service")
    data_option(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8443, help="port to listen on (default: 8443)")
    _add_policy_options(serve)
    serve.set_defaults(func=cmd_mfa_serve)

    app = mfa.add_parser("app", help="integrations (ikey/skey pairs)").add_subparsers(
        dest="app_command", required=True, metavar="COMMAND")
    p = app.add_parser("add", help="create an integration and print its keys")
    p.add_argument("name")
    data_option(p)
    json_option(p)
    p.set_defaults(func=cmd_app_add)
    p = app.add_parser("list", help="list integrations")
    data_option(p)
    json_option(p)
    p.set_defaults(func=cmd_app_list)
    p = app.add_parser("remove", help="remove an integration")
    p.add_argument("name")
    data_option(p)
    json_option(p)
    p.set_defaults(func=cmd_app_remove)

    user = mfa.add_parser("user", help="users and their devices").add_subparsers(
        dest="user_command", required=True, metavar="COMMAND")
    p = user.add_parser("add", help="add a user with a device (default: --totp --push)")
    p.add_argument("username")
    p.add_argument("--totp", action="store_true", help="the device shows TOTP passcodes (authenticator app)")
    p.add_argument("--push", action="store_true", help="the device approves pushes on its device page")
    p.add_argument("--phone", metavar="NUMBER", help="the device takes calls and SMS passcodes at NUMBER")
    p.add_argument("--qr", choices=("ansi", "plain", "inverse", "none"),
                   help="how the TOTP QR code is drawn: ansi (black on white whatever the terminal's colours; the "
                        "default on a terminal), plain (no colour codes, blocks are dark: light backgrounds, files; "
                        "the default otherwise), inverse (no colour codes, blocks are light: dark terminals), none")
    data_option(p)
    json_option(p)
    p.set_defaults(func=cmd_user_add)
    p = user.add_parser("status", help="set a user's status")
    p.add_argument("username")
    p.add_argument("status", choices=("active", "bypass", "disabled"))
    data_option(p)
    json_option(p)
    p.set_defaults(func=cmd_user_status)
    p = user.add_parser("unlock", help="clear a lockout after too many failures")
    p.add_argument("username")
    data_option(p)
    json_option(p)
    p.set_defaults(func=cmd_user_unlock)
    p = user.add_parser("bypass-codes", help="issue one-time bypass codes (replacing older ones)")
    p.add_argument("username")
    p.add_argument("--count", type=int, default=10, help="how many (default: 10)")
    data_option(p)
    json_option(p)
    p.set_defaults(func=cmd_user_bypass_codes)
    p = user.add_parser("list", help="list users")
    data_option(p)
    json_option(p)
    p.set_defaults(func=cmd_user_list)
    p = user.add_parser("show", help="show a user and the links to their device pages")
    p.add_argument("username")
    data_option(p)
    json_option(p)
    p.set_defaults(func=cmd_user_show)
    p = user.add_parser("remove", help="remove a user and their devices")
    p.add_argument("username")
    data_option(p)
    json_option(p)
    p.set_defaults(func=cmd_user_remove)

    hotp = mfa.add_parser("hotp", help="hardware HOTP tokens").add_subparsers(
        dest="hotp_command", required=True, metavar="COMMAND")
    p = hotp.add_parser("add", help="add a hardware token (RFC 4226) to a user")
    p.add_argument("username")
    seed = p.add_mutually_exclusive_group(required=True)
    seed.add_argument("--secret", metavar="HEX",
                      help="the token's seed, in hex; '-' reads it from standard input. On the command line it is "
                           "visible to other users (ps): prefer --secret-file or --secret-stdin")
    seed.add_argument("--secret-stdin", action="store_true",
                      help="read the seed (hex) from standard input; prompts without echo on a terminal")
    seed.add_argument("--secret-file", metavar="PATH", help="read the seed (hex) from this file")
    p.add_argument("--counter", type=int, default=0, help="the token's current counter (default: 0)")
    data_option(p)
    json_option(p)
    p.set_defaults(func=cmd_hotp_add)

    push = mfa.add_parser("push", help="answer a pending push or call").add_subparsers(
        dest="push_command", required=True, metavar="COMMAND")
    for decision in ("approve", "deny"):
        p = push.add_parser(decision, help=f"{decision} the user's newest pending request")
        p.add_argument("username")
        p.add_argument("--txid", help="answer this request rather than the newest")
        data_option(p)
        json_option(p)
        p.set_defaults(func=cmd_push_answer, decision=decision)

    p = mfa.add_parser("log", help="read the authentication log")
    p.add_argument("--user", help="only this user's entries")
    p.add_argument("--limit", type=int, default=0, help="only the last N entries")
    data_option(p)
    json_option(p)
    p.set_defaults(func=cmd_mfa_log)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from duomfa.config import ConfigError
    from duomfa.mfaservice.datadir import DataDirError
    from duomfa.mfaservice.store import StoreError
    from duomfa.ports import PortUnavailable
    from duomfa.proxy.secrets_source import SecretsSourceError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CommandError, ConfigError, DataDirError, StoreError, SecretsSourceError, PortUnavailable) as exc:
        print(f"duomfa: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"duomfa: error: {exc}", file=sys.stderr)
        return 1
