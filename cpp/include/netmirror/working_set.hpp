// The working-set (column-generation) outer loop of the certified solvers, written once: the Lasso
// (lasso.hpp: dense, matrix-free, oracle and device-backed dictionaries) and the convex two-layer ReLU group
// Lasso over activation patterns (convex_relu.hpp) plug into it as a Problem.
//
// One outer iteration (celer, Massias, Gramfort & Salmon 2018; skglm, Bertrand et al. 2022):
//   full pass       residual from scratch, primal value, one pass over every column / group for a rescaled
//                   dual-feasible point; the certified gap is primal - best dual value so far
//   stop            gap <= tol_abs (converged), or max_iter passes, or the stop flag (the pass after the last
//                   working-set solve only certifies the final iterate)
//   screening       a safe-screening hook (Gap Safe for the Lasso; none for the group Lasso)
//   outer step      a problem may replace this iteration's working-set solve by its own step (the convex ReLU
//                   interior-point solve of a large working set)
//   size            max(ws_start, 2 nnz, 2 x the last size when the gap fell by less than 10 %), capped by the
//                   candidates
//   priorities      the support first, then the candidates closest to their dual constraint
//   inner solve     on the working set, to max(0.3 gap, 0.5 tol_abs)
//
// Problem interface (members, reachable by this driver through a friend declaration):
//   WorkingSetPass full_pass();                          primal value and best dual value after this pass
//   void report(int64_t it, double primal, double gap);  verbose line of a pass (only called when verbose)
//   void screen(double gap);                             remove provably inactive candidates (or nothing)
//   bool outer_step(const WorkingSetStep&);              true: this iteration's step is done, go to the pass
//   int64_t nnz() const;                                 support size
//   int64_t candidates() const;                          columns / groups a working set may hold
//   void priorities(std::vector<std::pair<double, int64_t>>&);   (priority, index), lowest first; the
//                                                        support at -inf
//   void inner_solve(const std::vector<int64_t>& ws, const WorkingSetStep&);   to step.tol_inner
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace netmirror {

struct WorkingSetOptions {
    double tol_abs = 0.0;      // stop when the certified gap <= tol_abs
    int64_t max_iter = 500;    // working-set solves (outer iterations); one more pass certifies the last
    int64_t ws_start = 16;     // first working-set size
    bool verbose = false;
    const std::atomic<bool>* stop = nullptr;  // raised: stop after the next pass with its certificate
};

struct WorkingSetPass {
    double primal = 0.0, dual = 0.0;  // P at the current iterate, best dual value D(theta) so far
};

// What the driver hands to a problem's outer_step and inner_solve.
struct WorkingSetStep {
    int64_t it = 0;          // outer iteration
    double gap = 0.0;        // certified gap of this iteration's pass
    double tol_abs = 0.0;
    int64_t nnz = 0;         // support size after screening
    int64_t ws_size = 0;     // outer_step: the last working-set size; inner_solve: this one
    double tol_inner = 0.0;  // inner_solve: the working-set problem's target gap
};

struct WorkingSetResult {
    double primal = 0.0, gap = std::numeric_limits<double>::infinity();
    int64_t n_iter = 0;
    bool converged = false;
};

namespace working_set {

constexpr double kInnerTol = 0.3;       // inner solves to 0.3 x the outer gap (celer) ...
constexpr double kInnerTolFloor = 0.5;  // ... and never below half the target gap
constexpr double kProgress = 0.9;       // a pass whose gap fell by less than 10 %: double the working set
constexpr int64_t kSupportFactor = 2;   // the working set holds at least twice the support (celer)

// The `size` entries of lowest priority (ties as nth_element leaves them), sorted by index.
inline std::vector<int64_t> select(std::vector<std::pair<double, int64_t>>& prio, int64_t size) {
    if (size < static_cast<int64_t>(prio.size())) std::nth_element(prio.begin(), prio.begin() + size, prio.end());
    std::vector<int64_t> ws;
    ws.reserve(static_cast<size_t>(size));
    for (int64_t k = 0; k < size; ++k) ws.push_back(prio[static_cast<size_t>(k)].second);
    std::sort(ws.begin(), ws.end());
    return ws;
}

}  // namespace working_set

template <class Problem>
WorkingSetResult run_working_set(Problem& problem, const WorkingSetOptions& opt) {
    WorkingSetResult res;
    double prev_gap = std::numeric_limits<double>::infinity();
    int64_t ws_size = opt.ws_start;
    std::vector<std::pair<double, int64_t>> prio;
    int64_t it = 0;
    for (;; ++it) {
        const WorkingSetPass pass = problem.full_pass();
        const double gap = pass.primal - pass.dual;
        res.primal = pass.primal;
        res.gap = gap;
        if (opt.verbose) problem.report(it, pass.primal, gap);
        if (gap <= opt.tol_abs) {
            res.converged = true;
            break;
        }
        if (it == opt.max_iter || (opt.stop && opt.stop->load(std::memory_order_relaxed))) break;
        problem.screen(gap);
        WorkingSetStep step;
        step.it = it;
        step.gap = gap;
        step.tol_abs = opt.tol_abs;
        step.nnz = problem.nnz();
        step.ws_size = ws_size;
        if (problem.outer_step(step)) {
            prev_gap = gap;
            continue;
        }
        ws_size = std::max<int64_t>({opt.ws_start, working_set::kSupportFactor * step.nnz,
                                     it > 0 && gap > working_set::kProgress * prev_gap ? 2 * ws_size : 0});
        ws_size = std::min(ws_size, problem.candidates());
        prev_gap = gap;
        prio.clear();
        problem.priorities(prio);
        const std::vector<int64_t> ws = working_set::select(prio, ws_size);
        step.ws_size = ws_size;
        step.tol_inner = std::max(working_set::kInnerTol * gap, working_set::kInnerTolFloor * opt.tol_abs);
        problem.inner_solve(ws, step);
    }
    res.n_iter = it;
    return res;
}

}  // namespace netmirror
