"""ganzoo's model zoo: what a GAN *is* (networks, losses, registry). No training code here.

Importing ``zoo`` registers every family.
"""

from zoo import acgan, cgan, dcgan, gan, lsgan, sngan, wgan, wgan_gp  # noqa: F401  (registers)
from zoo.registry import Family, Networks, RegistryError, get_family, list_families

__all__ = ["Family", "Networks", "RegistryError", "get_family", "list_families"]
