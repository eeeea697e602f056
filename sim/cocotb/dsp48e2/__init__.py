"""cocotb bench of the DSP48E2 simulation model (hw/rtl/sim/dsp48e2_model.v) against UG579's arithmetic."""
