"""The model zoo: parameter counts against the published/torchvision numbers and analytic
formulas, output shapes, residual blocks and whole ResNets against torch re-implementations
(weights copied), gradient flow through shortcuts, and short training runs."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

import shenjing as sj
from shenjing import models
from shenjing.models import BasicBlock

VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
             512, 512, 512, "M"]
VGG11_CFG = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


def count(model):
    return sum(int(p.size) for p in model.parameters())


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="module")
def big():
    """The ImageNet-size models, built once (the builders probe with small inputs)."""
    built = {}

    def get(name):
        if name not in built:
            built[name] = models.get(name)
        return built[name]

    yield get
    built.clear()


# ---------------------------------------------------------------- analytic formulas
def vgg_formula(cfg, num_classes=1000, in_channels=3):
    """3x3 convolutions with bias, then 512·7·7 → 4096 → 4096 → classes."""
    n, c = 0, in_channels
    for v in cfg:
        if v != "M":
            n, c = n + c * v * 9 + v, v
    return n + (c * 7 * 7 + 1) * 4096 + (4096 + 1) * 4096 + (4096 + 1) * num_classes


def resnet_formula(blocks, widths, num_classes, stem_kernel, stem_channels, shortcut,
                   in_channels=3):
    """Convolutions without bias, 2 parameters per BN channel, projection shortcuts (B)
    where the shape changes, Dense head."""
    n = in_channels * stem_channels * stem_kernel ** 2 + 2 * stem_channels
    c = stem_channels
    for i, (b, w) in enumerate(zip(blocks, widths)):
        for j in range(b):
            n += c * w * 9 + 2 * w + w * w * 9 + 2 * w
            if shortcut == "B" and (c != w or (i > 0 and j == 0)):
                n += c * w + 2 * w
            c = w
    return n + c * num_classes + num_classes


# ---------------------------------------------------------------- parameter counts
@pytest.mark.parametrize("name,kwargs,expected", [
    ("lenet5", {}, 61_706),
    ("lenet5", dict(input_shape=(1, 32, 32), padding=0), 61_706),  # the 1998 layout
    ("seed_cnn", {}, 225_034),
    ("cifar_cnn", {}, 545_098),
    ("resnet20", {}, 269_722),
    ("resnet20", dict(shortcut="B"), 272_474),
    ("resnet32", {}, 464_154),
    ("resnet56", {}, 853_018),
])
def test_small_model_parameter_counts(name, kwargs, expected):
    assert count(models.get(name, **kwargs)) == expected


@pytest.mark.parametrize("name,expected", [
    ("alexnet", 61_100_840), ("vgg16", 138_357_544), ("vgg11", 132_863_336),
    ("resnet18", 11_689_512), ("resnet34", 21_797_672),
])
def test_imagenet_parameter_counts_match_torchvision(big, name, expected):
    model = big(name)
    assert count(model) == expected
    assert model.count_params() == expected


def test_vgg_counts_match_the_formula(big):
    assert count(big("vgg16")) == vgg_formula(VGG16_CFG) == 138_357_544
    assert count(big("vgg11")) == vgg_formula(VGG11_CFG)


def test_resnet_counts_match_the_formula(big):
    imagenet = dict(widths=(64, 128, 256, 512), num_classes=1000, stem_kernel=7,
                    stem_channels=64, shortcut="B")
    assert count(big("resnet18")) == resnet_formula([2, 2, 2, 2], **imagenet) == 11_689_512
    assert count(big("resnet34")) == resnet_formula([3, 4, 6, 3], **imagenet)
    cifar = dict(widths=(16, 32, 64), num_classes=10, stem_kernel=3, stem_channels=16)
    for depth in (20, 32, 56):
        n = (depth - 2) // 6
        assert count(models.get(f"resnet{depth}")) == \
            resnet_formula([n] * 3, shortcut="A", **cifar)
        assert count(models.get(f"resnet{depth}", shortcut="B")) == \
            resnet_formula([n] * 3, shortcut="B", **cifar)


def test_resnet20_is_the_papers_027m():
    n = count(models.resnet20())
    assert n == 269_722
    assert 260_000 <= n <= 280_000
    assert count(models.resnet20(shortcut="B")) > n  # projections add parameters


def test_batchnorm_statistics_are_buffers_not_parameters():
    model = models.resnet20()
    names = [k for k, _ in model.named_parameters()]
    assert not any("moving" in k for k in names)
    assert any(k.endswith("moving_mean") for k, _ in model.named_buffers())


# ---------------------------------------------------------------- output shapes
@pytest.mark.parametrize("name,kwargs,x_shape,out_shape", [
    ("lenet5", {}, (2, 1, 28, 28), (2, 10)),
    ("lenet5", dict(num_classes=3, activation="tanh", pooling="average"), (2, 1, 28, 28),
     (2, 3)),
    ("seed_cnn", dict(num_classes=5), (2, 1, 28, 28), (2, 5)),
    ("cifar_cnn", {}, (2, 3, 32, 32), (2, 10)),
    ("resnet20", {}, (2, 3, 32, 32), (2, 10)),
    ("resnet20", dict(num_classes=100, shortcut="B"), (2, 3, 16, 16), (2, 100)),
    ("resnet32", {}, (2, 3, 16, 16), (2, 10)),
    ("resnet56", {}, (1, 3, 16, 16), (1, 10)),
    ("resnet18", dict(num_classes=7), (2, 3, 64, 64), (2, 7)),
])
def test_small_inputs_give_the_expected_output_shape(name, kwargs, x_shape, out_shape):
    model = models.get(name, **kwargs)
    model.eval()
    y = model(sj.tensor(rand(*x_shape)))
    assert y.shape == out_shape
    assert np.isfinite(y.numpy()).all()


@pytest.mark.parametrize("name,x_shapes", [
    ("alexnet", [(1, 3, 64, 64), (1, 3, 80, 96)]),
    ("vgg16", [(1, 3, 32, 32), (1, 3, 48, 40)]),
    ("vgg11", [(1, 3, 32, 32)]),
    ("resnet18", [(1, 3, 64, 64), (1, 3, 40, 56)]),
    ("resnet34", [(1, 3, 32, 32)]),
])
def test_imagenet_models_accept_small_inputs(big, name, x_shapes):
    model = big(name)
    model.eval()
    for shape in x_shapes:
        assert model(sj.tensor(rand(*shape))).shape == (1, 1000)


def test_seed_cnn_outputs_probabilities():
    probs = models.seed_cnn()(sj.tensor(rand(3, 1, 28, 28))).numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_cifar_cnn_flattens_64x8x8_not_the_seeds_64x5x5():
    model = models.cifar_cnn()
    dense = [m for m in model.layers if isinstance(m, sj.nn.Dense)]
    assert dense[0].kernel.shape == (64 * 8 * 8, 128)


def test_conv_autoencoder_reconstructs_the_input_shape():
    for shape in [(1, 28, 28), (1, 8, 8), (3, 16, 12)]:
        ae = models.conv_autoencoder(shape, latent_channels=4)
        x = sj.tensor(np.abs(rand(2, *shape)))
        y = ae(x).numpy()
        assert y.shape == (2, *shape)
        assert ((y > 0) & (y < 1)).all()
        assert ae.encode(x).shape == (2, 4, shape[1] // 4, shape[2] // 4)
        assert ae.decode(ae.encode(x)).shape == (2, *shape)


def test_gan_generator_and_discriminator_shapes():
    for shape in [(1, 8, 8), (1, 28, 28)]:
        g, d = models.gan(latent_dim=16, image_shape=shape)
        assert isinstance(g, sj.Model) and isinstance(d, sj.Model)
        images = g(sj.tensor(rand(4, 16)))
        assert images.shape == (4, *shape)
        assert (np.abs(images.numpy()) < 1).all()
        assert d(images).shape == (4, 1)


def test_gan_gradients_reach_every_generator_weight():
    g, d = models.gan(latent_dim=8, image_shape=(1, 8, 8))
    logits = d(g(sj.tensor(rand(6, 8))))
    sj.losses.BinaryCrossentropy(from_logits=True)(sj.tensor(np.ones((6, 1), np.float32)),
                                                   logits).backward()
    for name, p in g.named_parameters():
        assert p.grad is not None and np.abs(p.grad.numpy()).sum() > 0, name


# ---------------------------------------------------------------- residual blocks
def test_gradient_flows_through_the_identity_shortcut():
    block = BasicBlock(8, 8)
    block(sj.tensor(rand(2, 8, 6, 6)))  # build
    block.bn2.gamma.data[...] = 0  # silence the residual branch: y = relu(x)
    x_np = rand(2, 8, 6, 6, seed=1)
    x = sj.tensor(x_np, requires_grad=True)
    block(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (x_np > 0).astype(np.float32))


def test_gradient_flows_through_the_zero_padding_shortcut():
    block = BasicBlock(8, 16, strides=2, shortcut="A")
    assert block.downsample is None
    x_np = rand(2, 8, 6, 6, seed=2)
    block(sj.tensor(x_np))
    block.bn2.gamma.data[...] = 0
    x = sj.tensor(x_np, requires_grad=True)
    y = block(x)
    assert y.shape == (2, 16, 3, 3)
    np.testing.assert_array_equal(y.numpy()[:, 8:], 0)  # the padded channels
    y.sum().backward()
    expected = np.zeros_like(x_np)
    expected[:, :, ::2, ::2] = x_np[:, :, ::2, ::2] > 0
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_gradient_flows_through_the_projection_shortcut():
    block = BasicBlock(8, 16, strides=2, shortcut="B")
    x_np = rand(2, 8, 6, 6, seed=3)
    block(sj.tensor(x_np))
    block.bn2.gamma.data[...] = 0
    x = sj.tensor(x_np, requires_grad=True)
    block(x).sum().backward()
    assert np.abs(x.grad.numpy()).sum() > 0
    assert np.abs(block.downsample[0].kernel.grad.numpy()).sum() > 0
    assert np.abs(block.conv1.kernel.grad.numpy()).sum() == 0  # branch silenced


# ---------------------------------------------------------------- against torch
class TorchBasicBlock(torch.nn.Module):
    """torchvision's BasicBlock, plus the paper's option-A shortcut."""

    def __init__(self, cin, cout, stride=1, shortcut="B"):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if shortcut == "B" and (stride != 1 or cin != cout):
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.downsample is not None:
            identity = self.downsample(x)
        else:
            identity = x[:, :, ::self.stride, ::self.stride]
            identity = F.pad(identity, (0, 0, 0, 0, 0, self.extra))
        return F.relu(out + identity)


class TorchResNet(torch.nn.Module):
    """torchvision's ResNet (BasicBlock) and the CIFAR variant, same attribute names."""

    def __init__(self, blocks, widths, num_classes, stem, shortcut):
        super().__init__()
        nn = torch.nn
        c = 64 if stem == "imagenet" else widths[0]
        k, s, p = (7, 2, 3) if stem == "imagenet" else (3, 1, 1)
        self.conv1 = nn.Conv2d(3, c, k, s, p, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if stem == "imagenet" else nn.Identity()
        for i, (n, w) in enumerate(zip(blocks, widths)):
            layer = []
            for j in range(n):
                layer.append(TorchBasicBlock(c, w, 2 if i and not j else 1, shortcut))
                c = w
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.n_stages = len(blocks)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        for i in range(self.n_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(x.mean(dim=(2, 3)))


TORCH_NAMES = {"kernel": "weight", "gamma": "weight", "beta": "bias",
               "moving_mean": "running_mean", "moving_variance": "running_var"}


def torch_name(name):
    *path, leaf = name.replace(".layers.", ".").split(".")
    return ".".join([*path, TORCH_NAMES.get(leaf, leaf)])


def randomize_bn(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data = 1 + 0.3 * torch.randn(m.weight.shape, generator=g)
            m.bias.data = 0.3 * torch.randn(m.bias.shape, generator=g)
            m.running_mean.data = 0.3 * torch.randn(m.running_mean.shape, generator=g)
            m.running_var.data = 0.5 + torch.rand(m.running_var.shape, generator=g)


def copy_from_torch(model, ref):
    """Load ``ref``'s weights into ``model``; their names must map one to one."""
    ref_state = {k: v for k, v in ref.state_dict().items() if "num_batches" not in k}
    own = model.state_dict()
    assert sorted(torch_name(k) for k in own) == sorted(ref_state)
    state = {}
    for k in own:
        value = ref_state[torch_name(k)].detach().numpy()
        state[k] = value.T if value.ndim == 2 else value  # Dense (in, out) vs Linear (out, in)
    model.load_state_dict(state)


@pytest.mark.parametrize("cin,cout,stride,shortcut", [
    (8, 8, 1, "B"), (8, 16, 2, "B"), (8, 16, 2, "A"), (8, 8, 1, "A"),
])
def test_basic_block_matches_torch(cin, cout, stride, shortcut):
    torch.manual_seed(0)
    ref = TorchBasicBlock(cin, cout, stride, shortcut)
    randomize_bn(ref)
    block = BasicBlock(cin, cout, strides=stride, shortcut=shortcut)
    x_np = rand(4, cin, 7, 7, seed=5)
    block(sj.tensor(x_np))  # build the lazy layers
    copy_from_torch(block, ref)

    block.eval(), ref.eval()
    expected = ref(torch.tensor(x_np)).detach().numpy()
    np.testing.assert_allclose(block(sj.tensor(x_np)).numpy(), expected, rtol=1e-4, atol=1e-5)

    # training mode: batch statistics, input gradients and running-statistics update
    block.train(), ref.train()
    x, xt = sj.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    y, yt = block(x), ref(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    up = rand(*y.shape, seed=6)
    y.backward(sj.tensor(up))
    yt.backward(torch.tensor(up))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(block.conv1.kernel.grad.numpy(), ref.conv1.weight.grad.numpy(),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(block.bn1.moving_variance.numpy(),
                               ref.bn1.running_var.numpy(), rtol=1e-5)


@pytest.mark.parametrize("name,ref_args,x_shape", [
    ("resnet20", ([3, 3, 3], (16, 32, 64), 10, "cifar", "A"), (2, 3, 16, 16)),
    ("resnet18", ([2, 2, 2, 2], (64, 128, 256, 512), 1000, "imagenet", "B"), (1, 3, 64, 64)),
])
def test_resnet_matches_a_torch_resnet_with_the_same_weights(big, name, ref_args, x_shape):
    torch.manual_seed(1)
    ref = TorchResNet(*ref_args)
    randomize_bn(ref, seed=1)
    model = big(name) if name == "resnet18" else models.get(name)
    copy_from_torch(model, ref)  # also checks the parameter names map to torchvision's
    model.eval(), ref.eval()
    x_np = rand(*x_shape, seed=7)
    expected = ref(torch.tensor(x_np)).detach().numpy()
    np.testing.assert_allclose(model(sj.tensor(x_np)).numpy(), expected, rtol=1e-3,
                               atol=1e-4)


# ---------------------------------------------------------------- training
def test_lenet5_trains_one_epoch_with_fit():
    sj.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    model = models.lenet5()
    before = [p.numpy().copy() for p in model.parameters()]
    model.compile("adam", sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"][0])
    assert all(not np.array_equal(b, p.numpy()) for b, p in zip(before, model.parameters()))
    assert model.predict(x[:5]).shape == (5, 10)


def test_resnet20_step_updates_every_parameter_and_the_running_statistics():
    sj.manual_seed(0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    model = models.resnet20()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    model.compile(sj.optim.SGD(lr=0.1),
                  sj.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    after = model.state_dict()
    unchanged = [k for k in before if np.array_equal(before[k], after[k])]
    assert unchanged == []


# ---------------------------------------------------------------- registry and errors
def test_registry_and_get():
    assert {"lenet5", "seed_cnn", "cifar_cnn", "alexnet", "vgg11", "vgg16", "resnet18",
            "resnet34", "resnet20", "resnet32", "resnet56", "conv_autoencoder",
            "gan"} <= set(models.MODELS)
    assert count(models.get("ResNet-20", num_classes=100)) == 269_722 + 64 * 90 + 90
    assert isinstance(models.get("lenet5"), sj.Sequential)
    assert isinstance(sj.models.get("gan"), tuple)
    with pytest.raises(ValueError, match="unknown model 'resnet19'.*resnet20"):
        models.get("resnet19")


@pytest.mark.parametrize("call,match", [
    (lambda: models.resnet_cifar(21), "6n \\+ 2"),
    (lambda: models.resnet20(shortcut="C"), "shortcut"),
    (lambda: models.conv_autoencoder((1, 10, 10)), "multiples of 4"),
    (lambda: models.gan(image_shape=(1, 6, 6)), "multiples of 4"),
    (lambda: models.alexnet(input_shape=(3, 32, 32)), "63x63"),
    (lambda: models.vgg(12), "depth"),
    (lambda: models.lenet5(num_classes=0), "num_classes"),
    (lambda: models.cifar_cnn(input_shape=(32, 32)), "input_shape"),
    (lambda: models.lenet5(input_shape=(1, 8, 8)), "cannot be built"),
])
def test_bad_arguments_are_explained(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_block_rejects_wrong_channels():
    block = BasicBlock(8, 8)
    with pytest.raises(ValueError, match=r"expects \(N, 8, H, W\)"):
        block(sj.tensor(rand(1, 4, 5, 5)))
