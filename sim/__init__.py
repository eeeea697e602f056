"""Verification: C-sim harness, cocotb benches, golden vectors from the PyTorch reference."""
