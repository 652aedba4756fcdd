"""Class weights instead of a class index: a conditional generator that takes a mixture of its
classes.

A generator whose contract has a ``class`` input (``label``, int32 [N]: cGAN, ACGAN, InfoGAN's
categorical code, BigGAN, SAGAN, StarGAN's target domain) meets the label in a one-hot
``CategoryEncoding`` or an ``Embedding``. ``soft_label_model`` clones it (sharing its layers and
weights) with ``label`` as float32 class weights [N, num_classes] instead: the one-hot encoding
passes the weights on, an embedding gives ``weights @ its matrix``. A one-hot row ``e_c`` is
then exactly class ``c``, and ``(1 - t) e_p + t e_q`` mixes the two classes' embeddings, which
is how the latent tools interpolate between classes (``training.latent``).

It is the ``class_weights`` export variant of every such family (``python -m export RUN
--class-weights``; ``zoo.registry.Family.variants_for``), and what the latent tools run on a
run folder's generator.keras. Importing this module imports no Keras.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.errors import GanzooError

if TYPE_CHECKING:
    import keras

VARIANT = "class_weights"  # python -m export RUN --class-weights; folder export_class_weights
TEXT = (
    "label is float32 class weights [N, num_classes] instead of an int32 class index (a "
    "one-hot row is that class; a mixture mixes the classes' embeddings)"
)
INPUT = "label"


class ClassWeightsError(GanzooError, ValueError):
    """A generator whose label cannot take class weights (it does not meet the label in a
    one-hot encoding or an embedding)."""


def soft_label_model(generator: keras.Model, num_classes: int) -> keras.Model:
    """``generator`` (sharing its layers) with its int32 ``label`` input replaced by float32
    class weights [N, num_classes], under the same name and in the same place among its
    inputs: a one-hot ``CategoryEncoding`` of the label passes the weights on, an ``Embedding``
    of it gives weights @ its matrix (the mixture of the classes' embeddings).

    Example:
        >>> soft = soft_label_model(cgan_generator, 10)
        >>> soft([z, np.eye(10, dtype="float32")[labels]])  # == cgan_generator([z, labels])
    """
    import keras

    inputs = []
    for tensor in generator.inputs:
        name = tensor.name.split(":")[0]
        if name == INPUT:
            inputs.append(keras.Input((num_classes,), dtype="float32", name=INPUT))
        else:
            inputs.append(keras.Input(tuple(tensor.shape[1:]), dtype=tensor.dtype, name=name))
    found = [t for t in inputs if t.name.split(":")[0] == INPUT]
    if not found:
        raise ClassWeightsError(f"the generator {generator.name!r} has no {INPUT!r} input")
    (weights,) = found

    def call(layer, *args, **kwargs):
        if args and args[0] is weights:
            if isinstance(layer, keras.layers.CategoryEncoding):
                # the weights as they are, as a tensor of its own: the layers after it take
                # them as they took the one-hot label (StarGAN's reshape into planes), not as
                # the label itself
                return keras.layers.Identity(name=layer.name)(weights)
            if isinstance(layer, keras.layers.Embedding):
                return keras.ops.matmul(weights, layer.embeddings)
            raise ClassWeightsError(
                f"the label enters this generator through {type(layer).__name__} "
                f"{layer.name!r}, not a one-hot encoding or an embedding; it cannot take class "
                "weights"
            )
        return layer(*args, **kwargs)

    return keras.models.clone_model(
        generator, input_tensors=inputs, clone_function=lambda layer: layer, call_function=call
    )
