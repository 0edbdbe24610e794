// Dictionary assembly: evaluate library features at points into a column-major (Fortran) matrix.
#pragma once
#include <cstdint>
#include <vector>

#include "libraries.hpp"
#include "parallel.hpp"

namespace netmirror {

// out (m x ncols, column-major, leading dimension m) gets column c = feature raw[c] at the points t.
// raw == nullptr means the identity selection 0..ncols-1. Columns are split across threads.
template <class T>
void assemble(const Family& family, const int64_t* raw, int64_t ncols, const double* t, int64_t m, T* out,
              int threads = default_num_threads()) {
    parallel_for(0, ncols, threads, [&](int64_t lo, int64_t hi) {
        std::vector<double> scratch;
        for (int64_t c = lo; c < hi; ++c) {
            const int64_t r = raw ? raw[c] : c;
            family.column(r, t, m, out + c * m, scratch);
        }
    }, 16);
}

}  // namespace netmirror
