// ONION_DATAFLOW_* under ONION_BOUNDED_SIM: each process runs concurrently as a SystemC thread
// over bounded FIFOs; a deadlock fails loudly (bounded_runtime.h). Included by onion/dataflow.h.
#ifndef ONION_BOUNDED_DATAFLOW_H
#define ONION_BOUNDED_DATAFLOW_H

#include "bounded_runtime.h"

// The lambda captures the arguments by reference: END waits for every process before the
// region's locals (its FIFOs) go out of scope.
#define ONION_DATAFLOW_BEGIN() ::onion_bounded::Region onion_dataflow_region_(__func__)
#define ONION_DATAFLOW_PROCESS(fn, ...) onion_dataflow_region_.spawn(#fn, [&]() { fn(__VA_ARGS__); })
#define ONION_DATAFLOW_END() onion_dataflow_region_.join()

#endif
