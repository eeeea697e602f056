// Bounded-FIFO dataflow simulation: the shared runtime (SystemC 2.3 kernel underneath).
//
// Every ONION_DATAFLOW_PROCESS becomes a SystemC thread created with sc_spawn; a region joins its
// processes on their terminated events. The outermost region (called from plain C++, outside any
// process) runs the kernel with sc_start() until the processes finish or the simulation starves:
// starving with unfinished processes is a deadlock, reported as "which process is blocked on which
// FIFO, full or empty", and the program ends with exit status ONION_BOUNDED_DEADLOCK_EXIT. A
// wall-clock watchdog (ONION_BOUNDED_TIMEOUT_S, default 900 s) ends a region that never finishes
// (a livelock: something keeps ticking without progress). docs/bounded_sim.md has the design.
//
// Not for synthesis and never seen by it: hls_stream.h / dataflow.h include this only under
// ONION_BOUNDED_SIM.
#ifndef ONION_BOUNDED_RUNTIME_H
#define ONION_BOUNDED_RUNTIME_H

#define SC_INCLUDE_DYNAMIC_PROCESSES
// ap_types (ap_decl.h) define SC_BIN/SC_OCT/SC_DEC/SC_HEX as macros unless SystemC came first; they
// would clobber SystemC's enum of the same names, so hide them while SystemC is parsed.
#pragma push_macro("SC_BIN")
#pragma push_macro("SC_OCT")
#pragma push_macro("SC_DEC")
#pragma push_macro("SC_HEX")
#undef SC_BIN
#undef SC_OCT
#undef SC_DEC
#undef SC_HEX
#include <systemc>
#pragma pop_macro("SC_BIN")
#pragma pop_macro("SC_OCT")
#pragma pop_macro("SC_DEC")
#pragma pop_macro("SC_HEX")

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#ifndef ONION_BOUNDED_DEADLOCK_EXIT
#define ONION_BOUNDED_DEADLOCK_EXIT 86
#endif

namespace onion_bounded {

// What a simulated process is doing, for the deadlock report.
struct ProcState {
    std::string name;
    std::string blocked_on;  // FIFO name, or "" when running / finished
    const char *why = "";    // "full (write)", "empty (read)", "its region's processes"
    int depth = 0;
    bool done = false;
};

struct Runtime {
    std::map<sc_core::sc_process_b *, ProcState *> by_process;
    std::vector<ProcState *> all;  // every process of the current outermost region, in spawn order
    bool simulating = false;       // inside the outermost region's sc_start
    long next_stream_id = 0;
    long regions = 0, processes = 0;  // outermost regions run, processes spawned (ONION_BOUNDED_STATS)
    std::mutex report_lock;

