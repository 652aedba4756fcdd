"""PacGAN packing (objective.pack): the discriminator judges m samples at once."""

import numpy as np
import pytest

from tests.conftest import tiny_config
from tests.test_trainer import _first_batch, _steps, _steps_identically_on_two_replicas
from training.loop import build_session
from training.rundir import RunError


def test_pack_images_puts_each_pack_side_by_side_in_the_channels():
    trainer = build_session(tiny_config("dcgan", "objective.pack=2")).trainer
    images = np.arange(4 * 2 * 2 * 3, dtype=np.float32).reshape(4, 2, 2, 3)
    packed = trainer.pack_images(images).numpy()
    assert packed.shape == (2, 2, 2, 6)
    for pack in range(2):
        for k in range(2):  # image k of the pack in channels 3k to 3k + 3
            np.testing.assert_array_equal(
                packed[pack, ..., 3 * k : 3 * k + 3], images[2 * pack + k]
            )
    assert trainer.discriminator.inputs[0].shape[-1] == 2  # a grey family's D: 2 channels


@pytest.mark.parametrize("family", ["gan", "wgan_gp", "stylegan2", "progan"])
def test_packed_families_train_with_one_logit_per_pack(family):
    """The discriminator reads m times the channels and gives batch / m outputs; the losses
    (and a gradient penalty's per-output norms) average over the packs."""
    session = build_session(tiny_config(family, "objective.pack=2"))
    trainer = session.trainer
    channels = session.config.model.channels
    assert trainer.discriminator.inputs[0].shape[-1] == 2 * channels
    batch = session.config.data.batch_size
    size = session.config.model.image_size
    real = np.zeros((batch, size, size, channels), np.float32)
    outputs = trainer.discriminate(real, {})
    assert next(iter(outputs.values())).shape[0] == batch // 2
    before = [w.numpy().copy() for w in trainer.discriminator.trainable_weights]
    logs = _steps(session.strategy, trainer, None, 1, batch=_first_batch(session.config))
    assert all(np.isfinite(v) for v in logs[0].values())
    after = trainer.discriminator.trainable_weights
    assert max(np.abs(w.numpy() - b).max() for w, b in zip(after, before, strict=True)) > 0


def test_packing_keeps_two_replica_parity():
    """Each replica packs its own rows (the global batch's consecutive pairs stay together
    when the batch splits evenly): two replicas take the step one device takes."""
    _steps_identically_on_two_replicas("dcgan", "objective.pack=2")


@pytest.mark.parametrize(
    "family, overrides, message",
    [
        ("cgan", [], "cgan's discriminator reads image, label and gives logits, one per image"),
        ("acgan", [], "acgan's discriminator reads image and gives logits, class_logits"),
        ("pix2pix", [], "pix2pix is a paired family"),
        ("dcgan", ["objective.pack=3"], "objective.pack=3 must divide each replica's batch"),
        ("dcgan", ["objective.pack=0"], "objective.pack must be positive"),
    ],
)
def test_pack_errors_say_what_is_accepted(family, overrides, message):
    with pytest.raises((RunError, ValueError)) as err:
        build_session(tiny_config(family, "objective.pack=2", *overrides))
    assert message in str(err.value) and "\n" not in str(err.value)
