"""The layout holds: data flows engine -> zoo -> webapp -> app.py, with no circles.

Read from the source with ast, so a back arrow or a circle fails here before it confuses a
reader, whether or not any test happens to import the module that adds it.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "zoo", "webapp")
# What each layer may import from the project and from the world besides the standard
# library and NumPy/OpenCV/safetensors/tqdm.
MAY_IMPORT = {
    "engine": {"engine"},
    "zoo": {"engine", "zoo", "huggingface_hub", "httpx2", "onnx"},
    "webapp": {"engine", "zoo", "webapp", "gradio", "PIL"},
}
NEVER = {"engine": {"gradio", "huggingface_hub", "zoo", "webapp"},
         "zoo": {"gradio", "webapp"}, "webapp": set()}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            found[".".join(parts)] = path
    return found


def imports(path: Path, module: str) -> set[str]:
    """Every module `path` imports, anywhere in it, as absolute dotted names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing package
                package = module.split(".")[: -node.level or None]
                base = ".".join([*package, base] if base else package)
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}
    return names


MODULES = modules()


def project_imports(module: str) -> set[str]:
    """The project modules `module` imports (a name that is a package's member counts as
    the package's module)."""
    return {n for n in imports(MODULES[module], module) if n in MODULES and n != module}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_layer_imports_only_what_is_below_it(module):
    layer = module.split(".")[0]
    roots = {n.split(".")[0] for n in imports(MODULES[module], module)}
    assert not roots & NEVER[layer], f"{module} imports {sorted(roots & NEVER[layer])}"
    ours = {r for r in roots if r in PACKAGES}
    assert ours <= MAY_IMPORT[layer], f"{module} imports {sorted(ours - MAY_IMPORT[layer])}"


def test_no_import_circles_between_modules():
    # A package's __init__ may re-export its own modules (that is its job): edges into a
    # package from its own members are left out, every other edge counts.
    graph = {m: {n for n in project_imports(m) if not m.startswith(n + ".")} for m in MODULES}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = [*path[path.index(n):], n] if n in path else [m, n]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if n not in state:
                visit(n, [*path, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_the_entry_points_sit_on_top():
    assert not {n.split(".")[0] for n in imports(ROOT / "train.py", "train")} & {"webapp",
                                                                                "gradio"}
    assert "webapp" in {n.split(".")[0] for n in imports(ROOT / "app.py", "app")}


@pytest.mark.parametrize("path", [*MODULES.values(), ROOT / "app.py", ROOT / "train.py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_product_file_is_over_400_lines_or_cites_a_ticket(path):
    text = path.read_text()
    assert text.count("\n") <= 400, f"{path.name}: {text.count(chr(10))} lines"
    tickets = re.findall(r"#.*\b[Ii]ssues?\b.*|#.*\(#\d+\)", text)
    assert not tickets, f"{path.name} cites a ticket: {tickets[0]}"


# Imported only by `python -m zoo.export`, which says to `pip install onnx` (the Space
# never exports): in requirements-dev.txt, not requirements.txt.
OPTIONAL = {"onnx"}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.\-]+", requirement)[0]).lower()


def test_every_import_of_the_product_is_installed_by_requirements_txt():
    """A third-party module the product imports comes with requirements.txt: pinned there
    or required by something pinned there (a Space installs exactly that file)."""
    import sys
    from importlib.metadata import PackageNotFoundError, packages_distributions, requires

    pinned = [_name(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith(("#", "-"))]
    closure, todo = set(), list(pinned)
    while todo:
        name = todo.pop()
        if name not in closure:
            closure.add(name)
            try:
                todo += [_name(r) for r in requires(name) or [] if "extra ==" not in r]
            except PackageNotFoundError:  # required on another platform only
                pass
    sources = {**{m: (p, m) for m, p in MODULES.items()}, "app": (ROOT / "app.py", "app"),
               "train": (ROOT / "train.py", "train")}
    dists = packages_distributions()
    for module, (path, name) in sources.items():
        for root in {n.split(".")[0] for n in imports(path, name)} - set(PACKAGES) - OPTIONAL:
            if root in sys.stdlib_module_names or root in ("app", "train", "__future__"):
                continue
            assert {_name(d) for d in dists.get(root, [root])} & closure, \
                f"{module} imports {root}, which requirements.txt does not install"
