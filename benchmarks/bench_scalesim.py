"""Cross-check the PCA cycle model (fixynn.hw.ppa.pca) against SCALE-Sim v3, layer by layer.

    .venv/bin/python benchmarks/bench_scalesim.py [--width 0.25] [--resolution 224] [--rows 32]

Needs the optional `bench` extra (`pip install -e .[bench]`, SCALE-Sim 3.0.0). Both models run
the same MobileNetV1 layers on the same R x C weight-stationary array; the table prints each
layer's cycles side by side, the relative difference, and each model's wall time.

How the layers are given to SCALE-Sim:
* Padding: SCALE-Sim convolves without padding and rounds the output size up, so each layer's
  input is given as the exact extent the padded convolution reads, (out - 1) * stride + k.
* Depthwise: SCALE-Sim runs a depthwise layer (name containing "DP") as one independent
  1-channel layer per channel, i.e. our "channel_serial" mapping. Every channel is the same
  layer, so one channel is simulated and its cycles multiplied by the channel count (exact, and
  the simulation is ~C times shorter). Our default "block_diagonal" mapping packs R // 9
  channels per fold.
* Partial sums: SCALE-Sim does not check that partial sums fit the ofmap buffer; our model tiles
  the pixels when they do not. The comparison therefore uses a 4 MiB ofmap buffer (no tiling).
  The "default" column is our model as the system uses it (block-diagonal depthwise, 64 KiB
  buffers), for information.
* SCALE-Sim counts from cycle 0 and reports 2R + C + T - 2 per fold minus 1 per layer.
* SCALE-Sim 3.0.0 fails under NumPy >= 2.4 (`int()` of a 1-element array in its memory model);
  `_patch_numpy_compat` flattens that one return value, nothing else is changed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from fixynn.arch import MAC_KINDS, LayerShape, mobilenet_v1_layers
from fixynn.hw.ppa.pca import PcaConfig, map_layer

CONFIG_TEMPLATE = """\
[general]
run_name = fixynn_check

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {ifmap_kib}
FilterSramSzkB: {filter_kib}
OfmapSramSzkB: {ofmap_kib}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Dataflow: ws
Bandwidth: 10
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""
COMPARE_OFMAP_KIB = 4096


def scalesim_available() -> bool:
    return importlib.util.find_spec("scalesim") is not None


def _patch_numpy_compat() -> None:
    from scalesim.memory import write_buffer

    original = write_buffer.write_buffer.service_writes
    if getattr(original, "_fixynn_flat", False):
        return

    def service_writes(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return np.asarray(original(self, *args, **kwargs)).reshape(-1)

    service_writes._fixynn_flat = True  # type: ignore[attr-defined]
    write_buffer.write_buffer.service_writes = service_writes


def topology_row(layer: LayerShape) -> str:
    """One SCALE-Sim topology line; a depthwise layer is given as a single channel."""
    h = (layer.out_height - 1) * layer.stride + layer.kernel
    w = (layer.out_width - 1) * layer.stride + layer.kernel
    if layer.kind == "depthwise":
        return f"DP_{layer.name}, {h}, {w}, {layer.kernel}, {layer.kernel}, 1, 1, {layer.stride},"
    return (f"{layer.name}, {h}, {w}, {layer.kernel}, {layer.kernel}, {layer.in_channels}, "
            f"{layer.out_channels}, {layer.stride},")


def run_scalesim(layers: list[LayerShape], cfg: PcaConfig, workdir: Path) -> list[int]:
    """SCALE-Sim compute cycles (stall-free CALC mode) for each layer, in order."""
    _patch_numpy_compat()
    from scalesim.scale_sim import scalesim

    config = workdir / "fixynn.cfg"
    config.write_text(CONFIG_TEMPLATE.format(
        rows=cfg.rows, cols=cfg.cols, ifmap_kib=math.ceil(cfg.ifmap_sram_kib),
        filter_kib=math.ceil(cfg.filter_sram_kib), ofmap_kib=math.ceil(cfg.ofmap_sram_kib)))
    topology = workdir / "topology.csv"
    header = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
              "Num Filter, Strides,")
    topology.write_text("\n".join([header, *map(topology_row, layers)]) + "\n")
    layout = workdir / "layout.csv"
    layout.write_text("Layer name,\n")
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=str(config),
                       topology=str(topology), layout=str(layout))
        sim.run_scale(top_path=str(workdir / "out"))
    cycles = []
    for layer, layer_sim in zip(layers, sim.runner.single_layer_sim_object_list, strict=True):
        layer_sim.calc_report_data()
        per_run = int(layer_sim.get_compute_report_items()[1])
        cycles.append(per_run * (layer.in_channels if layer.kind == "depthwise" else 1))
    return cycles


def compare(layers: list[LayerShape], cfg: PcaConfig) -> tuple[list[dict], float, float]:
    """Per-layer rows (ours vs SCALE-Sim) plus each model's wall time in seconds. Elementwise
    layers (adds, pools) are left out: SCALE-Sim models GEMM layers only."""
    layers = [layer for layer in layers if layer.kind in MAC_KINDS]
    serial = replace(cfg, depthwise_mapping="channel_serial", ofmap_sram_kib=COMPARE_OFMAP_KIB)
    t0 = time.perf_counter()
    ours = [map_layer(layer, serial) for layer in layers]
    ours_default = [map_layer(layer, cfg) for layer in layers]
    t_ours = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        theirs = run_scalesim(layers, serial, Path(tmp))
        t_theirs = time.perf_counter() - t0
    rows = [
        {
            "name": layer.name,
            "kind": layer.kind,
            "ours": mine.cycles,
            "scalesim": other,
            "rel_diff": (mine.cycles - other) / other,
            "ours_default": default.cycles,
        }
        for layer, mine, default, other in zip(layers, ours, ours_default, theirs, strict=True)
    ]
    return rows, t_ours, t_theirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--cols", type=int, default=32)
    args = parser.parse_args(argv)
    if not scalesim_available():
        print("SCALE-Sim is not installed: pip install -e .[bench]", file=sys.stderr)
        return 2
    layers = mobilenet_v1_layers(args.width, args.resolution)
    cfg = PcaConfig(rows=args.rows, cols=args.cols)
    rows, t_ours, t_theirs = compare(layers, cfg)
    print(f"MobileNetV1 {args.width} @ {args.resolution}, {args.rows}x{args.cols} WS array")
    print(f"{'layer':8} {'kind':9} {'ours':>9} {'scalesim':>9} {'diff':>8} "
          f"{'default':>9}")
    for row in rows:
        print(f"{row['name']:8} {row['kind']:9} {row['ours']:9d} {row['scalesim']:9d} "
              f"{row['rel_diff']:+8.3%} {row['ours_default']:9d}")
    total_ours = sum(r["ours"] for r in rows)
    total_theirs = sum(r["scalesim"] for r in rows)
    worst = max(abs(r["rel_diff"]) for r in rows)
    print(f"total cycles: ours {total_ours}, SCALE-Sim {total_theirs} "
          f"({(total_ours - total_theirs) / total_theirs:+.4%}); worst layer {worst:.4%}")
    print(f"wall time: ours {t_ours * 1e3:.2f} ms, SCALE-Sim {t_theirs:.1f} s "
          f"(ratio {t_theirs / max(t_ours, 1e-9):.0f}x)")
    return 0 if worst <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
