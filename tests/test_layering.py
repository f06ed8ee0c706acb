"""The data flow stays one way: nothing under `fixynn.hw` imports PyTorch, the datasets or the
ML half, not even lazily inside a function (docs/design.md)."""

import ast
from pathlib import Path

import fixynn.hw

FORBIDDEN = ("torch", "torchvision", "fixynn.data", "fixynn.nn", "fixynn.train",
             "fixynn.pipeline", "fixynn.cli")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_hw_imports_neither_torch_nor_the_datasets() -> None:
    root = Path(fixynn.hw.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 20  # the walk did find the package
    bad = [f"{path.relative_to(root)}: {name}" for path in files for name in _imports(path)
           if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []
