"""Random small HwGraphs for the RTL tests (a helper module imported by test_verify*.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace

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


@dataclass(frozen=True)
class _Tensor:
    """A tensor of the DAG being drawn: its name, format, channels and map size."""

    name: str
    fmt: TensorFormat
    ch: int
    size: tuple[int, int]


class _Dag:
    """The nodes random_dag draws, one block at a time."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.nodes: list[HwLayer | HwPool | HwAdd] = []
        self.fused: list[str] = []

    def layer(self, kind: str, src: _Tensor, out_ch: int, k: int, stride: int,
              pad: int) -> _Tensor:
        layer = _dag_layer(self.rng, f"n{len(self.nodes)}", kind, src.name, src.fmt, src.ch,
                           out_ch, k, stride, pad)
        self.nodes.append(layer)
        size = tuple(conv_out_size(s, k, stride, pad) for s in src.size)
        return _Tensor(layer.name, layer.out_format, out_ch, size)  # type: ignore[arg-type]

    def pool(self, src: _Tensor, pool: HwPool) -> _Tensor:
        pool = replace(pool, name=f"n{len(self.nodes)}", inputs=(src.name,))
        self.nodes.append(pool)
        return _Tensor(pool.name, src.fmt, src.ch, pool.out_size(*src.size))

    def same_pool(self, src: _Tensor, stride: int, k: int) -> _Tensor:
        """A k x k max or average pool padded k // 2 (a 'same' map at stride 1)."""
        kind = str(self.rng.choice(["maxpool", "avgpool"]))
        return self.pool(src, HwPool("p", kind, (), src.ch, src.fmt, kernel=k, stride=stride,
                                     padding=k // 2))

    def step(self, src: _Tensor, out_ch: int, stride: int) -> _Tensor:
        """One layer of a branch, a 'same' map at stride 1: pointwise, 'same' depthwise, conv
        or pool, or a fused depthwise + pointwise (the pointwise of stride `stride`)."""
        choice = str(self.rng.choice(["pointwise", "depthwise", "conv", "fused", "pool"]))
        if choice in ("depthwise", "pool") and out_ch != src.ch:
            choice = "pointwise"  # neither changes the channels
        if choice == "pointwise":
            return self.layer("pointwise", src, out_ch, 1, stride, 0)
        if choice == "pool":
            return self.same_pool(src, stride, int(self.rng.choice([3, 5])))
        if choice == "fused":
            dw = self.layer("depthwise", src, src.ch, 3, 1, 1)
            self.fused.append(dw.name)
            return self.layer("pointwise", dw, out_ch, 1, stride, 0)
        k = int(self.rng.choice([3, 5]))
        return self.layer(choice, src, out_ch, k, stride, k // 2)

    def add(self, a: _Tensor, b: _Tensor) -> _Tensor | None:
        """add(a, b) in a random order, onto a random output format (None: the fractions
        are too far apart for an add)."""
        top = max(a.fmt.frac, b.fmt.frac)
        if abs(a.fmt.frac - b.fmt.frac) > 44:
            return None
        first, second = (a, b) if self.rng.random() < 0.5 else (b, a)
        act, out_bits = _act(self.rng), _bits(self.rng)
        add = HwAdd(name=f"n{len(self.nodes)}", inputs=(first.name, second.name),
                    channels=a.ch, in_formats=(first.fmt, second.fmt), out_bits=out_bits,
                    out_frac=top - int(self.rng.integers(-2, 7)), activation=act)
        self.nodes.append(add)
        return _Tensor(add.name, add.out_format, a.ch, a.size)


def random_dag(seed: int, name: str, max_blocks: int = 3) -> HwGraph:
    """A DAG of 1..max_blocks blocks, each one of:

    * a plain layer (any kind, stride, padding; a depthwise fused with a pointwise partner
      of any stride), or a pool of the current tensor, signed or not (`_random_pool`);
    * a residual block: a branch of 1..3 shape-keeping steps (pointwise, 'same' depthwise,
      conv or max/avg pool, a fused depthwise + pointwise; any stride on a 1x1 map) from the
      block's input, then add(input, branch); now and then the input added to itself;
    * a two-branch block, a ResNet projection shortcut when its stride s > 1: a shortcut of
      one pointwise, 3x3 'same' conv or 3x3 'same' max/avg pool of stride s, a main branch of
      a 3x3 or 5x5 'same' conv or depthwise of stride s and 0..2 more steps, then
      add(shortcut, main): both inputs computed.

    Activations none/relu/relu6 (so signed inputs and outputs anywhere, pools of both),
    widths 2..16, maps from 1x1 and non-square; now and then an inner tensor listed as an
    extra output."""
    rng = np.random.default_rng(seed)
    in_ch = int(rng.integers(1, 4))
    h, w = (int(rng.integers(1, 4)) if rng.random() < 0.2 else int(rng.integers(3, 10))
            for _ in range(2))
    input_bits = 8 if rng.random() < 0.6 else int(rng.integers(2, 17))
    dag = _Dag(rng)
    extra: list[str] = []  # tensors that feed no add they were drawn for
    cur = _Tensor("input", TensorFormat(False, input_bits, input_bits), in_ch, (h, w))
    for _ in range(int(rng.integers(1, max_blocks + 1))):
        block = rng.random()
        if block < 0.3:  # a plain layer
            kind = str(rng.choice(["conv", "depthwise", "pointwise"]))
            k = 1 if kind == "pointwise" else int(rng.choice([1, 3, 5]))
            stride, pad = int(rng.choice(STRIDES)), 0 if kind == "pointwise" else int(
                rng.integers(0, k))
            if min(conv_out_size(s, k, stride, pad) for s in cur.size) < 1:
                continue
            cur = dag.layer(kind, cur, cur.ch if kind == "depthwise" else int(
                rng.integers(1, 5)), k, stride, pad)
            if kind == "depthwise" and rng.random() < 0.5:  # fused, a partner of any stride
                dag.fused.append(cur.name)
                cur = dag.layer("pointwise", cur, int(rng.integers(1, 5)), 1,
                                int(rng.choice(STRIDES)), 0)
        elif block < 0.4:  # a pool, over the current tensor's format (signed or not)
            pool = _random_pool(rng, "p", cur.ch, cur.fmt, cur.size)
            if min(pool.out_size(*cur.size)) >= 1:
                cur = dag.pool(cur, pool)
        elif block < 0.75:  # a residual block
            branch = cur
            if rng.random() > 0.05:
                n_branch = int(rng.integers(1, 4))
                for j in range(n_branch):
                    out_ch = cur.ch if j == n_branch - 1 else int(rng.integers(1, 5))
                    stride = int(rng.choice(STRIDES)) if cur.size == (1, 1) else 1
                    branch = dag.step(branch, out_ch, stride)
            joined = dag.add(cur, branch)
            if joined is None and branch is not cur:
                extra.append(branch.name)
            cur = joined or cur
        else:  # two computed branches: a shortcut and a main branch of the same stride
            # the shortcut's window reaches no further than the main branch's first one, so
            # its pixels start from image pixels no later (else the add has no hardware)
            stride, out_ch = int(rng.choice(STRIDES)), int(rng.integers(1, 5))
            short = str(rng.choice(["pointwise", "conv", "pool"]))
            if short == "pool" and out_ch != cur.ch:
                short = "pointwise"
            if short == "pool":
                sc = dag.same_pool(cur, stride, 3)
            else:
                sc = dag.layer(short, cur, out_ch, 3 if short == "conv" else 1, stride,
                               1 if short == "conv" else 0)
            kind, k = str(rng.choice(["conv", "depthwise"])), int(rng.choice([3, 5]))
            main = dag.layer(kind, cur, cur.ch if kind == "depthwise" else out_ch, k, stride,
                             k // 2)
            for _ in range(int(rng.integers(0, 3))):
                main = dag.step(main, out_ch, 1)
            if main.ch != out_ch:  # after a depthwise and no more steps
                main = dag.layer("pointwise", main, out_ch, 1, 1, 0)
            joined = dag.add(sc, main)
            if joined is None:  # the branches feed nothing else: outputs of the graph
                extra += [sc.name, main.name]
            cur = joined or cur
    if not dag.nodes:
        cur = dag.layer("pointwise", cur, 1, 1, 1, 0)
    outputs = [*extra, cur.name]
    if len(dag.nodes) > 2 and rng.random() < 0.3:
        outputs.insert(0, dag.nodes[int(rng.integers(0, len(dag.nodes) - 1))].name)
    return HwGraph(name=name, input_channels=in_ch, input_height=h, input_width=w,
                   input_bits=input_bits, input_frac=input_bits, layers=tuple(dag.nodes),
                   meta={"fuse": dag.fused}, outputs=tuple(dict.fromkeys(outputs)))


def dags(count: int, name: str = "d") -> st.SearchStrategy[list[HwGraph]]:
    """`count` random DAGs from one hypothesis-drawn seed (graph i: `random_dag(seed * 1000
    + i, ...)`, named `<name><seed>_<i>`)."""
    return st.integers(0, 2**31 - 1).map(
        lambda seed: [random_dag(seed * 1000 + i, f"{name}{seed}_{i}") for i in range(count)])
