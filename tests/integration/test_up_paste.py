"""What `duomfa up` prints works as pasted: on fresh data directories, with secrets from a seeded generator and from
one that walks the whole alphabet, each printed command is run through bash as printed against the running stack and
its login succeeds. An unusable secret left in a data directory is replaced, with a notice; `mfa --data` takes the
directory up printed; data at the earlier default location is pointed out."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shlex
import socket
import subprocess
import sys

import pyotp
import pytest

from duomfa.cli import build_parser
from duomfa.mfaservice.admin import Admin
from duomfa.mfaservice.datadir import DataDirError, earlier_default_stack_dir
from duomfa.mfaservice.service import Policy
from duomfa.mfaservice.store import StoreError
from duomfa.radtest import radtest
from duomfa.secret_document import SHARED_SECRET_ALPHABET, SHARED_SECRET_LENGTH
from duomfa.stack import shared_secret_problem, start_stack
from support import free_port

ENV = {key: value for key, value in os.environ.items() if not key.startswith("DUOMFA_")}


class AlphabetWalk(random.Random):
    """A generator whose choices walk the alphabet from `start`: deterministic, and a few secrets hold every
    character it has, each of the starts chosen first."""

    def __init__(self, start: int):
        super().__init__(start)
        self.position = start

    def choice(self, seq):
        self.position += 1
        return seq[(self.position - 1) % len(seq)]


async def start(root, generator=None, notices=None):
    return await start_stack(root, port=free_port(socket.SOCK_DGRAM), http_port=free_port(), mfa_port=free_port(),
                             policy=Policy(), notify=(notices if notices is not None else []).append,
                             generator=generator)


def printed_commands(banner: str) -> list[str]:
    """The banner's command lines: indented by four spaces, as a user would select them."""
    return re.findall(r"^ {4}(\S.*)$", banner, re.MULTILINE)


def printed_secret(banner: str) -> str:
    return re.search(r"shared secret (\S+)", banner).group(1)


async def paste(line: str, timeout: float = 60) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec("bash", "-c", line, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT, env=ENV)
    output, _ = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode, output.decode()


@contextlib.asynccontextmanager
async def approving_pushes(stack, username):
    """Whoever holds the device approves every push for `username`, as `duomfa mfa push approve` does."""
    admin = Admin(stack.mfa.data_dir.path, notify=pytest.fail)

    async def approve():
        while True:
            with contextlib.suppress(StoreError):
                admin.answer_push(username, approve=True)
            await asyncio.sleep(0.05)

    task = asyncio.create_task(approve())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        admin.close()


async def paste_every_command(stack):
    radtest_line, duomfa_radtest_line, user_add_line = printed_commands(stack.banner)
    assert radtest_line.startswith("radtest demo push ") and " radtest demo push " in duomfa_radtest_line
    async with approving_pushes(stack, "demo"):
        code, output = await paste(radtest_line)
        assert "Received Access-Accept" in output, (radtest_line, output)
        code, output = await paste(duomfa_radtest_line)
        assert code == 0 and output.startswith("Access-Accept"), (duomfa_radtest_line, output)
    code, output = await paste(user_add_line)
    assert code == 0, (user_add_line, output)
    words = shlex.split(user_add_line)
    username = words[words.index("add") + 1]
    totp = pyotp.parse_uri(re.search(r"TOTP: (otpauth://\S+)", output).group(1))
    result = await radtest(username, totp.now(), port=stack.proxy.port,
                           secret=printed_secret(stack.banner).encode(), timeout=10)
    assert result.code == "Access-Accept", (username, result)


@pytest.mark.parametrize("generator", [AlphabetWalk(0), AlphabetWalk(SHARED_SECRET_LENGTH),
                                       AlphabetWalk(2 * SHARED_SECRET_LENGTH)]
                         + [random.Random(seed) for seed in range(5)],
                         ids=lambda generator: f"{type(generator).__name__}-{getattr(generator, 'position', '')}")
async def test_every_printed_command_logs_in_as_pasted(tmp_path, generator):
    stack = await start(tmp_path / "stack", generator)
    try:
        assert shared_secret_problem(printed_secret(stack.banner)) is None
        await paste_every_command(stack)
    finally:
        await stack.close()


def test_the_walks_above_put_every_character_of_the_alphabet_in_a_secret():
    walked = {SHARED_SECRET_ALPHABET[i % len(SHARED_SECRET_ALPHABET)] for i in range(3 * SHARED_SECRET_LENGTH)}
    assert walked == set(SHARED_SECRET_ALPHABET)


