// Small standalone check of covariance.hpp (sanitizers, no Python): random float32/float64 data in C and
// Fortran order, with and without weights, split into batches and merged, against a long double reference.
// Usage: covariance_driver [n dim]  (with n dim: times one float32 update instead).
#include <chrono>
#include <ctime>
#include <cstdio>
#include <random>

#include <netmirror/covariance.hpp>

using netmirror::CovarianceAccumulator;

template <class T>
static double check(int64_t n, int64_t dim, bool fortran, bool weighted, double offset, unsigned seed) {
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

int main(int argc, char** argv) {
    if (argc == 3) {
        const int64_t n = std::atoll(argv[1]), dim = std::atoll(argv[2]);
        std::vector<float> x(static_cast<size_t>(n * dim));
        std::mt19937 rng(1);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (auto& v : x) v = normal(rng);
        for (int rep = 0; rep < 3; ++rep) {
            CovarianceAccumulator acc(dim);
            auto t0 = std::chrono::steady_clock::now();
            const std::clock_t c0 = std::clock();
            acc.update(x.data(), n, dim, 1, nullptr);
            double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;  // all threads: robust to a shared machine
            std::printf("%s n=%lld dim=%lld: %.3f s, %.1f GFLOP/s (n*dim^2), %.1f GFLOP per CPU-second\n",
                        netmirror::cov_detail::micro_kernel_name(), (long long)n, (long long)dim, s,
                        double(n) * dim * dim / s / 1e9, double(n) * dim * dim / cpu / 1e9);
        }
        return 0;
    }
    double worst = 0;
    for (int64_t dim : {1, 3, 8, 13, 70}) {
        for (int fortran = 0; fortran < 2; ++fortran)
            for (int weighted = 0; weighted < 2; ++weighted) {
                const double e32 = check<float>(700, dim, fortran, weighted, 0.0, 7 + dim);
                const double e64 = check<double>(600, dim, fortran, weighted, 1e6, 11 + dim);
                if (std::getenv("VERBOSE"))
                    std::printf("dim %lld fortran %d weighted %d: float32 %.3g, float64 offset 1e6 %.3g\n",
                                (long long)dim, fortran, weighted, e32, e64);
                worst = std::max({worst, e32, e64});
            }
    }
    // Large enough for both threads (work above the threading threshold), odd dim: padding columns.
    for (int weighted = 0; weighted < 2; ++weighted)
        worst = std::max({worst, check<float>(1500, 71, false, weighted, 0.0, 3), check<double>(1400, 66, true, weighted, 1e6, 4)});
    std::printf("%s kernel: worst relative error vs long double: %.3g\n", netmirror::cov_detail::micro_kernel_name(), worst);
    return worst < 1e-12 ? 0 : 1;
}
