"""`duomfa synth` says one clean line about an old Node.js, never jsii's banner of Python byte strings."""

from __future__ import annotations

import os
import subprocess
import sys

from duomfa import cli


def test_an_old_node_gets_one_clean_line_and_silences_jsiis_banner(monkeypatch, tmp_path, capsys):
    import duomfa.infra.app

    for warning in ("END_OF_LIFE", "DEPRECATED", "UNTESTED"):
        monkeypatch.delenv(f"JSII_SILENCE_WARNING_{warning}_NODE_VERSION", raising=False)
    monkeypatch.setattr(cli, "_node_major_version", lambda: 20)
    monkeypatch.setattr(duomfa.infra.app, "synth_templates", lambda out: [])
    assert cli.main(["synth", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == ["duomfa synth: Node 20 is older than the AWS CDK supports (Node 22 or 24); the "
                                "templates are written, but upgrade Node before relying on it"]
    assert os.environ["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] == "20"


def test_a_supported_node_gets_no_line(monkeypatch, tmp_path, capsys):
    import duomfa.infra.app

    monkeypatch.setattr(cli, "_node_major_version", lambda: 22)
    monkeypatch.setattr(duomfa.infra.app, "synth_templates", lambda out: [])
    assert cli.main(["synth", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""


def test_no_node_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "_node_major_version", lambda: None)
    assert cli.main(["synth", "--out", str(tmp_path)]) == 1
    assert "duomfa synth needs Node.js (22 or 24" in capsys.readouterr().err


def test_jsii_honours_the_silencing_for_this_machines_node():
    # the real runtime in a fresh process: what cmd_synth sets is what jsii reads
    node = cli._node_major_version()
    assert node is not None
    silenced = {f"JSII_SILENCE_WARNING_{w}_NODE_VERSION": str(node) for w in ("END_OF_LIFE", "DEPRECATED", "UNTESTED")}
    result = subprocess.run([sys.executable, "-c", "import aws_cdk; aws_cdk.App()"], capture_output=True, text=True,
                            timeout=300, env={**os.environ, **silenced})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "b'" not in result.stderr and "!!" not in result.stderr, result.stderr[-2000:]
