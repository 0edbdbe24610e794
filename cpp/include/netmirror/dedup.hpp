// Deduplication of library columns on the training data.
//
// Two features are interchangeable in the Lasso twin when their columns are equal up to sign and an
// additive constant (the unpenalised intercept absorbs constants, z_j absorbs the sign); constant columns
// add nothing. Columns are streamed in blocks, so memory is O(kept) + O(block * n), never O(raw * n).
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "libraries.hpp"
#include "parallel.hpp"

namespace netmirror {

// Tolerance for "equal" entries: columns of piecewise-linear features are differences of inputs, so
// rounding scales with max|x|; switching and angular columns take values in {-1, 0, 1, 2} exactly.
// Pass x in a frame near the data (netmirror.library uses x - origin, a data point, when max|x| > 2 (max - min)):
// there max|x| is of the order of the range, so the tolerance never merges features that differ on the data
// (in the original frame x = 1e13 + arange(10) would give a tolerance of 2.3, above the spacing of 1).
inline double default_dedup_tolerance(const Family& family) {
    if (!is_piecewise_linear(family.spec().activation) || family.spec().input_dim != 1) return 0.25;
    const auto& x = family.x();
    const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
    const double range = *hi - *lo;
    const double amax = std::max(std::fabs(*lo), std::fabs(*hi));
    return 1e-9 * range + 1024.0 * std::numeric_limits<double>::epsilon() * amax;
}

namespace detail {

// Canonical integer form of a column: subtract the first entry (when an intercept is fitted), flip so the
// first entry beyond tol is positive, round to multiples of tol. Returns false for constant columns.
inline bool canonical_column(const double* v, int64_t n, double tol, bool intercept, int64_t* q) {
    const double base = intercept ? v[0] : 0.0;
    double flip = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = v[i] - base;
        if (std::fabs(d) > tol) {
            flip = d > 0 ? 1.0 : -1.0;
            break;
        }
    }
    if (flip == 0.0) return false;
    for (int64_t i = 0; i < n; ++i) q[i] = static_cast<int64_t>(std::nearbyint(flip * (v[i] - base) / tol));
    return true;
}

inline uint64_t hash_column(const int64_t* q, int64_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < n; ++i) {
        uint64_t z = static_cast<uint64_t>(q[i]) + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        h ^= z ^ (z >> 31);
    }
    return h | 1ull;  // 0 marks an empty slot
}

// Open-addressing multiset of (hash -> raw index of a kept column).
class HashIndex {
public:
    explicit HashIndex(size_t expected) { rehash(std::max<size_t>(64, next_pow2(2 * expected))); }
    template <class Fn>
    bool find(uint64_t h, Fn&& same) const {  // same(raw) decides equality of colliding hashes
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            if (keys_[i] == 0) return false;
            if (keys_[i] == h && same(vals_[i])) return true;
        }
    }
    size_t bytes() const { return keys_.capacity() * (sizeof(uint64_t) + sizeof(int64_t)); }
    // Bytes after the next insert (a rehash doubles the table while the old one is still alive).
    size_t bytes_after_insert() const {
        return 2 * (count_ + 1) > keys_.size() ? 3 * bytes() : bytes();
    }
    void insert(uint64_t h, int64_t raw) {
        if (2 * (count_ + 1) > keys_.size()) rehash(2 * keys_.size());
        size_t i = h & mask_;
        while (keys_[i] != 0) i = (i + 1) & mask_;
        keys_[i] = h;
        vals_[i] = raw;
        ++count_;
    }

private:
    static size_t next_pow2(size_t v) {
        size_t p = 1;
        while (p < v) p <<= 1;
        return p;
    }
    void rehash(size_t cap) {
        std::vector<uint64_t> ok = std::move(keys_);
        std::vector<int64_t> ov = std::move(vals_);
        keys_.assign(cap, 0);
        vals_.assign(cap, 0);
        mask_ = cap - 1;
        count_ = 0;
        for (size_t i = 0; i < ok.size(); ++i)
            if (ok[i] != 0) insert(ok[i], ov[i]);
    }
    std::vector<uint64_t> keys_;
    std::vector<int64_t> vals_;
    size_t mask_ = 0;
    size_t count_ = 0;
};

