// The working-set driver (working_set.hpp) on a scripted problem: stop tests, the size rule, the outer-step
// hook, the inner tolerance; and the DesignMatrix batch hooks' defaults against their single-column calls.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include <netmirror/matrix.hpp>
#include <netmirror/working_set.hpp>

using namespace netmirror;

namespace {

// Gaps and supports follow a script; every hook call is recorded.
struct Scripted {
    std::vector<double> gaps;    // gap of pass it
    std::vector<int64_t> nnzs;   // support after pass it
    int64_t cands = 1000;
    int64_t skip_at = -1;        // outer_step takes this iteration
    int64_t it = -1;
    std::vector<int64_t> sizes;  // working-set size of each inner solve
    std::vector<double> tols;    // its tolerance
    std::vector<int64_t> screened_at, stepped_at;
    std::vector<int64_t> last_ws;

    WorkingSetPass full_pass() {
        ++it;
        return {1.0 + gaps[static_cast<size_t>(it)], 1.0};
    }
    void report(int64_t, double, double) {}
    void screen(double) { screened_at.push_back(it); }
    bool outer_step(const WorkingSetStep& s) {
        stepped_at.push_back(s.it);
        return s.it == skip_at;
    }
    int64_t nnz() const { return nnzs[static_cast<size_t>(it)]; }
    int64_t candidates() const { return cands; }
    void priorities(std::vector<std::pair<double, int64_t>>& prio) const {
        for (int64_t j = 0; j < cands; ++j)  // lowest priority: the largest indices
            prio.emplace_back(j < nnz() ? -std::numeric_limits<double>::infinity() : -static_cast<double>(j), j);
    }
    void inner_solve(const std::vector<int64_t>& ws, const WorkingSetStep& s) {
        sizes.push_back(static_cast<int64_t>(ws.size()));
        tols.push_back(s.tol_inner);
        last_ws = ws;
    }
};

}  // namespace

TEST_CASE("working-set driver: size rule, progress doubling, caps, stop tests") {
    Scripted p;
    // it: 0     1     2      3      4     5
    p.gaps = {1.0, 0.95, 0.5, 0.49, 0.2, 1e-12};
    p.nnzs = {0, 3, 20, 20, 5, 5};
    WorkingSetOptions opt;
    opt.tol_abs = 1e-10;
    opt.ws_start = 16;
    const WorkingSetResult res = run_working_set(p, opt);
    CHECK(res.converged);
    CHECK(res.n_iter == 5);
    CHECK(res.gap == doctest::Approx(1e-12));
    // 16; 0.95 > 0.9: doubled to 32; 2 x 20 = 40; 0.49 > 0.9 x 0.5: doubled to 80; 0.2: max(16, 10) = 16
    CHECK(p.sizes == std::vector<int64_t>{16, 32, 40, 80, 16});
    CHECK(p.tols[0] == doctest::Approx(0.3));
    CHECK(p.tols[4] == doctest::Approx(0.3 * 0.2));
    CHECK(p.screened_at.size() == 5);
    // the support always enters, and the rest by priority (here: the largest indices)
    CHECK(p.last_ws.front() == 0);
    CHECK(p.last_ws.back() == 999);

    Scripted q;  // capped by the candidates, floored at 0.5 tol_abs, and max_iter
    q.gaps = {1.0, 1.0, 1.0};
    q.nnzs = {0, 0, 0};
    q.cands = 20;
    WorkingSetOptions o2;
    o2.tol_abs = 0.5;
    o2.max_iter = 2;
    o2.ws_start = 16;
    const WorkingSetResult r2 = run_working_set(q, o2);
    CHECK(!r2.converged);
    CHECK(r2.n_iter == 2);
    CHECK(q.sizes == std::vector<int64_t>{16, 20});
    CHECK(q.tols[0] == doctest::Approx(0.3));

    Scripted s;  // the outer step replaces one working-set solve; the stop flag ends after a pass
    s.gaps = {1.0, 0.5, 0.4, 0.3};
    s.nnzs = {0, 0, 0, 0};
    s.skip_at = 1;
    std::atomic<bool> stop{false};
    WorkingSetOptions o3;
    o3.tol_abs = 1e-10;
    o3.stop = &stop;
    struct Stopper : Scripted {
        std::atomic<bool>* flag = nullptr;
        void inner_solve(const std::vector<int64_t>& ws, const WorkingSetStep& st) {
            Scripted::inner_solve(ws, st);
            if (st.it == 2) *flag = true;
        }
    } t;
    t.gaps = s.gaps;
    t.nnzs = s.nnzs;
    t.skip_at = 1;
    t.flag = &stop;
    const WorkingSetResult r3 = run_working_set(t, o3);
    CHECK(r3.n_iter == 3);
    CHECK(!r3.converged);
    CHECK(t.stepped_at == std::vector<int64_t>{0, 1, 2});
    CHECK(t.sizes.size() == 2);  // iterations 0 and 2
    // 0.4 <= 0.9 x 0.5 (the gap of the outer step's iteration): no doubling
    CHECK(t.sizes[1] == 16);
}

TEST_CASE("DesignMatrix batch hooks default to the single-column calls") {
    std::mt19937_64 rng(3);
    std::normal_distribution<double> g(0.0, 1.0);
    const int64_t n = 37, m = 2000;  // 667 indexed columns: tmul_batch splits them over 3 threads
    std::vector<double> a(static_cast<size_t>(n * m)), v(static_cast<size_t>(n)), shift(static_cast<size_t>(m));
    for (double& x : a) x = 5.0 + g(rng);
    for (double& x : v) x = g(rng);
    for (double& x : shift) x = 5.0 + 0.1 * g(rng);
    for (bool fortran : {true, false}) {
        const DenseMatrix<double> A(a.data(), n, m, fortran);
        std::vector<int64_t> idx;
        for (int64_t j = 0; j < m; j += 3) idx.push_back(j);
        const int64_t k = static_cast<int64_t>(idx.size());
        std::vector<double> batch(static_cast<size_t>(k)), one(1), cols(static_cast<size_t>(n * k)),
            col(static_cast<size_t>(n));
        A.tmul_batch(v.data(), idx.data(), k, shift.data(), batch.data(), 4);
        for (int64_t c = 0; c < k; ++c) {
            A.tmul_shifted(v.data(), idx.data() + c, 1, shift.data(), one.data());
            CHECK(batch[c] == one[0]);
        }
        A.columns(idx.data(), k, cols.data());
        for (int64_t c = 0; c < k; ++c) {
            A.column(idx[c], col.data());
            for (int64_t i = 0; i < n; ++i) CHECK(cols[c * n + i] == col[i]);
        }
        std::vector<double> mean(static_cast<size_t>(m)), csq(static_cast<size_t>(m));
        A.all_column_stats(mean.data(), csq.data(), 4);
        for (int64_t j = 0; j < m; j += 7) {
            double mu = 0.0, q = 0.0;
            A.column_stats(j, mu, q);
            CHECK(mean[j] == mu);
            CHECK(csq[j] == q);
        }
    }
}
