// Reflection-plane libraries in 2-D: the breakpoint forms behind the fold lines and their decoding.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <netmirror/reflection_planes.hpp>

using namespace netmirror;

TEST_CASE("breakpoint forms of the 1-D abs types: depth 3 has the fold point, depth 4 102 points per n^3 types") {
    const auto d3 = detail::abs_breakpoint_forms(2);
    REQUIRE(d3.size() == 2);
    CHECK(d3[0] == std::vector<detail::SlotForm>{{2.0, -1.0, 0.0, 0.0}});  // the reflection 2 x[j1] - x[j2]
    CHECK(d3[1] == std::vector<detail::SlotForm>{{0.5, 0.5, 0.0, 0.0}});   // the midpoint
    const auto d4 = detail::abs_breakpoint_forms(3);
    REQUIRE(d4.size() == 12);  // 3! partner modes, then 6 three-point patterns
    size_t total = 0;
    for (const auto& forms : d4) {
        total += forms.size();
        for (const auto& f : forms) {
            // translation invariance: a point's coefficients sum to one
            CHECK(f[0] + f[1] + f[2] + f[3] == 1.0);  // dyadic: exact
        }
    }
    CHECK(total == 102);
    CHECK(PlaneFamily::count_fold_directions(5, 2, 4, PlaneNorm::l2) == 102 * 625);
    CHECK(PlaneFamily::count_fold_directions(5, 2, 3, PlaneNorm::l1) == 2 * 125);
    CHECK(PlaneFamily::count_fold_directions(5, 3, 4, PlaneNorm::l2) == 0);
}

TEST_CASE("fold lines pass through their data point and breakpoint point") {
    const std::vector<double> x = {0.3, -1.2, 2.0, 0.7, -0.4, 1.1, 1.5, 0.2};
    const PlaneFamily fam(x.data(), 4, 2, 4, PlaneNorm::l2);
    REQUIRE(fam.extra_lines() == 102 * 256);
    std::vector<double> p(2);
    int checked = 0;
    for (int64_t e = 0; e < fam.extra_lines(); e += 37) {
        const auto line = fam.fold_line(e);
        CHECK(fam.fold_type(e) == line.type);
        const int64_t pl = fam.planes() + e;
        if (fam.degenerate(pl)) continue;
        fam.fold_point(line, p.data());
        const double* u = fam.normal(pl);
        const double* xi = x.data() + line.i * 2;
        CHECK(std::fabs(u[0] * (p[0] - xi[0]) + u[1] * (p[1] - xi[1])) < 1e-12);
        CHECK(std::hypot(u[0], u[1]) == doctest::Approx(1.0));
        ++checked;
    }
    CHECK(checked > 500);
}
