// Convex two-layer ReLU core: chamber enumeration against the general-position count, the cone projection's
// bound, and the solver's certificate on a small problem.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include <netmirror/convex_relu.hpp>

namespace {

// N Gaussian points in d = 2 with a column of ones, row-major (N, 3).
std::vector<double> points_with_bias(int64_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g;
    std::vector<double> X(static_cast<size_t>(3 * n));
    for (int64_t i = 0; i < n; ++i) X[3 * i] = g(rng), X[3 * i + 1] = g(rng), X[3 * i + 2] = 1.0;
    return X;
}

}  // namespace

TEST_CASE("every chamber of a general-position arrangement is enumerated once") {
    const int64_t n = 9, k = 3;
    const std::vector<double> X = points_with_bias(n, 3);
    const std::vector<double> pts = netmirror::arrangement_points(X.data(), n, k);
    const netmirror::PatternSet pats = netmirror::distinct_patterns(X.data(), n, k, pts.data(),
                                                                    static_cast<int64_t>(pts.size()) / k, 2);
    // 2 (1 + (n-1) + C(n-1, 2)) chambers, less the all-negative one (dropped: a dead unit).
    CHECK(pats.size() == 2 * (1 + (n - 1) + (n - 1) * (n - 2) / 2) - 1);
}

TEST_CASE("cone projection: ||p|| bounds the support function and p is feasible") {
    const int64_t n = 7, k = 3;
    const std::vector<double> X = points_with_bias(n, 5);
    std::vector<uint64_t> pattern{0x55};
    netmirror::ConeProjector cone(X.data(), n, k);
    const double z[3] = {0.3, -1.2, 0.7};
    double p[3];
    const double nrm = cone.project(pattern.data(), z, p);
    CHECK(nrm <= std::sqrt(z[0] * z[0] + z[1] * z[1] + z[2] * z[2]) * (1 + 1e-12));
    for (int64_t i = 0; i < n; ++i) {
        const double s = ((pattern[0] >> i) & 1u) ? 1.0 : -1.0;
        CHECK(s * (X[3 * i] * p[0] + X[3 * i + 1] * p[1] + X[3 * i + 2] * p[2]) >= -1e-12);
    }
    if (nrm > 0) CHECK(nrm - (z[0] * p[0] + z[1] * p[1] + z[2] * p[2]) / nrm <= 1e-10);
}

TEST_CASE("the solver returns a certified optimum") {
    const int64_t n = 8, k = 3;
    const std::vector<double> X = points_with_bias(n, 11);
    std::vector<double> y(n);
    for (int64_t i = 0; i < n; ++i) y[i] = std::sin(2 * X[3 * i]) + 0.5 * X[3 * i + 1];
    const std::vector<double> pts = netmirror::arrangement_points(X.data(), n, k);
    const netmirror::PatternSet pats = netmirror::distinct_patterns(X.data(), n, k, pts.data(),
                                                                    static_cast<int64_t>(pts.size()) / k);
    netmirror::ConvexReluOptions opt;
    opt.beta = 0.3;
    opt.tol = 1e-9;
    const netmirror::ConvexReluOutput out = netmirror::convex_relu(X.data(), n, k, y.data(), pats, opt);
    CHECK(out.converged);
    CHECK(out.gap >= 0.0);
    CHECK(out.gap <= 1e-9 * out.p0);
    CHECK(out.dual_objective <= out.objective + 1e-12);
}
