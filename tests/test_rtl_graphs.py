"""Random small HwGraphs for the RTL tests (a helper module imported by test_verify*.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

from fixynn.arch import conv_out_size
from fixynn.hw.ir import HwAdd, HwGraph, HwLayer, HwPool
from fixynn.hw.kinds.base import Padding, window_out_size
from fixynn.hw.numfmt import TensorFormat
from fixynn.hw.synthetic import random_layer

STRIDES = (1, 2, 3)


def random_stack(seed: int, name: str, max_layers: int = 3) -> HwGraph:
    """A 1..max_layers layer graph drawing every knob the RTL supports.

    Kernels 1/3/5, strides 1/2/3, any padding 0..k-1 (a third of the layers with each side
    drawn on its own), conv/depthwise/pointwise, fused dw+pw
    with a pointwise partner of any stride, maps from 1x1 up (a tenth of the graphs start at
    one pixel per row or column), pixels of 2..16 bits (a quarter not 8), weight and
    activation widths 2..8, sparsity 0..90%, shifts from -2 (left) through 0 to large,
    ReLU/ReLU6, bias anywhere in a wide range; and pools (a sixth of the nodes): maxpool /
    avgpool of kernels 1..4, strides 1..3, per-side padding, and global_avgpool.
    """
    rng = np.random.default_rng(seed)
    channels = int(rng.integers(1, 4))
    h, w = (int(rng.integers(1, 10)) if rng.random() < 0.1 else int(rng.integers(3, 10))
            for _ in range(2))
    input_bits = 8 if rng.random() < 0.75 else int(rng.integers(2, 17))
    in_bits, in_frac = input_bits, input_bits
    layers: list[HwLayer | HwPool] = []
    fused: list[str] = []
    size = (h, w)
    n_layers = int(rng.integers(1, max_layers + 1))
    while len(layers) < n_layers:
        if rng.random() < 1 / 6:
            pool = _random_pool(rng, f"l{len(layers)}", channels,
                                TensorFormat(False, in_bits, in_frac), size)
            if min(pool.out_size(*size)) >= 1:
                layers.append(pool)
                size = pool.out_size(*size)
            continue
        kind = str(rng.choice(["conv", "depthwise", "pointwise"]))
        fuse = kind == "depthwise" and rng.random() < 0.5
        k = 1 if kind == "pointwise" else int(rng.choice([1, 3, 5]))
        stride = int(rng.choice(STRIDES))
        pad: int | Padding = 0 if kind == "pointwise" else int(rng.integers(0, k))
        if rng.random() < 1 / 3:
            pad = tuple(int(p) for p in rng.integers(0, k, size=4))  # type: ignore[assignment]
        out_size = _out_size(size, k, stride, pad)
        if min(out_size) < 1:
            continue
        out_ch = channels if kind == "depthwise" else int(rng.integers(1, 7))
        out_bits = int(rng.integers(2, 9))
        out_frac = int(rng.integers(0, out_bits + 1))
        layer = random_layer(
            rng, f"l{len(layers)}", kind, channels, out_ch, k, stride, pad,
            weight_bits=int(rng.integers(2, 9)), in_bits=in_bits, in_frac=in_frac,
            out_bits=out_bits, out_frac=out_frac, sparsity=float(rng.choice([0, 0.3, 0.6, 0.9])),
            activation=str(rng.choice(["relu", "relu6"])),
        )
        shift = rng.integers(-2, 13, size=out_ch)
        shift[rng.random(out_ch) < 0.2] = 0
        bias = rng.integers(-(2 ** int(rng.integers(1, 14))), 2 ** 13, size=out_ch)
        layer = replace(layer, weight_frac=shift - in_frac + out_frac, bias=bias)
        layers.append(layer)
        size = out_size
        if fuse:  # the pointwise partner, of any stride
            fused.append(layer.name)
            pw_bits, pw_stride = int(rng.integers(2, 9)), int(rng.choice(STRIDES))
            pw = random_layer(rng, f"l{len(layers)}", "pointwise", channels,
                              int(rng.integers(1, 7)), 1, pw_stride, 0, weight_bits=pw_bits,
                              in_bits=out_bits, in_frac=out_frac, out_bits=pw_bits,
                              out_frac=int(rng.integers(0, pw_bits + 1)))
            layers.append(pw)
            out_ch, out_bits, out_frac = pw.out_channels, pw.out_bits, pw.out_frac
            size = tuple(conv_out_size(s, 1, pw_stride, 0) for s in size)  # type: ignore[assignment]
        channels, in_bits, in_frac = out_ch, out_bits, out_frac
    return HwGraph(name=name, input_channels=layers[0].in_channels, input_height=h,
                   input_width=w, input_bits=input_bits, input_frac=input_bits,
                   layers=tuple(layers), meta={"fuse": fused})


def _random_pool(rng: np.random.Generator, name: str, channels: int, fmt: TensorFormat,
                 size: tuple[int, int]) -> HwPool:
    kind = str(rng.choice(["maxpool", "avgpool", "global_avgpool"]))
    if kind == "global_avgpool":
        return HwPool(name, kind, (), channels, fmt)
    k = int(rng.integers(1, 5))
    pad = tuple(int(p) for p in rng.integers(0, k, size=4)) if rng.random() < 0.5 else 0
    return HwPool(name, kind, (), channels, fmt, kernel=k, stride=int(rng.integers(1, 4)),
                  padding=pad)  # type: ignore[arg-type]


def _out_size(size: tuple[int, int], k: int, stride: int,
              pad: int | Padding) -> tuple[int, int]:
    top, bottom, left, right = (pad,) * 4 if isinstance(pad, int) else pad
    return (window_out_size(size[0], k, stride, top, bottom),
            window_out_size(size[1], k, stride, left, right))


def stacks(count: int, name: str = "r") -> st.SearchStrategy[list[HwGraph]]:
    """`count` random stacks from one hypothesis-drawn seed; names carry it (`r<seed>_<i>`:
    graph i is `random_stack(seed * 1000 + i, ...)`), so a failure says how to rebuild it."""
    return st.integers(0, 2**31 - 1).map(
        lambda seed: [random_stack(seed * 1000 + i, f"{name}{seed}_{i}") for i in range(count)])


def images_for(graph: HwGraph, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n, graph.input_channels, graph.input_height, graph.input_width)
    return rng.integers(0, 2**graph.input_bits, size=shape)


# The defects an independent simulation of our Verilog found (issue 9), as graphs.


def _unit_layer(name: str, kind: str, kernel: int, stride: int, padding: int,
                bits: int = 8) -> HwLayer:
    """One channel, every weight 1, bias 0, all fractions 0, ReLU: y = the window's sum."""
    return HwLayer(name=name, kind=kind, in_channels=1, out_channels=1,  # type: ignore[arg-type]
                   kernel=kernel, stride=stride, padding=padding,
                   weight=np.ones((1, 1, kernel, kernel)), bias=np.zeros(1), weight_bits=8,
                   weight_frac=np.zeros(1), in_bits=bits, in_frac=0, out_bits=bits, out_frac=0,
                   activation="relu")


