// C entry point of the C-sim shared library (host/backends/csim.py): the register image in, the
// top function `onion_engine` run on the four memories, the output registers back into the image.
#include <stdint.h>

#include "onion/engine.h"  // validate(); the top function itself is in onion_engine.cpp

extern "C" int onion_csim_call(uint32_t *regs, int16_t *wts, int16_t *act, int16_t *grd, int32_t *aux) {
    const onion::spec::Args a = onion::spec::args_from_image(regs);
    onion::spec::Outputs o;
    ONION_ENGINE_CALL(a, o, wts, act, grd, aux);
    onion::spec::outputs_to_image(o, regs);
    return (int)o.status;
}

// The engine's argument checks alone (no op runs, nothing is written): lets the C-sim backend
// bounds-check buffers only for calls the engine would accept.
extern "C" int onion_csim_validate(uint32_t *regs, int32_t *aux) {
    return (int)onion::validate(onion::spec::args_from_image(regs), aux);
}
