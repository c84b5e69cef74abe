"""The architecture the code map in docs/architecture.md describes, checked on the source: the engine crate knows
neither pyo3 nor tonic, the core does not import a source folder, the sources do not import each other, nothing
imports in a circle, and every pyclass is frozen (shared across threads without interior `&mut`)."""
import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
CRATES = ROOT / "crates"
SRC = CRATES / "core" / "src"
SOURCES = ("postgres", "mssql", "snowflake")
# Front ends: crates over the engine. Only these may name pyo3 (the binding) or tonic (the Partner SDK server).
FRONT_ENDS = {"python": "pyo3", "fivetran_source": "tonic"}


def modules(src: Path = SRC) -> dict:
    found = {}
    for path in src.rglob("*.rs"):
        name = "::".join(path.relative_to(src).with_suffix("").parts)
        found[name.removesuffix("::mod")] = path.read_text().split("#[cfg(test)]")[0]
    return found


def imports(src: Path = SRC) -> dict:
    mods = modules(src)

    def resolve(target: str) -> str:
        while target and target not in mods:
            target = target.rpartition("::")[0]
        return target

    graph = {}
    for name, text in mods.items():
        parent = name.rpartition("::")[0]
        targets = re.findall(r"crate::([a-z_]+(?:::[a-z_]+)?)", text)
        targets += [f"{parent}::{t}" if parent else t for t in re.findall(r"super::([a-z_]+)", text)]
        graph[name] = {t for t in map(resolve, targets) if t and t != name and not name.startswith(t + "::")}
    return graph


# The one module that knows every source: it picks one from the configuration (`sources::open`).
REGISTRY = "sources"


def folder(module: str) -> str:
    top = module.split("::")[0]
    return top if top in SOURCES + (REGISTRY,) else "core"


def dependencies(crate: str) -> set:
    manifest = tomllib.loads((CRATES / crate / "Cargo.toml").read_text())
    return {name for table in ("dependencies", "dev-dependencies", "build-dependencies")
            for name in manifest.get(table, {})}


def test_the_workspace_is_the_engine_and_its_front_ends():
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    assert "crates/core" in members and "crates/python" in members
    assert {m.removeprefix("crates/") for m in members} <= {"core"} | set(FRONT_ENDS), members
    for crate in (m.removeprefix("crates/") for m in members if m != "crates/core"):
        assert "connector_accel_core" in dependencies(crate), f"{crate} does not build on the engine"


def test_the_engine_knows_neither_pyo3_nor_tonic():
    deps = dependencies("core")
    assert not {d for d in deps if d.startswith(("pyo3", "tonic", "prost"))}, deps
    named = sorted(str(p.relative_to(ROOT)) for p in SRC.rglob("*.rs")
                   if re.search(r"\b(pyo3|tonic|prost)::", p.read_text()))
    assert named == [], f"the engine names a front end's crate: {named}"
    # The server knows no pyo3; the binding links the server's library (to start it), never tonic itself.
    for crate in FRONT_ENDS:
        if (CRATES / crate).exists():
            others = {framework for c, framework in FRONT_ENDS.items() if c != crate}
            assert not dependencies(crate) & others, f"{crate} depends on another front end's framework"


def test_the_core_imports_no_source_and_the_sources_not_each_other():
    wrong = sorted((a, b) for a, targets in imports().items() for b in targets
                   if folder(a) in ("core",) + SOURCES and folder(b) in SOURCES and folder(a) != folder(b))
    assert wrong == [], f"forbidden imports: {wrong}"


def test_no_module_imports_in_a_circle():
    graph = {**imports(), **{f"python::{k}": {f"python::{t}" for t in v}
                             for k, v in imports(CRATES / "python" / "src").items()}}
    state, circles = {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == [], f"import circles: {circles}"


def test_the_checks_see_the_imports():
    graph = imports()
    assert "read" in graph["engine"] and "source" in graph["postgres::source"], "the scan found no imports"
    assert set(SOURCES) <= graph[REGISTRY], "the registry no longer picks the sources"


def test_every_pyclass_is_frozen():
    declared = [(path.name, line) for path in (CRATES / "python" / "src").rglob("*.rs")
                for line in path.read_text().splitlines() if line.strip().startswith("#[pyclass")]
    assert declared, "no pyclass found"
    assert [d for d in declared if "frozen" not in d[1]] == []
