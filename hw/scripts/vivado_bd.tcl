# make bd: the ZCU102 block design around the HLS engine.
#   vivado -mode batch -source hw/scripts/vivado_bd.tcl -tclargs --hls-dir <make hls output> --out <project dir>
# Zynq UltraScale+ PS with the board preset; engine control (s_axilite) on M_AXI_HPM0_FPD, its m_axi
# masters spread over S_AXI_HP0..3_FPD through SmartConnects; PL clock 0 at the clock the IP was
# synthesized for; proc_sys_reset; address map; validated; HDL wrapper as top.
source [file join [file dirname [file normalize [info script]]] onion_common.tcl]

namespace eval ::onion::bd {}

proc ::onion::bd::clock_pins {ps hp_count} {
    set pins [list [get_bd_pins $ps/maxihpm0_fpd_aclk]]
    for {set i 0} {$i < $hp_count} {incr i} { lappend pins [get_bd_pins $ps/saxihp${i}_fpd_aclk] }
    return $pins
}

proc ::onion::bd::smartconnect {name num_si} {
    set sc [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect $name]
    set_property -dict [list CONFIG.NUM_SI $num_si CONFIG.NUM_MI 1] $sc
    return $sc
}

proc ::onion::bd::build {hls_dir out} {
    set spec [::onion::json::read_file [::onion::spec_path]]
    set ip_info [::onion::json::read_file [file join $hls_dir engine_ip.json]]
    set part [::onion::spec_field $spec part]
    set board [string tolower [::onion::spec_field $spec board]]
    set bd_name [file rootname [::onion::spec_field $spec overlay bitstream]]
    set clock_mhz [dict get $ip_info clock_mhz]
    set vlnv [dict get $ip_info vlnv]
    ::onion::warn_if_untested Vivado [version -short]
    puts "onion: bd part=$part board=$board clock_mhz=$clock_mhz engine=$vlnv design=$bd_name"

    create_project onion_bd $out -part $part -force
    set board_part [lindex [lsort [get_board_parts -quiet -latest_file_version "*:${board}:part0:*"]] end]
    if {$board_part eq ""} {
        error "Vivado has no board files for '$board' (xilinx.com:${board}:part0:*); install them (Tools > Vivado Store > Boards, or XHub)"
    }
    set_property board_part $board_part [current_project]
    set_property ip_repo_paths [list [file join $hls_dir ip]] [current_project]
    update_ip_catalog -rebuild

    create_bd_design $bd_name
    set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:zynq_ultra_ps_e zynq_ultra_ps_e_0]
    apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e -config {apply_board_preset "1"} $ps
    set engine [create_bd_cell -type ip -vlnv $vlnv onion_engine_0]

    set masters [lsort [get_bd_intf_pins -of_objects $engine -filter {MODE == Master}]]
    set slaves [get_bd_intf_pins -of_objects $engine -filter {MODE == Slave}]
    if {![llength $masters]} { error "engine $vlnv has no m_axi master port" }
    if {[llength $slaves] != 1} { error "engine $vlnv must have one s_axilite control port, has: $slaves" }
    set hp_count [expr {min([llength $masters], 4)}]

    # HPM0_FPD is M_AXI_GP0; S_AXI_HP<i>_FPD is S_AXI_GP<i+2>. Unused HPM ports are turned off so
    # their clocks need no driver.
    set ps_config [list CONFIG.PSU__USE__M_AXI_GP0 1 CONFIG.PSU__USE__M_AXI_GP1 0 \
        CONFIG.PSU__USE__M_AXI_GP2 0 CONFIG.PSU__FPGA_PL0_ENABLE 1 CONFIG.PSU__USE__IRQ0 1 \
        CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ $clock_mhz]
    for {set i 0} {$i < $hp_count} {incr i} { lappend ps_config CONFIG.PSU__USE__S_AXI_GP[expr {$i + 2}] 1 }
    set_property -dict $ps_config $ps

    set rst [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset rst_pl0]
    set clocked [list [get_bd_pins $engine/ap_clk] [get_bd_pins $rst/slowest_sync_clk] {*}[clock_pins $ps $hp_count]]
    set resets [list [get_bd_pins $engine/ap_rst_n]]

    set ctrl [smartconnect axi_ctrl 1]
    connect_bd_intf_net [get_bd_intf_pins $ps/M_AXI_HPM0_FPD] [get_bd_intf_pins $ctrl/S00_AXI]
    connect_bd_intf_net [get_bd_intf_pins $ctrl/M00_AXI] $slaves
    lappend clocked [get_bd_pins $ctrl/aclk]
    lappend resets [get_bd_pins $ctrl/aresetn]

    for {set hp 0} {$hp < $hp_count} {incr hp} {
        set mine {}
        for {set i $hp} {$i < [llength $masters]} {incr i $hp_count} { lappend mine [lindex $masters $i] }
        set sc [smartconnect axi_mem$hp [llength $mine]]
        set j 0
        foreach master $mine {
            connect_bd_intf_net $master [get_bd_intf_pins $sc/[format S%02d_AXI $j]]
            incr j
        }
        connect_bd_intf_net [get_bd_intf_pins $sc/M00_AXI] [get_bd_intf_pins $ps/S_AXI_HP${hp}_FPD]
        lappend clocked [get_bd_pins $sc/aclk]
        lappend resets [get_bd_pins $sc/aresetn]
    }

    connect_bd_net [get_bd_pins $ps/pl_clk0] {*}$clocked
    connect_bd_net [get_bd_pins $ps/pl_resetn0] [get_bd_pins $rst/ext_reset_in]
    connect_bd_net [get_bd_pins $rst/peripheral_aresetn] {*}$resets
    set irq [get_bd_pins -quiet $engine/interrupt]
    if {$irq ne ""} { connect_bd_net $irq [get_bd_pins $ps/pl_ps_irq0] }

    assign_bd_address
    validate_bd_design
    save_bd_design
    set bd_file [get_files $bd_name.bd]
    generate_target all $bd_file
    set wrapper [make_wrapper -files $bd_file -top]
    add_files -norecurse $wrapper
    set_property top ${bd_name}_wrapper [current_fileset]
    update_compile_order -fileset sources_1
    close_project
}

::onion::run_main {
    set args [::onion::parse_args $argv {hls-dir out}]
    ::onion::bd::build [file normalize [dict get $args hls-dir]] [file normalize [dict get $args out]]
}
