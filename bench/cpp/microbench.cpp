// Microbenchmarks of the C++ kernels (Google Benchmark): dictionary assembly and deduplication per family and
// depth, A^T r dense and matrix-free, one coordinate-descent epoch and a full certified solve, covariance update.
//
// Times are wall-clock (UseRealTime). Counters: bytes_per_second / items_per_second from SetBytesProcessed / SetItemsProcessed, and FLOP/s where
// the kernel's arithmetic is well defined. Every kernel runs on one thread unless the name says threads:T,
// so the numbers are per core. Sizes per family are picked from a byte budget (N rows x columns x 8 B), small
// (fits in L2/L3) and large (past L3), so the rows of a family compare like with like across depths.
//
// Run: build/bench/netmirror_microbench [--benchmark_filter=assemble] [--benchmark_format=json]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <netmirror/netmirror.hpp>

namespace nm = netmirror;

namespace {

struct Case {
    const char* name;
    nm::Activation activation;
    nm::Architecture architecture;
    int depth;
    double slope;
    int64_t switches;  // rectangular: the first width; tree: product of all widths but the last (as in Python)
};

nm::FamilySpec spec_of(const Case& c) {
    nm::FamilySpec s;
    s.activation = c.activation;
    s.architecture = c.architecture;
    s.depth = c.depth;
    s.slope = c.slope;
    s.switches = c.switches;
    return s;
}

constexpr auto relu = nm::Activation::relu, leaky = nm::Activation::leaky_relu, absv = nm::Activation::abs,
               sign = nm::Activation::sign, threshold = nm::Activation::threshold;
constexpr auto deep = nm::Architecture::deep_narrow, sym = nm::Architecture::symmetrized,
               rect = nm::Architecture::rectangular, tree = nm::Architecture::tree;

// The families of bench/bench_libraries.py (leaky slope 0.1: the relu-like structure).
const Case kFamilies[] = {
    {"relu_deep_L2", relu, deep, 2, 0.0, 1},      {"relu_deep_L3", relu, deep, 3, 0.0, 1},
    {"relu_deep_L4", relu, deep, 4, 0.0, 1},      {"leaky_deep_L2", leaky, deep, 2, 0.1, 1},
    {"leaky_deep_L3", leaky, deep, 3, 0.1, 1},    {"leaky_deep_L4", leaky, deep, 4, 0.1, 1},
    {"abs_deep_L2", absv, deep, 2, 0.0, 1},       {"abs_deep_L3", absv, deep, 3, 0.0, 1},
    {"abs_deep_L4", absv, deep, 4, 0.0, 1},       {"abs_deep_L5", absv, deep, 5, 0.0, 1},
    {"sign_deep_L3", sign, deep, 3, 0.0, 1},      {"threshold_deep_L3", threshold, deep, 3, 0.0, 1},
    {"relu_sym_L3", relu, sym, 3, 0.0, 1},        {"sign_rect_L3_w2,2", sign, rect, 3, 0.0, 2},
    {"sign_tree_L4_w2,2,2", sign, tree, 4, 0.0, 4},
};

// Sorted points in [-1, 1] (the families' sizes do not depend on the values; sorted like the benches' data).
std::vector<double> points(int64_t n, unsigned seed = 0) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    std::vector<double> x(static_cast<size_t>(n));
    for (auto& v : x) v = u(rng);
    std::sort(x.begin(), x.end());
    return x;
}

std::vector<double> centered_normal(int64_t n, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<double> r(static_cast<size_t>(n));
    double s = 0.0;
    for (auto& v : r) s += (v = g(rng));
    for (auto& v : r) v -= s / static_cast<double>(n);
    return r;
}

int64_t raw_size(const nm::FamilySpec& spec, int64_t n) {
    return static_cast<int64_t>(nm::Family::compute_size(spec, n));
}

// Largest N (>= 4) whose raw dictionary N x size(N) float64 fits in `bytes`.
int64_t pick_n(const nm::FamilySpec& spec, double bytes) {
    int64_t n = 4;
    while (static_cast<double>(n + 1) * static_cast<double>(raw_size(spec, n + 1)) * 8.0 <= bytes) ++n;
    return n;
}

int hardware_threads() {
    const unsigned hc = std::thread::hardware_concurrency();
    return hc == 0 ? 1 : static_cast<int>(hc);
}

