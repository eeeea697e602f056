"""Smallest cocotb bench: checks the simulator toolchain."""
