"""A DCGAN on the 8x8 scikit-learn digits, trained with the PyTorch-style low-level loop.

    python examples/digits_gan.py                       # ~1 minute, writes runs/gan_samples.png
    python examples/digits_gan.py --epochs 5 --out /tmp/gan.png

``sj.models.gan()`` gives the pair: a generator from 16-d noise to 1x8x8 images in (-1, 1)
(transposed convolutions, BatchNorm, tanh) and a discriminator giving one logit per image.
The recipe is DCGAN's (Radford et al. 2016): images scaled to [-1, 1], Adam with lr 2e-4 and
betas (0.5, 0.999), binary cross-entropy on logits; each step trains the discriminator on a
real and a fake batch, then the generator to make the discriminator say "real" (the
non-saturating loss).  Samples are drawn in evaluation mode (BatchNorm running statistics)
and saved as a PNG grid with matplotlib.
"""
import argparse
import os

import numpy as np

import shenjing as sj
from shenjing.nn import functional as F

LATENT = 16


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=int(os.environ.get("SHENJING_EPOCHS", 40)))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=int(os.environ.get("SHENJING_SEED", 0)))
    p.add_argument("--out", default=os.path.join("runs", "gan_samples.png"))
    return p.parse_args()


def load_images():
    """All 1,797 digits (both splits: no labels are used) as (N, 1, 8, 8) in [-1, 1]."""
    (x_train, _), (x_test, _) = sj.data.load_digits()  # pixels / 16, in [0, 1]
    return (np.concatenate([x_train, x_test]).reshape(-1, 1, 8, 8) * 2 - 1).astype(np.float32)


def train(generator, discriminator, images, epochs, batch_size):
    opt_g = sj.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = sj.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = sj.data.DataLoader(sj.data.TensorDataset(images), batch_size=batch_size,
                                shuffle=True, drop_last=True)
    ones, zeros = sj.ones(batch_size, 1), sj.zeros(batch_size, 1)
    for epoch in range(epochs):
        generator.train()
        discriminator.train()
        sums = np.zeros(4)
        for (real,) in loader:
            # discriminator: real → 1, fake → 0 (the fakes are detached: no generator grads)
            fake = generator(sj.randn(batch_size, LATENT))
            opt_d.zero_grad()
            d_real, d_fake = discriminator(real), discriminator(fake.detach())
            loss_d = (F.binary_cross_entropy_with_logits(d_real, ones)
                      + F.binary_cross_entropy_with_logits(d_fake, zeros))
            loss_d.backward()
            opt_d.step()
            # generator: make the discriminator call the fakes real
            opt_g.zero_grad()
            loss_g = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
            loss_g.backward()
            opt_g.step()
            sums += [loss_d.item(), loss_g.item(), sj.sigmoid(d_real).mean().item(),
                     sj.sigmoid(d_fake).mean().item()]
        if (epoch + 1) % 5 == 0 or epoch + 1 == epochs:
            ld, lg, p_real, p_fake = sums / len(loader)
            print(f"epoch {epoch + 1}/{epochs}  loss D {ld:.3f}  loss G {lg:.3f}  "
                  f"D(real) {p_real:.2f}  D(fake) {p_fake:.2f}", flush=True)


def save_grid(samples, path, rows=8):
    """Images in [-1, 1] of shape (N, 1, 8, 8) → a rows x N/rows PNG grid."""
    import matplotlib  # noqa: PLC0415  (plotting only here; the Agg backend needs no display)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    cols = len(samples) // rows
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 0.8))
    for ax, img in zip(axes.flat, samples):
        ax.imshow((img[0] + 1) / 2, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.axis("off")
    fig.suptitle("DCGAN samples, 8x8 digits (shenjing)")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    args = parse_args()
    sj.manual_seed(args.seed)
    images = load_images()
    generator, discriminator = sj.models.gan(latent_dim=LATENT, image_shape=(1, 8, 8))
    print(f"{len(images)} images; generator {generator.count_params():,} parameters, "
          f"discriminator {discriminator.count_params():,}")
    train(generator, discriminator, images, args.epochs, args.batch_size)
    generator.eval()
    with sj.no_grad():
        samples = generator(sj.randn(64, LATENT)).numpy()
    save_grid(samples, args.out)
    print(f"Samples in [{samples.min():.2f}, {samples.max():.2f}] saved to {args.out}")


if __name__ == "__main__":
    main()
