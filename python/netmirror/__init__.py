"""netmirror: compiled kernels for studying what neural networks learn.

Lasso twins of deep networks on low-dimensional data (feature libraries with reflection features,
dictionary assembly, a certified Lasso solver, matrix-free dictionaries), convex two-layer ReLU networks on
d-dimensional data (certified global optimum) and representation alignment (streaming float64 covariances,
CRH/PAH, CKA, neural collapse, NFA). See README.md.
"""
from ._library import Library, library, library_size, memory_budget
from ._memory import get_memory_limit, set_memory_limit
from ._lasso import ConvergenceWarning, LassoPath, LassoResult, beta_max, lasso, lasso_path
from ._estimator import ConvexNet
from ._network import Network, reconstruct
from ._planes import PlaneLibrary, PlaneNetwork, continuous_lasso_2d, plane_library_size
from ._cmake import get_cmake_dir, get_include
from ._covariance import CovarianceAccumulator
from ._convex_relu import ConvexReluResult, ReluNetwork, chamber_count_bound, convex_relu, relu_patterns
from ._metrics import (CRHAlignments, DegenerateMetricWarning, MinibatchCKA, NeuralCollapse, PAHExponents, alignment,
                       cka, crh_alignments, effective_rank, kernel_alignment, neural_collapse, nfa_correlation,
                       pah_exponents, weight_spectra)
from . import datasets, reference

__version__ = "0.1.0"


def __getattr__(name):
    # Optional integrations load on first use: netmirror.torch needs PyTorch, netmirror.dask needs Dask,
    # netmirror.cuda CuPy (and the kernels built with nvcc).
    if name in ("torch", "dask", "cuda"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'netmirror' has no attribute {name!r}")


__all__ = ["Library", "library", "library_size", "memory_budget", "set_memory_limit", "get_memory_limit",
           "datasets", "reference", "__version__",
           "ConvergenceWarning", "LassoPath", "LassoResult", "beta_max", "lasso", "lasso_path", "ConvexNet",
           "Network", "reconstruct", "PlaneLibrary", "PlaneNetwork", "plane_library_size", "continuous_lasso_2d", "get_cmake_dir", "get_include",
           "CovarianceAccumulator", "alignment", "crh_alignments", "CRHAlignments",
           "pah_exponents", "PAHExponents", "cka", "MinibatchCKA", "kernel_alignment", "neural_collapse",
           "NeuralCollapse", "nfa_correlation", "weight_spectra", "effective_rank", "DegenerateMetricWarning",
           "convex_relu", "ConvexReluResult", "ReluNetwork", "relu_patterns", "chamber_count_bound"]
