// C-simulation body of the RTL blackbox onion_mac_array_rtl: the c_file that
// hw/rtl/mac_array_blackbox.json names. Vitis HLS replaces the function with mac_array_hls.v in
// synthesis; C-sim (Vitis and the open-source builds, engine_spec.json csim_build.sources) links this.
#include "mac_array_model.h"

uint32_t onion_mac_array_rtl(onion::mac_a_fifo &a_stream, onion::mac_b_fifo &b_stream, onion::mac_c_fifo &c_stream,
                             int M, int N, int K, int shift, bool bias_en, int bias_lshift) {
    return onion::mac_array_model_on<onion::MAC_ROWS, onion::MAC_COLS>(a_stream, b_stream, c_stream, M, N, K, shift,
                                                                        bias_en, bias_lshift);
}
