// Families: count formulas, closed-form features, raw-index decoding and deduplication.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include <netmirror/dedup.hpp>
#include <netmirror/dictionary.hpp>
#include <netmirror/libraries.hpp>

using namespace netmirror;

namespace {
FamilySpec spec_of(Activation a, int depth, Architecture arch = Architecture::deep_narrow, double slope = 0.0) {
    FamilySpec s;
    s.activation = a;
    s.depth = depth;
    s.architecture = arch;
    s.slope = slope;
    return s;
}
}  // namespace

TEST_CASE("library sizes follow docs/libraries.md") {
    const std::vector<double> x = {0, 1, 3, 4.5, 7};
    const int64_t n = 5;
    CHECK(Family(x.data(), n, spec_of(Activation::relu, 2)).size() == 2 * n);
    CHECK(Family(x.data(), n, spec_of(Activation::relu, 3)).size() == 4 * n * n);
    CHECK(Family(x.data(), n, spec_of(Activation::relu, 4)).size() == 16 * n * n * n);
    CHECK(Family(x.data(), n, spec_of(Activation::abs, 3)).size() == 2 * n * n);
    CHECK(Family(x.data(), n, spec_of(Activation::abs, 4)).size() == 12 * n * n * n);
    CHECK(Family(x.data(), n, spec_of(Activation::leaky_relu, 4, Architecture::deep_narrow, -0.3)).size() ==
          96 * n * n * n);
    CHECK(Family(x.data(), n, spec_of(Activation::relu, 3, Architecture::symmetrized)).size() == 6 * n * n * n);
}

TEST_CASE("relu depth 2 features are the ramps s(x - x_j)_+ in the authors' order") {
    const std::vector<double> x = {2.0, -1.0, 5.5};
    const Family fam(x.data(), 3, spec_of(Activation::relu, 2));
    std::vector<double> col(3), scratch;
    for (int64_t raw = 0; raw < fam.size(); ++raw) {
        const int64_t j = raw % 3;
        const double s = raw >= 3 ? 1.0 : -1.0;  // sign digit after the data digit
        fam.column(raw, x.data(), 3, col.data(), scratch);
        for (int i = 0; i < 3; ++i) CHECK(col[i] == std::max(s * (x[i] - x[j]), 0.0));
    }
}

TEST_CASE("abs depth 3 midpoint features put layer 2's kinks on both points") {
    const std::vector<double> x = {0.0, 1.0, 3.0};
    const Family fam(x.data(), 3, spec_of(Activation::abs, 3));
    // raw = j1 + 3 j2 + 9 * mode; mode 1: a1 = (x[j1] + x[j2]) / 2, c2 = g1(x[j2])
    const Feature f = fam.feature(0 + 3 * 2 + 9);
    CHECK(f.midpoint);
    CHECK(f.a1 == doctest::Approx(1.5));
    CHECK(f.level[1] == doctest::Approx(1.5));
    CHECK(fam.evaluate(f, 0.0) == doctest::Approx(0.0));  // ||0 - 1.5| - 1.5| = 0: a kink on x[0]
    CHECK(fam.evaluate(f, 3.0) == doctest::Approx(0.0));  // and on x[2]
    CHECK(fam.evaluate(f, 1.5) == doctest::Approx(1.5));
}

TEST_CASE("symmetrized reflected features have outer kinks on data points") {
    const std::vector<double> x = {0.0, 1.0, 4.0};
    const Family fam(x.data(), 3, spec_of(Activation::relu, 3, Architecture::symmetrized));
    const int64_t block = 2 * 27;
    for (int64_t raw = block; raw < fam.size(); ++raw) {
        const Feature f = fam.feature(raw);
        CHECK(f.reflected);
        // h(a + c - t) = h(t): the outer kinks x[j2], x[j3] satisfy p + q = a + c
        CHECK(f.a1 + f.anchor[0] == doctest::Approx(x[f.index[1]] + x[f.index[2]]));
    }
}

TEST_CASE("assemble equals column-by-column evaluation, and dedup keeps one of each class") {
    const std::vector<double> x = {0.5, -1.25, 2.0, 2.0, 3.75};
    const Family fam(x.data(), 5, spec_of(Activation::relu, 3));
    const int64_t m = fam.size();
    std::vector<double> A(static_cast<size_t>(5 * m)), col(5), scratch;
    assemble<double>(fam, nullptr, m, x.data(), 5, A.data(), 2);
    for (int64_t r = 0; r < m; ++r) {
        fam.column(r, x.data(), 5, col.data(), scratch);
        for (int i = 0; i < 5; ++i) REQUIRE(A[static_cast<size_t>(r * 5 + i)] == col[i]);
    }
    const std::vector<int64_t> kept = deduplicate(fam, default_dedup_tolerance(fam), true);
    REQUIRE(!kept.empty());
    CHECK(static_cast<int64_t>(kept.size()) < m);
    // no two kept columns are equal up to sign and a constant
    for (size_t a = 0; a < kept.size(); ++a)
        for (size_t b = a + 1; b < kept.size(); ++b) {
            const double* u = A.data() + kept[a] * 5;
            const double* v = A.data() + kept[b] * 5;
            bool same = true, flip = true;
            for (int i = 1; i < 5; ++i) {
                same = same && std::fabs((u[i] - u[0]) - (v[i] - v[0])) < 1e-12;
                flip = flip && std::fabs((u[i] - u[0]) + (v[i] - v[0])) < 1e-12;
            }
            CHECK_FALSE((same || flip));
        }
}

TEST_CASE("bad specs throw instead of building") {
    const std::vector<double> x = {0, 1};
    CHECK_THROWS_AS(Family(x.data(), 2, spec_of(Activation::relu, 1)), std::invalid_argument);
    CHECK_THROWS_AS(Family(x.data(), 0, spec_of(Activation::relu, 2)), std::invalid_argument);
    CHECK_THROWS_AS(Family(x.data(), 2, spec_of(Activation::abs, 3, Architecture::symmetrized)), std::invalid_argument);
    const Family fam(x.data(), 2, spec_of(Activation::relu, 2));
    CHECK_THROWS_AS(fam.feature(fam.size()), std::out_of_range);
    FamilySpec huge = spec_of(Activation::relu, 4);
    CHECK_THROWS_AS(Family::compute_size(huge, int64_t(1) << 40), std::overflow_error);
}

TEST_CASE("a raised stop flag ends deduplication with Interrupted; a lowered one changes nothing") {
    const std::vector<double> x = {0.5, -1.25, 2.0, 2.0, 3.75};
    const Family fam(x.data(), 5, spec_of(Activation::relu, 3));
    std::atomic<bool> stop{true};
    CHECK_THROWS_AS(deduplicate(fam, default_dedup_tolerance(fam), true, 2, std::numeric_limits<size_t>::max(), &stop),
                    Interrupted);
    stop = false;
    CHECK(deduplicate(fam, default_dedup_tolerance(fam), true, 2, std::numeric_limits<size_t>::max(), &stop) ==
          deduplicate(fam, default_dedup_tolerance(fam), true));
}
