"""The hardware half: everything here reads only the HwGraph IR, never PyTorch."""