def fused_strided_pointwise() -> HwGraph:
    """Depthwise 3x3 (pad 1) fused with a stride-2 pointwise on 4x4: golden gives 2x2."""
    return HwGraph(name="fused_s2", input_channels=1, input_height=4, input_width=4,
                   input_frac=0, layers=(_unit_layer("dw", "depthwise", 3, 1, 1),
                                         _unit_layer("pw", "pointwise", 1, 2, 0)),
                   meta={"fuse": ["dw"]})


def one_pixel_busy() -> HwGraph:
    """1x1 input, pointwise, then depthwise 3x3 pad 1: `busy` used to fall mid-frame."""
    return HwGraph(name="busy_1x1", input_channels=1, input_height=1, input_width=1,
                   input_frac=0, layers=(_unit_layer("pw", "pointwise", 1, 1, 0),
                                         _unit_layer("dw", "depthwise", 3, 1, 1)))


def wide_pixels() -> HwGraph:
    """9-bit pixels through a pointwise layer of weight 1: 256 in gives 256 out."""
    return HwGraph(name="wide9", input_channels=1, input_height=2, input_width=3, input_bits=9,
                   input_frac=0, layers=(_unit_layer("pw", "pointwise", 1, 1, 0, bits=9),))


def defect_images(graph: HwGraph, n: int = 4) -> np.ndarray:
    """Small images (sums stay below saturation); the 9-bit graph gets 256 and 511."""
    images = images_for(graph, n, seed=5) % 20
    if graph.input_bits > 8:
        images[:, 0, 0, :2] = [256, 511]
    return images


