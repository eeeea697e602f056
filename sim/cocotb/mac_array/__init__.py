"""cocotb benches of the MAC-array core and its HLS blackbox wrapper, with their drivers, vectors and
the ctypes binding of the C++ reference (onion::gemm_model)."""
