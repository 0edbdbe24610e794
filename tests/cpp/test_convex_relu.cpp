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

// y = sin(2 x1) + x2 / 2 on the rows of X (N, 3).
std::vector<double> smooth_target(const std::vector<double>& X) {
    std::vector<double> y(X.size() / 3);
    for (size_t i = 0; i < y.size(); ++i) y[i] = std::sin(2 * X[3 * i]) + 0.5 * X[3 * i + 1];
    return y;
}

// Every chamber pattern of the rows of X (N, k).
netmirror::PatternSet chamber_patterns(const std::vector<double>& X, int64_t k) {
    const int64_t n = static_cast<int64_t>(X.size()) / k;
    const std::vector<double> pts = netmirror::arrangement_points(X.data(), n, k);
    return netmirror::distinct_patterns(X.data(), n, k, pts.data(), static_cast<int64_t>(pts.size()) / k);
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

TEST_CASE("points are handed up once per chamber; independent normals give every sign vector") {
    // 9 points in R^3: the deduplicated recursion returns exactly one point per chamber (the all-negative one
    // included), not one per facet.
    const std::vector<double> X = points_with_bias(9, 3);
    CHECK(netmirror::arrangement_points(X.data(), 9, 3).size() == 3u * (2 * (1 + 8 + 28)));
    // 4 independent rows in R^6: 2^4 chambers, each point u with sign(x_n^T u) = its sign vector.
    std::mt19937_64 rng(7);
    std::normal_distribution<double> g;
    std::vector<double> H(24);
    for (double& v : H) v = g(rng);
    const std::vector<double> pts = netmirror::arrangement_points(H.data(), 4, 6);
    REQUIRE(pts.size() == 16u * 6u);
    std::vector<int> seen(16, 0);
    for (size_t p = 0; p < 16; ++p) {
        int mask = 0;
        for (int n = 0; n < 4; ++n) {
            double s = 0.0;
            for (int j = 0; j < 6; ++j) s += H[n * 6 + j] * pts[p * 6 + j];
            CHECK(std::abs(s) > 1e-3);
            mask |= (s > 0.0) << n;
        }
        ++seen[mask];
    }
    for (int c : seen) CHECK(c == 1);
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
    const std::vector<double> y = smooth_target(X);
    const netmirror::PatternSet pats = chamber_patterns(X, k);
    netmirror::ConvexReluOptions opt;
    opt.beta = 0.3;
    opt.tol = 1e-9;
    const netmirror::ConvexReluOutput out = netmirror::convex_relu(X.data(), n, k, y.data(), pats, opt);
    CHECK(out.converged);
    CHECK(out.gap >= 0.0);
    CHECK(out.gap <= 1e-9 * out.p0);
    CHECK(out.dual_objective <= out.objective + 1e-12);
}

TEST_CASE("largest-margin direction: strictly inside a chamber's cone, none for an empty one") {
    const int64_t n = 9, k = 3;
    const std::vector<double> X = points_with_bias(n, 13);
    const std::vector<double> pts = netmirror::arrangement_points(X.data(), n, k);
    const netmirror::PatternSet pats = netmirror::distinct_patterns(X.data(), n, k, pts.data(),
                                                                    static_cast<int64_t>(pts.size()) / k);
    double u[3];
    for (int64_t p = 0; p < pats.size(); ++p) {
        const double margin = netmirror::max_margin_direction(X.data(), n, k, pats.row(p), u);
        REQUIRE(margin > 0.0);
        CHECK(std::abs(u[0] * u[0] + u[1] * u[1] + u[2] * u[2] - 1.0) < 1e-12);
        for (int64_t i = 0; i < n; ++i) {
            const double s = pats.active(p, i) ? 1.0 : -1.0;
            const double nrm = std::sqrt(X[3 * i] * X[3 * i] + X[3 * i + 1] * X[3 * i + 1] + 1.0);
            CHECK(s * (X[3 * i] * u[0] + X[3 * i + 1] * u[1] + X[3 * i + 2] * u[2]) / nrm >= margin * (1 - 1e-12));
        }
    }
    // x and -x both on: only u = 0 satisfies both, the cone has no interior.
    const std::vector<double> Y{1.0, 2.0, -1.0, -2.0};
    std::vector<uint64_t> both{0x3};
    double v[2];
    CHECK(netmirror::max_margin_direction(Y.data(), 2, 2, both.data(), v) == 0.0);
    CHECK(v[0] == 0.0);
    CHECK(v[1] == 0.0);
}

TEST_CASE("the barrier's iterates are strictly feasible and its central point is within nu / tau") {
    const int64_t n = 8, k = 3;
    const std::vector<double> X = points_with_bias(n, 17);
    const std::vector<double> y = smooth_target(X);
    const netmirror::PatternSet pats = chamber_patterns(X, k);
    std::vector<int64_t> pattern;
    std::vector<double> sign;
    for (int64_t p = 0; p < pats.size(); ++p)
        for (double s : {1.0, -1.0}) pattern.push_back(p), sign.push_back(s);
    netmirror::GroupBarrier barrier(X.data(), n, k, y.data(), pats);
    netmirror::BarrierOptions bo;
    bo.beta = 0.1;
    bo.target = 1e-4;
    const netmirror::BarrierResult res = barrier.solve(pattern, sign, bo);
    REQUIRE(res.reached);
    // Groups screened out (zero at the optimum) are returned as zero; the others strictly inside their cones.
    int64_t inside = 0;
    for (size_t a = 0; a < pattern.size(); ++a) {
        const double* u = res.coef.data() + a * k;
        if (u[0] == 0.0 && u[1] == 0.0 && u[2] == 0.0) continue;
        ++inside;
        for (int64_t i = 0; i < n; ++i) {
            const double s = pats.active(pattern[a], i) ? 1.0 : -1.0;
            CHECK(s * (X[3 * i] * u[0] + X[3 * i + 1] * u[1] + X[3 * i + 2] * u[2]) > 0.0);
        }
    }
    CHECK(inside > 0);
    CHECK(res.nu == doctest::Approx(static_cast<double>(inside) * (2 + n)));
    // Certify the barrier's point with the full solver's certificate: started there, its gap at iteration 0
    // is the certified gap of the barrier's point.
    netmirror::ConvexReluOptions opt;
    opt.beta = bo.beta;
    opt.tol = 0.0;
    opt.max_iter = 0;
    std::vector<double> init(static_cast<size_t>(2 * pats.size() * k));
    for (size_t a = 0; a < pattern.size(); ++a) {
        const int64_t g = sign[a] > 0 ? pattern[a] : pats.size() + pattern[a];
        std::copy(res.coef.begin() + a * k, res.coef.begin() + (a + 1) * k, init.begin() + g * k);
    }
    const netmirror::ConvexReluOutput out = netmirror::convex_relu(X.data(), n, k, y.data(), pats, opt, init.data());
    CHECK(out.objective == doctest::Approx(res.objective).epsilon(1e-12));
    CHECK(out.gap <= 1.05 * res.nu / res.tau);
}
