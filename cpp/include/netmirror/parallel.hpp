// Minimal fork-join over index ranges: the kernels are embarrassingly parallel over columns.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace netmirror {

// Thrown by a kernel whose stop flag was raised (Ctrl-C from the Python bindings) before it finished.
struct Interrupted : std::runtime_error {
    Interrupted() : std::runtime_error("interrupted") {}
};

// Threads to use: NETMIRROR_NUM_THREADS if set (>= 1), else the hardware concurrency.
inline int default_num_threads() {
    if (const char* env = std::getenv("NETMIRROR_NUM_THREADS")) {
        int v = std::atoi(env);
        if (v >= 1) return v;
    }
    unsigned hc = std::thread::hardware_concurrency();
    return hc == 0 ? 1 : static_cast<int>(hc);
}

// Calls fn(lo, hi) on contiguous chunks of [begin, end) from up to `threads` threads.
// The first exception thrown by any chunk is rethrown in the caller.
template <class Fn>
void parallel_for(int64_t begin, int64_t end, int threads, Fn&& fn, int64_t min_chunk = 1) {
    const int64_t n = end - begin;
    if (n <= 0) return;
    int64_t t = std::max<int64_t>(1, std::min<int64_t>(threads, (n + min_chunk - 1) / min_chunk));
    if (t == 1) {
        fn(begin, end);
        return;
    }
    std::exception_ptr error;
    std::mutex error_mutex;
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(t - 1));
    auto run = [&](int64_t lo, int64_t hi) {
        try {
            fn(lo, hi);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
        }
    };
    const int64_t chunk = (n + t - 1) / t;
    for (int64_t k = 1; k < t; ++k) {
        int64_t lo = begin + k * chunk, hi = std::min(end, lo + chunk);
        if (lo < hi) pool.emplace_back(run, lo, hi);
    }
    run(begin, std::min(end, begin + chunk));
    for (auto& th : pool) th.join();
    if (error) std::rethrow_exception(error);
}

}  // namespace netmirror
