"""Liberty standard-cell libraries: where to find one, and the cell areas synthesis reports in.

The default library is the OSU 0.18 um standard cells (`osu018_stdcells.lib`, 32 cells with
area, timing and power; Oklahoma State University's library as shipped by Debian's package
`qflow-tech-osu018`). `scripts/install-system-deps.sh` unpacks that package's files without
pulling in qflow itself; `$FIXYNN_LIBERTY` names any other `.lib` file.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fixynn.errors import FixynnError

OSU018 = "osu018_stdcells.lib"
# Where Debian's qflow-tech-osu018 puts the file, and where our setup unpacks the same package
# when qflow is not wanted (`dpkg -x`, see scripts/install-system-deps.sh).
OSU018_PATHS: tuple[Path, ...] = (
    Path("/usr/share/qflow/tech/osu018") / OSU018,
    Path("/opt/fixynn/qflow-tech-osu018/usr/share/qflow/tech/osu018") / OSU018,
)
INSTALL_HINT = ("install the OSU 0.18 um cells (`bash scripts/install-system-deps.sh`, or "
                "`apt-get install qflow-tech-osu018`), or set FIXYNN_LIBERTY to a .lib file")

# Process node of the libraries we know (for carrying mapped figures to other nodes): the OSU
# cells target 0.18 um (the package ships MOSIS SCN6M_SUBM rules, SCN6M_SUBM.10.tech, and
# characterises the cells at 1.8 V).
LIBRARY_NODE_NM: dict[str, float] = {"osu018_stdcells": 180.0}

_CELL = re.compile(r"\bcell\s*\(\s*\"?([A-Za-z0-9_$]+)\"?\s*\)\s*\{")
_AREA = re.compile(r"\barea\s*:\s*([0-9.eE+-]+)\s*;")
_STATE = re.compile(r"\b(ff|latch)\s*\(")
_PIN = re.compile(r"\bpin\s*\(\s*\"?([A-Za-z0-9_]+)\"?\s*\)\s*\{")
_DIRECTION = re.compile(r"\bdirection\s*:\s*(\w+)\s*;")
_FUNCTION = re.compile(r"\bfunction\s*:\s*\"([^\"]*)\"\s*;")
_PLAIN_FF = re.compile(r"\bff\s*\([^)]*\)\s*\{([^}]*)\}")
_LIB = re.compile(r"\blibrary\s*\(\s*\"?([A-Za-z0-9_.$-]+)\"?\s*\)")


@dataclass(frozen=True)
class Library:
    """A Liberty file's name and its cells' areas, in um2 (the osu018 file states no unit; its
    LEF footprints agree: NAND2X1 is 2.4 um x 10 um = 24 um2, the .lib's `area : 24`)."""

    path: Path
    name: str
    cell_area_um2: dict[str, float]
    sequential_cells: frozenset[str]  # cells with an `ff` or `latch` group
    # single-output combinational cells: truth table over their inputs (bit i of the int is
    # the output for input assignment i, input k = bit k of i) and the input count
    truth_tables: dict[str, tuple[int, int]]
    plain_flip_flops: frozenset[str]  # D flip-flops (next_state one pin) without set/reset
    reset_flip_flops: frozenset[str]  # D flip-flops with a clear and/or preset
    output_pins: dict[str, frozenset[str]] = field(default_factory=dict)  # cell -> its outputs

    def is_flip_flop(self, cell: str) -> bool:
        return cell in self.sequential_cells

    def cheapest(self, n_inputs: int, table: int) -> tuple[str, float]:
        """The smallest cell, or inverting cell plus an inverter, computing `table` (any order
        of its inputs): e.g. osu018's only multiplexer, MUX2X1, inverts."""
        fits = self._cells_for(n_inputs, table)
        inverted = self._cells_for(n_inputs, ~table & ((1 << (1 << n_inputs)) - 1))
        if inverted and n_inputs > 1:
            inv_cell, inv_area = self.cheapest(1, 0b01)
            fits += [(a + inv_area, f"{c}+{inv_cell}") for a, c in inverted]
        if not fits:
            raise FixynnError(f"{self.path}: no cell computes the {n_inputs}-input function "
                              f"{table:#x}; this library cannot price fixynn's gates")
        area, cell = min(fits)
        return cell, area

    def buffer(self) -> str:
        """The smallest non-inverting buffer cell."""
        return self.cheapest(1, 0b10)[0]

    def _cells_for(self, n_inputs: int, table: int) -> list[tuple[float, str]]:
        return [(a, c) for c, a in self.cell_area_um2.items()
                if c in self.truth_tables and _same_function(self.truth_tables[c],
                                                             n_inputs, table)]

    def flip_flop(self, with_reset: bool = False) -> tuple[str, float]:
        """The smallest D flip-flop (with an asynchronous clear or preset if asked)."""
        cells = self.reset_flip_flops if with_reset else self.plain_flip_flops
        if not cells:
            raise FixynnError(f"{self.path}: no D flip-flop cell"
                              + (" with an asynchronous reset" if with_reset else ""))
        area, cell = min((self.cell_area_um2[c], c) for c in cells)
        return cell, area

    @property
    def node_nm(self) -> float | None:
        """The library's process node when known (`LIBRARY_NODE_NM`), else None."""
        return LIBRARY_NODE_NM.get(self.name)

    @property
    def nand2_um2(self) -> float:
        """Area of the smallest two-input NAND: the library's gate equivalent."""
        nands = [a for c, a in self.cell_area_um2.items() if re.match(r"NAND2(_?X|$)", c)]
        if not nands:
            raise FixynnError(f"{self.path}: no NAND2 cell; cannot express area in GE")
        return min(nands)


def find_liberty() -> Path | None:
    """$FIXYNN_LIBERTY, else the installed OSU 0.18 um library, else None."""
    env = os.environ.get("FIXYNN_LIBERTY")
    if env:
        path = Path(env)
        if not path.is_file():
            raise FixynnError(f"FIXYNN_LIBERTY={env}: no such file; point it at a .lib file")
        return path.resolve()
    return next((p for p in OSU018_PATHS if p.is_file()), None)


def default_liberty() -> Path:
    """The library to map to when none is given; a one-line error when none is installed."""
    path = find_liberty()
    if path is None:
        raise FixynnError(f"no Liberty cell library found: {INSTALL_HINT}")
    return path


def resolve_liberty(choice: str | Path) -> Path | None:
    """A library choice as configs and commands give it: 'generic' (no library: None), 'auto'
    (the installed one, `find_liberty`; None when there is none), or a .lib path."""
    if choice == "generic":
        return None
    if choice == "auto":
        return find_liberty()
    path = Path(choice)
    if not path.is_file():
        raise FixynnError(f"{path}: no such Liberty file; give a .lib file, 'auto' or 'generic'")
    return path.resolve()


def read_liberty(path: str | Path) -> Library:
    """Cell names and areas of a Liberty file (each cell's first `area` attribute)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise FixynnError(f"{path}: cannot read the Liberty file ({exc.strerror})") from exc
    lib = _LIB.search(text)
    starts = list(_CELL.finditer(text))
    areas: dict[str, float] = {}
    sequential: set[str] = set()
    plain_ffs: set[str] = set()
    reset_ffs: set[str] = set()
    tables: dict[str, tuple[int, int]] = {}
    outputs: dict[str, frozenset[str]] = {}
    for i, cell in enumerate(starts):
        name, end = cell.group(1), starts[i + 1].start() if i + 1 < len(starts) else len(text)
        body = text[cell.end():end]
        outputs[name] = frozenset(pin for pin, direction, _ in _pins(body)
                                  if direction == "output")
        area = _AREA.search(body)
        if area:
            areas[name] = float(area.group(1))
        if _STATE.search(body):
            sequential.add(name)
            ff = _PLAIN_FF.search(body)
            if ff and re.search(r'next_state\s*:\s*"\w+"', ff.group(1)):
                has_reset = re.search(r"\b(clear|preset)\b", ff.group(1))
                (reset_ffs if has_reset else plain_ffs).add(name)
            continue
        table = None if "three_state" in body else _cell_truth_table(body)
        if table is not None:
            tables[name] = table
    if lib is None or not areas:
        raise FixynnError(f"{path}: not a Liberty library (no `library (...)` with cells "
                          "that have an area); pass a .lib file")
    return Library(path=path, name=lib.group(1), cell_area_um2=areas,
                   sequential_cells=frozenset(sequential), truth_tables=tables,
                   plain_flip_flops=frozenset(plain_ffs), reset_flip_flops=frozenset(reset_ffs),
                   output_pins=outputs)


def _pins(body: str) -> list[tuple[str, str, str]]:
    """(name, direction, function or '') of each pin group of a cell body."""
    pins = list(_PIN.finditer(body))
    out = []
    for i, pin in enumerate(pins):
        block = body[pin.end(): pins[i + 1].start() if i + 1 < len(pins) else len(body)]
        direction, function = _DIRECTION.search(block), _FUNCTION.search(block)
        out.append((pin.group(1), direction.group(1) if direction else "",
                    function.group(1) if function else ""))
    return out


def _cell_truth_table(body: str) -> tuple[int, int] | None:
    """(truth table, input count) of a cell with one output pin that has a function."""
    pins = _pins(body)
    inputs = [name for name, direction, _ in pins if direction == "input"]
    functions = [function for _, direction, function in pins if direction == "output"]
    if len(functions) != 1 or not functions[0] or not 1 <= len(inputs) <= 4:
        return None
    try:
        evaluate = parse_function(functions[0])
    except ValueError:
        return None
    table = 0
    for row in range(1 << len(inputs)):
        values = {pin: bool(row >> k & 1) for k, pin in enumerate(inputs)}
        try:
            table |= int(evaluate(values)) << row
        except KeyError:  # refers to an internal state: not combinational
            return None
    return table, len(inputs)


def _same_function(cell: tuple[int, int], n_inputs: int, table: int) -> bool:
    cell_table, cell_inputs = cell
    if cell_inputs != n_inputs:
        return False
    for order in itertools.permutations(range(n_inputs)):
        permuted = 0
        for row in range(1 << n_inputs):
            src = sum((row >> k & 1) << order[k] for k in range(n_inputs))
            permuted |= (cell_table >> src & 1) << row
        if permuted == table:
            return True
    return False


Evaluator = Callable[[dict[str, bool]], bool]


def parse_function(text: str) -> Evaluator:
    """A Liberty boolean function ("(!((A B)+C))", "A'", "A^B", "A*B|C") as a callable.

    Precedence, lowest first: `+`/`|` (or), `^` (xor), `*`/`&`/juxtaposition (and), then the
    prefix `!` and postfix `'` (not), parentheses and the constants 0 and 1."""
    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[01]|[()!'+|^*&]", text)
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise ValueError(f"unexpected characters in {text!r}")
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def binary(ops: str, sub: Callable[[], Evaluator], join: Callable[[bool, bool], bool],
               implicit: bool = False) -> Evaluator:
        left = sub()
        while peek() is not None and (peek() in ops or (
                implicit and peek() not in ")+|^'")):
            if peek() in ops:
                take()
            right = sub()
            left = (lambda f, g: lambda v: join(f(v), g(v)))(left, right)
        return left

    def unary() -> Evaluator:
        tok = take() if peek() is not None else ")"
        if tok == "!":
            inner = unary()
            node: Evaluator = lambda v: not inner(v)  # noqa: E731
        elif tok == "(":
            node = or_expr()
            if peek() != ")":
                raise ValueError(f"missing ')' in {text!r}")
            take()
        elif tok in ("0", "1"):
            node = (lambda c: lambda v: c)(tok == "1")
        elif re.fullmatch(r"[A-Za-z_]\w*", tok):
            node = (lambda name: lambda v: v[name])(tok)
        else:
            raise ValueError(f"unexpected {tok!r} in {text!r}")
        while peek() == "'":
            take()
            node = (lambda f: lambda v: not f(v))(node)
        return node

    def and_expr() -> Evaluator:
        return binary("*&", unary, lambda a, b: a and b, implicit=True)

    def xor_expr() -> Evaluator:
        return binary("^", and_expr, lambda a, b: a != b)

    def or_expr() -> Evaluator:
        return binary("+|", xor_expr, lambda a, b: a or b)

    result = or_expr()
    if pos != len(tokens):
        raise ValueError(f"trailing {tokens[pos]!r} in {text!r}")
    return result
