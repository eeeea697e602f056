# make bitstream: synthesis, implementation and write_bitstream of the block-design project.
#   vivado -mode batch -source hw/scripts/vivado_bitstream.tcl -tclargs --project <onion_bd.xpr>
#          --out <dir> --jobs <n> --allow-timing-fail <0|1>
# Writes into --out the bitstream and hardware handoff under the overlay names of the engine
# contract, and reports/vivado_{utilization,timing_summary}.rpt.
source [file join [file dirname [file normalize [info script]]] onion_common.tcl]

namespace eval ::onion::bit {}

proc ::onion::bit::run {name jobs args} {
    set run [get_runs $name]
    launch_runs $name -jobs $jobs {*}$args
    wait_on_run $name
    if {[get_property PROGRESS $run] ne "100%"} {
        error "$name failed ([get_property STATUS $run]); see [get_property DIRECTORY $run]/runme.log"
    }
}

proc ::onion::bit::build {xpr out jobs allow_timing_fail} {
    set spec [::onion::json::read_file [::onion::spec_path]]
    set bit_name [::onion::spec_field $spec overlay bitstream]
    set hwh_name [::onion::spec_field $spec overlay hwh]
    set bd_name [file rootname $bit_name]
    ::onion::warn_if_untested Vivado [version -short]

    open_project $xpr
    reset_run synth_1
    run synth_1 $jobs
    run impl_1 $jobs -to_step write_bitstream
    open_run impl_1
    file mkdir [file join $out reports]
    report_utilization -file [file join $out reports vivado_utilization.rpt]
    report_timing_summary -file [file join $out reports vivado_timing_summary.rpt]
    set wns [get_property SLACK [get_timing_paths -max_paths 1 -nworst 1 -setup]]
    if {$wns ne "" && $wns < 0} {
        set msg "timing not met: worst negative slack $wns ns (see reports/vivado_timing_summary.rpt); lower CLOCK_MHZ"
        if {!$allow_timing_fail} { error $msg }
        puts "onion: WARNING: $msg"
    }

    set bits [glob -nocomplain -directory [get_property DIRECTORY [get_runs impl_1]] *.bit]
    if {[llength $bits] != 1} { error "expected one .bit in the impl_1 run, found: $bits" }
    set hwhs [::onion::find_files [file dirname $xpr] $bd_name.hwh]
    if {![llength $hwhs]} { error "no $bd_name.hwh under [file dirname $xpr]" }
    file copy -force [lindex $bits 0] [file join $out $bit_name]
    file copy -force [lindex $hwhs 0] [file join $out $hwh_name]
    close_project
}

::onion::run_main {
    set args [::onion::parse_args $argv {project out jobs allow-timing-fail}]
    ::onion::bit::build [file normalize [dict get $args project]] [file normalize [dict get $args out]] \
        [dict get $args jobs] [dict get $args allow-timing-fail]
}
