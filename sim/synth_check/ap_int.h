// Synthesis-branch compile check (sim/synth_check/README.md): the open-source ap_types refuse
// __SYNTHESIS__ with an #error only because they implement the C-sim types (ap_private), not the
// synthesis ones (ssdm_int). Their arithmetic is the same, so hide the macro while they are parsed
// and keep it for the engine's own code, which then takes every synthesis branch.
#ifndef ONION_SYNTH_CHECK_AP_INT_H
#define ONION_SYNTH_CHECK_AP_INT_H
#pragma push_macro("__SYNTHESIS__")
#undef __SYNTHESIS__
#include_next <ap_int.h>
#pragma pop_macro("__SYNTHESIS__")
#endif
