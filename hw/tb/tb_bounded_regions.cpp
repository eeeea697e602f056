// Bounded-FIFO simulation self-test: producer/compute/consumer regions (flat and nested) pass at
// depth 2; the fill-then-call pattern of the old mac_array_gemm_with deadlocks.
// usage: bounded_regions pass | fill_then_call | fill_in_process | cycle | livelock (bounded build only)
#include <cstdio>
#include <cstring>

#include "hls_stream.h"
#include "onion/dataflow.h"

static const int BEATS = 1000;

static void produce(int n, hls::stream<int> &out) {
    for (int i = 0; i < n; ++i) out.write(i % 50);
}
static void square(int n, hls::stream<int> &in, hls::stream<int> &out) {
    for (int i = 0; i < n; ++i) {
        const int v = in.read();
        out.write(v * v);
    }
}
static void consume(int n, hls::stream<int> &in, long &sum) {
    for (int i = 0; i < n; ++i) sum += in.read();
}
// a process that is itself a region (nested dataflow)
static void square_twice(int n, hls::stream<int> &in, hls::stream<int> &out) {
    hls::stream<int, 3> mid("mid");
    ONION_DATAFLOW_BEGIN();
    ONION_DATAFLOW_PROCESS(square, n, in, mid);
    ONION_DATAFLOW_PROCESS(square, n, mid, out);
    ONION_DATAFLOW_END();
}

static long region_pass(int n) {
    hls::stream<int> a("a"), b("b");
    long sum = 0;
    ONION_DATAFLOW_BEGIN();
    ONION_DATAFLOW_PROCESS(produce, n, a);
    ONION_DATAFLOW_PROCESS(square_twice, n, a, b);
    ONION_DATAFLOW_PROCESS(consume, n, b, sum);
    ONION_DATAFLOW_END();
    return sum;
}

// The old pattern: write every beat of a job into a local stream, then call the reader.
static void fill_then_call(int n, long &sum) {
    hls::stream<int> job_in("job_in");
    hls::stream<int> job_out("job_out");
    produce(n, job_in);
    square(n, job_in, job_out);
    consume(n, job_out, sum);
}
static void fill_region(int n, long &sum) {
    ONION_DATAFLOW_BEGIN();
    ONION_DATAFLOW_PROCESS(fill_then_call, n, sum);
    ONION_DATAFLOW_END();
}
// two processes that each wait for the other first
static void read_then_write(hls::stream<int> &in, hls::stream<int> &out) { out.write(in.read()); }
static void cycle_region() {
    hls::stream<int> x("x"), y("y");
    ONION_DATAFLOW_BEGIN();
    ONION_DATAFLOW_PROCESS(read_then_write, x, y);
    ONION_DATAFLOW_PROCESS(read_then_write, y, x);
    ONION_DATAFLOW_END();
}

#ifdef ONION_BOUNDED_SIM
// a process that keeps simulated time moving but never finishes: only the wall-clock watchdog ends it
static void spin_forever(hls::stream<int> &out) {
    for (;;) sc_core::wait(1, sc_core::SC_NS);
    out.write(0);
}
static void livelock_region() {
    hls::stream<int> never("never");
    long sum = 0;
    ONION_DATAFLOW_BEGIN();
    ONION_DATAFLOW_PROCESS(spin_forever, never);
    ONION_DATAFLOW_PROCESS(consume, 1, never, sum);
    ONION_DATAFLOW_END();
}
#endif

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "pass";
    long sum = 0;
    if (!std::strcmp(mode, "pass")) {
        long expect = 0;
        for (long i = 0; i < BEATS; ++i) expect += (i % 50) * (i % 50) * (i % 50) * (i % 50);
        for (int rep = 0; rep < 3; ++rep) {  // the kernel is reused by consecutive regions
            sum = region_pass(BEATS);
            if (sum != expect) {
                std::printf("wrong sum %ld, expected %ld\n", sum, expect);
                return 1;
            }
        }
        std::printf("ok sum %ld\n", sum);
        return 0;
    }
    if (!std::strcmp(mode, "fill_then_call")) fill_then_call(BEATS, sum);
    else if (!std::strcmp(mode, "fill_in_process")) fill_region(BEATS, sum);
    else if (!std::strcmp(mode, "cycle")) cycle_region();
#ifdef ONION_BOUNDED_SIM
    else if (!std::strcmp(mode, "livelock")) livelock_region();
#endif
    std::printf("finished: no deadlock detected (sum %ld)\n", sum);
    return 0;
}
