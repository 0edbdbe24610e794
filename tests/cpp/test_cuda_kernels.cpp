// Per-thread code of the CUDA kernels (cuda/include/netmirror/cuda), compiled by the host compiler: index
// arithmetic, the warp butterfly, packed feature evaluation and the covariance tile phases.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <netmirror/cuda/covariance.cuh>
#include <netmirror/cuda/reduce.cuh>
#include <netmirror/libraries.hpp>

using namespace netmirror;

TEST_CASE("count_above equals the distance from std::upper_bound to the end") {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> value(-5, 5);
    for (int trial = 0; trial < 200; ++trial) {
        std::vector<double> s(static_cast<size_t>(trial % 9));
        for (double& v : s) v = value(rng);
        std::sort(s.begin(), s.end());
        for (double t = -6; t <= 6; t += 0.5) {
            const auto expect = s.end() - std::upper_bound(s.begin(), s.end(), t);
            CHECK(detail::count_above(s.data(), static_cast<int64_t>(s.size()), t) == expect);
        }
    }
}

TEST_CASE("upper_tile enumerates the upper-triangle tiles column by column") {
    int64_t q = 0;
    for (int64_t bj = 0; bj < 300; ++bj)
        for (int64_t bi = 0; bi <= bj; ++bi, ++q) {
            int64_t i = -1, j = -1;
            gpu::upper_tile(q, i, j);
            REQUIRE(i == bi);
            REQUIRE(j == bj);
        }
    int64_t i = -1, j = -1;  // far out, where the square root rounds
    const int64_t big = 3037000;
    gpu::upper_tile(big * (big + 1) / 2 + 5, i, j);
    CHECK(j == big);
    CHECK(i == 5);
}

TEST_CASE("the warp butterfly adds all 32 lanes") {
    double part[gpu::kWarp];
    for (int l = 0; l < gpu::kWarp; ++l) part[l] = l + 1;
    CHECK(gpu::warp_butterfly_sum(part) == 32 * 33 / 2);
    for (int l = 0; l < gpu::kWarp; ++l) CHECK(part[l] == 32 * 33 / 2);  // every lane ends with the total
}

TEST_CASE("packed nested columns evaluate like Family::column") {
    const std::vector<double> x = {0, 4, 5, 7, 10, 11};
    for (Activation a : {Activation::relu, Activation::abs, Activation::leaky_relu}) {
        FamilySpec spec;
        spec.activation = a;
        spec.depth = 4;
        spec.slope = a == Activation::leaky_relu ? -0.3 : 0.0;
        const Family fam(x.data(), 6, spec);
        std::vector<double> params(static_cast<size_t>(fam.size() * gpu::kParams)), col(6), scratch;
        for (int64_t r = 0; r < fam.size(); ++r) {
            const Feature f = fam.feature(r);
            for (int h = 0; h < 4; ++h) {
                params[static_cast<size_t>(r * gpu::kParams + h)] = f.level[h];
                params[static_cast<size_t>(r * gpu::kParams + 4 + h)] = f.sign[h];
            }
        }
        gpu::LibraryColumns L;
        L.kind = static_cast<int>(FeatureKind::nested);
        L.activation = static_cast<int>(a);
        L.slope = fam.spec().slope;
        L.layers = fam.layers();
        L.params = params.data();
        L.t = x.data();
        L.m = 6;
        for (int64_t r = 0; r < fam.size(); ++r) {
            fam.column(r, x.data(), 6, col.data(), scratch);
            for (int64_t i = 0; i < 6; ++i) REQUIRE(gpu::library_value(L, r, i) == col[static_cast<size_t>(i)]);
        }
    }
}

TEST_CASE("covariance tile phases add the upper triangle of the centred scatter") {
    const int64_t n = 37, dim = 70;  // two tiles per side, a partial chunk, one partial tile
    std::mt19937 rng(3);
    std::normal_distribution<double> normal;
    std::vector<float> x(static_cast<size_t>(n * dim));
    for (float& v : x) v = static_cast<float>(normal(rng));
    const double c = 0.25;
    std::vector<double> center(static_cast<size_t>(dim), c), out(static_cast<size_t>(dim * dim), 0.0);
    const gpu::StridedRows<float> rows{x.data(), n, dim, dim, 1};
    struct MicroTile {
        double v[gpu::kCovMicro][gpu::kCovMicro];
    };
    gpu::CovShared sh;
    for (int64_t q = 0; q < 3; ++q) {
        int64_t bi, bj;
        gpu::upper_tile(q, bi, bj);
        std::vector<MicroTile> acc(gpu::kCovThreads, MicroTile{});
        for (int64_t r0 = 0; r0 < n; r0 += gpu::kCovChunk) {
            for (int tid = 0; tid < gpu::kCovThreads; ++tid)
                gpu::cov_load(rows, center.data(), nullptr, bi, bj, r0, n, tid, sh);
            for (int tid = 0; tid < gpu::kCovThreads; ++tid) gpu::cov_compute(sh, tid, acc[tid].v);
        }
        for (int tid = 0; tid < gpu::kCovThreads; ++tid) gpu::cov_store(acc[tid].v, bi, bj, dim, tid, out.data());
    }
    auto at = [&](int64_t r, int64_t j) { return static_cast<double>(x[static_cast<size_t>(r * dim + j)]); };
    for (int64_t i = 0; i < dim; ++i)
        for (int64_t j = 0; j < dim; ++j) {
            double expect = 0.0;
            if (i <= j)
                for (int64_t r = 0; r < n; ++r) expect += (at(r, i) - c) * (at(r, j) - c);
            REQUIRE(out[static_cast<size_t>(i * dim + j)] == doctest::Approx(expect).epsilon(1e-12));
        }
}
