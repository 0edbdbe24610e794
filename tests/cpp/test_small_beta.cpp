// The beta -> 0+ limit (basis_pursuit.hpp) and tiny beta (dual_active_set.hpp): certificates recomputed here from
// the returned points, basic supports, row weights equivalent to repeated rows, and a stop flag that is obeyed.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <vector>

#include <netmirror/dictionary.hpp>
#include <netmirror/dual_active_set.hpp>
#include <netmirror/libraries.hpp>
#include <netmirror/linalg.hpp>

using namespace netmirror;

namespace {
struct Problem {
    int64_t n = 0, m = 0;
    std::vector<double> x, A, y;  // A column-major n x m
};

Problem relu3(int64_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    Problem p;
    p.n = n;
    p.x.resize(static_cast<size_t>(n));
    p.y.resize(static_cast<size_t>(n));
    for (auto& v : p.x) v = u(rng);
    for (int64_t i = 0; i < n; ++i) p.y[i] = std::sin(3 * p.x[i]) + 0.3 * u(rng);
    FamilySpec s;
    s.activation = Activation::relu;
    s.depth = 3;
    const Family fam(p.x.data(), n, s);
    p.m = fam.size();
    p.A.resize(static_cast<size_t>(n * p.m));
    assemble<double>(fam, nullptr, p.m, p.x.data(), n, p.A.data(), 2);
    return p;
}

// Centred columns and target (intercept fitted).
std::vector<double> centred(const Problem& p, std::vector<double>& yc) {
    std::vector<double> Ac(p.A);
    for (int64_t j = 0; j < p.m; ++j) {
        double s = 0.0;
        for (int64_t i = 0; i < p.n; ++i) s += Ac[j * p.n + i];
        for (int64_t i = 0; i < p.n; ++i) Ac[j * p.n + i] -= s / static_cast<double>(p.n);
    }
    yc = p.y;
    double s = 0.0;
    for (double v : yc) s += v;
    for (double& v : yc) v -= s / static_cast<double>(p.n);
    return Ac;
}

// Rank of the support's centred columns (QR with the same tolerance the solvers use for independence).
int64_t support_rank(const std::vector<double>& Ac, int64_t n, const std::vector<double>& z, int64_t& k) {
    UpdatedQR qr;
    qr.reset(n, n);
    k = 0;
    int64_t rank = 0;
    for (size_t j = 0; j < z.size(); ++j) {
        if (z[j] == 0.0) continue;
        ++k;
        double dist;
        if (qr.append(Ac.data() + j * n, 1e-12, dist)) ++rank;
    }
    return rank;
}

// Lasso primal and the dual value of the residual rescaled into |Ac^T theta| <= beta, from scratch.
void lasso_gap(const std::vector<double>& Ac, const std::vector<double>& yc, int64_t n, int64_t m,
               const std::vector<double>& z, double beta, double& primal, double& gap) {
    std::vector<double> r(yc);
    double l1 = 0.0;
    for (int64_t j = 0; j < m; ++j) {
        if (z[j] == 0.0) continue;
        l1 += std::abs(z[j]);
        for (int64_t i = 0; i < n; ++i) r[i] -= z[j] * Ac[j * n + i];
    }
    double cmax = 0.0, rr = 0.0;
    for (int64_t j = 0; j < m; ++j) cmax = std::max(cmax, std::abs(dot(Ac.data() + j * n, r.data(), n)));
    const double scale = std::max(1.0, cmax / beta);
    double d = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        rr += r[i] * r[i];
        const double th = r[i] / scale;
        d += th * yc[i] - 0.5 * th * th;
    }
    primal = 0.5 * rr + beta * l1;
    gap = primal - d;
}
}  // namespace

TEST_CASE("basis pursuit: an exact interpolant of minimum l1 norm, basic, with its LP certificate") {
    const Problem p = relu3(24, 3);
    const DenseMatrix<double> A(p.A.data(), p.n, p.m, true);
    const SparseLimitOutput out = lasso_from_limit(A, p.y.data(), nullptr, true, 0.0, 0.0, BasisPursuitOptions{});
    REQUIRE(out.limit.converged);
    std::vector<double> yc;
    const std::vector<double> Ac = centred(p, yc);
    // interpolates: P A z = P y
    std::vector<double> f(static_cast<size_t>(p.n), 0.0);
    double l1 = 0.0;
    for (int64_t j = 0; j < p.m; ++j) {
        l1 += std::abs(out.limit.coef[j]);
        for (int64_t i = 0; i < p.n; ++i) f[i] += out.limit.coef[j] * Ac[j * p.n + i];
    }
    for (int64_t i = 0; i < p.n; ++i) CHECK(f[i] == doctest::Approx(yc[i]).epsilon(1e-9).scale(1.0));
    CHECK(l1 == doctest::Approx(out.limit.l1).epsilon(1e-12));
    // the dual point is feasible (|x_j^T u| <= 1) and its value y^T u is within the gap of ||z||_1
    double worst = 0.0, yu = 0.0;
    for (int64_t j = 0; j < p.m; ++j) worst = std::max(worst, std::abs(dot(Ac.data() + j * p.n, out.limit.dual.data(), p.n)));
    for (int64_t i = 0; i < p.n; ++i) yu += yc[i] * out.limit.dual[i];
    CHECK(worst <= 1.0 + 1e-9);
    CHECK(l1 - yu <= 1e-9 * l1);
    int64_t k = 0;
    CHECK(support_rank(Ac, p.n, out.limit.coef, k) == k);
    CHECK(k <= p.n - 1);
}

