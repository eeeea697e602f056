// Reads pairs of integers on stdin, prints the ap_fixed<16,4> product rounded to ap_fixed<16,8>.
#include <ap_fixed.h>
#include <cstdio>

int main() {
    long a_raw, b_raw;
    while (std::scanf("%ld %ld", &a_raw, &b_raw) == 2) {
        ap_fixed<16, 4> a, b;
        a.range(15, 0) = a_raw;
        b.range(15, 0) = b_raw;
        ap_fixed<16, 8, AP_RND, AP_SAT> p = a * b;
        std::printf("%d\n", (int)(ap_int<16>)p.range(15, 0));
    }
    return 0;
}
