"""QR codes for enrollment, always dark modules on a light quiet zone: in a terminal (whatever its colours) and on
the pages (SVG and PNG). segno builds the symbol; this module only decides how it is drawn."""

from __future__ import annotations

import io
from itertools import zip_longest

import segno

QUIET_ZONE = 4  # modules of light border on every side, as ISO/IEC 18004 asks for
TERMINAL_STYLES = ("ansi", "plain", "inverse")

# 256-colour black and white: themes recolour the 16 basic colours, rarely these
_ANSI_DARK_ON_LIGHT = "\x1b[38;5;16;48;5;231m"
_ANSI_RESET = "\x1b[0m"
# (top module dark, bottom module dark) -> the character whose drawn part covers the dark modules
_HALF_BLOCKS = {(True, True): "\u2588", (True, False): "\u2580", (False, True): "\u2584", (False, False): " "}


def _symbol(data: str) -> segno.QRCode:
    return segno.make(data, error="m", micro=False)


def modules(data: str) -> list[list[bool]]:
    """The symbol with its quiet zone, row by row; True is a dark module."""
    return [[bool(bit) for bit in row] for row in _symbol(data).matrix_iter(scale=1, border=QUIET_ZONE)]


def terminal(data: str, style: str = "ansi") -> str:
    """The symbol as text, two module rows per line (half blocks), so that modules come out about square.

    ansi: explicit black on white, right on any terminal that shows colours; plain: no escape codes, the drawn
    characters are the dark modules (light backgrounds, files, pastes); inverse: no escape codes, the drawn
    characters are the light modules (a dark terminal that shows no colours)."""
    if style not in TERMINAL_STYLES:
        raise ValueError(f"unknown QR style {style!r}: one of {', '.join(TERMINAL_STYLES)}")
    rows = modules(data)
    light_row = [False] * len(rows[0])
    lines = []
    for top, bottom in zip_longest(rows[0::2], rows[1::2], fillvalue=light_row):
        pairs = zip(top, bottom, strict=True)
        if style == "inverse":
            text = "".join(_HALF_BLOCKS[(not upper, not lower)] for upper, lower in pairs)
        else:
            text = "".join(_HALF_BLOCKS[pair] for pair in pairs)
        lines.append(f"{_ANSI_DARK_ON_LIGHT}{text}{_ANSI_RESET}" if style == "ansi" else text)
    return "\n".join(lines) + "\n"


def svg_data_uri(data: str, scale: int = 4) -> str:
    """For an <img> on a page: black modules on an opaque white square, quiet zone included."""
    return _symbol(data).svg_data_uri(scale=scale, border=QUIET_ZONE, dark="#000", light="#fff")


def png(data: str, scale: int = 5) -> bytes:
    buffer = io.BytesIO()
    _symbol(data).save(buffer, kind="png", scale=scale, border=QUIET_ZONE, dark="#000", light="#fff")
    return buffer.getvalue()
