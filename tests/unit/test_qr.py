"""The QR codes read back into modules: dark modules on a light quiet zone of 4 modules, in every terminal style
and on the pages, module for module the symbol segno built."""

from __future__ import annotations

import re
import struct
import urllib.parse
import zlib

import pytest
import segno

from duomfa import cli
from duomfa.mfaservice import qr

URIS = [
    "otpauth://totp/duomfa:alice?secret=JBSWY3DPEHPK3PXP&issuer=duomfa",
    "https://127.0.0.1:8443/activate/" + "x" * 40,
    "otpauth://totp/duomfa:" + "a-long-user-name" * 6 + "?secret=" + "A" * 32 + "&issuer=duomfa",
]
BORDER = 4
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# the characters' drawn halves: (top drawn, bottom drawn)
HALVES = {"\u2588": (True, True), "\u2580": (True, False), "\u2584": (False, True), " ": (False, False)}


def expected_modules(uri: str) -> list[list[bool]]:
    """segno's own matrix of the symbol, with a light border of BORDER modules added here."""
    symbol = [[bool(bit) for bit in row] for row in segno.make(uri, error="m").matrix]
    width = len(symbol[0]) + 2 * BORDER
    light = [[False] * width for _ in range(BORDER)]
    return light + [[False] * BORDER + row + [False] * BORDER for row in symbol] + [list(r) for r in light]


def read_half_blocks(lines: list[str], drawn_is_dark: bool) -> list[list[bool]]:
    rows: list[list[bool]] = []
    for line in lines:
        pairs = [HALVES[char] for char in line]
        rows.append([top == drawn_is_dark for top, _ in pairs])
        rows.append([bottom == drawn_is_dark for _, bottom in pairs])
    return rows


def assert_quiet_zone_and_symbol(rows: list[list[bool]], uri: str) -> None:
    expected = expected_modules(uri)
    # two module rows a line: an odd count gets one more light row at the bottom, which only widens the quiet zone
    if len(rows) == len(expected) + 1:
        assert not any(rows[-1])
        rows = rows[:-1]
    assert len(rows) == len(expected) and all(len(row) == len(expected[0]) for row in rows)
    for row in rows[:BORDER] + rows[-BORDER:]:
        assert not any(row), "the quiet zone above and below is light"
    for row in rows:
        assert not any(row[:BORDER]) and not any(row[-BORDER:]), "the quiet zone left and right is light"
    assert rows == expected


@pytest.mark.parametrize("uri", URIS)
def test_ansi_terminal_qr_is_black_modules_on_white_on_every_line(uri):
    text = qr.terminal(uri, "ansi")
    lines = text.splitlines()
    for line in lines:
        # explicit 256-colour black foreground on white background, reset before the line ends
        assert line.startswith("\x1b[38;5;16;48;5;231m") and line.endswith("\x1b[0m")
        assert len(ANSI.findall(line)) == 2
    assert_quiet_zone_and_symbol(read_half_blocks([ANSI.sub("", line) for line in lines], drawn_is_dark=True), uri)


@pytest.mark.parametrize("uri", URIS)
def test_plain_terminal_qr_draws_the_dark_modules_without_escape_codes(uri):
    text = qr.terminal(uri, "plain")
    assert "\x1b" not in text
    assert_quiet_zone_and_symbol(read_half_blocks(text.splitlines(), drawn_is_dark=True), uri)


@pytest.mark.parametrize("uri", URIS)
def test_inverse_terminal_qr_draws_the_light_modules_quiet_zone_included(uri):
    text = qr.terminal(uri, "inverse")
    assert "\x1b" not in text
    lines = text.splitlines()
    assert set(lines[0]) == {"\u2588"}, "a dark terminal shows a light (drawn) quiet zone"
    assert_quiet_zone_and_symbol(read_half_blocks(lines, drawn_is_dark=False), uri)


def test_an_unknown_terminal_style_is_refused():
    with pytest.raises(ValueError, match="ansi, plain, inverse"):
        qr.terminal(URIS[0], "sixel")


