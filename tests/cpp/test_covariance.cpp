// CovarianceAccumulator against a long double reference: float32/float64, C/Fortran order, weights,
// batches merged, a 1e6 offset, and sizes large enough for the two-thread path with odd dims (padding).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include <netmirror/covariance.hpp>

using netmirror::CovarianceAccumulator;

namespace {
template <class T>
double check(int64_t n, int64_t dim, bool fortran, bool weighted, double offset, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<T> x(static_cast<size_t>(n * dim));
    std::vector<double> w(static_cast<size_t>(n));
    for (auto& v : x) v = static_cast<T>(offset + normal(rng));
    for (auto& v : w) v = std::abs(normal(rng));
    const int64_t rs = fortran ? 1 : dim, cs = fortran ? n : 1;
    // Reference in long double.
    long double W = 0;
    std::vector<long double> mean(static_cast<size_t>(dim), 0), m2(static_cast<size_t>(dim * dim), 0);
    for (int64_t i = 0; i < n; ++i) {
        const long double wi = weighted ? w[i] : 1.0L;
        W += wi;
        for (int64_t j = 0; j < dim; ++j) mean[j] += wi * x[i * rs + j * cs];
    }
    for (auto& m : mean) m /= W;
    for (int64_t i = 0; i < n; ++i) {
        const long double wi = weighted ? w[i] : 1.0L;
        for (int64_t a = 0; a < dim; ++a)
            for (int64_t b = 0; b < dim; ++b)
                m2[a * dim + b] += wi * (x[i * rs + a * cs] - mean[a]) * (x[i * rs + b * cs] - mean[b]);
    }
    // Two batches into two accumulators, merged.
    const int64_t n1 = n / 3;
    CovarianceAccumulator acc(dim), other(dim);
    acc.update(x.data(), n1, rs, cs, weighted ? w.data() : nullptr, 2);
    other.update(x.data() + n1 * rs, n - n1, rs, cs, weighted ? w.data() + n1 : nullptr, 2);
    acc.merge(other);
    std::vector<double> s(static_cast<size_t>(dim * dim));
    acc.scatter(s.data());
    long double err = 0, norm = 0;
    for (int64_t k = 0; k < dim * dim; ++k) {
        err = std::max(err, std::abs(s[k] - m2[k]));
        norm = std::max(norm, std::abs(m2[k]));
    }
    return static_cast<double>(err / norm);
}

}  // namespace

TEST_CASE("covariance matches long double for every layout, weighting and offset") {
    for (int64_t dim : {1, 3, 8, 13, 70})
        for (int fortran = 0; fortran < 2; ++fortran)
            for (int weighted = 0; weighted < 2; ++weighted) {
                CHECK(check<float>(700, dim, fortran, weighted, 0.0, 7 + static_cast<unsigned>(dim)) < 1e-12);
                CHECK(check<double>(600, dim, fortran, weighted, 1e6, 11 + static_cast<unsigned>(dim)) < 1e-12);
            }
}

TEST_CASE("covariance two-thread path with padding columns") {
    for (int weighted = 0; weighted < 2; ++weighted) {
        CHECK(check<float>(1500, 71, false, weighted, 0.0, 3) < 1e-12);
        CHECK(check<double>(1400, 66, true, weighted, 1e6, 4) < 1e-12);
    }
}

TEST_CASE("a raised stop flag ends an update with Interrupted; a lowered one changes nothing") {
    const int64_t n = 300, dim = 5;
    std::vector<double> x(static_cast<size_t>(n * dim));
    for (size_t k = 0; k < x.size(); ++k) x[k] = std::sin(0.37 * static_cast<double>(k));
    std::atomic<bool> stop{true};
    CovarianceAccumulator stopped(dim), plain(dim), watched(dim);
    CHECK_THROWS_AS(stopped.update(x.data(), n, dim, 1, nullptr, 2, &stop), netmirror::Interrupted);
    CHECK(stopped.count() == 0);  // raised before the mean pass ended: nothing was added
    stop = false;
    plain.update(x.data(), n, dim, 1, nullptr, 2);
    watched.update(x.data(), n, dim, 1, nullptr, 2, &stop);
    std::vector<double> a(static_cast<size_t>(dim * dim)), b(a.size());
    plain.scatter(a.data());
    watched.scatter(b.data());
    CHECK(a == b);
}
