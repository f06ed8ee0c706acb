"""Splitting traced ops into units, the granularity of the split point N.

Default: one unit per element of the model's block containers (`blocks.3`, `_blocks.7`,
`layer2.1`: a ModuleList / Sequential element, so a residual block is one unit), the ops before
the first block as `stem` and those after the last as `head`. Or the user names split points:
module paths (or op names) after whose last op a unit ends. Either way every boundary must be
crossed by exactly one tensor, so a unit boundary is a place the network can be cut.
"""

from __future__ import annotations

from collections.abc import Sequence

from fixynn.errors import FixynnError
from fixynn.frontend.graph import INPUT, Op, Unit


def container_element(path: str) -> str | None:
    """The container element a module path lies in (`blocks.3` for `blocks.3.0.conv`): the
    path up to its first integer component; None outside any ModuleList / Sequential."""
    parts = path.split(".")
    for i, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[: i + 1])
    return None


def block_scopes(ops: list[Op], paths: dict[str, str]) -> dict[str, str | None]:
    """Op name -> its block, where a block is an element of a container with at least two
    elements that hold ops (so `classifier = Sequential(Dropout, Linear)` is not blocks)."""
    scopes = {name: container_element(path) for name, path in paths.items()}
    elements: dict[str, set[str]] = {}
    for scope in filter(None, scopes.values()):
        elements.setdefault(scope.rpartition(".")[0], set()).add(scope)
    return {op.name: scope if scope and len(elements[scope.rpartition(".")[0]]) > 1 else None
            for op in ops for scope in (scopes[op.name],)}


def default_groups(ops: list[Op], paths: dict[str, str]) -> list[tuple[str, list[Op]]]:
    """(unit name, ops) by block: consecutive ops of one block form a unit."""
    blocks = block_scopes(ops, paths)
    groups: list[tuple[str | None, list[Op]]] = []
    for op in ops:
        scope = blocks[op.name]
        if groups and groups[-1][0] == scope:
            groups[-1][1].append(op)
        else:
            groups.append((scope, [op]))
    scoped = [i for i, (scope, _) in enumerate(groups) if scope is not None]
    named = []
    for i, (scope, members) in enumerate(groups):
        if scope is None:
            scope = ("stem" if scoped and i < scoped[0] else
                     "head" if not scoped or i > scoped[-1] else members[0].name)
        named.append((scope, members))
    return named


def _matches(name: str, point: str) -> bool:
    return name == point or name.startswith(point + ".")


def named_groups(ops: list[Op], paths: dict[str, str],
                 points: Sequence[str]) -> list[tuple[str, list[Op]]]:
    """(unit name, ops) cut after the last op in each split point's module (or the op of that
    name), the rest as `head`."""
    groups, start = [], 0
    for point in points:
        hits = [i for i, op in enumerate(ops)
                if _matches(op.name, point) or _matches(paths[op.name], point)]
        if not hits:
            raise FixynnError(f"split point {point!r} names no traced op; use a module path "
                              f"such as {ops[0].name!r} or {ops[-1].name!r}")
        if hits[-1] < start:
            raise FixynnError(f"split point {point!r} comes before the previous one; list "
                              "split points in execution order")
        groups.append((point, ops[start:hits[-1] + 1]))
        start = hits[-1] + 1
    if start < len(ops):
        groups.append(("head", ops[start:]))
    return groups


def make_units(groups: list[tuple[str, list[Op]]]) -> tuple[Unit, ...]:
    """Units of the groups, after checking that one tensor crosses each boundary."""
    units: list[Unit] = []
    produced_before: set[str] = {INPUT}
    for index, (name, members) in enumerate(groups):
        own = {op.name for op in members}
        outside = {i for op in members for i in op.inputs if i not in own}
        later = {i for _, rest in groups[index + 1:] for op in rest for i in op.inputs}
        leaving = (own & later) - {members[-1].name}
        expected = units[-1].output if units else INPUT
        if outside - {expected} or leaving or not outside <= produced_before:
            crossing = sorted((outside - {expected}) | leaving)
            raise FixynnError(f"unit {name!r}: tensors {crossing} cross its boundary; a unit "
                              "boundary must cut the network at a single tensor (choose other "
                              "split points)")
        units.append(Unit(name, expected, tuple(members)))
        produced_before |= own
    return tuple(units)
