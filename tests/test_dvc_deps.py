"""DVC reruns a stage only when one of its declared deps changes, so every project module a stage
runs — imported directly or through other modules — must be among its deps in dvc.yaml, or an
edit to it serves stale results. The closure is computed from the code's imports, not declared."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

PROJECT = ("selfsynth", "stages")  # top-level packages whose code the stages run


def module_file(dotted: str) -> Path | None:
    """The file that `import dotted` runs, if it is project code."""
    if dotted.split(".")[0] not in PROJECT:
        return None
    base = REPO.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def package_inits(dotted: str) -> list[Path]:
    """Importing a.b.c first runs a/__init__.py and a/b/__init__.py; a docstring-only one changes
    nothing a stage computes, so only those with code count."""
    parts = dotted.split(".")
    inits = [module_file(".".join(parts[:k])) for k in range(1, len(parts))]
    return [p for p in inits if p is not None and p.name == "__init__.py" and has_code(p)]


def has_code(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in body)


def dotted_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, inits: bool = True) -> set[Path]:
    """The project files that importing `path` runs directly: the modules it names and, with
    `inits`, the package __init__ files on their way."""
    own = dotted_name(path).split(".")
    package = own if path.name == "__init__.py" else own[:-1]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names]  # `from pkg import module`
    found = set()
    for name in names:
        file = module_file(name)
        if file is not None:
            found |= {file, *(package_inits(name) if inits else ())}
    found.discard(path)
    return found


def closure(entry: Path) -> dict[Path, Path]:
    """Every project file `python -m <entry>` runs, each mapped to a file that imports it."""
    seen = {entry: entry}
    for init in package_inits(dotted_name(entry)):
        seen.setdefault(init, entry)
    todo = list(seen)
    while todo:
        current = todo.pop()
        for dep in imports_of(current):
            if dep not in seen:
                seen[dep] = current
                todo.append(dep)
    return seen


def stages() -> dict[str, dict]:
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return {name: body.get("do", body) for name, body in spec.items()}


def missing_deps(stage: dict) -> list[str]:
    """Files the stage runs that no declared dep (a file, or a folder above it) covers."""
    commands = stage["cmd"] if isinstance(stage["cmd"], list) else [stage["cmd"]]
    runs = {}
    for cmd in commands:
        runs.update(closure(module_file(re.search(r"python -m (\S+)", cmd).group(1))))
    declared = [REPO / d for d in stage["deps"]]
    out = []
    for file, importer in sorted(runs.items()):
        if not any(file == d or d in file.parents for d in declared):
            out.append(f"{file.relative_to(REPO)} (imported by {importer.relative_to(REPO)})")
    return out


@pytest.mark.parametrize("name", sorted(stages()))
def test_every_module_a_stage_runs_is_a_dvc_dep(name):
    missing = missing_deps(stages()[name])
    assert not missing, f"dvc.yaml stage {name!r} runs code it does not list in deps:\n  " + "\n  ".join(missing)


def test_the_closure_follows_imports_through_the_library():
    """A guard on the guard: the train stage reaches the chat template only through training/sft.py."""
    files = closure(REPO / "stages/train.py")
    assert REPO / "selfsynth/lmm/chat_template.py" in files
    assert REPO / "stages/__init__.py" in files and REPO / "selfsynth/core/offline.py" in files


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph, as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [node, nxt] if nxt in path else path + [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [node])):
                return found
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start, [])):
            return found
    return None


def home(path: Path) -> str:
    """A file's room in the layout: its package folder below selfsynth/, or the file itself."""
    parts = path.relative_to(REPO).parts
    return "/".join(parts[:2]) if len(parts) > 2 else "/".join(parts)


def test_the_library_imports_form_no_cycle_between_files_or_packages():
    files = [p for top in PROJECT for p in (REPO / top).rglob("*.py")]
    modules = {str(f.relative_to(REPO)): {str(d.relative_to(REPO)) for d in imports_of(f, inits=False)} for f in files}
    assert find_cycle(modules) is None, f"import cycle: {' -> '.join(find_cycle(modules))}"
    packages: dict[str, set[str]] = {}
    for f in files:
        packages.setdefault(home(f), set()).update(home(d) for d in imports_of(f, inits=False) if home(d) != home(f))
    assert find_cycle(packages) is None, f"packages import each other: {' -> '.join(find_cycle(packages))}"
