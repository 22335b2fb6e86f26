"""MultiheadAttention (torch face) and MultiHeadAttention (Keras face) against
torch.nn.MultiheadAttention with copied weights: outputs, returned weights, gradients of the
inputs and of every weight, with padding, boolean, float and causal masks."""
import numpy as np
import pytest
import torch

import shenjing as sj
from shenjing import nn

TOL = dict(rtol=1e-4, atol=2e-5)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def torch_mha(e=16, h=4, seed=0, **kwargs):
    torch.manual_seed(seed)
    m = torch.nn.MultiheadAttention(e, h, batch_first=kwargs.pop("batch_first", True),
                                    **kwargs)
    with torch.no_grad():  # non-zero biases, so a bias mix-up shows
        for name, p in m.named_parameters():
            if "bias" in name:
                p.normal_()
    return m.eval()


def compare(ours, ref, inputs, kwargs=None, tkwargs=None, grads=True):
    """Call both on the same inputs (equal arrays stay one object, so self-attention is
    self-attention on both sides); compare output, weights, input and weight gradients."""
    kwargs, tkwargs = kwargs or {}, tkwargs if tkwargs is not None else kwargs or {}
    sj_in, t_in = {}, {}
    for a in inputs:
        sj_in.setdefault(id(a), sj.tensor(a, requires_grad=True))
        t_in.setdefault(id(a), torch.tensor(a, requires_grad=True))
    out, w = ours(*(sj_in[id(a)] for a in inputs), **kwargs)
    tout, tw = ref(*(t_in[id(a)] for a in inputs), **tkwargs)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    if tw is None:
        assert w is None
    else:
        assert w.shape == tuple(tw.shape)
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), **TOL)
    if not grads:
        return
    g = rand(*out.shape, seed=9)
    out.backward(g)
    tout.backward(torch.tensor(g))
    for key in sj_in:
        np.testing.assert_allclose(sj_in[key].grad.numpy(), t_in[key].grad.numpy(), **TOL)
    ours_p = dict(ours.named_parameters())
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(ours_p[name].grad.numpy(), p.grad.numpy(), err_msg=name,
                                   **TOL)


def padding(b, s, seed=1):
    kpm = np.zeros((b, s), bool)
    kpm[1, s - 2:] = True  # the last two keys of sample 1 are padding
    return kpm


def test_state_dict_names_and_direct_load():
    ref = torch_mha()
    ours = nn.MultiheadAttention(16, 4)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())  # torch tensors load as they are
    np.testing.assert_array_equal(ours.in_proj_weight.numpy(), ref.in_proj_weight.detach())


def test_self_attention_with_padding_and_per_head_weights():
    ref = torch_mha()
    x = rand(3, 6, 16)
    kpm = padding(3, 6)
    compare(nn.MultiheadAttention.from_torch(ref), ref, [x, x, x],
            dict(key_padding_mask=kpm, average_attn_weights=False),
            dict(key_padding_mask=torch.tensor(kpm), average_attn_weights=False))


@pytest.mark.parametrize("mask_kind", ["bool", "float", "bool3d"])
def test_cross_attention_with_masks(mask_kind):
    ref = torch_mha(seed=1)
    q, mem = rand(2, 5, 16), rand(2, 7, 16, seed=1)
    rng = np.random.default_rng(2)
    if mask_kind == "bool":  # True = masked (torch's MultiheadAttention convention)
        mask = rng.random((5, 7)) < 0.3
        mask[:, 0] = False
    elif mask_kind == "float":
        mask = rng.standard_normal((5, 7)).astype(np.float32)
    else:  # (batch·heads, L, S)
        mask = rng.random((2 * 4, 5, 7)) < 0.3
        mask[..., 0] = False
    kpm = padding(2, 7)
    if mask_kind == "float":  # a float padding mask too (torch warns on mixed kinds)
        kpm = np.where(kpm, -np.inf, 0).astype(np.float32)
    compare(nn.MultiheadAttention.from_torch(ref), ref, [q, mem, mem],
            dict(attn_mask=mask, key_padding_mask=kpm),
            dict(attn_mask=torch.tensor(mask), key_padding_mask=torch.tensor(kpm)))


def test_distinct_key_value_kdim_vdim_and_no_bias():
    ref = torch_mha(seed=2, kdim=6, vdim=10, bias=False)
    ours = nn.MultiheadAttention.from_torch(ref)
    assert ours.in_proj_weight is None and ours.in_proj_bias is None
    assert list(ours.state_dict()) == list(ref.state_dict())
    compare(ours, ref, [rand(2, 5, 16), rand(2, 4, 6, seed=1), rand(2, 4, 10, seed=2)])


def test_causal_and_batch_first_false():
    ref = torch_mha(seed=3, batch_first=False)
    x = rand(6, 2, 16)  # (L, B, E)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(6)
    compare(nn.MultiheadAttention.from_torch(ref), ref, [x, x, x],
            dict(attn_mask=mask.numpy(), is_causal=True),
            dict(attn_mask=mask, is_causal=True))
    ours = nn.MultiheadAttention.from_torch(ref)  # is_causal alone is enough here
    out, _ = ours(sj.tensor(x), sj.tensor(x), sj.tensor(x), is_causal=True, need_weights=False)
    tout, _ = ref(*[torch.tensor(x)] * 3, attn_mask=mask, need_weights=False)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)


