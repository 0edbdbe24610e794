// Library columns on the GPU: each kept feature is decoded once on the host into a packed parameter row,
// and the kernels evaluate column values from it with the same per-point functions as the CPU core
// (netmirror/libraries.hpp, NETMIRROR_HD). Plain C++ as well: the host emulation compiles it with g++.
#pragma once
#include <cstdint>

#include <netmirror/libraries.hpp>

namespace netmirror {
namespace gpu {

// One row of kParams doubles per column:
//   nested:      level[0..3], sign[0..3]            (value = nested_point(t, act, sign, level[0], level, layers))
//   symmetrized: a, c, h(b), sign, 0...
//   switching:   sign, 0...; its sorted thresholds are thresholds[offsets[col] .. offsets[col + 1])
//   angular:     u0, u1, 0...                       (the data point x[raw] of the 2-D sign feature)
constexpr int kParams = 8;

struct LibraryColumns {
    int kind = 0;              // netmirror::FeatureKind
    int activation = 0;        // netmirror::Activation
    double slope = 0.0;        // the family's effective slope (relu 0, abs -1)
    int layers = 1;            // nested: H = depth - 1
    const double* params = nullptr;      // (cols, kParams), row-major
    const int64_t* offsets = nullptr;    // switching: cols + 1 offsets into thresholds
    const double* thresholds = nullptr;  // switching: sorted threshold values, column after column
    const double* t = nullptr;           // evaluation points: m values (1-D) or m (t0, t1) pairs (2-D)
    int64_t m = 0;                       // number of evaluation points (rows)
};

template <class Act>
NETMIRROR_HD inline double library_value_with(const LibraryColumns& L, Act act, int64_t col, int64_t i) {
    const double* p = L.params + col * kParams;
    switch (L.kind) {
        case static_cast<int>(FeatureKind::nested):
            return detail::nested_point(L.t[i], act, p + 4, p[0], p, L.layers);
        case static_cast<int>(FeatureKind::symmetrized):
            return detail::symmetrized_point(L.t[i], act, p[0], p[1], p[3], p[2]);
        case static_cast<int>(FeatureKind::switching): {
            const int64_t lo = L.offsets[col];
            return detail::switching_point(L.t[i], act, p[0], L.thresholds + lo, L.offsets[col + 1] - lo);
        }
        default:
            return detail::angular_point(p[0], p[1], L.t[2 * i], L.t[2 * i + 1]);
    }
}

// Value of column `col` at point i. The activation is uniform over a launch: the switch does not diverge.
NETMIRROR_HD inline double library_value(const LibraryColumns& L, int64_t col, int64_t i) {
    switch (L.activation) {
        case static_cast<int>(Activation::relu): return library_value_with(L, detail::Relu{}, col, i);
        case static_cast<int>(Activation::abs): return library_value_with(L, detail::Abs{}, col, i);
        case static_cast<int>(Activation::leaky_relu): return library_value_with(L, detail::Leaky{L.slope}, col, i);
        case static_cast<int>(Activation::sign): return library_value_with(L, detail::Sign{}, col, i);
        default: return library_value_with(L, detail::Threshold{}, col, i);
    }
}

// Dense (rows x cols) column-major matrix with leading dimension ld, read as float64.
template <class T>
struct DenseColumns {
    const T* a = nullptr;
    int64_t m = 0, ld = 0;
    NETMIRROR_HD double operator()(int64_t col, int64_t i) const { return static_cast<double>(a[col * ld + i]); }
};

struct LibrarySource {
    LibraryColumns lib;
    NETMIRROR_HD double operator()(int64_t col, int64_t i) const { return library_value(lib, col, i); }
};

// Assembly, one thread per element of the Fortran-ordered output: element e is row e % m of column e / m,
// so consecutive threads write consecutive addresses.
template <class T>
NETMIRROR_HD inline void assemble_element(const LibraryColumns& L, int64_t e, T* out) {
    const int64_t col = e / L.m, i = e - col * L.m;
    out[e] = static_cast<T>(library_value(L, col, i));
}

}  // namespace gpu
}  // namespace netmirror