def read_svg(data_uri: str) -> tuple[list[list[bool]], str]:
    """segno's SVG: a light square, then one path whose strokes are runs of dark modules (relative moves)."""
    kind, _, payload = data_uri.partition(",")
    assert kind.startswith("data:image/svg+xml")
    svg = urllib.parse.unquote(payload).replace("'", '"')
    size = re.search(r'<path fill="([^"]+)" d="M0 0h(\d+)v(\d+)h-\d+z"', svg)
    assert size, svg[:200]
    background, width = size.group(1), int(size.group(2))
    stroke = re.search(r'stroke="([^"]+)" d="([^"]+)"', svg)
    assert stroke and stroke.group(1) in ("#000", "#000000")
    rows = [[False] * width for _ in range(width)]
    x = y = 0.0
    for command, first, second in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", stroke.group(2)):
        if command == "M":
            x, y = float(first), float(second)
        elif command == "m":
            x, y = x + float(first), y + float(second)
        else:
            for column in range(int(x), int(x + float(first))):
                rows[int(y)][column] = True
            x += float(first)
    return rows, background


@pytest.mark.parametrize("uri", URIS)
def test_page_svg_is_black_on_an_opaque_white_square_with_the_quiet_zone(uri):
    rows, background = read_svg(qr.svg_data_uri(uri))
    assert background in ("#fff", "#ffffff"), "opaque light background, not transparent"
    assert_quiet_zone_and_symbol(rows, uri)


def unfilter(kind: int, line: bytes, previous: bytes) -> bytes:
    """Undo a PNG row filter (one byte a pixel step at bit depth 1)."""
    out = bytearray(line)
    for i in range(len(out)):
        left, up, up_left = (out[i - 1] if i else 0), previous[i], (previous[i - 1] if i else 0)
        if kind == 1:
            out[i] = (out[i] + left) & 0xFF
        elif kind == 2:
            out[i] = (out[i] + up) & 0xFF
        elif kind == 3:
            out[i] = (out[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - up_left
            nearest = min((abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - up_left), 2, up_left))[2]
            out[i] = (out[i] + nearest) & 0xFF
    return bytes(out)


def read_png(data: bytes, scale: int) -> list[list[bool]]:
    """A 1-bit greyscale PNG (what segno writes for two colours) read back to modules, one pixel per module."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    position, chunks, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks += body
        assert kind != b"tRNS", "opaque: a transparent light colour would show whatever lies behind"
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert (depth, colour) == (1, 0), "1-bit greyscale: black and white only"
    raw = zlib.decompress(chunks)
    stride = 1 + (width + 7) // 8
    pixels, previous = [], bytes(stride - 1)
    for y in range(height):
        line = unfilter(raw[y * stride], raw[y * stride + 1:(y + 1) * stride], previous)
        pixels.append([not (line[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])  # 0 is black
        previous = line
    return [row[scale // 2::scale] for row in pixels[scale // 2::scale]]


@pytest.mark.parametrize("uri", URIS)
def test_activation_png_is_black_on_white_with_the_quiet_zone(uri):
    assert_quiet_zone_and_symbol(read_png(qr.png(uri, scale=5), scale=5), uri)


def test_the_cli_offers_each_terminal_style_and_none():
    parser = cli.build_parser()
    for style in (*qr.TERMINAL_STYLES, "none"):
        assert parser.parse_args(["mfa", "user", "add", "alice", "--qr", style]).qr == style
    with pytest.raises(SystemExit):
        parser.parse_args(["mfa", "user", "add", "alice", "--qr", "sixel"])


def test_user_add_prints_the_totp_qr_that_its_uri_makes_and_none_when_asked(tmp_path, capsys):
    assert cli.main(["mfa", "user", "add", "alice", "--totp", "--qr", "inverse", "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    uri = re.search(r"TOTP: (\S+)", out).group(1)
    drawn = [line for line in out.splitlines() if line and set(line) <= set(HALVES) and "\u2588" in line]
    assert_quiet_zone_and_symbol(read_half_blocks(drawn, drawn_is_dark=False), uri)

    assert cli.main(["mfa", "user", "add", "bob", "--totp", "--qr", "none", "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "TOTP: otpauth://" in out and not set(out) & {"\u2588", "\u2580", "\u2584", "\x1b"}


def test_user_add_prints_plain_when_not_on_a_terminal(tmp_path, capsys):
    assert cli.main(["mfa", "user", "add", "carol", "--totp", "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u2588" in out
