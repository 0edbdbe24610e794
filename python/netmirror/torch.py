"""PyTorch recorder: stream the CRH matrices H_a, H_b, G_a, G_b of linear layers into CovarianceAccumulators.

Optional (``pip install "netmirror[torch]"``). Usage::

    with netmirror.torch.Recorder(model) as rec:         # every nn.Linear, or layers=[...] (modules or names)
        for x, y in loader:
            loss = loss_fn(model(x), y)                   # reduction="mean" (default) or "sum": see below
            loss.backward()                               # the gradients are recorded during backward
            optimizer.step(); optimizer.zero_grad()
    rec.crh()        # {layer name: CRHAlignments} — the six alignments per layer
    rec.matrices()   # {layer name: {"H_a", "G_a", "H_b", "G_b", "W"}} as float64 arrays

How it records (per linear layer h_b = W h_a + b):
- a forward hook adds h_a (the layer input) and h_b (its output, before any activation) to the
  accumulators, and registers a *tensor* hook on the output. Full backward hooks are not used: they break
  on in-place activations such as ``nn.ReLU(inplace=True)``; a tensor hook registered before the in-place
  op receives the gradient of the pre-activation, which is what is wanted.
- the tensor hook receives ∂L/∂h_b for the whole batch. g_b = -(per-sample gradient) and
  g_a = Wᵀ g_b (exact for a linear layer, so the input needs no gradient of its own).
- gradient scaling: with ``loss_reduction="mean"`` (PyTorch's default) the batch loss is the mean of
  the per-sample losses, so autograd's gradient for sample i is (1/B) ∂ℓ_i/∂h; the recorder multiplies by
  B, the number of rows (all leading dimensions flattened: tokens of a sequence count as samples, which
  matches a mean over all tokens). Use ``loss_reduction="sum"`` when the loss is a sum (no rescaling).
- h and g are recorded uncentred (second moments E[h hᵀ], E[g gᵀ], as in Ziyin et al. 2024).
  ``normalize=True`` divides every h and g row by its norm first (their main-text convention); zero rows
  stay zero.
- values are read as float32/float64 and accumulated in float64; layers in other dtypes are upcast.
Gradients are only recorded while grad mode is on and the output requires grad; forward passes under
``torch.no_grad()`` still record H_a and H_b, so counts of H and G may differ (see ``counts()``).
"""
from __future__ import annotations

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError("netmirror.torch needs PyTorch: pip install 'netmirror[torch]' (or pip install torch)") from exc

from ._covariance import CovarianceAccumulator
from ._metrics import crh_alignments

__all__ = ["Recorder"]

MATRICES = ("H_a", "G_a", "H_b", "G_b")


def _rows(t, normalize):
    """(N, features) NumPy view/copy of a tensor, float32/float64, rows normalised if asked."""
    t = t.detach()
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float64)
    a = t.reshape(-1, t.shape[-1]).cpu().numpy()
    if normalize:
        norms = np.linalg.norm(a, axis=1, keepdims=True)
        a = a / np.where(norms == 0, 1, norms)
    return a


def _check_finite(name, what, rows, advice):
    """A ValueError naming the layer when a recorded batch has NaN or inf (nothing of the batch is recorded)."""
    ok = np.isfinite(rows)
    if not ok.all():
        r, c = (int(v) for v in np.argwhere(~ok)[0])
        raise ValueError(f"layer {name!r}: its {what} has {int(ok.size - np.count_nonzero(ok))} NaN or infinite "
                         f"value(s) (first at row {r}, feature {c}); {advice}, or record only finite passes")


