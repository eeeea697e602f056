// hls::stream with the Vitis HLS API (hls_stream.h of Vitis 2023.2: `hls::stream<T, DEPTH>`), for the
// open-source builds only: C-simulation, the host's csim library and the synthesis-branch compile check.
// Vitis HLS itself uses its own header (the Tcl flow puts only hw/include on its path).
//
// Why not hls4ml's hls_stream.h: it has no DEPTH parameter, and the engine declares every FIFO's depth
// in its type, as UG1399 recommends, so the bounded-FIFO simulation can read it.
//
// Modes:
//   default            unbounded, like Vitis C-sim: a dataflow region runs its processes one after
//                      another, so a FIFO must hold everything the producer writes.
//   ONION_BOUNDED_SIM  every FIFO blocks at DEPTH (the depth synthesis would build) and every dataflow
//                      process runs as its own thread (onion/dataflow.h): see sim/bounded/.
#ifndef ONION_SIM_HLS_STREAM_H
#define ONION_SIM_HLS_STREAM_H

#ifdef ONION_BOUNDED_SIM
#include "bounded_stream.h"
#else

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

#include "hls_stream_api.h"

namespace hls {

template <typename T>
class stream<T, 0> : public onion_sim::stream_api<stream<T, 0>, T> {
  public:
    stream() {}
    explicit stream(const char *name) : name_(name) {}
    stream(const stream &) = delete;
    stream &operator=(const stream &) = delete;

    void write(const T &v) { q_.push_back(v); }
    using onion_sim::stream_api<stream<T, 0>, T>::read;  // read(T &), beside this read()
    T read() {
        if (q_.empty()) {  // Vitis C-sim warns and returns garbage; an engine bug here must be loud
            std::fprintf(stderr, "hls::stream '%s': read while empty\n", name_.c_str());
            std::abort();
        }
        T v = q_.front();
        q_.pop_front();
        return v;
    }
    bool empty() const { return q_.empty(); }
    bool full() const { return false; }
    int size() const { return (int)q_.size(); }
    static constexpr int depth() { return 2; }  // Vitis's default FIFO depth is 2

  private:
    std::string name_;
    std::deque<T> q_;
};

template <typename T, int DEPTH>
class stream : public stream<T, 0> {
  public:
    stream() {}
    explicit stream(const char *name) : stream<T, 0>(name) {}
    static constexpr int depth() { return DEPTH; }
};

}  // namespace hls

#endif  // ONION_BOUNDED_SIM
#endif
