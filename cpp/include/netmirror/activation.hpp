// Scalar activations of the networks whose Lasso twins netmirror builds.
#pragma once
#include <stdexcept>
#include <string>

// Functions the CUDA kernels share with the CPU code are NETMIRROR_HD: __host__ __device__ under nvcc,
// plain inline functions otherwise (one definition of every feature's arithmetic on both sides).
#if defined(__CUDACC__)
#define NETMIRROR_HD __host__ __device__
#else
#define NETMIRROR_HD
#endif

namespace netmirror {

enum class Activation : int { relu = 0, leaky_relu = 1, abs = 2, sign = 3, threshold = 4 };

inline const char* activation_name(Activation a) {
    switch (a) {
        case Activation::relu: return "relu";
        case Activation::leaky_relu: return "leaky_relu";
        case Activation::abs: return "abs";
        case Activation::sign: return "sign";
        case Activation::threshold: return "threshold";
    }
    return "?";
}

// Piecewise-linear activations are u -> u (u > 0), slope*u (u <= 0):
// relu is slope 0, abs is slope -1, leaky_relu any other slope != 1.
// sign(0) = +1 and threshold(0) = 1, as in the seeds (sigma(x) = 1{x >= 0}).
inline bool is_piecewise_linear(Activation a) {
    return a == Activation::relu || a == Activation::leaky_relu || a == Activation::abs;
}

inline double effective_slope(Activation a, double slope) {
    switch (a) {
        case Activation::relu: return 0.0;
        case Activation::abs: return -1.0;
        default: return slope;
    }
}

NETMIRROR_HD inline double activate(Activation a, double slope, double u) {
    switch (a) {
        case Activation::relu: return u > 0.0 ? u : 0.0;
        case Activation::abs: return u < 0.0 ? -u : u;
        case Activation::leaky_relu: return u > 0.0 ? u : slope * u;
        case Activation::sign: return u >= 0.0 ? 1.0 : -1.0;
        case Activation::threshold: return u >= 0.0 ? 1.0 : 0.0;
    }
    return 0.0;
}

}  // namespace netmirror
