// Dataflow regions, written once for every build.
//
//   void region(...) {
//   #pragma HLS DATAFLOW
//       hls::stream<beat_t, 4> a_fifo("a_fifo");     // depth declared in the type (UG1399)
//       ONION_DATAFLOW_BEGIN();
//       ONION_DATAFLOW_PROCESS(load_a, src, a_fifo);
//       ONION_DATAFLOW_PROCESS(compute, a_fifo, c_fifo);
//       ONION_DATAFLOW_PROCESS(store_c, c_fifo, dst);
//       ONION_DATAFLOW_END();
//   }
//
// Vitis HLS and C-sim: the macros are the plain calls, in order (Vitis builds one process per call;
// C-sim runs them one after another over unbounded streams). ONION_BOUNDED_SIM: each process runs
// concurrently as its own simulated process over FIFOs of the declared depth, and the region fails
// loudly on a deadlock (sim/bounded/). No function pointers reach synthesis: the macro is a call.
#ifndef ONION_DATAFLOW_H
#define ONION_DATAFLOW_H

#if defined(ONION_BOUNDED_SIM) && !defined(__SYNTHESIS__)
#include "bounded_dataflow.h"
#else
#define ONION_DATAFLOW_BEGIN() \
    do {                       \
    } while (0)
#define ONION_DATAFLOW_PROCESS(fn, ...) fn(__VA_ARGS__)
#define ONION_DATAFLOW_END() \
    do {                     \
    } while (0)
#endif

#endif
