# The HLS project both hls_build.tcl and hls_cosim.tcl start from: sources, test bench, part, clock.
# Settings arrive as ONION_* environment variables (vitis_hls -f and vitis-run --tcl take no
# script arguments the same way); part and clock default to the engine contract.
source [file join [file dirname [file normalize [info script]]] onion_common.tcl]

namespace eval ::onion::hls {
    variable top onion_engine
    variable project onion_hls
    variable solution solution1
}

# Every setting the HLS scripts use, resolved once and printed, so a log shows what was built.
proc ::onion::hls::config {} {
    variable top
    set repo [::onion::repo_root]
    set spec [::onion::json::read_file [::onion::spec_path]]
    set clock_mhz [::onion::env_setting CLOCK_MHZ [::onion::spec_field $spec clock_mhz]]
    set blackbox [file join $repo hw rtl mac_array_blackbox.json]
    set gemm [::onion::env_setting GEMM [expr {[file exists $blackbox] ? "rtl" : "hls"}]]
    if {$gemm ni {rtl hls}} { error "GEMM must be 'rtl' or 'hls', got '$gemm'" }
    if {$gemm eq "rtl" && ![file exists $blackbox]} {
        error "GEMM=rtl needs the RTL blackbox description $blackbox (or use GEMM=hls)"
    }
    # csim_*.cpp are C-simulation entry points (they #include the engine), never synthesized.
    set sources {}
    foreach src [lsort [glob -nocomplain -directory [file join $repo hw src] *.cpp]] {
        if {![string match csim_* [file tail $src]]} { lappend sources $src }
    }
    if {![llength $sources]} { error "no HLS sources (*.cpp) in [file join $repo hw src]" }
    set cfg [dict create \
        top $top repo $repo \
        part [::onion::spec_field $spec part] \
        clock_mhz $clock_mhz \
        period_ns [::onion::clock_period_ns $clock_mhz] \
        axi_bits [::onion::spec_field $spec ports wts axi_bits] \
        gemm $gemm blackbox $blackbox \
        sources $sources \
        testbench [testbench_files [file join $repo hw tb] $top] \
        include [file join $repo hw include] \
        cxx_std [::onion::env_setting CXX_STD c++14] \
        extra_cflags [::onion::env_setting EXTRA_CFLAGS ""] \
        golden [file normalize [::onion::env_setting GOLDEN_DIR [file join $repo build golden]]] \
        csim [::onion::env_setting CSIM 0] \
        out [file normalize [::onion::env_setting OUT [pwd]]]]
    foreach key {part clock_mhz period_ns axi_bits gemm cxx_std golden out} {
        puts "onion: hls $key = [dict get $cfg $key]"
    }
    return $cfg
}

# The engine's test bench is tb_<top>.cpp; other tb_*.cpp are separate programs with their own
# main(), so only helper sources without that prefix come along.
proc ::onion::hls::testbench_files {dir top} {
    set files {}
    foreach f [lsort [glob -nocomplain -directory $dir *.cpp]] {
        set name [file tail $f]
        if {$name eq "tb_$top.cpp" || ![string match tb_* $name]} { lappend files $f }
    }
    return $files
}

# The test bench takes the golden-vector folder as its first argument.
proc ::onion::hls::tb_argv {cfg} {
    return [dict get $cfg golden]
}

proc ::onion::hls::cflags {cfg} {
    set flags [list -I[dict get $cfg include] -std=[dict get $cfg cxx_std]]
    if {[dict get $cfg gemm] eq "rtl"} { lappend flags -DONION_USE_RTL_GEMM=1 }
    set extra [dict get $cfg extra_cflags]
    if {$extra ne ""} { lappend flags {*}$extra }
    return [join $flags " "]
}

