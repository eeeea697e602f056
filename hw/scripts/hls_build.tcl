# make hls: C synthesis of the engine and export as Vivado IP.
#   vitis-run --mode hls --tcl hw/scripts/hls_build.tcl     (Vitis 2024.2 unified)
#   vitis_hls -f hw/scripts/hls_build.tcl                   (Vitis HLS 2023.2)
# Writes into ONION_OUT: ip/ (IP-catalog repository), rtl/ (exported Verilog, for cocotb),
# reports/hls_csynth.rpt and engine_ip.json (what was built).
source [file join [file dirname [file normalize [info script]]] onion_hls.tcl]

proc ::onion::hls::write_ip_info {cfg vlnv path} {
    set f [open $path w]
    puts $f "\{"
    foreach key {top part clock_mhz period_ns gemm} {
        puts $f "  \"$key\": \"[dict get $cfg $key]\","
    }
    puts $f "  \"vlnv\": \"$vlnv\""
    puts $f "\}"
    close $f
}

::onion::run_main {
    set cfg [::onion::hls::config]
    ::onion::hls::open_design $cfg
    if {[dict get $cfg csim]} {
        ::onion::hls::require_testbench $cfg
        csim_design -argv [::onion::hls::tb_argv $cfg]
    }
    csynth_design
    set top [dict get $cfg top]
    set vlnv "onion:hls:$top:1.0"
    lassign [split $vlnv :] vendor library name version
    config_export -format ip_catalog -rtl verilog -vendor $vendor -library $library \
        -ipname $name -version $version -display_name "Onion ViT training engine"
    export_design -format ip_catalog -rtl verilog

    set out [dict get $cfg out]
    set component [::onion::find_files [::onion::hls::solution_dir] component.xml]
    if {![llength $component]} { error "export_design wrote no component.xml under [::onion::hls::solution_dir]" }
    set ip_dir [file dirname [lindex $component 0]]
    file mkdir $out
    file copy -force $ip_dir [file join $out ip]
    file mkdir [file join $out rtl]
    foreach v [::onion::find_files [file join [::onion::hls::solution_dir] impl verilog] *.v] {
        file copy -force $v [file join $out rtl]
    }
    # The blackbox's own RTL, in case the export left it out (the cocotb bench needs every module).
    foreach v [::onion::hls::blackbox_rtl $cfg] {
        if {![file exists [file join $out rtl [file tail $v]]]} { file copy $v [file join $out rtl] }
    }
    ::onion::hls::copy_report csynth.rpt [file join $out reports hls_csynth.rpt]
    ::onion::hls::write_ip_info $cfg $vlnv [file join $out engine_ip.json]
}
