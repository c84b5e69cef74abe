"""The architecture the code map in docs/architecture.md describes, checked on the source: the core does not
import a source folder, the two sources do not import each other, nothing imports in a circle, and every pyclass
is frozen (shared across threads without interior `&mut`)."""
import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
SOURCES = ("postgres", "mssql")


def modules() -> dict:
    found = {}
    for path in SRC.rglob("*.rs"):
        name = "::".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix("::mod")] = path.read_text().split("#[cfg(test)]")[0]
    return found


def imports() -> dict:
    mods = modules()

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


def folder(module: str) -> str:
    top = module.split("::")[0]
    return top if top in SOURCES + ("py", "lib") else "core"


def test_the_core_imports_no_source_and_the_sources_not_each_other():
    wrong = sorted((a, b) for a, targets in imports().items() for b in targets
                   if folder(a) in ("core",) + SOURCES and folder(b) in SOURCES and folder(a) != folder(b))
    assert wrong == [], f"forbidden imports: {wrong}"


def test_no_module_imports_in_a_circle():
    graph = imports()
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


def test_every_pyclass_is_frozen():
    declared = [(path.name, line) for path in SRC.rglob("*.rs")
                for line in path.read_text().splitlines() if line.strip().startswith("#[pyclass")]
    assert declared, "no pyclass found"
    assert [d for d in declared if "frozen" not in d[1]] == []
