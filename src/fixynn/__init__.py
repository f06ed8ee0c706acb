"""fixynn: train -> fix -> RTL -> bit-exact verification -> synthesis -> PPA -> report."""

__version__ = "0.1.0"