def same_padded_stride2(size: int) -> HwGraph:
    """TensorFlow SAME padding of a 3x3 stride-2 conv (EfficientNet's stem): on an even map
    all of it after, (0, 1, 0, 1); on an odd map (1, 1, 1, 1); then a depthwise 3x3 with
    SAME padding at stride 1 and a pointwise layer."""
    pad = (0, 1, 0, 1) if size % 2 == 0 else 1
    rng = np.random.default_rng(size)
    stem = random_layer(rng, "stem", "conv", 3, 4, 3, 2, pad, in_frac=8, activation="relu")
    dw = random_layer(rng, "dw", "depthwise", 4, 4, 3, 1, 1)
    pw = random_layer(rng, "pw", "pointwise", 4, 3, 1, 1, 0)
    return HwGraph(name=f"same{size}", input_channels=3, input_height=size, input_width=size,
                   layers=(stem, dw, pw))


def pool_chain() -> HwGraph:
    """A conv, then maxpool 3x3 stride 2 with SAME padding (0, 1, 0, 1), avgpool 2x2 (a
    power-of-two window: a shift) with padding 1, avgpool 3x3 (N = 9: the reciprocal
    multiply), global_avgpool; a 9x8 map."""
    rng = np.random.default_rng(0)
    conv = random_layer(rng, "c", "conv", 2, 3, 3, 1, 1, in_frac=8, activation="relu")
    fmt = conv.out_format
    return HwGraph("pools", 2, 9, 8, (
        conv,
        HwPool("mp", "maxpool", (), 3, fmt, kernel=3, stride=2, padding=(0, 1, 0, 1)),
        HwPool("ap", "avgpool", (), 3, fmt, kernel=2, stride=1, padding=1),
        HwPool("ap3", "avgpool", (), 3, fmt, kernel=3, stride=1, padding=(1, 1, 0, 2)),
        HwPool("gap", "global_avgpool", (), 3, fmt),
    ))


def signed_pool_chain() -> HwGraph:
    """pool_chain's pools over a signed map (a linear conv, 6-bit, values around zero), each
    reading the conv: maxpool 3x3 SAME (padding excluded: a window of negatives keeps its
    negative maximum), avgpool 2x2 padding 1 and 3x3 with per-side padding (padding counts
    as zeros; negative means round half up), global_avgpool."""
    rng = np.random.default_rng(1)
    conv = random_layer(rng, "c", "conv", 2, 3, 3, 1, 1, in_frac=8, out_bits=6, out_frac=3,
                        activation="none")
    # mostly negative, so a window's maximum is often below the zero padding would give
    conv = replace(conv, bias=conv.bias - 40, inputs=("input",))
    fmt = conv.out_format
    return HwGraph("spools", 2, 9, 8, (
        conv,
        HwPool("mp", "maxpool", ("c",), 3, fmt, kernel=3, stride=2, padding=(0, 1, 0, 1)),
        HwPool("ap", "avgpool", ("c",), 3, fmt, kernel=2, stride=1, padding=1),
        HwPool("ap3", "avgpool", ("c",), 3, fmt, kernel=3, stride=1, padding=(1, 1, 0, 2)),
        HwPool("gap", "global_avgpool", ("c",), 3, fmt),
    ), outputs=("mp", "ap", "ap3", "gap"))


def wide_mean() -> HwGraph:
    """A signed 16-bit map of 224 x 224 averaged whole: the mean's reciprocal multiply takes
    a 66-bit product (wider than any int64, and than Verilator's 64-bit words)."""
    rng = np.random.default_rng(2)
    pw = random_layer(rng, "pw", "pointwise", 1, 1, 1, 1, 0, in_bits=16, in_frac=16,
                      out_bits=16, out_frac=12, activation="none")
    pw = replace(pw, weight=np.array([[[[-3]]]]), weight_frac=np.array([1]), bias=np.array([5]))
    fmt = pw.out_format
    return HwGraph("wide_mean", 1, 224, 224, (pw, HwPool("gap", "global_avgpool", (), 1, fmt)),
                   input_bits=16, input_frac=16)


