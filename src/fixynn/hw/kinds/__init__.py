"""The one table of layer kinds: name -> KindSpec (validation, golden semantics, value
range, lowering). Adding a kind is one module here and one line below; the IR, the golden
executor and the plan ask this table and never switch on a kind themselves.
"""

from __future__ import annotations

from fixynn.hw.kinds import add, conv, pool
from fixynn.hw.kinds.base import HwGraphError, KindSpec

KINDS: dict[str, KindSpec] = {spec.name: spec for spec in (*conv.SPECS, add.SPEC, *pool.SPECS)}
NODE_TYPES: tuple[type, ...] = tuple(dict.fromkeys(spec.node_type for spec in KINDS.values()))

__all__ = ["KINDS", "NODE_TYPES", "HwGraphError", "KindSpec", "kind_of"]


def kind_of(name: str) -> KindSpec:
    if name not in KINDS:
        raise HwGraphError(f"kind {name!r} is not one of {', '.join(KINDS)}")
    return KINDS[name]
