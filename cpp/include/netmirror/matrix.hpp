// The matrix interface the solvers read: dense views here; implicit (matrix-free) dictionaries in implicit.hpp
// and reflection_planes.hpp.
// Solvers only need correlations A_S^T v over column subsets, single columns, and column statistics,
// so any dictionary that can produce those can be solved without being stored.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "parallel.hpp"

namespace netmirror {

class DesignMatrix {
public:
    virtual ~DesignMatrix() = default;
    virtual int64_t rows() const = 0;
    virtual int64_t cols() const = 0;
    // out[k] = sum_i A(i, idx[k]) v[i], k < count. Called concurrently on disjoint outputs.
    virtual void tmul(const double* v, const int64_t* idx, int64_t count, double* out) const = 0;
    // out = column j as float64.
    virtual void column(int64_t j, double* out) const = 0;
    // out[k] = sum_i (A(i, idx[k]) - shift[idx[k]]) v[i]: correlations of shifted columns (shift = the column
    // means), which the solvers need accurate when |mean| is far above a column's spread. The default subtracts
    // shift * sum(v) after tmul (exact in exact arithmetic; accurate when columns are of the order of their
    // spread, as library columns are); dense matrices subtract inside the sum.
    virtual void tmul_shifted(const double* v, const int64_t* idx, int64_t count, const double* shift,
                              double* out) const {
        tmul(v, idx, count, out);
        double vsum = 0.0;
        for (int64_t i = 0; i < rows(); ++i) vsum += v[i];
        for (int64_t k = 0; k < count; ++k) out[k] -= shift[idx[k]] * vsum;
    }

    // Column means and centered squared norms sum_i (A_ij - mean_j)^2 (two-pass: exact for shifted data).
    virtual void column_stats(int64_t j, double& mean, double& centered_sq) const;

    // Batch hooks: the solvers' passes over many columns go through these. The defaults split the work over
    // `threads` CPU threads (tmul_batch: blocks of at least 256 columns; all_column_stats: 1024) or loop over
    // single columns; a device-backed matrix overrides them with one launch and one transfer per call.
    // out[k] = A(:, idx[k])^T v, or (A(:, idx[k]) - shift[idx[k]])^T v with a shift (see tmul_shifted).
    virtual void tmul_batch(const double* v, const int64_t* idx, int64_t count, const double* shift, double* out,
                            int threads) const {
        // Row-major matrices scan every row per call: give each thread one large block.
        parallel_for(0, count, threads, [&](int64_t lo, int64_t hi) {
            if (shift)
                tmul_shifted(v, idx + lo, hi - lo, shift, out + lo);
            else
                tmul(v, idx + lo, hi - lo, out + lo);
        }, 256);
    }
    // column_stats of every column.
    virtual void all_column_stats(double* mean, double* centered_sq, int threads) const {
        parallel_for(0, cols(), threads, [&](int64_t lo, int64_t hi) {
            for (int64_t j = lo; j < hi; ++j) column_stats(j, mean[j], centered_sq[j]);
        }, 1024);
    }
    // Columns idx[0..count) as float64, column-major (rows() x count) into out.
    virtual void columns(const int64_t* idx, int64_t count, double* out) const {
        for (int64_t k = 0; k < count; ++k) column(idx[k], out + k * rows());
    }
};

// Mean and centered squared norm of c[0..n) by the corrected two-pass formula: every DesignMatrix computes its
// column statistics with this, so they agree bit for bit on the same column. A column is constant only when
// its entries are exactly equal: then centered_sq is exactly 0 and mean is the common value. Any other column,
// however small its spread against its mean (1e8 + 1e-6 t), keeps a positive centered_sq: the solvers drop
// exactly constant columns only, so a certificate never ignores a column that can fit something.
template <class T>
inline void two_pass_stats(const T* c, int64_t n, double& mean, double& centered_sq) {
    const double first = n > 0 ? static_cast<double>(c[0]) : 0.0;
    bool constant = true;
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const double v = static_cast<double>(c[i]);
        s += v;
        constant = constant && v == first;
    }
    if (constant) {
        mean = first;
        centered_sq = 0.0;
        return;
    }
    mean = s / static_cast<double>(n);
    double q = 0.0, e = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(c[i]) - mean;
        q += d * d;
        e += d;
    }
    // The correction (sum d)^2 / n removes the rounding of the mean (Chan, Golub & LeVeque 1983); it is at
    // most q, and q > 0 for a non-constant column, but keep a positive floor for columns at rounding level.
    centered_sq = q - e * e / static_cast<double>(n);
    if (!(centered_sq > 0.0)) centered_sq = q > 0.0 ? q : std::numeric_limits<double>::min();
}

// c[i] - mean for i < n, then minus the mean of those differences: the centred column P c, accurate to the
// rounding of its own entries even when |mean| is far above the column's spread (c[i] - mean is exact there).
inline void center_column(double* c, int64_t n, double mean) {
    double e = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        c[i] -= mean;
        e += c[i];
    }
    e /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) c[i] -= e;
}

