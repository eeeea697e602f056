// What the two open-source hls::stream implementations (sim/include/hls_stream.h, unbounded;
// sim/bounded/bounded_stream.h, blocking at DEPTH) share: the class template they specialise, and the
// part of the API that follows from a stream's own write / read / empty / full, through CRTP:
// `class stream<T, 0> : public onion_sim::stream_api<stream<T, 0>, T>` with `using ...::read;` (the
// stream's own `T read()` would hide the `read(T &)` overload).
#ifndef ONION_SIM_HLS_STREAM_API_H
#define ONION_SIM_HLS_STREAM_API_H

namespace hls {

// As in Vitis, stream<T, DEPTH> derives from stream<T> (= stream<T, 0>), so a process that takes
// `hls::stream<T> &` accepts a FIFO declared with a depth.
template <typename T, int DEPTH = 0>
class stream;

}  // namespace hls

namespace onion_sim {

template <class Stream, typename T>
class stream_api {
  public:
    void read(T &v) { v = self().read(); }
    bool read_nb(T &v) {
        if (self().empty()) return false;
        v = self().read();
        return true;
    }
    bool write_nb(const T &v) {
        if (self().full()) return false;
        self().write(v);
        return true;
    }
    void operator<<(const T &v) { self().write(v); }
    void operator>>(T &v) { v = self().read(); }

  private:
    Stream &self() { return static_cast<Stream &>(*this); }
};

}  // namespace onion_sim

#endif
