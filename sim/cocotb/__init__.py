"""cocotb test benches (run through sim.cocotb_runner, which puts the repository on the simulator's PYTHONPATH)."""
