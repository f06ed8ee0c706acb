"""Suite-wide settings."""

import os

# One intra-op thread for PyTorch/BLAS in tests: on 2 shared cores, worker threads that
# spin-wait made training steps several times slower (see docs/transfer.md), and one thread
# keeps floating-point reductions in a fixed order.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