# Blackbox JSON paths (rtl_files, c_files) are made absolute in a copy under the work dir, so the
# tool finds them whatever directory it runs in. Relative paths resolve against the JSON's folder.
proc ::onion::hls::blackbox_copy {cfg} {
    set src [dict get $cfg blackbox]
    set base [file dirname $src]
    set desc [::onion::json::read_file $src]
    set f [open $src r]; set text [read $f]; close $f
    set paths {}
    if {[dict exists $desc rtl_files]} { lappend paths {*}[dict get $desc rtl_files] }
    if {[dict exists $desc c_files]} {
        foreach entry [dict get $desc c_files] {
            if {[dict exists $entry c_file]} { lappend paths [dict get $entry c_file] }
        }
    }
    foreach path $paths {
        if {$path eq "" || [file pathtype $path] eq "absolute"} { continue }
        set resolved [file normalize [file join $base $path]]
        if {![file exists $resolved]} { error "$src names '$path', not found at $resolved" }
        set text [string map [list "\"$path\"" "\"$resolved\""] $text]
    }
    # An empty "cflag" gets the engine's flags: the C model includes the engine headers too.
    regsub -all {"cflag"(\s*):(\s*)""} $text "\"cflag\"\\1:\\2\"[cflags $cfg]\"" text
    set copy [file join [pwd] [file tail $src]]
    set f [open $copy w]; puts -nonewline $f $text; close $f
    return $copy
}

# The blackbox's RTL files (absolute), or none with GEMM=hls.
proc ::onion::hls::blackbox_rtl {cfg} {
    if {[dict get $cfg gemm] ne "rtl"} { return {} }
    set src [dict get $cfg blackbox]
    set desc [::onion::json::read_file $src]
    set files {}
    if {[dict exists $desc rtl_files]} {
        foreach path [dict get $desc rtl_files] {
            lappend files [file normalize [file join [file dirname $src] $path]]
        }
    }
    return $files
}

# open_project/open_solution are the documented Tcl commands for both vitis_hls (2023.x) and
# vitis-run --mode hls --tcl (2024.x+).
proc ::onion::hls::open_design {cfg} {
    variable project
    variable solution
    set flags [cflags $cfg]
    open_project -reset $project
    set_top [dict get $cfg top]
    foreach src [dict get $cfg sources] { add_files $src -cflags $flags }
    if {[dict get $cfg gemm] eq "rtl"} { add_files -blackbox [blackbox_copy $cfg] }
    foreach tb [dict get $cfg testbench] { add_files -tb $tb -cflags $flags }
    # The test bench gets the golden folder as argv[1] (csim_design/cosim_design -argv); the
    # environment carries it too, for code that prefers ONION_GOLDEN_DIR.
    set ::env(ONION_GOLDEN_DIR) [dict get $cfg golden]
    open_solution -reset -flow_target vivado $solution
    set_part [dict get $cfg part]
    create_clock -period [dict get $cfg period_ns] -name default
    # m_axi ports widened to the spec's data width (ports.*.axi_bits): the engine's burst loops read
    # 16/32-bit words sequentially and Vitis widens them; port base addresses are 4 KB-aligned.
    set bits [dict get $cfg axi_bits]
    config_interface -m_axi_max_widen_bitwidth $bits -m_axi_alignment_byte_size [expr {$bits / 8}]
}

proc ::onion::hls::require_testbench {cfg} {
    set names {}
    foreach f [dict get $cfg testbench] { lappend names [file tail $f] }
    if {"tb_[dict get $cfg top].cpp" ni $names} {
        error "no test bench tb_[dict get $cfg top].cpp in [file join [dict get $cfg repo] hw tb]"
    }
    if {![file isdirectory [dict get $cfg golden]]} {
        error "golden vectors not found at [dict get $cfg golden]; run 'python -m sim.golden' first"
    }
}

proc ::onion::hls::solution_dir {} {
    variable project
    variable solution
    return [file join [pwd] $project $solution]
}

# Copies the first file called name under the solution into dest (reports move between versions).
proc ::onion::hls::copy_report {name dest} {
    set found [::onion::find_files [solution_dir] $name]
    if {![llength $found]} { error "report $name not found under [solution_dir]" }
    file mkdir [file dirname $dest]
    file copy -force [lindex $found 0] $dest
}