// The streaming deduplication shared by every family type F (size(), n(), x(), column()): columns are
// canonicalised and hashed in parallel blocks, then compared with the kept representatives serially.
// usable(r) == false drops raw feature r (e.g. a degenerate plane) like a constant column.
template <class F, class Usable>
std::vector<int64_t> deduplicate_stream(const F& family, double tol, bool intercept, int threads, size_t max_bytes,
                                        const std::atomic<bool>* stop, Usable usable) {
    const int64_t n = family.n(), total = family.size();
    const double* x = family.x().data();
    const int64_t block = std::max<int64_t>(64, std::min<int64_t>(8192, (int64_t(1) << 22) / std::max<int64_t>(n, 1)));
    std::vector<int64_t> q(static_cast<size_t>(block * n));
    std::vector<uint64_t> hashes(static_cast<size_t>(block));
    std::vector<int64_t> kept;
    HashIndex index(static_cast<size_t>(std::min<int64_t>(total, int64_t(1) << 12)));  // grows with the kept count
    std::vector<double> v(static_cast<size_t>(n)), scratch;
    std::vector<int64_t> qv(static_cast<size_t>(n));

    for (int64_t b0 = 0; b0 < total; b0 += block) {
        if (stop && stop->load(std::memory_order_relaxed)) throw Interrupted();
        const int64_t b1 = std::min(total, b0 + block);
        parallel_for(b0, b1, threads, [&](int64_t lo, int64_t hi) {
            std::vector<double> col(static_cast<size_t>(n)), scr;
            for (int64_t r = lo; r < hi; ++r) {
                int64_t* qr = q.data() + (r - b0) * n;
                const bool use = usable(r);
                if (use) family.column(r, x, n, col.data(), scr);
                hashes[static_cast<size_t>(r - b0)] =
                    use && canonical_column(col.data(), n, tol, intercept, qr) ? hash_column(qr, n) : 0;
            }
        }, 64);
        for (int64_t r = b0; r < b1; ++r) {
            const uint64_t h = hashes[static_cast<size_t>(r - b0)];
            if (h == 0) continue;  // constant column
            const int64_t* qr = q.data() + (r - b0) * n;
            const bool duplicate = index.find(h, [&](int64_t rep) {
                family.column(rep, x, n, v.data(), scratch);
                canonical_column(v.data(), n, tol, intercept, qv.data());
                return std::equal(qv.begin(), qv.end(), qr);
            });
            if (!duplicate) {
                const size_t need = index.bytes_after_insert() + (kept.size() + 1) * sizeof(int64_t);
                if (need > max_bytes)
                    throw std::length_error("deduplication keeps " + std::to_string(kept.size()) +
                                            " features after " + std::to_string(r) + " of " + std::to_string(total) +
                                            " raw ones and would need more than the memory budget of " +
                                            std::to_string(max_bytes) + " bytes");
                index.insert(h, r);
                kept.push_back(r);
            }
        }
    }
    return kept;
}

}  // namespace detail

// Raw indices of the kept representatives (first occurrence of each class), in increasing order.
// intercept=false (no free intercept): constants are not absorbed, columns are equal only up to sign.
// Memory grows with the kept count (hash table + index list, ~40-72 bytes per kept column); past max_bytes
// it throws std::length_error rather than exhausting the machine. A raised `stop` throws Interrupted
// at the next block of columns.
inline std::vector<int64_t> deduplicate(const Family& family, double tol, bool intercept = true,
                                        int threads = default_num_threads(),
                                        size_t max_bytes = std::numeric_limits<size_t>::max(),
                                        const std::atomic<bool>* stop = nullptr) {
    return detail::deduplicate_stream(family, tol, intercept, threads, max_bytes, stop,
                                      [](int64_t) { return true; });
}

}  // namespace netmirror
