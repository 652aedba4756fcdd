"""WGAN: Wasserstein GAN with weight clipping.

Reference:
    Arjovsky, Chintala, Bottou. "Wasserstein GAN." ICML 2017. https://arxiv.org/abs/1701.07875

The DCGAN networks (``zoo.dcgan``) with the discriminator as a critic: its output is a score,
not a probability; it is updated ``n_critic`` = 5 times per generator update with RMSprop
(lr 5e-5) and its weights are clipped to [-0.01, 0.01] after every update (alg. 1).
"""

from zoo.dcgan import DCGANConfig, build, mnist_presets
from zoo.registry import Family, register_family

register_family(
    Family(
        name="wgan",
        config_cls=DCGANConfig,
        build=build,
        paper="Arjovsky et al. 2017, arXiv:1701.07875",
        loss="wasserstein",
        default_preset="wgan_mnist",
        presets=mnist_presets(
            "wgan",
            train={
                "steps": 2000,
                "d_steps": 5,
                "optimizer": "rmsprop",
                "g_lr": 5e-5,
                "d_lr": 5e-5,
                "clip_value": 0.01,
                "sample_every": 250,
                "checkpoint_every": 500,
            },
            tiny_train={"d_steps": 2, "optimizer": "rmsprop", "clip_value": 0.01},
        ),
    )
)