# Random DAGs: residual adds, signed (linear) layers, fusion in a branch.


def _act(rng: np.random.Generator) -> str:
    return str(rng.choice(["none", "relu", "relu6"]))


def _bits(rng: np.random.Generator) -> int:
    """2..16 bits, more often narrow (small designs build fast)."""
    return int(rng.integers(2, 9)) if rng.random() < 0.7 else int(rng.integers(9, 17))


def _dag_layer(rng: np.random.Generator, name: str, kind: str, src: str, fmt: TensorFormat,
               in_ch: int, out_ch: int, k: int, stride: int, pad: int) -> HwLayer:
    """A random layer reading `src` of format `fmt`: any activation, shifts -2..12."""
    out_bits = _bits(rng)
    activation = _act(rng)
    out_bits = max(out_bits, 2) if activation == "none" else out_bits
    out_frac = int(rng.integers(-1, out_bits + 1))
    layer = random_layer(
        rng, name, kind, in_ch, out_ch, k, stride, pad, weight_bits=int(rng.integers(2, 9)),
        in_bits=fmt.bits, in_frac=fmt.frac, out_bits=out_bits, out_frac=out_frac,
        sparsity=float(rng.choice([0, 0.3, 0.6])), activation=activation)
    shift = rng.integers(-2, 13, size=out_ch)
    shift[rng.random(out_ch) < 0.2] = 0
    bias = rng.integers(-(2 ** int(rng.integers(1, 14))), 2 ** 13, size=out_ch)
    return replace(layer, weight_frac=shift - fmt.frac + out_frac, bias=bias, inputs=(src,),
                   in_signed=fmt.signed)


