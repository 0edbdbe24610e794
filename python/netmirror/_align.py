"""`netmirror align`: CRH alignments of a small MLP trained with weight decay on synthetic teacher data.

A student MLP (ReLU, ``--depth`` hidden layers of ``--width``) learns a random two-layer tanh teacher
with SGD + weight decay on CPU. Every ``--record-every`` epochs a recording pass over a fixed probe set
(forward + backward, no update) streams H_a, H_b, G_a, G_b of every linear layer into
CovarianceAccumulators (netmirror.torch.Recorder) and computes the six CRH alignments per layer. It prints
the final table and writes a figure: one panel per layer, alignment vs epoch.

Expected picture (Ziyin et al. 2024, seed 000 §2.4.3 and §2.5.4): forward RWA (H_b ~ WWᵀ) and backward
GWA (G_a ~ WᵀW) become strong first, because the other four depend on γ² (weight decay squared); and
alignment is stronger in later layers than in earlier ones.
"""
from __future__ import annotations

import time

import numpy as np

from ._metrics import CRH_NAMES
from ._output import save_figure

SHORT = {"forward_rga": "fwd RGA", "forward_rwa": "fwd RWA", "forward_gwa": "fwd GWA",
         "backward_rga": "bwd RGA", "backward_rwa": "bwd RWA", "backward_gwa": "bwd GWA"}


def add_parser(sub):
    # bounded integers: one clear line instead of an overflow in PyTorch
    from .cli import _int_option

    p = sub.add_parser("align", help="CRH alignments of a small MLP trained with weight decay (needs PyTorch)",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--epochs", type=_int_option(1, 10**6), default=150, help="training epochs (default: 150)")
    p.add_argument("--record-every", type=_int_option(1, 10**6), default=10,
                   help="epochs between recordings (default: 10)")
    p.add_argument("--depth", type=_int_option(1, 64), default=4, help="hidden layers, 1 to 64 (default: 4)")
    p.add_argument("--width", type=_int_option(1, 2048), default=48, help="hidden width, 1 to 2048 (default: 48)")
    p.add_argument("--weight-decay", type=float, default=5e-3, help="SGD weight decay γ (default: 5e-3)")
    p.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (default: 0.05)")
    p.add_argument("--batch", type=_int_option(1, 10**6), default=64, help="minibatch size (default: 64)")
    p.add_argument("--n", type=_int_option(1, 10**6), default=1024, help="training samples, up to 10^6 (default: 1024)")
    p.add_argument("--seed", type=_int_option(0), default=0, help="random seed (default: 0)")
    p.add_argument("--threshold", type=float, default=0.9, help="alignment counted as holding (default: 0.9)")
    p.add_argument("--out", default="netmirror-align.png",
                   help="figure path, .png/.pdf/.svg/... (default: netmirror-align.png); written once complete")
    p.add_argument("--no-plot", action="store_true", help="skip the figure")
    p.set_defaults(func=run)
    return p


def _check(args):
    for name in ("epochs", "record_every", "depth", "width", "batch", "n"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1")
    if not (args.lr > 0 and args.weight_decay >= 0):
        raise ValueError("--lr must be > 0 and --weight-decay >= 0")


def train_and_record(args, log=print):
    """Returns (epochs recorded, {layer: {alignment: [values]}}, final losses)."""
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise ValueError("netmirror align needs PyTorch: pip install 'netmirror[torch]'") from exc
    from .torch import Recorder

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a tiny model: a second thread costs more in synchronisation than it gains
    d_in, d_out = 16, 4
    teacher = nn.Sequential(nn.Linear(d_in, 8), nn.Tanh(), nn.Linear(8, d_out))
    X = torch.randn(args.n, d_in)
    with torch.no_grad():
        Y = teacher(X)
        Y = Y / Y.std()
    probe_X, probe_Y = X[:512], Y[:512]
    layers = [nn.Linear(d_in, args.width), nn.ReLU(inplace=True)]
    for _ in range(args.depth - 1):
        layers += [nn.Linear(args.width, args.width), nn.ReLU(inplace=True)]
    layers.append(nn.Linear(args.width, d_out))
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    loss_fn = nn.MSELoss()
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    history = {name: {k: [] for k in CRH_NAMES} for name in names}
    epochs = []

    def record(epoch):
        with Recorder(model) as rec:
            for lo in range(0, len(probe_X), 128):
                loss_fn(model(probe_X[lo:lo + 128]), probe_Y[lo:lo + 128]).backward()
        model.zero_grad()
        for name, res in rec.crh().items():
            for k, v in res.as_dict().items():
                history[name][k].append(v)
        epochs.append(epoch)

    record(0)
    t0 = time.perf_counter()
    loss = float("nan")
    for epoch in range(1, args.epochs + 1):
        perm = torch.randperm(args.n)
        total = 0.0
        for lo in range(0, args.n, args.batch):
            idx = perm[lo:lo + args.batch]
            opt.zero_grad()
            batch_loss = loss_fn(model(X[idx]), Y[idx])
            batch_loss.backward()
            opt.step()
            total += float(batch_loss.detach()) * len(idx)
        loss = total / args.n
        if epoch % args.record_every == 0 or epoch == args.epochs:
            record(epoch)
            log(f"epoch {epoch:4d}  train loss {loss:.4f}  ({time.perf_counter() - t0:.1f} s)")
    return epochs, history, loss


def run(args):
    _check(args)
    if not args.no_plot:
        from .cli import _check_out_path
        _check_out_path(args.out, "figure")
    epochs, history, loss = train_and_record(args)
    print(f"\nCRH alignments (Pearson correlation of matrix entries) after {epochs[-1]} epochs, "
          f"weight decay {args.weight_decay:g}; layer 0 is the first linear layer")
    header = f"{'layer':>6} " + " ".join(f"{SHORT[k]:>8}" for k in CRH_NAMES) + f"  holds (>= {args.threshold:g})"
    print(header)
    for i, (name, h) in enumerate(history.items()):
        final = {k: v[-1] for k, v in h.items()}
        held = [SHORT[k] for k in CRH_NAMES if final[k] >= args.threshold]
        print(f"{i:>6} " + " ".join(f"{final[k]:8.3f}" for k in CRH_NAMES) + "  " + (", ".join(held) or "-"))
    if not args.no_plot:
        _plot(epochs, history, args.out)
        print(f"wrote {args.out}")
    return 0


def _plot(epochs, history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(history)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), sharey=True, squeeze=False)
    for ax, (i, (name, h)) in zip(axes[0], enumerate(history.items())):
        for k in CRH_NAMES:
            ax.plot(epochs, h[k], label=SHORT[k], ls="-" if k.startswith("forward") else "--")
        ax.set_title(f"linear layer {i}")
        ax.set_xlabel("epoch")
        ax.set_ylim(-0.2, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("alignment (Pearson)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)  # atomically: a failure never leaves half a file
    plt.close(fig)
