"""ACGAN: auxiliary classifier GAN.

Reference:
    Odena, Olah, Shlens. "Conditional Image Synthesis with Auxiliary Classifier GANs."
    ICML 2017. https://arxiv.org/abs/1610.09585

The generator gets the class label (an embedding concatenated with ``z``); the discriminator
sees only the image and has a second head of class logits. Both networks add the
cross-entropy of that head on the labels of real and generated images (the paper's L_C) to
their adversarial losses. Built on the DCGAN networks (``zoo.dcgan``).
"""

from zoo.dcgan import DCGANConfig, build, mnist_presets
from zoo.registry import Family, register_family

register_family(
    Family(
        name="acgan",
        config_cls=DCGANConfig,
        build=build,
        paper="Odena et al. 2017, arXiv:1610.09585",
        loss="non_saturating",
        default_preset="acgan_mnist",
        presets=mnist_presets("acgan", model={"num_classes": 10, "d_labels": "auxiliary"}),
    )
)
