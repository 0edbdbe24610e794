"""netmirror.torch.Recorder against per-sample gradients computed one sample at a time (skipped without torch)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import netmirror  # noqa: E402
from netmirror.torch import Recorder  # noqa: E402


def make_model(inplace=True):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(inplace=inplace), nn.Linear(7, 3))


def per_sample_matrices(model, X, Y, normalize=False):
    """H_a, G_a, H_b, G_b per linear layer, from one backward pass per sample (no hooks)."""
    rows = {name: {k: [] for k in ("H_a", "G_a", "H_b", "G_b")} for name in ("0", "2")}
    for x, y in zip(X, Y):
        h0 = x[None].clone()
        b0 = model[0](h0)
        b0.retain_grad()
        a1 = torch.relu(b0)
        a1.retain_grad()
        b2 = model[2](a1)
        b2.retain_grad()
        loss = ((b2 - y[None]) ** 2).sum() / 2
        loss.backward()
        for name, h_a, h_b in (("0", h0, b0), ("2", a1, b2)):
            g_b = -h_b.grad.detach()
            g_a = g_b @ model[int(name)].weight.detach()
            for key, v in (("H_a", h_a), ("H_b", h_b), ("G_a", g_a), ("G_b", g_b)):
                v = v.detach().double().numpy()
                if normalize:
                    n = np.linalg.norm(v, axis=1, keepdims=True)
                    v = v / np.where(n == 0, 1, n)
                rows[name][key].append(v)
        model.zero_grad()
    out = {}
    for name, d in rows.items():
        out[name] = {}
        for key, vs in d.items():
            M = np.concatenate(vs)
            out[name][key] = M.T @ M / len(M)
    return out


@pytest.mark.parametrize("normalize", [False, True])
def test_recorder_matches_per_sample_gradients(normalize):
    model = make_model(inplace=True)
    torch.manual_seed(1)
    X, Y = torch.randn(24, 5), torch.randn(24, 3)
    with Recorder(model, normalize=normalize) as rec:
        for lo in range(0, 24, 8):  # batches of 8, loss = mean over the batch
            out = model(X[lo:lo + 8])
            loss = (((out - Y[lo:lo + 8]) ** 2).sum(dim=1) / 2).mean()
            loss.backward()
            model.zero_grad()
    expected = per_sample_matrices(model, X, Y, normalize=normalize)
    got = rec.matrices()
    assert set(got) == {"0", "2"}
    for name in got:
        for key in ("H_a", "G_a", "H_b", "G_b"):
            np.testing.assert_allclose(got[name][key], expected[name][key], rtol=1e-5,
                                       atol=1e-6 * np.abs(expected[name][key]).max(), err_msg=f"{name} {key}")
    crh = rec.crh()
    ref = netmirror.crh_alignments(*(expected["2"][k] for k in ("H_a", "G_a", "H_b", "G_b")),
                                   model[2].weight.detach().double().numpy())
    for k, v in ref.as_dict().items():
        assert crh["2"].as_dict()[k] == pytest.approx(v, abs=1e-5)
    assert rec.counts()["0"] == {"H_a": 24, "G_a": 24, "H_b": 24, "G_b": 24}


def test_sum_reduction_and_hook_removal():
    model = make_model(inplace=False)
    X, Y = torch.randn(6, 5), torch.randn(6, 3)
    with Recorder(model, layers=[model[2]], loss_reduction="sum") as rec:
        loss = (((model(X) - Y) ** 2).sum(dim=1) / 2).sum()
        loss.backward()
    expected = per_sample_matrices(make_model(inplace=False), X, Y)
    np.testing.assert_allclose(rec.matrices()["2"]["G_b"], expected["2"]["G_b"], rtol=1e-5)
    assert list(rec.layers) == ["2"]
    model(X).sum().backward()  # hooks are gone: nothing more is recorded
    assert rec.counts()["2"]["H_a"] == 6 and rec.counts()["2"]["G_b"] == 6


def test_no_grad_forward_records_only_h():
    model = make_model()
    with Recorder(model, layers=["0"]) as rec, torch.no_grad():
        model(torch.randn(4, 5))
    assert rec.counts()["0"] == {"H_a": 4, "G_a": 0, "H_b": 4, "G_b": 0}
    with pytest.raises(ValueError, match="no recorded G_a"):
        rec.crh()


def test_bad_layers():
    model = make_model()
    with pytest.raises(TypeError, match="ReLU"):
        Recorder(model, layers=["1"])
    with pytest.raises(ValueError, match="no module named"):
        Recorder(model, layers=["nope"])
    with pytest.raises(ValueError, match="mean"):
        Recorder(model, loss_reduction="avg")


# --------------------------------------------------------------------------------------------------
# netmirror align (the command line)
def test_align_cli_table_and_figure(tmp_path, capsys):
    from netmirror.cli import main

    out = tmp_path / "align.png"
    assert main(["align", "--epochs", "4", "--record-every", "2", "--depth", "2", "--width", "12", "--n", "256",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fwd RWA" in text and "bwd GWA" in text and "epoch    4" in text
    rows = [line.split() for line in text.splitlines() if line.strip()[:1].isdigit() and "epoch" not in line]
    assert [r[0] for r in rows] == ["0", "1", "2"]  # three linear layers
    assert all(-1.0 <= float(v) <= 1.0 for r in rows for v in r[1:7])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_align_cli_bad_options(capsys):
    from netmirror.cli import main

    assert main(["align", "--epochs", "0", "--no-plot"]) == 2
    assert "argument --epochs: must be an integer from 1 to 1,000,000, got 0" in capsys.readouterr().err
    assert main(["align", "--out", "/nonexistent-folder/x.png"]) == 2


def test_layer_called_with_keyword_input_is_recorded():
    """Recorder crashed (IndexError: tuple index out of range) when a Linear was called as lin(input=x)."""
    torch.manual_seed(1)
    X = torch.randn(16, 5)
    recorded = []
    for keyword in (False, True):
        model = make_model(inplace=False)
        with Recorder(model) as rec:
            h = model[0](input=X) if keyword else model[0](X)
            out = model[2](input=model[1](h)) if keyword else model[2](model[1](h))
            (out**2).sum().backward()
        recorded.append(rec.matrices())
    for name in recorded[0]:
        for key in ("H_a", "G_a", "H_b", "G_b"):
            np.testing.assert_array_equal(recorded[0][name][key], recorded[1][name][key])


@pytest.mark.parametrize("where", ["input", "gradient"])
def test_non_finite_values_name_the_layer(where):
    """A NaN activation raised "X contains NaN or infinity" inside the hook, naming no layer."""
    model = make_model(inplace=False)
    X = torch.randn(8, 5)
    with Recorder(model) as rec:
        if where == "input":
            X[3, 2] = float("nan")
            with pytest.raises(ValueError, match=r"layer '0': its input h_a has 1 NaN or infinite value.*row 3"):
                model(X)
        else:
            out = model(X)
            with pytest.raises(ValueError, match=r"layer '2': its output gradient g_b has .* NaN or infinite"):
                (out * float("inf")).sum().backward()
    counts = rec.counts()
    assert counts["0"]["H_a"] == (0 if where == "input" else 8)  # a refused batch is not recorded
    assert counts["2"]["G_b"] == 0
