"""The one base class of every error ganzoo raises on purpose.

Each layer raises its own subclass (``zoo.registry.RegistryError``, ``training.config.ConfigError``,
``export.sampler.ExportError``, ...) with a one-line message that says what was wrong and what is
accepted. The command-line tools catch ``GanzooError`` alone and print ``error: <message>``, so a
new error class is caught everywhere by deriving from it, and anything else (a bug) still shows
its traceback. It lives in ``zoo``, the lowest layer, so that training and export can both import
it without importing each other, and without TensorFlow.
"""

from __future__ import annotations


class GanzooError(Exception):
    """An input, file or state that ganzoo refuses, with a one-line message for the user."""