    static Runtime &get() {
        static Runtime rt;
        return rt;
    }
    ~Runtime() {
        if (std::getenv("ONION_BOUNDED_STATS"))
            std::fprintf(stderr, "bounded-sim: %ld dataflow region(s) run, %ld process(es)\n", regions, processes);
    }
    ProcState *current() {
        if (!simulating) return nullptr;
        sc_core::sc_process_b *p = sc_core::sc_get_current_process_b();
        auto it = by_process.find(p);
        return it == by_process.end() ? nullptr : it->second;
    }
};

inline long stack_bytes() {
    const char *s = std::getenv("ONION_BOUNDED_STACK_MB");  // engine processes hold on-chip tiles on the stack
    return (s ? std::atol(s) : 64) * 1024L * 1024L;
}

inline double timeout_s() {
    const char *s = std::getenv("ONION_BOUNDED_TIMEOUT_S");
    return s ? std::atof(s) : 900.0;
}

inline void print_blocked(FILE *out) {
    Runtime &rt = Runtime::get();
    for (ProcState *p : rt.all) {
        if (p->done) continue;
        if (!p->blocked_on.empty())
            std::fprintf(out, "  process %-28s blocked on FIFO '%s' (depth %d): %s\n", p->name.c_str(),
                         p->blocked_on.c_str(), p->depth, p->why);
        else
            std::fprintf(out, "  process %-28s waiting on %s\n", p->name.c_str(), p->why[0] ? p->why : "time");
    }
}

[[noreturn]] inline void die(const std::string &headline) {
    std::lock_guard<std::mutex> g(Runtime::get().report_lock);
    std::fprintf(stderr, "bounded-sim DEADLOCK: %s\n", headline.c_str());
    print_blocked(stderr);
    std::fflush(stderr);
    std::fflush(stdout);
    std::_Exit(ONION_BOUNDED_DEADLOCK_EXIT);
}

// Blocks the calling process on `ev` while `cond` holds; outside a process nothing could ever
// change the FIFO, so that is a deadlock at once (e.g. filling a local stream, then calling its reader).
template <class Cond>
inline void block_while(Cond cond, sc_core::sc_event &ev, const std::string &fifo, int depth, const char *why) {
    if (!cond()) return;
    ProcState *me = Runtime::get().current();
    if (!me)
        die("FIFO '" + fifo + "' (depth " + std::to_string(depth) + ") is " + why +
            " outside any dataflow process: no other process can ever change it");
    me->blocked_on = fifo;
    me->why = why;
    me->depth = depth;
    while (cond()) sc_core::wait(ev);
    me->blocked_on.clear();
    me->why = "";
}

// Wall-clock watchdog for the outermost region.
class Watchdog {
  public:
    explicit Watchdog(const std::string &region) : region_(region) {
        thread_ = std::thread([this] {
            std::unique_lock<std::mutex> lk(m_);
            const auto limit = std::chrono::duration<double>(timeout_s());
            if (!cv_.wait_for(lk, limit, [this] { return stop_; }))
                die("region '" + region_ + "' did not finish within " + std::to_string(timeout_s()) +
                    " s of wall-clock time (ONION_BOUNDED_TIMEOUT_S)");
        });
    }
    ~Watchdog() {
        {
            std::lock_guard<std::mutex> g(m_);
            stop_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

  private:
    std::string region_;
    std::mutex m_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

// One dataflow region: ONION_DATAFLOW_BEGIN declares it, each PROCESS spawns, END joins.
class Region {
  public:
    explicit Region(const char *where) : where_(where), outer_(Runtime::get().current() == nullptr) {}

    void spawn(const char *name, std::function<void()> body) {
        Runtime &rt = Runtime::get();
        ProcState *st = new ProcState();
        st->name = std::string(name);
        rt.all.push_back(st);
        ++rt.processes;
        sc_core::sc_spawn_options opts;
        opts.set_stack_size((int)stack_bytes());
        sc_core::sc_process_handle h = sc_core::sc_spawn(
            [st, body]() {
                Runtime::get().by_process[sc_core::sc_get_current_process_b()] = st;
                body();
                st->done = true;
            },
            sc_core::sc_gen_unique_name(name), &opts);
        procs_.push_back(st);
        handles_.push_back(h);
    }

    void join() {
        Runtime &rt = Runtime::get();
        if (!outer_) {  // nested: this process waits for its children in simulated time
            ProcState *me = rt.current();
            me->why = "its region's processes";
            for (auto &h : handles_)
                if (!h.terminated()) sc_core::wait(h.terminated_event());
            me->why = "";
            return;
        }
        ++rt.regions;
        {
            Watchdog dog(where_);
            rt.simulating = true;
            sc_core::sc_start();  // returns when no event is left: finished, or starved
            rt.simulating = false;
        }
        bool all_done = true;
        for (ProcState *p : rt.all) all_done = all_done && p->done;
        if (!all_done) die("region '" + where_ + "' starved with unfinished processes");
        for (ProcState *p : rt.all) delete p;
        rt.all.clear();
        rt.by_process.clear();
    }

  private:
    std::string where_;
    bool outer_;
    std::vector<ProcState *> procs_;
    std::vector<sc_core::sc_process_handle> handles_;
};

struct QuietBanner {  // the SystemC copyright banner would pollute test-bench output
    QuietBanner() { setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0); }
};
static QuietBanner quiet_banner_;

}  // namespace onion_bounded

// libsystemc's main() calls sc_main; these programs have their own main() and start the kernel from
// the outermost region, so this weak definition only satisfies the linker.
__attribute__((weak)) int sc_main(int, char **) { return 0; }

#endif
