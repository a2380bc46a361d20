"""The secret's contract, written once: everything that reads or writes the proxies' secret uses these names."""

from __future__ import annotations

import ast
from pathlib import Path

from duomfa import secret_document
from duomfa.infra.inline_function import CONTROL_SOURCES, inline_source

SRC = Path(__file__).resolve().parents[2] / "src" / "duomfa"


def test_the_retirement_tag_round_trips_and_ignores_what_is_not_one():
    value = secret_document.retired_tag_value("a1b2-c3", 1795600000.7)
    assert value == "a1b2-c3@1795600000"
    assert secret_document.parse_retired(value) == ("a1b2-c3", 1795600000.0)
    for junk in (None, "", "no-at-sign", "v@not-a-time"):
        assert secret_document.parse_retired(junk) is None


def test_a_document_needs_a_radius_secret_string():
    assert secret_document.read_document('{"radius_secret": "s3cret-value"}') == {"radius_secret": "s3cret-value"}
    for text in (None, "", "not json", "[]", '{"radius_secret": 5}', '{"ikey": "DI"}'):
        assert secret_document.read_document(text) is None


def test_the_digest_is_what_may_be_recorded_and_is_not_the_secret():
    digest = secret_document.secret_digest("correct horse")
    assert len(digest) == 64 and "correct" not in digest
    assert digest == secret_document.secret_digest("correct horse") != secret_document.secret_digest("correct horsE")


def test_no_generated_secret_can_start_with_a_dash():
    assert "-" in secret_document.EXCLUDED_CHARACTERS


def test_nobody_writes_the_field_names_or_the_tag_out_again():
    """The names live in secret_document; a module that spells them as string literals has made a copy."""
    watched = {secret_document.RETIRED_TAG, secret_document.RADIUS_SECRET}
    allowed = {"secret_document.py", "options.py", "config.py"}  # the proxy's own radius_secret_N option names
    for path in SRC.rglob("*.py"):
        if path.name in allowed or "mfaservice" in path.parts:
            continue
        literals = {node.value for node in ast.walk(ast.parse(path.read_text()))
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        assert not literals & watched, path


def test_the_duo_keys_handler_carries_the_contract_inline():
    source = inline_source(CONTROL_SOURCES / "duo_keys.py")
    assert "from duomfa" not in source and 'RADIUS_SECRET = "radius_secret"' in source
