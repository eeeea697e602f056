# Shared helpers for the Xilinx build scripts (Vitis HLS and Vivado both run plain Tcl 8.5+).
#
# The engine contract hw/spec/engine_spec.json is the only source of part, clock, board and overlay
# names. Neither tool ships a JSON package we can count on, so a tiny reader lives here.

namespace eval ::onion {
    variable script_dir [file dirname [file normalize [info script]]]
    # Versions this flow was written for; others are tried with a warning.
    variable tested_versions {2023.2 2024.2}
}

# ---------------------------------------------------------------- JSON reader
# Objects become dicts, arrays become lists, strings/numbers stay strings, true/false -> 1/0,
# null -> "". Enough for the engine contract and the RTL blackbox description.
namespace eval ::onion::json {}

proc ::onion::json::parse {text} {
    set pos 0
    set value [ParseValue $text pos]
    SkipSpace $text pos
    if {$pos != [string length $text]} {
        error "JSON: unexpected text at offset $pos"
    }
    return $value
}

proc ::onion::json::SkipSpace {text posVar} {
    upvar 1 $posVar pos
    set n [string length $text]
    while {$pos < $n && [string is space [string index $text $pos]]} { incr pos }
}

proc ::onion::json::Expect {text posVar char} {
    upvar 1 $posVar pos
    SkipSpace $text pos
    if {[string index $text $pos] ne $char} {
        error "JSON: expected '$char' at offset $pos"
    }
    incr pos
}

proc ::onion::json::ParseValue {text posVar} {
    upvar 1 $posVar pos
    SkipSpace $text pos
    set c [string index $text $pos]
    if {$c eq "\{"} { return [ParseObject $text pos] }
    if {$c eq "\["} { return [ParseArray $text pos] }
    if {$c eq "\""} { return [ParseString $text pos] }
    set rest [string range $text $pos [expr {$pos + 63}]]
    if {[regexp {^(true|false|null|-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)} $rest token]} {
        incr pos [string length $token]
        switch -- $token {
            true { return 1 }
            false { return 0 }
            null { return "" }
            default { return $token }
        }
    }
    error "JSON: unexpected character '$c' at offset $pos"
}

# The items of a JSON object or array, from its opening bracket through the matching `close`, each
# read by the proc `item` (text posVar -> value) and separated by commas, as a list.
proc ::onion::json::ParseItems {text posVar close item} {
    upvar 1 $posVar pos
    incr pos
    set items {}
    SkipSpace $text pos
    if {[string index $text $pos] eq $close} { incr pos; return $items }
    while 1 {
        SkipSpace $text pos
        lappend items [$item $text pos]
        SkipSpace $text pos
        set c [string index $text $pos]
        incr pos
        if {$c eq $close} { return $items }
        if {$c ne ","} { error "JSON: expected ',' or '$close' at offset [expr {$pos - 1}]" }
    }
}

# One "key": value member of an object, as a {key value} pair.
proc ::onion::json::ParseMember {text posVar} {
    upvar 1 $posVar pos
    if {[string index $text $pos] ne "\""} { error "JSON: expected a key at offset $pos" }
    set key [ParseString $text pos]
    Expect $text pos ":"
    return [list $key [ParseValue $text pos]]
}

proc ::onion::json::ParseObject {text posVar} {
    upvar 1 $posVar pos
    set result [dict create]
    foreach member [ParseItems $text pos "\}" ParseMember] { dict set result {*}$member }
    return $result
}

proc ::onion::json::ParseArray {text posVar} {
    upvar 1 $posVar pos
    return [ParseItems $text pos "\]" ParseValue]
}

proc ::onion::json::ParseString {text posVar} {
    upvar 1 $posVar pos
    incr pos
    set out ""
    set n [string length $text]
    while {$pos < $n} {
        set c [string index $text $pos]
        incr pos
        if {$c eq "\""} { return $out }
        if {$c ne "\\"} { append out $c; continue }
        set e [string index $text $pos]
        incr pos
        switch -- $e {
            n { append out "\n" }
            t { append out "\t" }
            r { append out "\r" }
            b { append out "\b" }
            f { append out "\f" }
            u {
                set hex [string range $text $pos [expr {$pos + 3}]]
                if {![string is xdigit -strict $hex] || [string length $hex] != 4} {
                    error "JSON: bad \\u escape at offset $pos"
                }
                append out [format %c [scan $hex %x]]
                incr pos 4
            }
            default { append out $e }
        }
    }
    error "JSON: unterminated string"
}

