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


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_hw_imports_neither_torch_nor_the_datasets() -> None:
    root = Path(fixynn.hw.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 20  # the walk did find the package
    bad = [f"{path.relative_to(root)}: {name}" for path in files for name in _imports(path)
           if _within(name, FORBIDDEN)]
    assert bad == []


def test_cost_model_reads_the_plan_not_the_emitter_or_yosys() -> None:
    root = Path(fixynn.hw.__file__).parent
    bad = [f"{path.name}: {name}" for path in sorted((root / "ppa").rglob("*.py"))
           for name in _imports(path)
           if _within(name, ("fixynn.hw.rtl", "fixynn.hw.synth", "fixynn.hw.sim"))]
    assert bad == []
    lowering = [name for path in sorted((root / "lower").rglob("*.py")) for name in _imports(path)]
    assert lowering and not [n for n in lowering if _within(n, ("fixynn.hw.rtl", "fixynn.hw.ppa"))]
