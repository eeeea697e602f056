// The Verilated RTL MAC array in a bounded-FIFO dataflow region: a C++ producer streams the
// operands in the core's beat order, the core ticks as its own process, a C++ consumer unpacks the
// results. Every FIFO has Vitis's default depth 2. Checks bit-exactness against onion::gemm_model
// and the measured cycles against onion::gemm_job_cycles.
//
// usage: bounded_rtl_gemm pass            all cases; exit 0 when all are bit-exact and on the cycle model
//        bounded_rtl_gemm shape M N K BIAS   one GEMM of that shape (e.g. DeiT-Tiny's QKV: 197 576 192 1)
//        bounded_rtl_gemm fill_then_call  the old mac_array_gemm_with pattern with the Verilated core as
//                                         its job: must deadlock (exit ONION_BOUNDED_DEADLOCK_EXIT)
// Build: verilator --cc with -GROWS/-GCOLS/-GMAX_M equal to MAC_TEST_ROWS/COLS/MAX_M (tests/sim).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "Vmac_array.h"
#include "hls_stream.h"
#include "onion/dataflow.h"
#include "onion/gemm.h"
#include "onion/mac_array_timing.h"
#include "verilated_mac_array.h"

static const int ROWS = MAC_TEST_ROWS, COLS = MAC_TEST_COLS, MAX_M = MAC_TEST_MAX_M;
typedef onion_bounded::VerilatedMacArray<Vmac_array, ROWS, COLS> Core;
typedef Core::a_beat a_beat;
typedef Core::bc_beat bc_beat;

struct Job {
    int M, N, K, shift, bias_lshift;
    bool bias;
    std::vector<onion::word_t> a, b, bias_v;  // A: M x K, B: N x K, bias: N
};

static void set_lane(ap_uint<ROWS * 16> &beat, int lane, onion::word_t v) {
    beat.range(16 * lane + 15, 16 * lane) = (unsigned)(uint16_t)v;
}
static void set_lane(ap_uint<COLS * 16> &beat, int lane, onion::word_t v) {
    beat.range(16 * lane + 15, 16 * lane) = (unsigned)(uint16_t)v;
}

// The two loaders (separate processes, as the A and B DMA engines would be): every job of the GEMM
// (M cut into MAX_M rows), each stream in the core's order. One process writing B(t), A(t),
// B(t+1), ... would starve the core's shadow-tile load while A(t) streams and cost cycles.
static void produce_b(const Job &j, hls::stream<bc_beat> &b) {
    const int n_tiles = (j.N + COLS - 1) / COLS, k_tiles = (j.K + ROWS - 1) / ROWS;
    for (int m0 = 0; m0 < j.M; m0 += MAX_M)
        for (int nt = 0; nt < n_tiles; ++nt)
            for (int kt = 0; kt < k_tiles; ++kt) {
                if (j.bias && kt == 0) {
                    bc_beat beat = 0;
                    for (int c = 0; c < COLS && nt * COLS + c < j.N; ++c) set_lane(beat, c, j.bias_v[nt * COLS + c]);
                    b.write(beat);
                }
                for (int r = 0; r < ROWS; ++r) {
                    bc_beat beat = 0;
                    const int k = kt * ROWS + r;
                    for (int c = 0; c < COLS && k < j.K && nt * COLS + c < j.N; ++c)
                        set_lane(beat, c, j.b[(size_t)(nt * COLS + c) * j.K + k]);
                    b.write(beat);
                }
            }
}

static void produce_a(const Job &j, hls::stream<a_beat> &a) {
    const int n_tiles = (j.N + COLS - 1) / COLS, k_tiles = (j.K + ROWS - 1) / ROWS;
    for (int m0 = 0; m0 < j.M; m0 += MAX_M) {
        const int mm = j.M - m0 < MAX_M ? j.M - m0 : MAX_M;
        for (int nt = 0; nt < n_tiles; ++nt)
            for (int kt = 0; kt < k_tiles; ++kt)
                for (int m = 0; m < mm; ++m) {
                    a_beat beat = 0;
                    for (int r = 0; r < ROWS && kt * ROWS + r < j.K; ++r)
                        set_lane(beat, r, j.a[(size_t)(m0 + m) * j.K + kt * ROWS + r]);
                    a.write(beat);
                }
    }
}

