"""ganzoo's model zoo: what a GAN *is* (networks, losses, registry). No training code here.

Importing ``zoo`` registers every family without importing Keras or TensorFlow: the family
modules import them inside the functions that build networks and compute losses, so listing
families, resolving a config and rejecting a misspelt name answer at once.
"""

from zoo import (  # noqa: F401  (registers)
    acgan,
    biggan,
    cartoongan,
    cgan,
    cyclegan,
    dcgan,
    discogan,
    dualgan,
    esrgan,
    gan,
    ganilla,
    imle_gan,
    infogan,
    lsgan,
    pix2pix,
    pix2pixhd,
    progan,
    sagan,
    sgan,
    sngan,
    srgan,
    stargan,
    stylegan2,
    wgan,
    wgan_gp,
)
from zoo.errors import GanzooError
from zoo.registry import (
    Family,
    RegistryError,
    export_variants,
    get_family,
    list_families,
    variant_flag,
)

__all__ = [
    "Family",
    "GanzooError",
    "RegistryError",
    "export_variants",
    "get_family",
    "list_families",
    "variant_flag",
]