class Recorder:
    """Context manager recording H_a, H_b, G_a, G_b of linear layers (see the module docstring)."""

    def __init__(self, model, layers=None, *, loss_reduction="mean", normalize=False):
        if loss_reduction not in ("mean", "sum"):
            raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {loss_reduction!r}")
        named = dict(model.named_modules())
        if layers is None:
            chosen = [(name, m) for name, m in named.items() if isinstance(m, nn.Linear)]
        else:
            by_id = {id(m): name for name, m in named.items()}
            chosen = []
            for layer in layers:
                if isinstance(layer, str):
                    if layer not in named:
                        raise ValueError(f"model has no module named {layer!r}")
                    chosen.append((layer, named[layer]))
                elif id(layer) in by_id:
                    chosen.append((by_id[id(layer)], layer))
                else:
                    raise ValueError(f"{layer!r} is not a module of the model")
        for name, m in chosen:
            if not isinstance(m, nn.Linear):
                raise TypeError(f"layer {name!r} is {type(m).__name__}; the recorder handles nn.Linear layers")
        if not chosen:
            raise ValueError("the model has no nn.Linear layer to record")
        self.layers = dict(chosen)
        self.loss_reduction = loss_reduction
        self.normalize = bool(normalize)
        self._handles = []
        self.reset()

    # ------------------------------------------------------------------------------------------------
    def reset(self):
        """Forget everything recorded so far (hooks stay as they are)."""
        self.accumulators = {
            name: {"H_a": CovarianceAccumulator(m.in_features, center=False),
                   "G_a": CovarianceAccumulator(m.in_features, center=False),
                   "H_b": CovarianceAccumulator(m.out_features, center=False),
                   "G_b": CovarianceAccumulator(m.out_features, center=False)}
            for name, m in self.layers.items()}
        return self

    def __enter__(self):
        if self._handles:
            raise RuntimeError("Recorder is already active")
        for name, module in self.layers.items():  # with_kwargs: a layer called as lin(input=x) is seen too
            self._handles.append(module.register_forward_hook(self._forward_hook(name), with_kwargs=True))
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Remove the hooks (done by the with-block; tensor hooks of a pending backward still fire)."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def _forward_hook(self, name):
        def hook(module, args, kwargs, output):
            x = args[0] if args else kwargs.get("input")
            if x is None:  # pragma: no cover - nn.Linear.forward has one argument, named input
                raise TypeError(f"layer {name!r} was called without its input tensor; the recorder reads "
                                "nn.Linear(input)")
            h_a, h_b = _rows(x, self.normalize), _rows(output, self.normalize)
            _check_finite(name, "input h_a", h_a, "check the data and the layers before it")
            _check_finite(name, "output h_b", h_b, "check the data and the layers before it")
            accs = self.accumulators[name]  # looked up per call: reset() replaces the dict
            accs["H_a"].update(h_a)
            accs["H_b"].update(h_b)
            if torch.is_grad_enabled() and output.requires_grad:
                output.register_hook(self._gradient_hook(name, module))

        return hook

    def _gradient_hook(self, name, module):
        def hook(grad):
            g = grad.detach()
            g = g.reshape(-1, g.shape[-1])
            scale = g.shape[0] if self.loss_reduction == "mean" else 1
            g_b = -g.to(torch.float64) * scale
            g_a = g_b @ module.weight.detach().to(torch.float64)  # per row: Wᵀ g_b
            g_b, g_a = _rows(g_b, self.normalize), _rows(g_a, self.normalize)
            advice = "the loss or the weights are not finite: lower the learning rate or check the loss"
            _check_finite(name, "output gradient g_b", g_b, advice)
            _check_finite(name, "input gradient g_a", g_a, advice)
            accs = self.accumulators[name]
            accs["G_b"].update(g_b)
            accs["G_a"].update(g_a)
            return None  # leave the gradient unchanged

        return hook

    # ------------------------------------------------------------------------------------------------
    def counts(self):
        """{layer: {matrix: number of rows recorded}}."""
        return {name: {k: a.count for k, a in accs.items()} for name, accs in self.accumulators.items()}

    def matrices(self):
        """{layer: {"H_a", "G_a", "H_b", "G_b": E[· ·ᵀ] float64, "W": current weight}}."""
        out = {}
        for name, accs in self.accumulators.items():
            missing = [k for k in MATRICES if accs[k].total_weight == 0]
            if missing:
                raise ValueError(f"layer {name!r} has no recorded {', '.join(missing)} (run forward and backward "
                                 "inside the with-block)")
            out[name] = {k: accs[k].second_moment for k in MATRICES}
            out[name]["W"] = self.layers[name].weight.detach().to(torch.float64).cpu().numpy()
        return out

    def crh(self, *, kind="pearson"):
        """{layer name: CRHAlignments} from the recorded matrices and the layer's current weight."""
        return {name: crh_alignments(m["H_a"], m["G_a"], m["H_b"], m["G_b"], m["W"], kind=kind)
                for name, m in self.matrices().items()}