struct CoreRun {
    uint32_t sat = 0;
    uint64_t cycles = 0;
    bool slept = false, error = false;
};

// The core: one job per MAX_M rows, back to back.
static void run_core(Core &core, const Job &j, hls::stream<a_beat> &a, hls::stream<bc_beat> &b,
                     hls::stream<bc_beat> &c, CoreRun &run) {
    for (int m0 = 0; m0 < j.M; m0 += MAX_M) {
        const int mm = j.M - m0 < MAX_M ? j.M - m0 : MAX_M;
        onion_bounded::JobResult r = core.run_job(a, b, c, mm, j.N, j.K, j.shift, j.bias, j.bias_lshift);
        run.sat += r.sat_count;
        run.cycles += r.cycles;
        run.slept = run.slept || r.slept;
        run.error = run.error || r.cfg_error;
        if (r.cfg_error) std::printf("core error (start refused or still busy) at job m0=%d\n", m0);
    }
}

static void consume(const Job &j, hls::stream<bc_beat> &c, std::vector<onion::word_t> &out) {
    const int n_tiles = (j.N + COLS - 1) / COLS;
    for (int m0 = 0; m0 < j.M; m0 += MAX_M) {
        const int mm = j.M - m0 < MAX_M ? j.M - m0 : MAX_M;
        for (int nt = 0; nt < n_tiles; ++nt)
            for (int m = 0; m < mm; ++m) {
                const bc_beat beat = c.read();
                for (int col = 0; col < COLS && nt * COLS + col < j.N; ++col)
                    out[(size_t)(m0 + m) * j.N + nt * COLS + col] =
                        (onion::word_t)(int)beat.range(16 * col + 15, 16 * col).to_uint();
            }
    }
}

static void gemm_region(Core &core, const Job &j, std::vector<onion::word_t> &out, CoreRun &run) {
    hls::stream<a_beat> a("a_fifo");  // depth 2 (Vitis's default)
    hls::stream<bc_beat> b("b_fifo"), c("c_fifo");
    ONION_DATAFLOW_BEGIN();
    ONION_DATAFLOW_PROCESS(produce_b, j, b);
    ONION_DATAFLOW_PROCESS(produce_a, j, a);
    ONION_DATAFLOW_PROCESS(run_core, core, j, a, b, c, run);
    ONION_DATAFLOW_PROCESS(consume, j, c, out);
    ONION_DATAFLOW_END();
}

// main's mac_array_gemm_with, reconstructed: every beat of the job into local streams, then the core.
static void fill_then_call(Core &core, const Job &j, std::vector<onion::word_t> &out, CoreRun &run) {
    hls::stream<a_beat> a("a_stream");
    hls::stream<bc_beat> b("b_stream"), c("c_stream");
    produce_b(j, b);
    produce_a(j, a);
    run_core(core, j, a, b, c, run);
    consume(j, c, out);
}
static void fill_then_call_region(Core &core, const Job &j, std::vector<onion::word_t> &out, CoreRun &run) {
    ONION_DATAFLOW_BEGIN();
    ONION_DATAFLOW_PROCESS(fill_then_call, core, j, out, run);
    ONION_DATAFLOW_END();
}

static Job make_job(int M, int N, int K, bool bias, int shift, int bias_lshift, unsigned seed, int range) {
    Job j{M, N, K, shift, bias_lshift, bias, {}, {}, {}};
    srand(seed);
    j.a.resize((size_t)M * K);
    j.b.resize((size_t)N * K);
    j.bias_v.resize(N);
    for (auto &v : j.a) v = (onion::word_t)(rand() % (2 * range + 1) - range);
    for (auto &v : j.b) v = (onion::word_t)(rand() % (2 * range + 1) - range);
    for (auto &v : j.bias_v) v = (onion::word_t)(rand() % 2001 - 1000);
    return j;
}

