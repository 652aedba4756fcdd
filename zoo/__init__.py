"""ganzoo's model zoo: what a GAN *is* (networks, losses, registry). No training code here.

Importing ``zoo`` registers every family.
"""

from zoo import (  # noqa: F401  (registers)
    acgan,
    cgan,
    dcgan,
    gan,
    infogan,
    lsgan,
    sgan,
    sngan,
    wgan,
    wgan_gp,
)
from zoo.registry import Family, Networks, RegistryError, get_family, list_families

__all__ = ["Family", "Networks", "RegistryError", "get_family", "list_families"]
