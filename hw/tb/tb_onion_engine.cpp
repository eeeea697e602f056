// C-simulation test bench of `onion_engine` on the golden vectors of sim/golden.py.
//
// usage: tb_onion_engine [golden_dir]   (else $ONION_GOLDEN_DIR, else build/golden)
// Link with hw/src/onion_engine.cpp (the top function).
// For every case listed in <golden_dir>/manifest.txt it loads the initial memory images
// (wts/act/grd/aux .bin), runs the recorded calls (calls.bin: one register image per call) in
// order through the top function, and writes out_<port>.bin and calls_out.txt (per call: opcode,
// status, MACs, modelled cycles, saturations). sim/csim.py compares the outputs with the PyTorch
// references. Exit status 1 when a call returns a non-zero status or a file is missing.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "onion/spec.h"  // Args/Outputs, register images, the top function's prototype

namespace {

template <class T> bool load(const std::string &path, std::vector<T> &v, size_t n) {
    v.assign(n, 0);
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    const size_t got = std::fread(v.data(), sizeof(T), n, f);
    std::fclose(f);
    return got == n;
}

template <class T> bool save(const std::string &path, const std::vector<T> &v) {
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    const size_t put = std::fwrite(v.data(), sizeof(T), v.size(), f);
    std::fclose(f);
    return put == v.size();
}

int run_case(const std::string &dir) {
    size_t sizes[4], n_calls, regs_per_call;
    FILE *f = std::fopen((dir + "/sizes.txt").c_str(), "r");
    if (!f || std::fscanf(f, "%zu %zu %zu %zu %zu %zu", &sizes[0], &sizes[1], &sizes[2], &sizes[3], &n_calls,
                          &regs_per_call) != 6) {
        std::fprintf(stderr, "%s: cannot read sizes.txt\n", dir.c_str());
        if (f) std::fclose(f);
        return 1;
    }
    std::fclose(f);
    std::vector<int16_t> wts, act, grd;
    std::vector<int32_t> aux;
    std::vector<uint32_t> calls;
    if (!load(dir + "/wts.bin", wts, sizes[0]) || !load(dir + "/act.bin", act, sizes[1]) ||
        !load(dir + "/grd.bin", grd, sizes[2]) || !load(dir + "/aux.bin", aux, sizes[3]) ||
        !load(dir + "/calls.bin", calls, n_calls * regs_per_call)) {
        std::fprintf(stderr, "%s: missing or short memory image\n", dir.c_str());
        return 1;
    }
    FILE *log = std::fopen((dir + "/calls_out.txt").c_str(), "w");
    int failed = 0;
    for (size_t i = 0; i < n_calls; ++i) {
        const onion::spec::Args a = onion::spec::args_from_image(&calls[i * regs_per_call]);
        onion::spec::Outputs o;
        ONION_ENGINE_CALL(a, o, wts.data(), act.data(), grd.data(), aux.data());
        const unsigned long long macs = ((unsigned long long)o.macs_hi << 32) | o.macs_lo;
        const unsigned long long cycles = ((unsigned long long)o.cycles_hi << 32) | o.cycles_lo;
        if (log) std::fprintf(log, "%u %u %llu %llu %u\n", a.opcode, o.status, macs, cycles, o.saturations);
        if (o.status != 0) {
            std::fprintf(stderr, "%s: call %zu (opcode %u) returned status %u\n", dir.c_str(), i, a.opcode, o.status);
            failed = 1;
        }
    }
    if (log) std::fclose(log);
    if (!save(dir + "/out_wts.bin", wts) || !save(dir + "/out_act.bin", act) || !save(dir + "/out_grd.bin", grd) ||
        !save(dir + "/out_aux.bin", aux)) {
        std::fprintf(stderr, "%s: cannot write outputs\n", dir.c_str());
        return 1;
    }
    std::printf("%-40s %zu call(s) %s\n", dir.c_str(), n_calls, failed ? "FAILED" : "ok");
    return failed;
}

}  // namespace

int main(int argc, char **argv) {
    const char *env = std::getenv("ONION_GOLDEN_DIR");
    const std::string root = argc > 1 ? argv[1] : env ? env : "build/golden";
    FILE *m = std::fopen((root + "/manifest.txt").c_str(), "r");
    if (!m) {
        std::fprintf(stderr, "no %s/manifest.txt: run `python -m sim.golden` first\n", root.c_str());
        return 1;
    }
    char name[512];
    int failed = 0, cases = 0;
    while (std::fscanf(m, "%511s", name) == 1) {
        failed |= run_case(root + "/" + name);
        ++cases;
    }
    std::fclose(m);
    std::printf("tb_onion_engine: %d case(s), %s\n", cases, failed ? "FAILED" : "all calls OK");
    return failed;
}