// mean[j], centered_sq[j] for every column of an implicit dictionary, in parallel over blocks of 4096 columns:
// `stop` (optional) is read between blocks (Interrupted), `progress` (optional) counts the columns done.
// make_eval() gives each chunk its own evaluator eval(j, out) (owning its scratch) that writes column j.
template <class MakeEval>
void blocked_column_stats(int64_t cols, int64_t n, int threads, const std::atomic<bool>* stop,
                          std::atomic<int64_t>* progress, std::vector<double>& mean, std::vector<double>& centered_sq,
                          MakeEval make_eval, int64_t grain) {
    mean.assign(static_cast<size_t>(cols), 0.0);
    centered_sq.assign(static_cast<size_t>(cols), 0.0);
    const int64_t block = 4096;
    for (int64_t b0 = 0; b0 < cols; b0 += block) {
        if (stop && stop->load(std::memory_order_relaxed)) throw Interrupted();
        const int64_t b1 = std::min(cols, b0 + block);
        parallel_for(b0, b1, threads, [&](int64_t lo, int64_t hi) {
            std::vector<double> c(static_cast<size_t>(n));
            auto eval = make_eval();
            for (int64_t j = lo; j < hi; ++j) {
                eval(j, c.data());
                two_pass_stats(c.data(), n, mean[j], centered_sq[j]);
            }
        }, grain);
        if (progress) progress->fetch_add(b1 - b0, std::memory_order_relaxed);
    }
}

inline void DesignMatrix::column_stats(int64_t j, double& mean, double& centered_sq) const {
    std::vector<double> c(static_cast<size_t>(rows()));
    column(j, c.data());
    two_pass_stats(c.data(), rows(), mean, centered_sq);
}

// Dot product in float64 with independent partial sums (lets the compiler vectorise, bounds rounding).
template <class T>
inline double dot(const T* a, const double* v, int64_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += static_cast<double>(a[i]) * v[i];
        s1 += static_cast<double>(a[i + 1]) * v[i + 1];
        s2 += static_cast<double>(a[i + 2]) * v[i + 2];
        s3 += static_cast<double>(a[i + 3]) * v[i + 3];
    }
    for (; i < n; ++i) s0 += static_cast<double>(a[i]) * v[i];
    return (s0 + s1) + (s2 + s3);
}

// sum_i (a[i] - shift) v[i] in float64, with independent partial sums as in dot().
template <class T>
inline double shifted_dot(const T* a, double shift, const double* v, int64_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (static_cast<double>(a[i]) - shift) * v[i];
        s1 += (static_cast<double>(a[i + 1]) - shift) * v[i + 1];
        s2 += (static_cast<double>(a[i + 2]) - shift) * v[i + 2];
        s3 += (static_cast<double>(a[i + 3]) - shift) * v[i + 3];
    }
    for (; i < n; ++i) s0 += (static_cast<double>(a[i]) - shift) * v[i];
    return (s0 + s1) + (s2 + s3);
}

// A dense (rows x cols) array of T = float or double, column-major (Fortran) or row-major (C), not owned.
template <class T>
class DenseMatrix final : public DesignMatrix {
public:
    DenseMatrix(const T* data, int64_t rows, int64_t cols, bool fortran)
        : data_(data), rows_(rows), cols_(cols), fortran_(fortran) {}
    int64_t rows() const override { return rows_; }
    int64_t cols() const override { return cols_; }

    void tmul(const double* v, const int64_t* idx, int64_t count, double* out) const override {
        if (fortran_) {
            for (int64_t k = 0; k < count; ++k) out[k] = dot(data_ + idx[k] * rows_, v, rows_);
            return;
        }
        // Row-major: stream rows once, scatter into the outputs (contiguous when idx is a range).
        std::fill(out, out + count, 0.0);
        const bool contiguous = count > 0 && idx[count - 1] - idx[0] == count - 1;
        for (int64_t i = 0; i < rows_; ++i) {
            const T* row = data_ + i * cols_;
            const double vi = v[i];
            if (contiguous) {
                const T* r = row + idx[0];
                for (int64_t k = 0; k < count; ++k) out[k] += static_cast<double>(r[k]) * vi;
            } else {
                for (int64_t k = 0; k < count; ++k) out[k] += static_cast<double>(row[idx[k]]) * vi;
            }
        }
    }

    void tmul_shifted(const double* v, const int64_t* idx, int64_t count, const double* shift,
                      double* out) const override {
        if (fortran_) {
            for (int64_t k = 0; k < count; ++k) out[k] = shifted_dot(data_ + idx[k] * rows_, shift[idx[k]], v, rows_);
            return;
        }
        std::fill(out, out + count, 0.0);
        for (int64_t i = 0; i < rows_; ++i) {
            const T* row = data_ + i * cols_;
            const double vi = v[i];
            for (int64_t k = 0; k < count; ++k) out[k] += (static_cast<double>(row[idx[k]]) - shift[idx[k]]) * vi;
        }
    }

    void column(int64_t j, double* out) const override {
        if (fortran_) {
            const T* c = data_ + j * rows_;
            for (int64_t i = 0; i < rows_; ++i) out[i] = static_cast<double>(c[i]);
        } else {
            for (int64_t i = 0; i < rows_; ++i) out[i] = static_cast<double>(data_[i * cols_ + j]);
        }
    }

    void column_stats(int64_t j, double& mean, double& centered_sq) const override {
        if (!fortran_) return DesignMatrix::column_stats(j, mean, centered_sq);
        two_pass_stats(data_ + j * rows_, rows_, mean, centered_sq);
    }

private:
    const T* data_;
    int64_t rows_, cols_;
    bool fortran_;
};

// out[k] = A(:, idx[k])^T v for all k (with shift: (A(:, idx[k]) - shift[idx[k]])^T v): A's batch hook, split
// over threads in column blocks for CPU matrices.
inline void parallel_tmul(const DesignMatrix& A, const double* v, const int64_t* idx, int64_t count, double* out,
                          int threads, const double* shift = nullptr) {
    A.tmul_batch(v, idx, count, shift, out, threads);
}

}  // namespace netmirror
