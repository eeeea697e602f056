# Records every vendor command the build scripts call, one JSON array of strings per line in
# $ONION_STUB_LOG, so tests can assert on commands and arguments. ONION_STUB_FAIL=<command> makes
# that command raise, as a failing tool step would.
namespace eval ::stub {}

proc ::stub::json_string {s} {
    set out "\""
    foreach c [split $s ""] {
        scan $c %c code
        if {$c eq "\""} { append out "\\\"" } elseif {$c eq "\\"} { append out "\\\\" } \
        elseif {$code < 32} { append out [format "\\u%04x" $code] } else { append out $c }
    }
    return "$out\""
}

proc ::stub::record {cmd argl} {
    set items [list [json_string $cmd]]
    foreach a $argl { lappend items [json_string $a] }
    set f [open $::env(ONION_STUB_LOG) a]
    puts $f "\[[join $items ,]\]"
    close $f
    if {[info exists ::env(ONION_STUB_FAIL)] && $::env(ONION_STUB_FAIL) eq $cmd} {
        error "stub: $cmd failed (ONION_STUB_FAIL)"
    }
}

proc ::stub::touch {path {text "stub\n"}} {
    file mkdir [file dirname $path]
    set f [open $path w]; puts -nonewline $f $text; close $f
}

# Defines each name as a command that records its call and runs body (args in $args).
proc ::stub::define {name body} {
    proc ::$name args "::stub::record [list $name] \$args\n$body"
}

# Option value from an args list: "-file x" -> x.
proc ::stub::opt {argl name {default ""}} {
    set i [lsearch -exact $argl $name]
    if {$i < 0} { return $default }
    return [lindex $argl [expr {$i + 1}]]
}

# tclsh <stub file> <script> <script args...>: run the script as the tool would.
proc ::stub::run_script {} {
    set script [lindex $::argv 0]
    set ::argv [lrange $::argv 1 end]
    set ::argc [llength $::argv]
    set ::argv0 $script
    uplevel #0 [list source $script]
}
