"""The model file: selective scan against a step-by-step reference, SS2D bookkeeping, model contract, ONNX."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ferx.errors import ConfigError  # noqa: E402
from ferx.train.onepass.model import (  # noqa: E402
    ARCHITECTURES, SS2D, OnePassDetector, create_model, scan_reference, segsum, selective_scan, ssd_scan,
)


@pytest.mark.parametrize("length,chunk,heads,hdim", [(37, 8, 3, 2), (64, 16, 2, 4), (5, 16, 1, 1), (100, 7, 2, 3)])
def test_chunked_scan_equals_the_token_loop(length, chunk, heads, hdim):
    g = torch.Generator().manual_seed(length)
    u = torch.randn(2, length, heads, hdim, generator=g, dtype=torch.float64)
    a = -torch.rand(2, length, heads, generator=g, dtype=torch.float64) * 3  # strong and weak decays
    b = torch.randn(2, length, 5, generator=g, dtype=torch.float64)
    c = torch.randn(2, length, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(ssd_scan(u, a, b, c, chunk), scan_reference(u, a, b, c), rtol=1e-9, atol=1e-9)


def test_selective_scan_in_float32_matches_reference_with_input_dependent_delta():
    g = torch.Generator().manual_seed(0)
    bsz, length, heads, hdim, n = 3, 400, 4, 16, 16  # the sizes a 20×20 map gives in the neck
    x = torch.randn(bsz, length, heads, hdim, generator=g)
    dt = torch.nn.functional.softplus(torch.randn(bsz, length, heads, generator=g) - 2)
    a_param = -torch.rand(bsz, heads, generator=g) * 15 - 1
    b, c = torch.randn(bsz, length, n, generator=g), torch.randn(bsz, length, n, generator=g)
    d_skip = torch.randn(1, heads, hdim, generator=g)
    got = selective_scan(x, dt, a_param, b, c, d_skip, chunk=16)
    ref = scan_reference(x * dt[..., None], dt * a_param[:, None], b, c) + x * d_skip
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)


def test_segsum_by_hand():
    s = segsum(torch.tensor([1.0, 2.0, 3.0]))
    expected = torch.tensor([[0.0, -np.inf, -np.inf], [2.0, 0.0, -np.inf], [5.0, 3.0, 0.0]])
    torch.testing.assert_close(s, expected)


def test_ss2d_reads_four_directions_and_puts_them_back():
    m = SS2D(8, directions=4)
    x = torch.arange(2 * 3 * 5 * 4, dtype=torch.float32).reshape(2, 4, 3, 5)  # (B, D, H, W)
    seqs = m._sequences(x)  # (B, K, L, D)
    assert seqs.shape == (2, 4, 15, 4)
    torch.testing.assert_close(seqs[:, 0, 1], x[:, :, 0, 1])  # row-major: token 1 = row 0, col 1
    torch.testing.assert_close(seqs[:, 1, 1], x[:, :, 1, 0])  # column-major: token 1 = row 1, col 0
    torch.testing.assert_close(seqs[:, 2, 0], x[:, :, 2, 4])  # reversed rows start at the end
    merged = m._merge(seqs, 3, 5)  # each direction put back where it came from
    torch.testing.assert_close(merged, 4 * x.permute(0, 2, 3, 1))


@pytest.mark.parametrize("name", [n for n in ARCHITECTURES.names() if "nano" in n])
def test_model_contract(name):
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 96, 64))
    assert [tuple(o.shape) for o in out] == [(2, 13, 12, 8), (2, 13, 6, 4), (2, 13, 3, 2)]
    assert sum(p.numel() for p in model.parameters()) * 4 < 20e6  # ships under 20 MB in float32
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.randn(1, 1, 100, 64))
    with pytest.raises(ValueError, match=r"expected input \(B, 1, H, W\)"):
        model(torch.randn(1, 3, 64, 64))


def test_vss_and_csp_necks_differ_only_in_the_neck():
    vss, csp = create_model("onepass-nano-vss"), create_model("onepass-nano-csp")
    assert any("ss2d" in n for n, _ in vss.named_parameters())
    assert not any("ss2d" in n for n, _ in csp.named_parameters())
    backbone = lambda m: [tuple(p.shape) for n, p in m.named_parameters() if not n.startswith("neck.")]  # noqa: E731
    assert backbone(vss) == backbone(csp)
    # a name stands for preset options; options given win, and the checkpointed config rebuilds the model
    overridden = create_model("onepass-nano-vss", neck="csp")
    assert overridden.config == {**vss.config, "neck": "csp"} == csp.config
    assert [tuple(p.shape) for p in type(csp)(**csp.config).parameters()] == [tuple(p.shape) for p in csp.parameters()]


def test_unknown_model_or_option_raises():
    with pytest.raises(ConfigError, match="available"):
        create_model("onepass-huge-vss")
    with pytest.raises(ConfigError, match="unknown option.*'dstate'"):
        create_model("onepass-nano-vss", dstate=8)
    with pytest.raises(ConfigError, match="neck"):
        create_model("onepass-nano-vss", neck="transformer")


def test_onnx_export_matches_pytorch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from ferx.train.onepass.export import OUTPUTS, export_model

    torch.manual_seed(0)
    model = create_model("onepass-nano-vss").eval()
    # make the scan matter: larger steps so that states carry across chunks
    for m in model.modules():
        if isinstance(m, SS2D):
            m.dt_bias.data.fill_(0.5)
    path = tmp_path / "m.onnx"
    export_model(model, path, 96)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, 96, 96)).astype(np.float32)
    with torch.no_grad():
        ref = [o.numpy() for o in model(torch.from_numpy(x))]
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(OUTPUTS, {"image": x})
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, atol=1e-4, rtol=1e-4)
    graph = path.read_bytes()
    assert b"Loop" not in graph and b"Scan" not in graph  # no token loop in the exported graph


def test_a_wider_class_branch_changes_only_the_class_branch():
    """cls_widths [64, 128, 128]: the class convolutions of strides 16 and 32 run at 128 channels; the
    stems, box branches and outputs keep their shapes; the config rebuilds it; a wrong length raises."""
    base, wide = create_model("onepass-nano-csp"), create_model("onepass-nano-csp", cls_widths=[64, 128, 128])
    assert [b[1].conv.out_channels for b in wide.head.cls_convs] == [64, 128, 128]
    assert [b[1].conv.out_channels for b in base.head.cls_convs] == [64, 64, 64]
    assert [p.in_channels for p in wide.head.cls_preds] == [64, 128, 128]
    same = lambda m: {k: v.shape for k, v in m.state_dict().items() if not k.startswith(("head.cls_convs", "head.cls_preds"))}  # noqa: E731
    assert same(base) == same(wide)
    with torch.no_grad():
        assert [o.shape for o in wide.eval()(torch.zeros(1, 1, 64, 64))] == [o.shape for o in base.eval()(torch.zeros(1, 1, 64, 64))]
    assert wide.config["cls_widths"] == [64, 128, 128] and "cls_widths" not in base.config
    rebuilt = OnePassDetector(**wide.config)
    rebuilt.load_state_dict(wide.state_dict())
    with pytest.raises(ConfigError, match="one positive width per level"):
        create_model("onepass-nano-csp", cls_widths=[128, 128])
