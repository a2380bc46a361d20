"""Which part may import which (the architecture's arrows), read from the source with ast: a helper moved to the
wrong module shows here before it becomes a cycle."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "duomfa"


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module != "duomfa":  # `from duomfa import radius` imports duomfa.radius, counted below
                found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative: inside its own package
            package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-node.level])
            found.add(f"{package}.{node.module}" if node.module else package)
    return found


def modules(package: str = "") -> dict[str, set[str]]:
    root = SRC / package if package else SRC
    return {".".join(p.relative_to(SRC.parent).with_suffix("").parts): imports(p) for p in root.rglob("*.py")}


def test_nothing_imports_the_command_line():
    for name, imported in modules().items():
        if name not in ("duomfa.cli", "duomfa.__main__"):
            assert not any(i == "duomfa.cli" or i.startswith("duomfa.cli.") for i in imported), name


def test_the_radius_core_is_sans_io_and_stands_alone():
    for name, imported in modules("radius").items():
        outside = {i for i in imported if i.startswith("duomfa") and not i.startswith("duomfa.radius")}
        assert not outside, (name, outside)
        assert not imported & {"asyncio", "socket", "logging", "selectors"}, name


def test_the_control_plane_needs_only_boto3_and_the_radius_core():
    # duomfa.fips: the functions from the image run the proxy's own FIPS start check
    allowed = ("duomfa.control", "duomfa.radius", "duomfa.radius_udp", "duomfa.secret_document", "duomfa.emf",
               "duomfa.fips")
    third_party = {"boto3", "botocore"}
    for name, imported in modules("control").items():
        for module in imported:
            top = module.split(".")[0]
            assert (top in sys.stdlib_module_names or top in third_party
                    or module.startswith(allowed)), (name, module)


def test_the_cdk_app_refers_to_the_handlers_by_path_never_by_import():
    for name, imported in modules("infra").items():
        assert not {i for i in imported if i.startswith("duomfa.control")}, name


def test_no_server_module_is_imported_for_a_helper():
    everything = modules()
    assert not {i for i in everything["duomfa.mfaservice.admin"] if i.startswith("duomfa.mfaservice.server")}
    for name, imported in everything.items():
        if name.startswith("duomfa.doctor"):
            assert not {i for i in imported if i.startswith("duomfa.proxy.server")}, name


def test_pyrad_is_a_test_peer_only():
    for name, imported in modules().items():
        assert not {i for i in imported if i.split(".")[0] == "pyrad"}, name