async def test_a_secret_may_start_with_any_character_of_the_alphabet(tmp_path):
    """Each character first in turn: the printed commands still hand the secret over whole, never as an option."""
    parser = build_parser()
    for index, first in enumerate(SHARED_SECRET_ALPHABET):
        stack = await start(tmp_path / f"stack{index}", AlphabetWalk(index))
        try:
            secret = printed_secret(stack.banner)
            assert secret[0] == first
            radtest_line, duomfa_radtest_line, _ = printed_commands(stack.banner)
            assert shlex.split(radtest_line)[5] == secret  # radtest user password server nas-port SECRET
            words = shlex.split(duomfa_radtest_line)
            assert parser.parse_args(words[words.index("radtest"):]).secret == secret
        finally:
            await stack.close()


@pytest.mark.parametrize("bad", ["-starts-with-a-dash", "has space", "it's", "dollar$HOME", "per%cent", "semi;colon",
                                 "-", ""])
async def test_an_unusable_secret_in_a_data_directory_is_replaced_and_the_start_says_so(tmp_path, bad):
    root = tmp_path / "stack"
    await (await start(root)).close()
    (root / "radius-secret").write_text(bad + "\n")
    notices: list[str] = []
    stack = await start(root, random.Random(7), notices)
    try:
        secret = printed_secret(stack.banner)
        assert secret != bad and shared_secret_problem(secret) is None
        assert (root / "radius-secret").read_text() == secret + "\n"
        assert [n for n in notices if str(root / "radius-secret") in n and "replaced by a new one" in n], notices
        if bad.startswith("-"):
            await paste_every_command(stack)
    finally:
        await stack.close()
    kept: list[str] = []
    again = await start(root, notices=kept)
    await again.close()
    assert printed_secret(again.banner) == secret and kept == []


async def test_a_usable_secret_from_an_earlier_alphabet_is_kept(tmp_path):
    root = tmp_path / "stack"
    await (await start(root)).close()
    (root / "radius-secret").write_text("Old_Secret.24+chars0123\n")
    notices: list[str] = []
    stack = await start(root, notices=notices)
    await stack.close()
    assert printed_secret(stack.banner) == "Old_Secret.24+chars0123" and notices == []


def mfa(*args, env=None):
    return subprocess.run([sys.executable, "-m", "duomfa", "mfa", *args], capture_output=True, text=True, timeout=60,
                          env=env or ENV)


async def test_mfa_data_takes_the_directory_up_printed_and_names_it_when_given_another(tmp_path):
    stack = await start(tmp_path / "stack")
    await stack.close()
    printed = re.search(r"data in (\S+)", stack.banner).group(1)
    for data in (printed, f"{printed}/mfaservice"):
        result = mfa("user", "list", "--data", data)
        assert result.returncode == 0 and result.stdout.startswith("demo "), result.stdout + result.stderr
    for wrong in (tmp_path, tmp_path / "stack" / "mfaservice" / "logs", tmp_path / "stack" / "proxy.cfg"):
        result = mfa("user", "list", "--data", str(wrong))
        assert result.returncode == 1 and result.stderr.rstrip().endswith(f"pass --data {printed}"), result.stderr
    with pytest.raises(DataDirError, match=f"pass {re.escape(printed)}, which holds it"):
        await start(tmp_path / "stack" / "mfaservice")


async def test_up_and_mfa_share_the_default_and_point_out_data_at_the_earlier_default(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    env = {**ENV, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    notices: list[str] = []
    stack = await start(None, notices=notices)
    await stack.close()
    assert stack.root == tmp_path / "xdg" / "duomfa" and notices == []
    listed = mfa("user", "list", env=env)  # no --data: the same users as up's
    assert listed.stdout.startswith("demo ") and "notice" not in listed.stderr, listed.stdout + listed.stderr

    earlier = earlier_default_stack_dir()
    await (await start(earlier)).close()
    stack = await start(None, notices=notices)
    await stack.close()
    assert [n for n in notices if f"pass --data {earlier}" in n], notices
    listed = mfa("user", "list", env=env)
    assert f"pass --data {earlier}" in listed.stderr and listed.returncode == 0, listed.stderr
    assert mfa("user", "list", "--data", str(earlier), env=env).stdout.startswith("demo ")
