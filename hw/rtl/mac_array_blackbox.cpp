// C-simulation side of the RTL blackbox (hw/rtl/mac_array_blackbox.json): onion::mac_array_rtl is
// defined in the header, which the engine includes; this file is the c_file the JSON names.
#include "onion/mac_array_blackbox.h"
