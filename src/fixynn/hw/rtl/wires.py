"""Wires of the datapaths: operands of exact width, extension, shifts, the requantization
clamp. Shared by the conv-family stages (`emit`) and the add stage (`add`)."""

from __future__ import annotations

from dataclasses import dataclass

from fixynn.hw.lower.datapath import Clamp
from fixynn.hw.rtl.names import const


@dataclass(frozen=True)
class Operand:
    """A wire of the datapath: its name, width and whether it is a two's complement value."""

    name: str
    width: int
    signed: bool
    neg: bool = False  # the value it contributes is minus this wire


def fit(op: Operand, width: int) -> str:
    """`op` as exactly `width` bits: sign/zero-extended, or cut (modular arithmetic)."""
    if op.width == width:
        return op.name
    if op.width > width:
        return f"{op.name}[{width - 1}:0]"
    fill = f"{{{width - op.width}{{{op.name}[{op.width - 1}]}}}}" if op.signed else \
        const(0, width - op.width)
    return f"{{{fill}, {op.name}}}"


def shifted(x: str, x_bits: int, shift: int, width: int, signed: bool = False) -> str:
    """`x << shift` as exactly `width` bits (zero- or, when `signed`, sign-extended; or cut)."""
    n = width - shift
    if n <= 0:
        return const(0, width)
    parts = []
    if n > x_bits:
        parts.append(f"{{{n - x_bits}{{{x}[{x_bits - 1}]}}}}" if signed
                     else const(0, n - x_bits))
    parts.append(x if n >= x_bits else f"{x}[{n - 1}:0]")
    if shift:
        parts.append(const(0, shift))
    return parts[0] if len(parts) == 1 else "{" + ", ".join(parts) + "}"


def requantize_lines(clamp: Clamp, o: int, acc: str, ob: int, y: str, lines: list[str]) -> str:
    """`y = acc' < t_lo ? lo : acc' > t_hi ? hi : acc' >> s` for channel o of `clamp`, acc'
    an a-bit two's complement wire: the middle range is bits s .. s+ob-1 of acc' (s < 0: acc'
    shifted left), sign-extended when acc' has fewer; appended to `lines`, returns `y`."""
    a, s = int(clamp.acc_width[o]), int(clamp.shift[o])
    lo_bit = max(s, 0)
    if ob + min(s, 0) <= 0:  # y = acc' << -s keeps no bit of acc': 0 in the middle range
        mid = const(0, ob)
    elif lo_bit >= a:  # every bit at or above the shift is the sign bit
        mid = f"{{{ob}{{{acc}[{a - 1}]}}}}"
    else:
        top = min(lo_bit + ob + min(s, 0), a) - 1  # last bit of acc' that reaches y
        n = top - lo_bit + 1
        parts = [f"{{{ob - n + min(s, 0)}{{{acc}[{a - 1}]}}}}"] if n - min(s, 0) < ob else []
        parts.append(f"{acc}[{top}:{lo_bit}]")
        if s < 0:
            parts.append(const(0, -s))
        mid = parts[0] if len(parts) == 1 else "{" + ", ".join(parts) + "}"
    if clamp.has_hi_compare[o]:
        t_hi = const(int(clamp.t_hi[o]), a)
        mid = f"($signed({acc}) > $signed({t_hi})) ? {const(clamp.hi, ob)} : {mid}"
    if clamp.lo == 0:
        mid = f"{acc}[{a - 1}] ? {const(0, ob)} : {mid}"
    elif clamp.has_lo_compare[o]:
        t_lo = const(int(clamp.t_lo[o]), a)
        mid = f"($signed({acc}) < $signed({t_lo})) ? {const(clamp.lo, ob)} : {mid}"
    lines.append(f"  wire [{ob - 1}:0] {y} = {mid};")
    return y
