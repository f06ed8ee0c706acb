"""One target task of a transfer sweep, in its own process (see fixynn.train.workers).

Usage: python -m fixynn.train.worker CONFIG_JSON OUT_DIR TASK
The pretrained and fixed networks are read from OUT_DIR's checkpoints; results are written
under OUT_DIR/results/. Exit 2 with a one-line message on a FixynnError.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
from pathlib import Path

import torch

from fixynn.errors import FixynnError
from fixynn.train.config import TransferConfig
from fixynn.train.transfer import load_networks, results_root, transfer_target
from fixynn.train.workers import INTERRUPTED

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m fixynn.train.worker CONFIG_JSON OUT_DIR TASK", file=sys.stderr)
        return 2
    _die_with_parent()
    try:
        cfg = TransferConfig.from_dict(json.loads(argv[0]))
        out_dir, task = Path(argv[1]), argv[2]
        torch.set_num_threads(cfg.threads)
        pre, fixed = load_networks(cfg, out_dir)
        transfer_target(cfg, pre, fixed, task, results_root(cfg, out_dir), progress=False)
    except FixynnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return INTERRUPTED
    return 0


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker if its parent dies (a killed `fixynn run` must not
    leave orphans training on); elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    if ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        return  # not permitted here: the worker then runs to the end of its task
    if os.getppid() != parent:  # the parent died before prctl took effect
        sys.exit(INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
