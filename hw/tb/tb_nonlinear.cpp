// Test driver for onion/nonlinear.h: `nonlinear_driver FUNC FX FO` reads little-endian int64
// arguments from stdin until EOF and writes one int64 result per argument to stdout.
// FUNC: exp | recip | rsqrt | gelu | gelu_grad. recip and rsqrt take the low 32 / all 64 bits
// of the argument as unsigned.
#include "onion/nonlinear.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static int64_t apply(const char *func, int64_t a, int fx, int fo) {
    if (!std::strcmp(func, "exp")) return onion::exp_neg_fx((int32_t)a, fx, fo);
    if (!std::strcmp(func, "recip")) return onion::reciprocal_fx((uint32_t)a, fx, fo);
    if (!std::strcmp(func, "rsqrt")) return onion::rsqrt_fx((uint64_t)a, fx, fo);
    if (!std::strcmp(func, "gelu")) return onion::gelu_fx((int32_t)a, fx, fo);
    if (!std::strcmp(func, "gelu_grad")) return onion::gelu_grad_fx((int32_t)a, fx, fo);
    std::fprintf(stderr, "unknown function '%s'\n", func);
    std::exit(2);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s exp|recip|rsqrt|gelu|gelu_grad FX FO < int64 args\n", argv[0]);
        return 2;
    }
    const int fx = std::atoi(argv[2]), fo = std::atoi(argv[3]);
    std::vector<int64_t> buf(1 << 16);
    size_t n;
    while ((n = std::fread(buf.data(), sizeof(int64_t), buf.size(), stdin)) > 0) {
        for (size_t i = 0; i < n; ++i) buf[i] = apply(argv[1], buf[i], fx, fo);
        std::fwrite(buf.data(), sizeof(int64_t), n, stdout);
    }
    return 0;
}
