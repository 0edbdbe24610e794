// Exact dual oracles: max over a whole library of |a_j^T theta| without listing its features (column generation
// over libraries too large to enumerate). theta is centred first (the intercept absorbs constant features).
//
// ReLU, depth 3 (deep narrow; Zeger & Pilanci's library: ramps (x - a)_+, (a - x)_+ and capped ramps between two
// data points, up to constants): with R(t) = sum_i theta_i (x_i - t)_+ and L(t) = sum_i theta_i (t - x_i)_+,
// a ramp correlates R(a) or L(a), a capped ramp between a < b correlates +-(R(a) - R(b)) (the left-capped form
// L(b) - L(a) is the same number: R - L = theta^T x - t 1^T theta is constant once 1^T theta = 0). So the
// maximum is max(max |R|, max |L|, max R - min R) over the data points, O(N log N) from sorted x.
// R is accumulated over gaps, R(x_k) = R(x_{k+1}) + (x_{k+1} - x_k) sum_{i > k} theta_i, so data far from the
// origin keep their digits.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace netmirror {

struct OracleHit {
    double value = 0.0;  // max_j |a_j^T theta|
    int kind = 0;        // 0: ramp (x - a)_+, 1: ramp (a - x)_+, 2: capped ramp between a < b
    double a = 0.0, b = 0.0;
};

inline OracleHit relu_depth3_max_correlation(const double* x, const double* theta_in, int64_t n) {
    OracleHit hit;
    if (n < 2) return hit;
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return x[i] < x[j]; });
    double mean = 0.0;
    for (int64_t i = 0; i < n; ++i) mean += theta_in[i];
    mean /= static_cast<double>(n);
    std::vector<double> xs(static_cast<size_t>(n)), th(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) xs[k] = x[order[k]], th[k] = theta_in[order[k]] - mean;
    // R at each sorted point (right to left) and L (left to right), over gaps.
    std::vector<double> R(static_cast<size_t>(n), 0.0), L(static_cast<size_t>(n), 0.0);
    double tail = th[n - 1];
    for (int64_t k = n - 2; k >= 0; --k) {
        R[k] = R[k + 1] + (xs[k + 1] - xs[k]) * tail;
        tail += th[k];
    }
    double head = th[0];
    for (int64_t k = 1; k < n; ++k) {
        L[k] = L[k - 1] + (xs[k] - xs[k - 1]) * head;
        head += th[k];
    }
    int64_t kmax = 0, kmin = 0;
    for (int64_t k = 0; k < n; ++k) {
        if (std::abs(R[k]) > hit.value) hit = {std::abs(R[k]), 0, xs[k], xs[k]};
        if (std::abs(L[k]) > hit.value) hit = {std::abs(L[k]), 1, xs[k], xs[k]};
        if (R[k] > R[kmax]) kmax = k;
        if (R[k] < R[kmin]) kmin = k;
    }
    const double span = R[kmax] - R[kmin];
    if (span > hit.value && xs[kmax] != xs[kmin])
        hit = {span, 2, std::min(xs[kmax], xs[kmin]), std::max(xs[kmax], xs[kmin])};
    return hit;
}

}  // namespace netmirror
