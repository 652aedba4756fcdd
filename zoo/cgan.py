"""cGAN: class-conditional GAN.

Reference:
    Mirza, Osindero. "Conditional Generative Adversarial Nets." 2014.
    https://arxiv.org/abs/1411.1784

Both networks get the class label: the generator an embedding of it concatenated with ``z``,
the discriminator an embedded label plane as an extra image channel. The paper conditions MLPs
by concatenating one-hot labels; ganzoo conditions the DCGAN networks (``zoo.dcgan``) the same
way, which trains faster and better on images. The exported generator takes ``z`` and ``label``.
"""

from zoo.dcgan import DCGANConfig, build, contract, mnist_presets
from zoo.registry import Family, register_family

register_family(
    Family(
        name="cgan",
        config_cls=DCGANConfig,
        build=build,
        contract=contract,
        fixed={"d_labels": "input", "num_codes": 0},
        paper="Mirza & Osindero 2014, arXiv:1411.1784",
        default_preset="cgan_mnist",
        presets=mnist_presets("cgan", model={"num_classes": 10}),
    )
)
