// CovarianceAccumulator against a long double reference: float32/float64, C/Fortran order, weights,
// batches merged, a 1e6 offset, and sizes large enough for the two-thread path with odd dims (padding);
// means up to 1e15, threads sharing one accumulator, self-merge and copies.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <random>
#include <thread>
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

namespace {
// max_ij |s_ij - ref_ij| / sqrt(ref_ii ref_jj)
double scaled_error(const std::vector<double>& s, const std::vector<long double>& ref, int64_t dim) {
    double err = 0;
    for (int64_t i = 0; i < dim; ++i)
        for (int64_t j = 0; j < dim; ++j) {
            const long double scale = std::sqrt(ref[i * dim + i] * ref[j * dim + j]);
            err = std::max(err, static_cast<double>(std::abs(s[i * dim + j] - ref[i * dim + j]) / scale));
        }
    return err;
}
}  // namespace

TEST_CASE("covariance far from the origin: each batch centred on its exact mean") {
    // Issue 17: mean 1e15 / std 1 in 7 batches was off by 1.4e-3 (centred on the mean rounded to float64).
    for (double mean : {1e12, 1e15, -1e15}) {
        const int64_t n = 7000, dim = 5;
        std::mt19937_64 rng(42);
        std::normal_distribution<double> normal(0.0, 1.0);
        std::vector<double> x(static_cast<size_t>(n * dim));
        for (auto& v : x) v = mean + (mean == 1e12 ? 1e-2 : 1.0) * normal(rng);
        // Reference: x - x_0 is exact in float64 (Sterbenz), then long double on the small deviations.
        std::vector<long double> d(x.size()), mu(static_cast<size_t>(dim), 0), m2(static_cast<size_t>(dim * dim), 0);
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < dim; ++j) {
                d[i * dim + j] = x[i * dim + j] - x[j];
                mu[j] += d[i * dim + j] / n;
            }
        for (int64_t i = 0; i < n; ++i)
            for (int64_t a = 0; a < dim; ++a)
                for (int64_t b = 0; b < dim; ++b) m2[a * dim + b] += (d[i * dim + a] - mu[a]) * (d[i * dim + b] - mu[b]);
        CovarianceAccumulator seq(dim), merged(dim);
        for (int64_t k = 0; k < 7; ++k) {
            const int64_t lo = k * n / 7, hi = (k + 1) * n / 7;
            seq.update(x.data() + lo * dim, hi - lo, dim, 1, nullptr, 1);
            CovarianceAccumulator part(dim);
            part.update(x.data() + lo * dim, hi - lo, dim, 1, nullptr, 1);
            merged.merge(part);
        }
        std::vector<double> s(static_cast<size_t>(dim * dim));
        seq.scatter(s.data());
        CHECK(scaled_error(s, m2, dim) < 1e-14);
        merged.scatter(s.data());
        CHECK(scaled_error(s, m2, dim) < 1e-14);
    }
}

TEST_CASE("covariance: concurrent updates and merges lose nothing and do not deadlock") {
    const int64_t rows = 4000, dim = 16;
    std::vector<std::vector<double>> data(4, std::vector<double>(static_cast<size_t>(rows * dim)));
    for (size_t t = 0; t < data.size(); ++t)
        for (size_t k = 0; k < data[t].size(); ++k) data[t][k] = std::sin(0.7 * static_cast<double>(k) + static_cast<double>(t)) + 3.0;
    CovarianceAccumulator shared(dim), serial(dim);
    {
        std::vector<std::thread> threads;
        for (size_t t = 0; t < 4; ++t)
            threads.emplace_back([&, t] {
                for (int k = 0; k < 10; ++k) shared.update(data[t].data(), rows, dim, 1, nullptr, 1);
            });
        for (auto& th : threads) th.join();
    }
    for (size_t t = 0; t < 4; ++t)
        for (int k = 0; k < 10; ++k) serial.update(data[t].data(), rows, dim, 1, nullptr, 1);
    CHECK(shared.count() == 160000);
    std::vector<double> a(static_cast<size_t>(dim * dim)), b(a.size());
    shared.scatter(a.data());
    serial.scatter(b.data());
    for (size_t k = 0; k < a.size(); ++k) CHECK(std::abs(a[k] - b[k]) <= 1e-12 * std::abs(b[0]));
    // a.merge(b) and b.merge(a) at once: both locks, in a deadlock-free order
    CovarianceAccumulator p(dim), q(dim);
    p.update(data[0].data(), 50, dim, 1, nullptr, 1);
    q.update(data[0].data(), 50, dim, 1, nullptr, 1);
    std::thread t1([&] { for (int k = 0; k < 20; ++k) p.merge(q); });
    std::thread t2([&] { for (int k = 0; k < 20; ++k) q.merge(p); });
    t1.join();
    t2.join();
    CHECK(p.count() % 50 == 0);
    CHECK(p.total_weight() == static_cast<double>(p.count()));
}

TEST_CASE("covariance: self-merge doubles the data; copies are whole states") {
    const int64_t n = 40, dim = 3;
    std::vector<double> x(static_cast<size_t>(n * dim));
    for (size_t k = 0; k < x.size(); ++k) x[k] = 1e9 + std::cos(1.3 * static_cast<double>(k));
    CovarianceAccumulator acc(dim);
    acc.update(x.data(), n, dim, 1, nullptr, 1);
    CovarianceAccumulator copy(acc), assigned(dim);
    assigned = acc;
    acc.merge(acc);
    copy.merge(assigned);
    CHECK(acc.count() == 2 * n);
    CHECK(acc.total_weight() == 2.0 * n);
    CHECK(acc.mean() == assigned.mean());
    std::vector<double> a(static_cast<size_t>(dim * dim)), b(a.size());
    acc.scatter(a.data());
    copy.scatter(b.data());
    CHECK(a == b);
    // a raised stop leaves a state with data unchanged
    std::atomic<bool> stop{true};
    CHECK_THROWS_AS(acc.update(x.data(), n, dim, 1, nullptr, 1, &stop), netmirror::Interrupted);
    acc.scatter(b.data());
    CHECK(a == b);
    CHECK(acc.count() == 2 * n);
}