TEST_CASE("dual active set: tiny beta certified from scratch, basic, and the l1 norm below the limit's") {
    const Problem p = relu3(40, 7);
    std::vector<double> yc;
    const std::vector<double> Ac = centred(p, yc);
    double p0 = 0.0;
    for (double v : yc) p0 += 0.5 * v * v;
    const DenseMatrix<double> A(p.A.data(), p.n, p.m, true);
    for (double f : {1e-9, 1e-6, 1e-4}) {
        const double beta = f * p0;
        const SparseLimitOutput out =
            lasso_from_limit(A, p.y.data(), nullptr, true, beta, 1e-10 * p0, BasisPursuitOptions{});
        CAPTURE(f);
        REQUIRE(out.lasso.converged);
        double primal, gap;
        lasso_gap(Ac, yc, p.n, p.m, out.lasso.coef, beta, primal, gap);
        CHECK(primal == doctest::Approx(out.lasso.objective).epsilon(1e-9));
        CHECK(gap <= 1e-8 * p0);  // the residual's own certificate (weaker than the solver's split one)
        CHECK(out.lasso.gap <= 1e-10 * p0);
        double l1 = 0.0;
        for (double v : out.lasso.coef) l1 += std::abs(v);
        CHECK(l1 <= out.limit.l1 * (1 + 1e-9));
        int64_t k = 0;
        CHECK(support_rank(Ac, p.n, out.lasso.coef, k) == k);
    }
}

TEST_CASE("row weights are repeated rows") {
    // rows 0 and 1 repeated 3 and 2 times equal the distinct rows weighted 3 and 2 (target: the group mean)
    const Problem p = relu3(10, 11);
    const std::vector<int> reps = {3, 2, 1, 1, 1, 1, 1, 1, 1, 1};
    Problem big;
    big.n = 0;
    for (int r : reps) big.n += r;
    big.m = p.m;
    big.A.resize(static_cast<size_t>(big.n * big.m));
    std::vector<double> w, yw;
    std::mt19937_64 rng(5);
    std::normal_distribution<double> g;
    for (int64_t i = 0, row = 0; i < p.n; ++i) {
        double s = 0.0;
        for (int r = 0; r < reps[i]; ++r, ++row) {
            for (int64_t j = 0; j < p.m; ++j) big.A[j * big.n + row] = p.A[j * p.n + i];
            big.y.push_back(p.y[i] + 0.1 * g(rng));
            s += big.y.back();
        }
        w.push_back(reps[i]);
        yw.push_back(s / reps[i]);
    }
    const DenseMatrix<double> Abig(big.A.data(), big.n, big.m, true), Asmall(p.A.data(), p.n, p.m, true);
    const double beta = 1e-6;
    const auto a = lasso_from_limit(Abig, big.y.data(), nullptr, true, beta, 1e-11, BasisPursuitOptions{});
    const auto b = lasso_from_limit(Asmall, yw.data(), w.data(), true, beta, 1e-11, BasisPursuitOptions{});
    REQUIRE(a.lasso.converged);
    REQUIRE(b.lasso.converged);
    double la = 0.0, lb = 0.0;
    for (int64_t j = 0; j < p.m; ++j) la += std::abs(a.lasso.coef[j]), lb += std::abs(b.lasso.coef[j]);
    CHECK(la == doctest::Approx(lb).epsilon(1e-8));
    CHECK(a.limit.l1 == doctest::Approx(b.limit.l1).epsilon(1e-9));
}

TEST_CASE("a stop flag set before the solve ends it at once") {
    const Problem p = relu3(30, 2);
    const DenseMatrix<double> A(p.A.data(), p.n, p.m, true);
    std::atomic<bool> stop{true};
    BasisPursuitOptions opt;
    opt.stop = &stop;
    const SparseLimitOutput out = lasso_from_limit(A, p.y.data(), nullptr, true, 1e-6, 0.0, opt);
    CHECK(!out.limit.converged);
    CHECK(out.lasso.coef.empty());  // the active-set method never started
}
