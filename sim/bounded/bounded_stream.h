// hls::stream<T, DEPTH> as a blocking FIFO of the declared depth (Vitis's default 2 when DEPTH is
// 0), for the bounded-FIFO simulation. Same API as sim/include/hls_stream.h's unbounded stream,
// and, as in Vitis, stream<T, DEPTH> derives from stream<T> so a process taking `stream<T> &`
// accepts a sized FIFO. A SystemC sc_fifo cannot be created after elaboration, and engine FIFOs
// are locals of each call, so this is a queue plus one sc_event that fires on every read and write.
#ifndef ONION_BOUNDED_STREAM_H
#define ONION_BOUNDED_STREAM_H

#include <deque>
#include <string>

#include "bounded_runtime.h"
#include "hls_stream_api.h"

namespace hls {

template <typename T>
class stream<T, 0> : public onion_sim::stream_api<stream<T, 0>, T> {
  public:
    stream() : name_("stream_" + std::to_string(onion_bounded::Runtime::get().next_stream_id++)) {}
    explicit stream(const char *name) : name_(name) {}
    stream(const stream &) = delete;
    stream &operator=(const stream &) = delete;

    static constexpr int depth() { return 2; }  // Vitis's default FIFO depth
    int capacity() const { return cap_; }      // the depth this FIFO was declared with

    void write(const T &v) {
        onion_bounded::block_while([this] { return (int)q_.size() >= cap_; }, changed_, name_, cap_,
                                   "full (write)");
        q_.push_back(v);
        notify();
    }
    using onion_sim::stream_api<stream<T, 0>, T>::read;  // read(T &), beside this read()
    T read() {
        onion_bounded::block_while([this] { return q_.empty(); }, changed_, name_, cap_, "empty (read)");
        T v = q_.front();
        q_.pop_front();
        notify();
        return v;
    }
    bool empty() const { return q_.empty(); }
    bool full() const { return (int)q_.size() >= cap_; }
    int size() const { return (int)q_.size(); }

    // simulation only (not in Vitis's API): a clocked process (the Verilated core) sleeps on it
    sc_core::sc_event &changed_event() { return changed_; }
    const std::string &name() const { return name_; }

  protected:
    int cap_ = 2;

  private:
    void notify() {  // outside the kernel (plain sequential code) nobody can be waiting
        if (onion_bounded::Runtime::get().simulating) changed_.notify(sc_core::SC_ZERO_TIME);
    }

    std::string name_;
    std::deque<T> q_;
    sc_core::sc_event changed_;
};

template <typename T, int DEPTH>
class stream : public stream<T, 0> {
  public:
    stream() { this->cap_ = DEPTH; }
    explicit stream(const char *name) : stream<T, 0>(name) { this->cap_ = DEPTH; }
    static constexpr int depth() { return DEPTH; }
};

}  // namespace hls

#endif