void set_flops(benchmark::State& state, double flops_per_iteration) {
    state.counters["FLOP/s"] = benchmark::Counter(flops_per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

// ---------------------------------------------------------------------------------------------------------
// Dictionary assembly: every raw column of the family at its N points, into a reused Fortran buffer
// (pages touched once before timing, as lib.matrix(out=...) in bench_libraries.py).
void assemble(benchmark::State& state, Case c) {
    const int64_t n = state.range(0);
    const int threads = static_cast<int>(state.range(1));
    const auto x = points(n);
    const nm::Family family(x.data(), n, spec_of(c));
    const int64_t m = family.size();
    std::vector<double> out(static_cast<size_t>(n * m), 0.0);
    for (auto _ : state) {
        nm::assemble<double>(family, nullptr, m, x.data(), n, out.data(), threads);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * n * m * 8);
    state.SetItemsProcessed(state.iterations() * n * m);  // matrix entries
    state.counters["columns"] = static_cast<double>(m);
}

// Enumeration + deduplication: evaluate, canonicalise and hash every raw column (netmirror.library(dedup=True)).
void deduplicate(benchmark::State& state, Case c) {
    const int64_t n = state.range(0);
    const auto x = points(n);
    const nm::Family family(x.data(), n, spec_of(c));
    const double tol = nm::default_dedup_tolerance(family);
    int64_t kept = 0;
    for (auto _ : state) {
        const auto k = nm::deduplicate(family, tol, true, 1);
        kept = static_cast<int64_t>(k.size());
        benchmark::DoNotOptimize(k.data());
    }
    state.SetItemsProcessed(state.iterations() * family.size());  // raw features
    state.SetBytesProcessed(state.iterations() * family.size() * n * 8);  // column values evaluated
    state.counters["raw"] = static_cast<double>(family.size());
    state.counters["kept"] = static_cast<double>(kept);
}

// ---------------------------------------------------------------------------------------------------------
// A^T r over every column. Dense: the solvers' DenseMatrix on the assembled Fortran float64 dictionary.
// Matrix-free: LibraryMatrix streaming (evaluate + dot) or structured (prefix sums, O(2^H) per column).
// Bytes for the matrix-free routes are the dense-equivalent N x M x 8 (the dictionary they avoid reading).
struct TmulCase {
    const char* name;
    Case family;
    int64_t n;
};

const TmulCase kTmul[] = {
    {"relu_ramps_L2", {"", relu, deep, 2, 0.0, 1}, 5000},
    {"relu_capped_L3", {"", relu, deep, 3, 0.0, 1}, 300},
    {"abs_L3", {"", absv, deep, 3, 0.0, 1}, 300},
    {"leaky-0.3_L3", {"", leaky, deep, 3, -0.3, 1}, 200},
    {"relu_L4", {"", relu, deep, 4, 0.0, 1}, 40},
    {"abs_L4", {"", absv, deep, 4, 0.0, 1}, 40},
};

void tmul_dense(benchmark::State& state, TmulCase c) {
    const int64_t n = c.n;
    const auto x = points(n);
    const nm::Family family(x.data(), n, spec_of(c.family));
    const int64_t m = family.size();
    std::vector<double> A(static_cast<size_t>(n * m));
    nm::assemble<double>(family, nullptr, m, x.data(), n, A.data(), 1);
    const nm::DenseMatrix<double> dense(A.data(), n, m, true);
    const auto r = centered_normal(n, 1);
    std::vector<int64_t> idx(static_cast<size_t>(m));
    for (int64_t j = 0; j < m; ++j) idx[j] = j;
    std::vector<double> out(static_cast<size_t>(m));
    for (auto _ : state) {
        nm::parallel_tmul(dense, r.data(), idx.data(), m, out.data(), 1);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(state.iterations() * n * m * 8);
    state.SetItemsProcessed(state.iterations() * m);  // columns
    set_flops(state, 2.0 * static_cast<double>(n) * static_cast<double>(m));
    state.counters["N"] = static_cast<double>(n);
    state.counters["M"] = static_cast<double>(m);
}

void tmul_matrix_free(benchmark::State& state, TmulCase c, nm::LibraryMatrix::Route route) {
    const int64_t n = c.n;
    const auto x = points(n);
    const nm::Family family(x.data(), n, spec_of(c.family));
    const int64_t m = family.size();
    const nm::LibraryMatrix op(family, nullptr, 0, route, 1);  // column statistics: built once, not timed
    const auto r = centered_normal(n, 1);
    std::vector<int64_t> idx(static_cast<size_t>(m));
    for (int64_t j = 0; j < m; ++j) idx[j] = j;
    std::vector<double> out(static_cast<size_t>(m));
    for (auto _ : state) {
        op.tmul(r.data(), idx.data(), m, out.data());
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(state.iterations() * n * m * 8);
    state.SetItemsProcessed(state.iterations() * m);
    state.counters["N"] = static_cast<double>(n);
    state.counters["M"] = static_cast<double>(m);
    state.counters["fallback_share"] = static_cast<double>(op.streamed_fallbacks()) /
                                       static_cast<double>(m * std::max<int64_t>(1, state.iterations()));
}

// ---------------------------------------------------------------------------------------------------------
// One cyclic coordinate-descent epoch on k gathered, centred columns of N rows: the loop of
// LassoSolver::inner_solve (dot with the residual, soft-threshold, residual update when z_c moves), written
// with the same primitives (netmirror::dot, detail::soft_threshold) because that loop is private.
// beta sits between the smallest and largest |a_c^T r| so that some coordinates move every epoch.
void cd_epoch(benchmark::State& state) {
    const int64_t n = state.range(0), k = state.range(1);
    const auto x = points(n);
    nm::FamilySpec spec;
    spec.activation = nm::Activation::abs;
    spec.depth = 3;
    const nm::Family family(x.data(), n, spec);
    std::vector<double> X(static_cast<size_t>(n * k)), nrm2(static_cast<size_t>(k));
    std::mt19937_64 rng(2);
    std::uniform_int_distribution<int64_t> pick(0, family.size() - 1);
    std::vector<double> scratch;
    for (int64_t c = 0; c < k; ++c) {
        double* xc = X.data() + c * n;
        family.column(pick(rng), x.data(), n, xc, scratch);
        double mean = 0.0;
        for (int64_t i = 0; i < n; ++i) mean += xc[i];
        mean /= static_cast<double>(n);
        double q = 0.0;
        for (int64_t i = 0; i < n; ++i) {
            xc[i] -= mean;
            q += xc[i] * xc[i];
        }
        nrm2[c] = q;
    }
    const auto y = centered_normal(n, 3);
    const double beta = 0.05 * std::sqrt(static_cast<double>(n));
    std::vector<double> z(static_cast<size_t>(k), 0.0), r(y);
    int64_t moves = 0;
    for (auto _ : state) {
        for (int64_t c = 0; c < k; ++c) {
            if (nrm2[c] == 0.0) continue;
            const double* xc = X.data() + c * n;
            const double g = nm::dot(xc, r.data(), n);
            const double old = z[c];
            const double nz = nm::detail::soft_threshold(old + g / nrm2[c], beta / nrm2[c]);
            if (nz != old) {
                const double d = nz - old;
                for (int64_t i = 0; i < n; ++i) r[i] -= d * xc[i];
                z[c] = nz;
                ++moves;
            }
        }
        benchmark::DoNotOptimize(r.data());
    }
    const double iters = static_cast<double>(std::max<int64_t>(1, state.iterations()));
    state.SetBytesProcessed(state.iterations() * n * k * 8);  // the gathered columns, read once per epoch
    state.SetItemsProcessed(state.iterations() * k);          // coordinate updates
    // 2N per dot, 2N per residual update of a coordinate that moved (measured share).
    state.counters["moved_share"] = static_cast<double>(moves) / (iters * static_cast<double>(k));
    set_flops(state, 2.0 * static_cast<double>(n * k) + 2.0 * static_cast<double>(n) * static_cast<double>(moves) / iters);
}

// The whole certified solve (outer correlation passes, working sets, epochs, exact finish) on a
// deduplicated abs depth-3 library, dense, one thread; counters give the epochs and outer iterations.
void lasso_solve(benchmark::State& state) {
    const int64_t n = state.range(0);
    const auto x = points(n);
    nm::FamilySpec spec;
    spec.activation = nm::Activation::abs;
    spec.depth = 3;
    const nm::Family family(x.data(), n, spec);
    const auto kept = nm::deduplicate(family, nm::default_dedup_tolerance(family), true, 1);
    const int64_t m = static_cast<int64_t>(kept.size());
    std::vector<double> A(static_cast<size_t>(n * m));
    nm::assemble<double>(family, kept.data(), m, x.data(), n, A.data(), 1);
    const nm::DenseMatrix<double> dense(A.data(), n, m, true);
    std::vector<double> y(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) y[i] = std::sin(3.0 * x[i]) + 0.3 * (x[i] > 0 ? 1.0 : -1.0);
    nm::LassoOptions opt;
    opt.beta = 1e-3 * nm::lasso_beta_max(dense, y.data(), true, 1);
    opt.tol = 1e-10;
    opt.threads = 1;
    nm::LassoOutput res;
    for (auto _ : state) {
        res = nm::lasso(dense, y.data(), opt);
        benchmark::DoNotOptimize(res.coef.data());
    }
    state.counters["M"] = static_cast<double>(m);
    state.counters["epochs"] = static_cast<double>(res.n_epochs);
    state.counters["outer"] = static_cast<double>(res.n_iter);
    state.counters["rel_gap"] = res.relative_gap;
}

// ---------------------------------------------------------------------------------------------------------
// CovarianceAccumulator::update on one C-order batch: mean pass, centring, float64 scatter of one triangle.
// FLOPs: rows x dim x (dim + 1) (multiply-add over the triangle, diagonal included).
template <class T>
void covariance_update(benchmark::State& state) {
    const int64_t rows = state.range(0), dim = state.range(1);
    const int threads = static_cast<int>(state.range(2));
    std::mt19937_64 rng(4);
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<T> data(static_cast<size_t>(rows * dim));
    for (auto& v : data) v = static_cast<T>(g(rng));
    nm::CovarianceAccumulator acc(dim);
    for (auto _ : state) {
        acc.update(data.data(), rows, dim, 1, nullptr, threads);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * rows * dim * static_cast<int64_t>(sizeof(T)));
    state.SetItemsProcessed(state.iterations() * rows);  // samples
    set_flops(state, static_cast<double>(rows) * static_cast<double>(dim) * static_cast<double>(dim + 1));
}

// Wall-clock time for every benchmark: the kernels spawn threads, and CPU time of the main thread alone would
// overstate their rates (and hide the time lost to other jobs on a shared machine).
template <class... Args>
benchmark::internal::Benchmark* reg(const std::string& name, Args&&... args) {
    return benchmark::RegisterBenchmark(name.c_str(), std::forward<Args>(args)...)->UseRealTime();
}

void register_all() {
    const int hw = hardware_threads();
    for (const Case& c : kFamilies) {
        const auto spec = spec_of(c);
        auto* b = reg(std::string("assemble/") + c.name, assemble, c);
        b->ArgNames({"N", "threads"})->Unit(benchmark::kMillisecond);
        for (double bytes : {1e6, 32e6}) b->Args({pick_n(spec, bytes), 1});
        if (hw > 1) b->Args({pick_n(spec, 32e6), hw});
        // Deduplication at ~1 MB of raw column values: the Python reference's sizes (bench_libraries.py).
        reg(std::string("deduplicate/") + c.name, deduplicate, c)
            ->ArgName("N")
            ->Arg(pick_n(spec, 1e6))
            ->Unit(benchmark::kMillisecond);
    }
    for (const TmulCase& c : kTmul) {
        const std::string name = c.name;
        reg("tmul_dense/" + name, tmul_dense, c)->Unit(benchmark::kMicrosecond);
        reg("tmul_streaming/" + name, tmul_matrix_free, c,
                                     nm::LibraryMatrix::Route::streaming)
            ->Unit(benchmark::kMicrosecond);
        reg("tmul_structured/" + name, tmul_matrix_free, c,
                                     nm::LibraryMatrix::Route::structured)
            ->Unit(benchmark::kMicrosecond);
    }
    reg("cd_epoch", cd_epoch)
        ->ArgNames({"N", "k"})
        ->Args({200, 16})
        ->Args({200, 256})
        ->Args({200, 4096})
        ->Args({2000, 256})
        ->Unit(benchmark::kMicrosecond);
    reg("lasso_solve/abs_L3", lasso_solve)->ArgName("N")->Arg(60)->Arg(100)->Unit(
        benchmark::kMillisecond);
    for (int64_t dim : {64, 256, 1024}) {
        const int64_t rows = dim >= 1024 ? 4096 : 16384;
        reg("covariance_update/float32", covariance_update<float>)
            ->ArgNames({"rows", "dim", "threads"})
            ->Args({rows, dim, 1})
            ->Unit(benchmark::kMillisecond);
        reg("covariance_update/float64", covariance_update<double>)
            ->ArgNames({"rows", "dim", "threads"})
            ->Args({rows, dim, 1})
            ->Unit(benchmark::kMillisecond);
        if (hw > 1)
            reg("covariance_update/float32", covariance_update<float>)
                ->ArgNames({"rows", "dim", "threads"})
                ->Args({rows, dim, hw})
                ->Unit(benchmark::kMillisecond);
    }
}

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
