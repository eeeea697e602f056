"""Generators of hw/'s generated files, each reading the one contract hw/spec/engine_spec.json (or its own
inputs) and writing beside the sources that use them; `--check` fails when a committed file is stale.

    python -m hw.gen.spec              # hw/include/onion/spec.h + the interface block of hw/src/onion_engine.cpp
    python -m hw.gen.nonlinear_tables  # hw/include/onion/nonlinear_tables.h
    python -m hw.gen.mac_geometry      # the geometry parameters of hw/rtl/mac_array.v and mac_array_hls.v
"""