// Runs the cases (M, N, K, bias, shift, bias_lshift, value range); returns the number that failed.
static int run_cases(Core &core, std::vector<std::vector<int>> cases) {
    int failed = 0;
    for (const auto &cs : cases) {
        Job j = make_job(cs[0], cs[1], cs[2], cs[3], cs[4], cs[5], 7 + cs[0] * 31 + cs[1], cs[6]);
        std::vector<onion::word_t> out((size_t)j.M * j.N, 0), ref((size_t)j.M * j.N, 0);
        CoreRun run;
        gemm_region(core, j, out, run);
        uint32_t ref_sat = 0;
        onion::GemmOperand ga = {j.a.data(), j.K, 1}, gb = {j.b.data(), j.K, 1};
        onion::gemm_model(ga, gb, j.bias ? j.bias_v.data() : 0, j.bias_lshift, ref.data(), j.N, j.M, j.N, j.K,
                          j.shift < onion::SHIFT_MIN ? onion::SHIFT_MIN : j.shift, ref_sat);
        int bad = 0;
        for (size_t i = 0; i < out.size(); ++i) bad += out[i] != ref[i];
        const uint64_t model = onion::gemm_cycles_on(ROWS, COLS, MAX_M, j.M, j.N, j.K, j.bias);
        const bool ok = !bad && run.sat == ref_sat && run.cycles == model && !run.slept && !run.error;
        std::printf("gemm M=%d N=%d K=%d bias=%d shift=%d: mismatches %d sat %u/%u cycles %llu model %llu%s%s\n",
                    j.M, j.N, j.K, (int)j.bias, j.shift, bad, run.sat, ref_sat, (unsigned long long)run.cycles,
                    (unsigned long long)model, run.slept ? " (core waited on a FIFO)" : "",
                    ok ? "" : "  FAIL");
        failed += !ok;
    }
    return failed;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "pass";
    VerilatedContext ctx;
    Vmac_array top(&ctx);
    Core core(top);
    core.reset();
    if (!std::strcmp(mode, "fill_then_call")) {
        Job j = make_job(2 * ROWS + 3, COLS + 5, 3 * ROWS + 1, false, 8, 0, 1, 3000);
        std::vector<onion::word_t> out((size_t)j.M * j.N);
        CoreRun run;
        fill_then_call_region(core, j, out, run);
        std::printf("finished: no deadlock detected\n");
        return 0;
    }
    if (!std::strcmp(mode, "shape") && argc == 6) {
        const int M = std::atoi(argv[2]), N = std::atoi(argv[3]), K = std::atoi(argv[4]), bias = std::atoi(argv[5]);
        return run_cases(core, {{M, N, K, bias, 10, 2, 3000}}) ? 1 : 0;
    }
    // (M, N, K, bias, shift, bias_lshift, value range): tails in every dimension, one tile, several
    // jobs (M > MAX_M), saturating shifts, left shifts
    return run_cases(core, {
        {1, 1, 1, 0, 0, 0, 100},
        {ROWS, COLS, ROWS, 1, 4, 2, 3000},
        {2 * ROWS + 3, 2 * COLS + 5, 3 * ROWS + 1, 1, 10, 6, 30000},
        {37, COLS - 1, 2 * ROWS - 1, 0, -3, 0, 500},
        {3, 3 * COLS, 5 * ROWS, 1, 12, 0, 30000},  // M below the tile's B beats: the load dominates
        {MAX_M + 17, COLS + 3, ROWS + 2, 1, 14, 3, 20000},
        {50, 20, 40, 0, 2, 0, 30000},              // saturates
    }) ? 1 : 0;
}
