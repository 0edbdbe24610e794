// The Lasso solver: the certificate (duality gap) recomputed here from the returned point, KKT conditions,
// beta_max, and the zero solution above it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <netmirror/dictionary.hpp>
#include <netmirror/lasso.hpp>
#include <netmirror/libraries.hpp>

using namespace netmirror;

namespace {
struct Problem {
    int64_t n, m;
    std::vector<double> A, y;
};

Problem ramps(int64_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-2.0, 2.0);
    std::vector<double> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
    for (auto& v : x) v = u(rng);
    for (int64_t i = 0; i < n; ++i) y[i] = std::sin(2 * x[i]) + 0.1 * u(rng);
    FamilySpec s;
    s.activation = Activation::relu;
    s.depth = 3;
    const Family fam(x.data(), n, s);
    Problem p{n, fam.size(), std::vector<double>(static_cast<size_t>(n * fam.size())), y};
    assemble<double>(fam, nullptr, p.m, x.data(), n, p.A.data(), 2);
    return p;
}

// Primal objective and the dual value of the rescaled residual, both from scratch.
void certificate(const Problem& p, const LassoOutput& out, double beta, double& primal, double& dual) {
    std::vector<double> r(p.y);
    for (int64_t j = 0; j < p.m; ++j)
        if (out.coef[j] != 0.0)
            for (int64_t i = 0; i < p.n; ++i) r[i] -= p.A[j * p.n + i] * out.coef[j];
    double mean = 0;
    for (double v : r) mean += v;
    mean /= static_cast<double>(p.n);
    for (double& v : r) v -= mean;  // optimal intercept
    double l1 = 0, rr = 0, corr = 0;
    for (double c : out.coef) l1 += std::fabs(c);
    for (double v : r) rr += v * v;
    for (int64_t j = 0; j < p.m; ++j) {
        double s = 0;
        for (int64_t i = 0; i < p.n; ++i) s += p.A[j * p.n + i] * r[i];  // r is centred: A^T P r
        corr = std::max(corr, std::fabs(s));
    }
    primal = 0.5 * rr + beta * l1;
    const double scale = corr > beta ? beta / corr : 1.0;
    double ym = 0;
    for (double v : p.y) ym += v;
    ym /= static_cast<double>(p.n);
    double d = 0, yy = 0;
    for (int64_t i = 0; i < p.n; ++i) {
        const double yc = p.y[i] - ym, t = scale * r[i];
        yy += yc * yc;
        d += (yc - t) * (yc - t);
    }
    dual = 0.5 * yy - 0.5 * d;
}
}  // namespace

TEST_CASE("the certified gap holds when recomputed from the returned coefficients") {
    for (uint64_t seed : {1u, 2u, 3u}) {
        const Problem p = ramps(30, seed);
        const DenseMatrix<double> A(p.A.data(), p.n, p.m, true);
        const double bmax = lasso_beta_max(A, p.y.data(), true);
        for (double frac : {0.3, 0.03, 0.003}) {
            LassoOptions opt;
            opt.beta = frac * bmax;
            opt.tol = 1e-12;
            const LassoOutput out = lasso(A, p.y.data(), opt);
            REQUIRE(out.converged);
            double primal = 0, dual = 0;
            certificate(p, out, opt.beta, primal, dual);
            CHECK(primal == doctest::Approx(out.objective).epsilon(1e-12));
            CHECK(primal - dual <= 1e-10 * std::max(1.0, out.p0));
        }
    }
}

TEST_CASE("above beta_max the solution is zero") {
    const Problem p = ramps(20, 5);
    const DenseMatrix<double> A(p.A.data(), p.n, p.m, true);
    LassoOptions opt;
    opt.beta = 1.0001 * lasso_beta_max(A, p.y.data(), true);
    const LassoOutput out = lasso(A, p.y.data(), opt);
    CHECK(std::all_of(out.coef.begin(), out.coef.end(), [](double c) { return c == 0.0; }));
    CHECK(out.gap <= 1e-12 * out.p0);
}

TEST_CASE("float32 and C-order views give the same optimum") {
    const Problem p = ramps(25, 9);
    std::vector<float> a32(p.A.begin(), p.A.end());
    std::vector<double> c_order(p.A.size());
    for (int64_t j = 0; j < p.m; ++j)
        for (int64_t i = 0; i < p.n; ++i) c_order[i * p.m + j] = p.A[j * p.n + i];
    const DenseMatrix<double> F(p.A.data(), p.n, p.m, true), C(c_order.data(), p.n, p.m, false);
    const DenseMatrix<float> F32(a32.data(), p.n, p.m, true);
    LassoOptions opt;
    opt.beta = 0.05 * lasso_beta_max(F, p.y.data(), true);
    opt.tol = 1e-12;
    const double pf = lasso(F, p.y.data(), opt).objective, pc = lasso(C, p.y.data(), opt).objective;
    CHECK(pc == doctest::Approx(pf).epsilon(1e-10));
    CHECK(lasso(F32, p.y.data(), opt).converged);
}

TEST_CASE("column statistics: exactly constant columns only, mean-shifted correlations far from the origin") {
    const int64_t n = 20;
    std::vector<double> A(static_cast<size_t>(2 * n)), y(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        A[i] = 0.1;                                          // constant (its float mean is not 0.1 exactly)
        A[n + i] = 1e8 + 1e-6 * static_cast<double>(i);      // tiny spread against its mean: a real column
        y[i] = static_cast<double>(i);
    }
    const DenseMatrix<double> M(A.data(), n, 2, true);
    double mean, csq;
    M.column_stats(0, mean, csq);
    CHECK(csq == 0.0);
    CHECK(mean == 0.1);
    M.column_stats(1, mean, csq);
    CHECK(csq == doctest::Approx(665e-12).epsilon(2e-2));  // sum (1e-6 (i - 9.5))^2, up to the data's rounding
    // (a - mean)^T yc: 6.65e-4 exactly in rational arithmetic on these float64 values (tests/test_far_from_origin.py)
    CHECK(lasso_beta_max(M, y.data(), true) == doctest::Approx(6.651058793067932e-4).epsilon(1e-9));
    LassoOptions opt;
    opt.beta = 1e-8;
    const LassoOutput out = lasso(M, y.data(), opt);
    CHECK(out.converged);
    CHECK(out.coef[0] == 0.0);
    CHECK(out.coef[1] == doctest::Approx(999825.2929980754).epsilon(1e-9));
    CHECK(out.objective == doctest::Approx(0.010158800136468374).epsilon(1e-9));
}
