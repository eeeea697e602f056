# make cosim: C/RTL co-simulation of the engine against the golden vectors C-sim uses.
#   vitis-run --mode hls --tcl hw/scripts/hls_cosim.tcl  |  vitis_hls -f hw/scripts/hls_cosim.tcl
# Builds its own project (csim, csynth, cosim) and writes ONION_OUT/reports/hls_cosim.rpt.
source [file join [file dirname [file normalize [info script]]] onion_hls.tcl]

::onion::run_main {
    set cfg [::onion::hls::config]
    ::onion::hls::require_testbench $cfg
    ::onion::hls::open_design $cfg
    set argv [::onion::hls::tb_argv $cfg]
    csim_design -argv $argv
    csynth_design
    cosim_design -rtl verilog -tool xsim -argv $argv
    ::onion::hls::copy_report *_cosim.rpt [file join [dict get $cfg out] reports hls_cosim.rpt]
}
