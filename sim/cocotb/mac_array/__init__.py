"""cocotb benches of the MAC-array core and its HLS blackbox wrapper, with their drivers, vectors and
the ctypes binding of the C++ reference (onion::gemm_model).

The core's source lists live here, so every flow uses the same ones: synthesis reads the core only
(the DSP48E2 slices are the vendor primitive), simulation adds the DSP48E2 model.
"""

from sim.toolchain import REPO

_RTL = REPO / "hw" / "rtl"
RTL_SYNTH_SOURCES = [_RTL / "mac_array.v", _RTL / "mac_requant.v"]
RTL_SIM_SOURCES = RTL_SYNTH_SOURCES + [_RTL / "sim" / "dsp48e2_model.v"]
