// The Verilated RTL MAC array (hw/rtl/mac_array.v, `verilator --cc`) as one clocked process of a
// bounded-FIFO dataflow region: it ticks the core's clock and moves beats between the core's
// valid/ready ports and three hls::stream FIFOs, like the AXI-Stream adapters Vitis puts around an
// RTL blackbox. Only the port list of mac_array.v is used, so a re-pipelined core drops in.
//
// One cycle: with the clock low, offer the head of the A and B FIFOs (a one-beat holding register
// per input, the FIFO's output register) and assert c_ready while the C FIFO has room; evaluate;
// a beat moves where valid and ready are both high; raise the clock. The producer and consumer are
// untimed, so they refill and drain the FIFOs within the same simulated cycle: a job whose FIFOs
// never run dry takes exactly the core's own cycles (onion::gemm_job_cycles). After IDLE_TICKS
// cycles without a handshake the core sleeps on its FIFOs' events instead of ticking, so a region
// whose producer or consumer is stuck starves and the deadlock is reported.
#ifndef ONION_VERILATED_MAC_ARRAY_H
#define ONION_VERILATED_MAC_ARRAY_H

#include <cstdint>

#include "ap_int.h"
#include "hls_stream.h"
#include "verilated.h"

namespace onion_bounded {

// ap_uint<W> <-> a Verilator port of any width (CData .. QData, or VlWide<words>)
template <int W, class P> inline void to_port(P &port, const ap_uint<W> &v) { port = (P)v.to_uint64(); }
template <int W, std::size_t WORDS> inline void to_port(VlWide<WORDS> &port, const ap_uint<W> &v) {
    for (std::size_t i = 0; i < WORDS; ++i) port[i] = (uint32_t)v.range(32 * i + 31, 32 * i).to_uint();
}
template <int W, class P> inline ap_uint<W> from_port(const P &port) { return ap_uint<W>((uint64_t)port); }
template <int W, std::size_t WORDS> inline ap_uint<W> from_port(const VlWide<WORDS> &port) {
    ap_uint<W> v = 0;
    for (std::size_t i = 0; i < WORDS; ++i) v.range(32 * i + 31, 32 * i) = port[i];
    return v;
}

struct JobResult {
    uint32_t sat_count = 0;
    uint64_t cycles = 0;   // start cycle .. last C handshake, inclusive (as the cocotb bench counts)
    bool slept = false;    // the core waited on an empty/full FIFO: cycles then exclude the wait
    bool cfg_error = false;
};

template <class Core, int ROWS, int COLS>
class VerilatedMacArray {
  public:
    typedef ap_uint<ROWS * 16> a_beat;
    typedef ap_uint<COLS * 16> bc_beat;
    static const int IDLE_TICKS = 64;  // longer than the core's deepest internal pipeline

    explicit VerilatedMacArray(Core &core, double period_ns = 10.0) : core_(core), period_ns_(period_ns) {}

    void reset() {
        core_.rst = 1;
        core_.start = 0;
        core_.a_valid = core_.b_valid = 0;
        core_.c_ready = 0;
        for (int i = 0; i < 2; ++i) tick_untimed();
        core_.rst = 0;
        tick_untimed();
    }

    // One job; runs as a dataflow process (it waits in simulated time).
    JobResult run_job(hls::stream<a_beat> &a, hls::stream<bc_beat> &b, hls::stream<bc_beat> &c, int M, int N,
                      int K, int shift, bool bias_en, int bias_lshift) {
        JobResult r;
        core_.cfg_m = M;
        core_.cfg_n = N;
        core_.cfg_k = K;
        core_.cfg_shift = shift & 0x7f;
        core_.cfg_bias_en = bias_en;
        core_.cfg_bias_lshift = bias_lshift;
        core_.start = 1;
        core_.eval();
        if (core_.busy) {  // the previous job has not finished: the start would be ignored
            r.cfg_error = true;
            return r;
        }
        core_.a_valid = core_.b_valid = 0;
        core_.c_ready = 0;
        clock();  // the start edge: cycle 1
        r.cycles = 1;
        core_.start = 0;
        if (core_.cfg_error) {
            r.cfg_error = true;
            return r;
        }
        int idle = 0;
        for (;;) {
            if (!a_hold) a_hold = a.read_nb(a_next);
            if (!b_hold) b_hold = b.read_nb(b_next);
            core_.a_valid = a_hold;
            core_.b_valid = b_hold;
            if (a_hold) to_port<ROWS * 16>(core_.a_data, a_next);
            if (b_hold) to_port<COLS * 16>(core_.b_data, b_next);
            core_.c_ready = !c.full();
            core_.clk = 0;
            core_.eval();
            const bool a_fire = a_hold && core_.a_ready, b_fire = b_hold && core_.b_ready;
            const bool c_fire = core_.c_valid && core_.c_ready, last = c_fire && core_.c_last;
            const bc_beat c_out = c_fire ? from_port<COLS * 16>(core_.c_data) : bc_beat(0);
            clock();
            ++r.cycles;
            if (a_fire) a_hold = false;
            if (b_fire) b_hold = false;
            if (c_fire) c.write(c_out);  // c_ready promised the room
            if (last) break;
            idle = (a_fire || b_fire || c_fire) ? 0 : idle + 1;
            if (idle >= IDLE_TICKS) {  // stuck on a FIFO: sleep until one of them changes
                r.slept = true;
                onion_bounded::ProcState *me = onion_bounded::Runtime::get().current();
                if (me) me->why = "its FIFOs (the core made no handshake for IDLE_TICKS cycles)";
                sc_core::wait(a.changed_event() | b.changed_event() | c.changed_event());
                if (me) me->why = "";
                idle = 0;
            }
        }
        core_.a_valid = core_.b_valid = 0;
        core_.c_ready = 0;
        clock();  // sat_count settles after the last beat
        r.sat_count = core_.sat_count;
        if (core_.busy) r.cfg_error = true;  // the core must be idle after its last result
        return r;
    }

  private:
    void tick_untimed() {
        core_.clk = 0;
        core_.eval();
        core_.clk = 1;
        core_.eval();
    }
    void clock() {
        core_.clk = 0;
        core_.eval();
        core_.clk = 1;
        core_.eval();
        sc_core::wait(period_ns_, sc_core::SC_NS);
    }

    Core &core_;
    double period_ns_;
    // the FIFO output registers: a beat taken from a FIFO but not yet accepted by the core belongs
    // to the next job when this one ends, so they outlive run_job
    bool a_hold = false, b_hold = false;
    a_beat a_next;
    bc_beat b_next;
};

}  // namespace onion_bounded

#endif
