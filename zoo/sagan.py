"""SAGAN: self-attention GAN, BigGAN's smaller sibling.

Reference:
    Zhang, Goodfellow, Metaxas, Odena. "Self-Attention Generative Adversarial Networks."
    ICML 2019. https://arxiv.org/abs/1805.08318
    Authors' code: github.com/brain-research/self-attention-gan (``generator.py``,
    ``discriminator.py``, ``non_local.py``, ``ops.py``), which this module follows.

BigGAN's networks (``zoo.biggan``) as SAGAN has them, BigGAN having grown out of SAGAN: a flat
``z`` mapped to 4x4 maps, up-sampling residual blocks whose batch norms are class-conditional
through a per-class gain and bias of their own (an ``Embedding`` of the label each: the
authors' ``ConditionalBatchNorm``, the gain being 1 + the embedding), no shared class
embedding, no hierarchical latents; self-attention (``zoo.layers.SelfAttention``) in both
networks; a projection discriminator of down-sampling residual blocks; spectral normalization
in both networks; the hinge loss and the two time-scale update rule: Adam with G 1e-4, D 4e-4,
betas (0, 0.9), one discriminator step per generator step (sec. 5). No orthogonal
regularization, and no EMA of the generator. Glorot-uniform initialization, as the authors'.

What ships is built as BigGAN's (``zoo.biggan.ship``): Keras' own layers sharing the weights.

Where this differs from the authors' code, and why:

- Batch norm uses the global batch's statistics (``zoo.layers.CrossReplicaBatchNorm``), so a
  step on several replicas is the step on one device; the authors' TF code normalizes each
  tower's batch. The moving statistics' momentum is BigGAN's 0.9 (PyTorch's 0.1), not the
  authors' 0.999, which suits their million steps and not the presets' thousands.
- Spectral normalization is Keras' (``zoo.layers.SpectralNorm``; see ``zoo.biggan``): the
  normalized kernel is written into the layer and sigma is not differentiated; D's class
  embedding is a linear map read at the label's one-hot, as in ``zoo.biggan``.
- The per-class gains and biases are drawn like the other weights (Glorot uniform: the gains
  are 1 + U(-a, a), a from 0.28 to 0.48 in the MNIST preset), as in BigGAN-PyTorch's SA-GAN
  (``which_embedding``, ``--G_init xavier``); the authors start every class at gain 1 and
  bias 0, where the label cannot reach the first images (ganzoo's registry-wide test, that
  every input changes the output, says so).
- Adam's beta_2 is the paper's 0.9; the authors' code leaves TensorFlow's default 0.999.
- Self-attention sits after the 16x16 blocks of both networks at 32x32 (the authors' 128x128
  networks: after the 32x32 block of G and of D).
- The presets are BigGAN's (``zoo.biggan.presets``): MNIST padded to 32x32,
  16 to 64 channels, batch 32, 3,200 steps; CIFAR-10 with 256 channels. The authors train
  ImageNet at 128x128 with gf_dim = df_dim = 64 (64 to 1,024 channels), batch 64 per tower.
"""

import dataclasses

from zoo.biggan import NO_INT8, BigGANConfig, build, contract, presets, ship
from zoo.contract import AdversarialObjective
from zoo.registry import Family, register_family


@dataclasses.dataclass
class SAGANObjective(AdversarialObjective):
    """SAGAN's objective: the hinge loss and one discriminator step per generator step (TTUR,
    sec. 5)."""

    loss: str = "hinge"


register_family(
    Family(
        name="sagan",
        config_cls=BigGANConfig,
        build=build,
        contract=contract,
        objective_cls=SAGANObjective,
        # What makes it SAGAN rather than BigGAN: per-block class embeddings, a flat z, no
        # orthogonal regularization.
        fixed={"hierarchical": False, "shared_dim": None, "ortho_reg": 0.0},
        ship=ship,
        no_int8=NO_INT8,
        paper="Zhang et al. 2019, arXiv:1805.08318",
        default_preset="sagan_mnist",
        presets=presets(
            "sagan",
            # Batch norm's moving statistics at BigGAN's momentum (0.9): at the authors' 0.999
            # the MNIST run's samples were near-black at step 750 (KID 53 at step 500), the
            # averages still far from the batches' statistics a thousand steps in.
            model={"latent_dim": 128, "init": "xavier", "bn_momentum": 0.9},
            # Measured padded on the 2-core Xeon: 3,200 steps in 6 min 56 s for the command,
            # FID (mnist_cnn) 17.7 and 96.7% of the samples read as the digit asked for
            # (resized, on the EPYC: after 1,500 steps FID 105.3 and 56.9%; docs/results.md).
            train={"steps": 3200, "g_lr": 1e-4, "d_lr": 4e-4, "beta_1": 0.0, "beta_2": 0.9},
            cifar10={"train": {"steps": 100000}},
        ),
    )
)