proc ::onion::json::read_file {path} {
    if {![file exists $path]} { error "file not found: $path" }
    set f [open $path r]
    fconfigure $f -encoding utf-8
    set text [read $f]
    close $f
    if {[catch {parse $text} msg]} { error "$path: $msg" }
    return $msg
}

# ---------------------------------------------------------------- settings
proc ::onion::repo_root {} {
    variable script_dir
    if {[info exists ::env(ONION_REPO)] && $::env(ONION_REPO) ne ""} {
        return [file normalize $::env(ONION_REPO)]
    }
    return [file normalize [file join $script_dir .. ..]]
}

# The engine contract's path is declared once for the flow, as SPEC in hw/Makefile (which passes it
# to every script as ONION_SPEC; tests/synth checks it is host.engine_spec.SPEC_PATH).
proc ::onion::spec_path {} {
    if {[info exists ::env(ONION_SPEC)] && $::env(ONION_SPEC) ne ""} {
        return [file normalize $::env(ONION_SPEC)]
    }
    error "ONION_SPEC is not set: run the flow through make -C hw, which passes the engine contract's path"
}

# A field of the engine contract by key path, with an error naming the field when it is absent.
proc ::onion::spec_field {spec args} {
    if {![dict exists $spec {*}$args]} {
        error "field '[join $args .]' missing from [spec_path]"
    }
    return [dict get $spec {*}$args]
}

# An ONION_<NAME> environment setting (the Makefile's way into Vitis HLS) or the default.
proc ::onion::env_setting {name default} {
    set key ONION_$name
    if {[info exists ::env($key)] && $::env($key) ne ""} { return $::env($key) }
    return $default
}

# "--key value" pairs after -tclargs, checked against the allowed keys.
proc ::onion::parse_args {argv allowed} {
    set result [dict create]
    if {[llength $argv] % 2} { error "arguments must be '--key value' pairs, got: $argv" }
    foreach {key value} $argv {
        set name [string trimleft $key -]
        if {[string range $key 0 1] ne "--" || $name ni $allowed} {
            error "unknown argument '$key'; expected one of: --[join $allowed {, --}]"
        }
        dict set result $name $value
    }
    foreach name $allowed {
        if {![dict exists $result $name]} { error "missing argument --$name" }
    }
    return $result
}

# Clock period in ns, three decimals (150 MHz -> 6.667), from a positive frequency in MHz.
proc ::onion::clock_period_ns {mhz} {
    if {![string is double -strict $mhz] || $mhz <= 0} {
        error "clock_mhz must be a positive number, got '$mhz'"
    }
    return [format %.3f [expr {1000.0 / $mhz}]]
}

# All files under dir whose name matches pattern, depth first (tool output layouts vary by version).
proc ::onion::find_files {dir pattern} {
    set found [lsort [glob -nocomplain -types f -directory $dir $pattern]]
    foreach sub [lsort [glob -nocomplain -types d -directory $dir *]] {
        lappend found {*}[find_files $sub $pattern]
    }
    return $found
}

proc ::onion::warn_if_untested {tool version} {
    variable tested_versions
    foreach v $tested_versions {
        if {[string first $v $version] == 0} { return }
    }
    puts "onion: WARNING: $tool $version; this flow was written for $tool [join $tested_versions { and }]"
}

# Runs body; on any error prints it and exits 1, so the tool never stays open or exits 0 after a failure.
proc ::onion::run_main {body} {
    if {[catch {uplevel 1 $body} msg]} {
        puts stderr "onion: ERROR: $msg"
        if {[info exists ::errorInfo]} { puts stderr $::errorInfo }
        exit 1
    }
    exit 0
}
