// Builds the ReLU depth-3 library on the "opt" toy data, assembles its dictionary and solves the Lasso twin,
// printing what the Python side checks: library size, objective, certified gap.
#include <cstdio>
#include <vector>

#include <netmirror/netmirror.hpp>

int main() {
    const std::vector<double> x = {0, 4, 5, 7, 10, 11}, y = {0, 0, 0, 2, 3, 3};
    netmirror::FamilySpec spec;
    spec.activation = netmirror::Activation::relu;
    spec.depth = 3;
    const netmirror::Family family(x.data(), static_cast<int64_t>(x.size()), spec);
    const int64_t n = family.n(), m = family.size();
    std::vector<double> A(static_cast<size_t>(n * m));
    netmirror::assemble<double>(family, nullptr, m, x.data(), n, A.data());
    const netmirror::DenseMatrix<double> dict(A.data(), n, m, /*fortran=*/true);
    netmirror::LassoOptions opt;
    opt.beta = 0.1;
    opt.tol = 1e-12;
    const netmirror::LassoOutput out = netmirror::lasso(dict, y.data(), opt);
    std::printf("size %lld\nobjective %.17g\ngap %.17g\nconverged %d\n", static_cast<long long>(m), out.objective,
                out.gap, out.converged ? 1 : 0);
    return out.converged ? 0 : 1;
}