def test_fully_padded_sample_stays_finite():
    ours = nn.MultiheadAttention(8, 2)
    x = sj.tensor(rand(2, 4, 8), requires_grad=True)
    kpm = np.zeros((2, 4), bool)
    kpm[0] = True  # sample 0 may attend to nothing: torch gives NaN, we give the bias
    out, w = ours(x, x, x, key_padding_mask=kpm)
    assert np.isfinite(out.numpy()).all() and np.isfinite(w.numpy()).all()
    np.testing.assert_allclose(out.numpy()[0], np.broadcast_to(ours.out_proj.bias.numpy(),
                                                               (4, 8)))
    out.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def keras_from_torch(ref, **kwargs):
    e, h = ref.embed_dim, ref.num_heads
    layer = nn.MultiHeadAttention(num_heads=h, key_dim=e // h, **kwargs)
    layer(sj.zeros(1, 2, e), sj.zeros(1, 3, e))  # builds
    layer.load_state_dict(ref.state_dict())
    return layer


def test_keras_face_matches_torch():
    ref = torch_mha(seed=4)
    layer = keras_from_torch(ref)
    q, v = rand(2, 5, 16), rand(2, 7, 16, seed=1)
    attend = np.random.default_rng(3).random((2, 5, 7)) < 0.7  # Keras: True = attend
    attend[..., 0] = True
    out, scores = layer(sj.tensor(q), sj.tensor(v), attention_mask=attend,
                        return_attention_scores=True)
    tout, tw = ref(torch.tensor(q), torch.tensor(v), torch.tensor(v),
                   attn_mask=torch.tensor(~attend).repeat_interleave(4, 0),
                   average_attn_weights=False)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    assert scores.shape == (2, 4, 5, 7)
    np.testing.assert_allclose(scores.numpy(), tw.detach().numpy(), **TOL)
    # 0/1 integer masks mean the same; use_causal_mask matches torch's causal mask
    out2 = layer(sj.tensor(q), sj.tensor(v), attention_mask=attend.astype(int))
    np.testing.assert_array_equal(out2.numpy(), out.numpy())
    x = rand(2, 5, 16, seed=5)
    causal = layer(x, x, use_causal_mask=True)
    tcausal, _ = ref(*[torch.tensor(x)] * 3, need_weights=False,
                     attn_mask=torch.nn.Transformer.generate_square_subsequent_mask(5))
    np.testing.assert_allclose(causal.numpy(), tcausal.detach().numpy(), **TOL)


def test_keras_face_shapes_and_dims():
    layer = nn.MultiHeadAttention(num_heads=3, key_dim=4, value_dim=5, output_shape=7)
    q, v, k = sj.randn(2, 6, 10), sj.randn(2, 8, 12), sj.randn(2, 8, 9)
    out, scores = layer(q, v, k, return_attention_scores=True)
    assert out.shape == (2, 6, 7) and scores.shape == (2, 3, 6, 8)
    shapes = {n: p.shape for n, p in layer.named_parameters()}
    assert shapes == {"q_proj_weight": (12, 10), "k_proj_weight": (12, 9),
                      "v_proj_weight": (15, 12), "in_proj_bias": (39,),
                      "out_proj.weight": (7, 15), "out_proj.bias": (7,)}
    config = layer.get_config()
    assert config["output_shape"] == 7 and config["value_dim"] == 5
    assert nn.MultiHeadAttention.from_config(config).key_dim == 4


def test_gradcheck_float64():
    layer = nn.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64")
    kpm_like = np.ones((2, 3, 4), bool)
    kpm_like[1, :, 3] = False
    report = sj.explain.gradcheck(
        lambda q, v: layer(q, v, attention_mask=kpm_like),
        [rand(2, 3, 5).astype("float64"), rand(2, 4, 5, seed=1).astype("float64")])
    assert report.ok, str(report)


def test_dropout_only_in_training():
    layer = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = sj.tensor(rand(2, 5, 8))
    sj.manual_seed(0)
    a, _ = layer(x, x, x)
    sj.manual_seed(0)
    b, _ = layer(x, x, x)
    c, _ = layer(x, x, x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(b.numpy(), c.numpy())
    layer.eval()
    d, _ = layer(x, x, x)
    e, _ = layer(x, x, x)
    np.testing.assert_array_equal(d.numpy(), e.numpy())


def test_errors():
    with pytest.raises(ValueError, match="embed_dim=10 must be divisible by num_heads=3"):
        nn.MultiheadAttention(10, 3)
    layer = nn.MultiheadAttention(8, 2)
    x = sj.randn(2, 5, 8)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 5\).*\(2, 2, 5, 5\)"):
        layer(x, x, x, attn_mask=np.zeros((4, 5), bool))
    with pytest.raises(ValueError, match=r"key_padding_mask of shape \(2, 4\).*\(2, 5\)"):
        layer(x, x, x, key_padding_mask=np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match=r"query of shape \(batch, time, 8\), got \(2, 5, 6\)"):
        layer(sj.randn(2, 5, 6), x, x)
    keras = nn.MultiHeadAttention(2, 4)
    with pytest.raises(ValueError, match=r"attention_mask of shape \(2, 3, 5\)"):
        keras(x, x, attention_mask=np.ones((2, 3, 5), bool))
    with pytest.raises(ValueError, match="num_heads"):
        nn.MultiHeadAttention(0, 4)
