"""cocotb bench of the exported engine IP (AXI-Lite control + AXI memory)."""
