// UpdatedQR: appends, removals and solves against directly computed least squares.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include <netmirror/linalg.hpp>

using netmirror::UpdatedQR;

TEST_CASE("UpdatedQR solves least squares through appends and removals") {
    const int64_t n = 12;
    std::mt19937_64 rng(7);
    std::normal_distribution<double> g;
    std::vector<std::vector<double>> cols(5, std::vector<double>(n));
    for (auto& c : cols)
        for (auto& v : c) v = g(rng);
    std::vector<double> b(n);
    for (auto& v : b) v = g(rng);

    UpdatedQR qr;
    qr.reset(n, 5);
    double dist = 0;
    for (auto& c : cols) REQUIRE(qr.append(c.data(), 1e-11, dist));
    qr.remove(1);  // now columns 0, 2, 3, 4
    REQUIRE(qr.size() == 4);
    std::vector<double> x(4);
    qr.qt(b.data(), x.data());
    qr.solve_r(x.data());
    // normal equations: A^T (A x - b) = 0 for A = [c0 c2 c3 c4]
    const int keep[4] = {0, 2, 3, 4};
    std::vector<double> r(b);
    for (int k = 0; k < 4; ++k)
        for (int64_t i = 0; i < n; ++i) r[i] -= cols[keep[k]][i] * x[k];
    for (int k = 0; k < 4; ++k) {
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += cols[keep[k]][i] * r[i];
        CHECK(std::fabs(s) < 1e-12);
    }
}

TEST_CASE("UpdatedQR refuses a column in the span and reports its distance") {
    const int64_t n = 6;
    std::vector<double> a = {1, 2, 0, 1, 3, -1}, b = {0, 1, 1, 0, 2, 2}, c(n);
    for (int64_t i = 0; i < n; ++i) c[i] = 2 * a[i] - 0.5 * b[i];
    UpdatedQR qr;
    qr.reset(n, 3);
    double dist = 0;
    REQUIRE(qr.append(a.data(), 1e-11, dist));
    REQUIRE(qr.append(b.data(), 1e-11, dist));
    CHECK_FALSE(qr.append(c.data(), 1e-11, dist));
    CHECK(dist < 1e-12);
    CHECK(qr.size() == 2);
}