def random_dag(seed: int, name: str, max_blocks: int = 3) -> HwGraph:
    """A DAG of 1..max_blocks blocks, each a plain layer (any kind, stride, padding) or a
    residual block: a branch of 1..3 shape-keeping layers (pointwise, 'same' depthwise or
    conv, a fused depthwise + pointwise; any stride on a 1x1 map) from the block's input,
    then add(input, branch). Activations none/relu/relu6 (so signed inputs and outputs
    anywhere), widths 2..16, maps from 1x1 and non-square; now and then an add of a tensor
    with itself (no buffer) and an inner tensor listed as an extra output."""
    rng = np.random.default_rng(seed)
    ch = in_ch = int(rng.integers(1, 4))
    h, w = (int(rng.integers(1, 4)) if rng.random() < 0.2 else int(rng.integers(3, 10))
            for _ in range(2))
    input_bits = 8 if rng.random() < 0.6 else int(rng.integers(2, 17))
    fmt = TensorFormat(False, input_bits, input_bits)
    nodes: list = []
    fused: list[str] = []
    cur, size = "input", (h, w)

    for _ in range(int(rng.integers(1, max_blocks + 1))):
        if rng.random() < 0.4:  # a plain layer
            kind = str(rng.choice(["conv", "depthwise", "pointwise"]))
            k = 1 if kind == "pointwise" else int(rng.choice([1, 3, 5]))
            stride, pad = int(rng.choice(STRIDES)), 0 if kind == "pointwise" else int(
                rng.integers(0, k))
            if min(conv_out_size(s, k, stride, pad) for s in size) < 1:
                continue
            out_ch = ch if kind == "depthwise" else int(rng.integers(1, 5))
            layer = _dag_layer(rng, f"n{len(nodes)}", kind, cur, fmt, ch, out_ch, k, stride,
                               pad)
            nodes.append(layer)
            cur, fmt, ch = layer.name, layer.out_format, out_ch
            size = (conv_out_size(size[0], k, stride, pad), conv_out_size(size[1], k, stride,
                                                                          pad))
            if kind == "depthwise" and rng.random() < 0.5:  # fused, a partner of any stride
                fused.append(layer.name)
                s2 = int(rng.choice(STRIDES))
                pw = _dag_layer(rng, f"n{len(nodes)}", "pointwise", cur, fmt, ch,
                                int(rng.integers(1, 5)), 1, s2, 0)
                nodes.append(pw)
                cur, fmt, ch = pw.name, pw.out_format, pw.out_channels
                size = (conv_out_size(size[0], 1, s2, 0), conv_out_size(size[1], 1, s2, 0))
            continue
        skip, skip_fmt, b, b_fmt, b_ch = cur, fmt, cur, fmt, ch
        if rng.random() > 0.05:
            n_branch = int(rng.integers(1, 4))
            for j in range(n_branch):
                last = j == n_branch - 1
                one = size == (1, 1)
                choice = str(rng.choice(["pointwise", "depthwise", "conv", "fused"]))
                stride = int(rng.choice(STRIDES)) if one else 1
                out_ch = ch if last else int(rng.integers(1, 5))
                if choice == "pointwise":
                    layer = _dag_layer(rng, f"n{len(nodes)}", "pointwise", b, b_fmt, b_ch,
                                       out_ch, 1, stride, 0)
                elif choice in ("depthwise", "conv"):
                    k = int(rng.choice([3, 5]))
                    if choice == "depthwise":
                        out_ch = b_ch if not last or b_ch == ch else None
                        if out_ch is None:  # a depthwise cannot change channels: pointwise
                            layer = _dag_layer(rng, f"n{len(nodes)}", "pointwise", b, b_fmt,
                                               b_ch, ch, 1, stride, 0)
                            nodes.append(layer)
                            b, b_fmt, b_ch = layer.name, layer.out_format, ch
                            continue
                    layer = _dag_layer(rng, f"n{len(nodes)}", choice, b, b_fmt, b_ch, out_ch,
                                       k, stride, k // 2)
                else:  # a fused depthwise + pointwise, the pointwise of any stride on 1x1
                    dw = _dag_layer(rng, f"n{len(nodes)}", "depthwise", b, b_fmt, b_ch, b_ch,
                                    3, 1, 1)
                    nodes.append(dw)
                    fused.append(dw.name)
                    layer = _dag_layer(rng, f"n{len(nodes)}", "pointwise", dw.name,
                                       dw.out_format, b_ch, out_ch, 1, stride, 0)
                nodes.append(layer)
                b, b_fmt, b_ch = layer.name, layer.out_format, out_ch
        act = _act(rng)
        out_bits = _bits(rng)
        top = max(skip_fmt.frac, b_fmt.frac)
        if abs(skip_fmt.frac - b_fmt.frac) > 44:
            continue
        order = (skip, b) if rng.random() < 0.5 else (b, skip)
        formats = {skip: skip_fmt, b: b_fmt}
        add = HwAdd(name=f"n{len(nodes)}", inputs=order, channels=ch,
                    in_formats=(formats[order[0]], formats[order[1]]), out_bits=out_bits,
                    out_frac=top - int(rng.integers(-2, 7)), activation=act)
        nodes.append(add)
        cur, fmt = add.name, add.out_format
    if not nodes:
        layer = _dag_layer(rng, "n0", "pointwise", "input", fmt, ch, 1, 1, 1, 0)
        nodes.append(layer)
        cur = layer.name
    outputs = [cur]
    if len(nodes) > 2 and rng.random() < 0.3:
        outputs.insert(0, nodes[int(rng.integers(0, len(nodes) - 1))].name)
    return HwGraph(name=name, input_channels=in_ch, input_height=h, input_width=w,
                   input_bits=input_bits, input_frac=input_bits, layers=tuple(nodes),
                   meta={"fuse": fused}, outputs=tuple(dict.fromkeys(outputs)))


def dags(count: int, name: str = "d") -> st.SearchStrategy[list[HwGraph]]:
    """`count` random DAGs from one hypothesis-drawn seed (graph i: `random_dag(seed * 1000
    + i, ...)`, named `<name><seed>_<i>`)."""
    return st.integers(0, 2**31 - 1).map(
        lambda seed: [random_dag(seed * 1000 + i, f"{name}{seed}_{i}") for i in range(count)])
