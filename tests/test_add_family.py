"""A family the trainer code has never seen: three networks, an input read from the data, a
trainer kind of its own. Declared in under 60 lines (between the markers), it trains, resumes
exactly and exports, with no change to the trainer, the loop or export."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from export import ExportOptions, export_run
from training import config as cfg
from training import trainers
from training.loop import open_run, train
from zoo import contract, registry
from zoo.losses import NON_SATURATING, reduce_loss


# --- the family ---------------------------------------------------------------------------
@dataclasses.dataclass
class RestorerConfig:
    image_size: int = 16
    channels: int = 1
    latent_dim: int = 4


def build(c: RestorerConfig):
    image, z = keras.Input((16, 16, 1), name="source"), keras.Input((c.latent_dim,), name="z")
    plane = keras.layers.Reshape((16, 16, 1))(keras.layers.Dense(256)(z))
    x = keras.layers.Concatenate()([image, plane])
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    out = keras.layers.Conv2D(1, 3, padding="same", activation="tanh", name="out")(x)
    d_in = keras.Input((16, 16, 1), name="image")
    logits = keras.layers.Dense(1)(keras.layers.Flatten()(keras.layers.Conv2D(4, 3, 2)(d_in)))
    e_in = keras.Input((16, 16, 1), name="image")
    code = keras.layers.Dense(c.latent_dim)(keras.layers.Flatten()(e_in))
    g, d = keras.Model([image, z], out, name="generator"), keras.Model(d_in, logits, name="d")
    return {"generator": g, "discriminator": d, "encoder": keras.Model(e_in, code)}


class Restorer(trainers.Trainer):
    def train_step(self, batch):
        local = tf.shape(batch["image"])[0]
        n = local * tf.distribute.get_strategy().num_replicas_in_sync
        inputs = self.generator_inputs(local, 0, batch)
        with tf.GradientTape() as tape:
            fake = self.discriminator(self.run_generator(inputs))
            d_loss = reduce_loss(NON_SATURATING.d_loss(self.discriminator(batch["image"]), fake), n)
            objective = self.objective("discriminator", d_loss)
        self.apply("discriminator", tape, objective)
        with tf.GradientTape(persistent=True) as tape:
            fake = self.run_generator(inputs)
            g_loss = reduce_loss(NON_SATURATING.g_loss(self.discriminator(fake)), n)
            e_loss = reduce_loss(tf.reduce_sum((self.encoder(fake) - inputs["z"]) ** 2, -1), n)
            g_objective = self.objective("generator", g_loss + e_loss)
            e_objective = self.objective("encoder", e_loss)
        self.apply("generator", tape, g_objective)
        self.apply("encoder", tape, e_objective)
        return self.global_logs({"d_loss": d_loss, "g_loss": g_loss, "e_loss": e_loss})


FAMILY = registry.Family(
    name="restorer",
    config_cls=RestorerConfig,
    build=build,
    contract=lambda c: contract.Contract(
        "restorer",
        {"source": contract.from_data("image"), "z": contract.normal()},
        updates={
            "generator": "generator",
            "discriminator": "discriminator",
            "encoder": "generator",
        },
    ),
    presets={"tiny": {"data": {"batch_size": 8}, "train": {"checkpoint_every": 2}}},
    default_preset="tiny",
    paper="a test",
)
# --- end of the family --------------------------------------------------------------------


@pytest.fixture
def restorer(monkeypatch):
    monkeypatch.setitem(registry._FAMILIES, "restorer", FAMILY)
    monkeypatch.setitem(trainers.KINDS, "restorer", Restorer)


def _config(steps):
    return cfg.resolve("restorer", overrides=["data.source=vendored", f"train.steps={steps}"])


def test_a_new_family_trains_resumes_exactly_and_exports(restorer, tmp_path):
    result = train(_config(4), tmp_path / "straight")
    assert result.step == 4 and {"d_loss", "g_loss", "e_loss"} <= set(result.logs)
    train(_config(2), tmp_path / "resumed")
    train(_config(4), tmp_path / "resumed", resume=True)
    a, b = open_run(tmp_path / "straight")[0].trainer, open_run(tmp_path / "resumed")[0].trainer
    for name in ("generator", "discriminator", "encoder"):
        for x, y in zip(a.net(name).weights, b.net(name).weights, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)
    assert int(b.optimizers["encoder"].iterations.numpy()) == 4
    calibration = np.load(tmp_path / "straight" / "calibration.npz")["image"]
    assert calibration.shape == (256, 16, 16, 1) and calibration.min() >= -1.0
    report = export_run(
        tmp_path / "straight",
        tmp_path / "export",
        ExportOptions(tflite_variants=("float32", "int8"), repeats=1),
    )
    assert [i["name"] for i in report["inputs"]] == ["source", "z"]
    assert all(row["passed"] for row in report["results"])
