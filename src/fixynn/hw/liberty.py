"""Liberty standard-cell libraries: where to find one, and the cell areas synthesis reports in.

The default library is the OSU 0.18 um standard cells (`osu018_stdcells.lib`, 32 cells with
area, timing and power; Oklahoma State University's library as shipped by Debian's package
`qflow-tech-osu018`). `scripts/install-system-deps.sh` unpacks that package's files without
pulling in qflow itself; `$FIXYNN_LIBERTY` names any other `.lib` file.
"""

from __future__ import annotations

import bisect
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

# Liberty tokens: a quoted string, a word or number, punctuation, a line continuation.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z0-9_.$+\-]+|[{}();:,]|\\\n')


@dataclass
class Group:
    """One Liberty group: `kind (args) { attributes; groups }`; `line` is where it opens."""

    kind: str
    args: list[str]
    attrs: dict[str, list[str]]
    groups: list[Group]
    line: int = 0

    def all(self, kind: str) -> list[Group]:
        return [g for g in self.groups if g.kind == kind]

    def attr(self, name: str, default: str = "") -> str:
        """The first value of a simple attribute (`direction : input ;`), else `default`."""
        return (self.attrs.get(name) or [default])[0]


def parse_groups(text: str, source: str | Path = "<liberty>") -> Group:
    """The library group of a Liberty text (comments dropped); a malformed text raises a
    FixynnError naming `source` and the line."""
    # comments become their newlines, so that token lines stay the file's lines
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group().count("\n"), text, flags=re.S)
    found = [m for m in _TOKEN.finditer(text) if m.group() != "\\\n"]
    tokens = [m.group() for m in found]
    newlines = [m.start() for m in re.finditer("\n", text)]

    def line(i: int) -> int:
        at = found[min(i, len(found) - 1)].start() if found else 0
        return 1 + bisect.bisect_left(newlines, at)

    def fail(i: int, what: str) -> FixynnError:
        return FixynnError(f"{source}:{line(i)}: {what}; is this a Liberty (.lib) file?")

    pos = 0
    root = Group("", [], {}, [])
    stack = [root]
    while pos < len(tokens):
        name = tokens[pos]
        if name == "}":
            if len(stack) == 1:
                raise fail(pos, "'}' closes no group")
            stack.pop()
            pos += 1
            continue
        if pos + 1 < len(tokens) and tokens[pos + 1] == ":":
            value = []
            pos += 2
            while pos < len(tokens) and tokens[pos] not in (";", "}"):
                value.append(tokens[pos].strip('"'))
                pos += 1
            stack[-1].attrs[name] = value
            pos += tokens[pos] == ";" if pos < len(tokens) else 0
            continue
        if pos + 1 < len(tokens) and tokens[pos + 1] == "(":
            ends = (")", "{", "}", ";")  # the first of these must be the ')'
            close = next((i for i in range(pos + 2, len(tokens)) if tokens[i] in ends),
                         len(tokens))
            if close == len(tokens) or tokens[close] != ")":
                raise fail(pos, f"`{name} (` has no closing ')'")
            args = [t.strip('"') for t in tokens[pos + 2:close] if t != ","]
            opened, pos = pos, close + 1
            if pos < len(tokens) and tokens[pos] == "{":
                group = Group(name, args, {}, [], line(opened))
                stack[-1].groups.append(group)
                stack.append(group)
                pos += 1
            else:  # complex attribute: index_1 ("..."); values ("...", "...");
                stack[-1].attrs[name] = args
                pos += pos < len(tokens) and tokens[pos] == ";"
            continue
        pos += 1  # a stray token
    if len(stack) > 1:
        raise FixynnError(f"{source}:{stack[-1].line}: `{stack[-1].kind} (...) {{` is never "
                          "closed (the file ends first); is the file truncated?")
    libraries = root.all("library")
    if not libraries:
        raise FixynnError(f"{source}: not a Liberty library (no `library (...) {{ }}` group); "
                          "pass a .lib file")
    return libraries[0]


def read_library_group(path: str | Path) -> Group:
    """The parsed library group of a Liberty file; one-line errors naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise FixynnError(f"{path}: cannot read the Liberty file ({exc.strerror})") from exc
    return parse_groups(text, path)


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
    """Cell names, areas and functions of a Liberty file (`read_library_group`'s tree)."""
    path = Path(path)
    lib = read_library_group(path)
    areas: dict[str, float] = {}
    sequential: set[str] = set()
    plain_ffs: set[str] = set()
    reset_ffs: set[str] = set()
    tables: dict[str, tuple[int, int]] = {}
    outputs: dict[str, frozenset[str]] = {}
    for cell in lib.all("cell"):
        name = cell.args[0]
        outputs[name] = frozenset(pin.args[0] for pin in cell.all("pin")
                                  if pin.attr("direction") == "output")
        if cell.attr("area"):
            try:
                areas[name] = float(cell.attr("area"))
            except ValueError:
                raise FixynnError(f"{path}:{cell.line}: cell {name}'s area "
                                  f"{cell.attr('area')!r} is not a number") from None
        states = cell.all("ff") + cell.all("latch")
        if states:
            sequential.add(name)
            ff = next(iter(cell.all("ff")), None)
            if ff and re.fullmatch(r"\w+", ff.attr("next_state")):
                has_reset = "clear" in ff.attrs or "preset" in ff.attrs
                (reset_ffs if has_reset else plain_ffs).add(name)
            continue
        three_state = any("three_state" in pin.attrs for pin in cell.all("pin"))
        table = None if three_state else _cell_truth_table(cell)
        if table is not None:
            tables[name] = table
    if not areas:
        raise FixynnError(f"{path}: not a Liberty library (no cells that have an area); "
                          "pass a .lib file")
    return Library(path=path, name=lib.args[0] if lib.args else "", cell_area_um2=areas,
                   sequential_cells=frozenset(sequential), truth_tables=tables,
                   plain_flip_flops=frozenset(plain_ffs), reset_flip_flops=frozenset(reset_ffs),
                   output_pins=outputs)


def _cell_truth_table(cell: Group) -> tuple[int, int] | None:
    """(truth table, input count) of a cell with one output pin that has a function."""
    pins = cell.all("pin")
    inputs = [pin.args[0] for pin in pins if pin.attr("direction") == "input"]
    functions = [pin.attr("function") for pin in pins if pin.attr("direction") == "output"]
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
