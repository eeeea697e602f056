# Vitis HLS commands, stubbed: they record their call and leave the files the real tool would.
source [file join [file dirname [file normalize [info script]]] stub_common.tcl]

set ::stub::project ""
set ::stub::solution ""
set ::stub::top ""

::stub::define open_project { set ::stub::project [file join [pwd] [lindex $args end]]; file mkdir $::stub::project }
::stub::define set_top { set ::stub::top [lindex $args end] }
::stub::define add_files {}
::stub::define open_solution {
    set ::stub::solution [file join $::stub::project [lindex $args end]]
    file mkdir $::stub::solution
}
::stub::define set_part {}
::stub::define create_clock {}
::stub::define config_export {}
::stub::define config_interface {}
::stub::define csim_design { ::stub::touch [file join $::stub::solution csim report ${::stub::top}_csim.log] }
::stub::define csynth_design {
    ::stub::touch [file join $::stub::solution syn report csynth.rpt] "== Synthesis Summary Report of '$::stub::top' ==\n"
    ::stub::touch [file join $::stub::solution syn verilog ${::stub::top}.v] "module ${::stub::top}(); endmodule\n"
}
::stub::define cosim_design { ::stub::touch [file join $::stub::solution sim report ${::stub::top}_cosim.rpt] "PASS\n" }
::stub::define export_design {
    ::stub::touch [file join $::stub::solution impl ip component.xml] "<spirit:component/>\n"
    ::stub::touch [file join $::stub::solution impl verilog ${::stub::top}.v] "module ${::stub::top}(); endmodule\n"
}

::stub::run_script
