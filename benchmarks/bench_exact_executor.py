"""The IR's integer semantics on EfficientNet-Lite0's stem + first blocks: the golden NumPy
executor against its torch twin (`fixynn.frontend.exact`), side by side, same images, and
the outputs compared bit for bit.

    .venv/bin/python benchmarks/bench_exact_executor.py --size 64 --units 5 --images 64
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fixynn.data.tasks import load_task
from fixynn.frontend import to_hwgraph
from fixynn.frontend.exact import run_graph_torch
from fixynn.hw.golden import run_graph
from fixynn.nn.efficientnet_lite import efficientnet_lite0, normalize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--units", type=int, default=5, help="stem + units-1 blocks")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    x = torch.from_numpy(load_task("opencv-digits", args.size, channels=3)
                         .test_images[:args.images])
    graph = to_hwgraph(efficientnet_lite0(args.size), normalize(x[:1]), args.units, x[:16],
                       pixel_offset=127, pixel_scale=128, executor="torch").graph
    for _ in range(args.repeats):
        start = time.process_time()
        golden = run_graph(graph, x.numpy(), keep_all=False)[0]
        mid = time.process_time()
        fast = run_graph_torch(graph, x)[graph.outputs[0]].numpy()
        end = time.process_time()
        print(f"{len(x)} images, {len(graph.layers)} nodes: golden {mid - start:.2f} s CPU, "
              f"torch {end - mid:.2f} s CPU, {(mid - start) / (end - mid):.1f}x; bit-exact "
              f"{np.array_equal(golden, fast)}")


if __name__ == "__main__":
    main()
