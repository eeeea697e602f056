# Vivado commands, stubbed: they record their call, return plausible objects, and leave the files
# the real tool would (project, .hwh, wrapper, .bit, reports). ONION_STUB_MASTERS lists the engine's
# m_axi ports; ONION_STUB_BOARD_PARTS the installed board parts; ONION_STUB_WNS the worst slack.
source [file join [file dirname [file normalize [info script]]] stub_common.tcl]

set ::stub::proj_dir ""
set ::stub::proj_name ""
set ::stub::bd ""
proc ::stub::env {name default} {
    if {[info exists ::env($name)]} { return $::env($name) }
    return $default
}

::stub::define version { return 2024.2 }
::stub::define create_project {
    set pos [lsearch -all -inline -not -glob $args -*]
    set ::stub::proj_name [lindex $pos 0]
    set ::stub::proj_dir [lindex $pos 1]
    ::stub::touch [file join $::stub::proj_dir $::stub::proj_name.xpr]
}
::stub::define open_project {
    set xpr [lindex $args end]
    set ::stub::proj_dir [file dirname $xpr]
    set ::stub::proj_name [file rootname [file tail $xpr]]
}
::stub::define close_project {}
::stub::define current_project { return $::stub::proj_name }
::stub::define current_fileset { return sources_1 }
::stub::define get_board_parts { return [::stub::env ONION_STUB_BOARD_PARTS {xilinx.com:zcu102:part0:3.4 xilinx.com:zcu102:part0:3.3}] }
::stub::define set_property {}
::stub::define update_ip_catalog {}
::stub::define create_bd_design { set ::stub::bd [lindex $args end] }
::stub::define create_bd_cell { return /[lindex $args end] }
::stub::define apply_bd_automation {}
::stub::define get_bd_intf_pins {
    set of [::stub::opt $args -of_objects]
    if {$of eq ""} { return [lindex $args end] }
    if {[string match *Master* [::stub::opt $args -filter]]} {
        set pins {}
        foreach m [::stub::env ONION_STUB_MASTERS {m_axi_gmem0 m_axi_gmem1 m_axi_gmem2}] { lappend pins $of/$m }
        return $pins
    }
    return $of/s_axi_control
}
::stub::define get_bd_pins { return [lindex $args end] }
::stub::define connect_bd_intf_net {}
::stub::define connect_bd_net {}
::stub::define assign_bd_address {}
::stub::define validate_bd_design {}
::stub::define save_bd_design {}
::stub::define get_files { return [file join $::stub::proj_dir $::stub::proj_name.srcs sources_1 bd $::stub::bd [lindex $args end]] }
::stub::define generate_target {
    ::stub::touch [file join $::stub::proj_dir $::stub::proj_name.gen sources_1 bd $::stub::bd hw_handoff $::stub::bd.hwh] "<hwh/>\n"
}
::stub::define make_wrapper {
    set path [file join $::stub::proj_dir $::stub::proj_name.gen sources_1 bd $::stub::bd hdl ${::stub::bd}_wrapper.v]
    ::stub::touch $path
    return $path
}
::stub::define add_files {}
::stub::define update_compile_order {}
::stub::define reset_run {}
::stub::define get_runs { return [lindex $args end] }
::stub::define launch_runs {
    set run [lindex [lsearch -all -inline -not -glob $args -*] 0]
    if {$run eq "impl_1"} {
        ::stub::touch [file join $::stub::proj_dir $::stub::proj_name.runs impl_1 ${::stub::bd}_wrapper.bit] "BIT\n"
    }
}
::stub::define wait_on_run {}
::stub::define open_run {}
::stub::define get_property {
    set prop [lindex $args 0]
    switch -- $prop {
        PROGRESS { return [::stub::env ONION_STUB_PROGRESS 100%] }
        STATUS { return "write_bitstream Complete!" }
        DIRECTORY { return [file join $::stub::proj_dir $::stub::proj_name.runs [lindex $args 1]] }
        SLACK { return [::stub::env ONION_STUB_WNS 0.125] }
    }
    return ""
}
::stub::define get_timing_paths { return path0 }
::stub::define report_utilization { ::stub::touch [::stub::opt $args -file] "Utilization\n" }
::stub::define report_timing_summary { ::stub::touch [::stub::opt $args -file] "Timing\n" }

::stub::run_script
