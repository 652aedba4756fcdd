"""StarGAN: labelled domains in the data, its objective's pieces, exact resume, and sampling and
evaluation into each domain; on the tiny preset, sharing the session's trained run."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import tiny_config
from training import data, views
from training.evaluate import main as evaluate_main
from training.loop import open_run, train
from training.sample import main as sample_main
from training.sections import ConfigError, DataConfig
from zoo import losses, stargan, terms

STYLES = DataConfig(
    source="vendored",
    batch_size=6,
    domains=["test[:100]", "test[100:200]", "test[200:300]"],
    domain_views=["none", "bold", "thin"],
    domain_labels=True,
)


def test_labelled_domains_give_equal_shares_and_resume_with_skip():
    stream, description = data.make_dataset(STYLES, 16, 1, seed=1)
    first = list(stream.take(3))
    assert set(first[0]) == {"image", "label"} and "C: " in description
    assert first[0]["label"].numpy().tolist() == [0, 0, 1, 1, 2, 2]
    digits, _ = data.load_split(STYLES, "test[:300]", 16, 1)
    bold = views.view("bold", digits[100:200]).numpy()
    for image in first[0]["image"].numpy()[2:4]:  # domain 1's share: bold digits of 100-199
        assert np.abs(bold - image).reshape(100, -1).max(axis=1).min() < 1e-5
    resumed = next(iter(data.make_dataset(STYLES, 16, 1, seed=1, skip=12)[0]))
    np.testing.assert_array_equal(resumed["image"], first[2]["image"])
    with pytest.raises(ConfigError, match="multiple of the 3 data.domains"):
        DataConfig(**{**STYLES.__dict__, "batch_size": 8}).validate()
    with pytest.raises(ConfigError, match="needs data.domains"):
        DataConfig(domain_labels=True).validate()
    with pytest.raises(data.DataError, match="3 domains but model.num_classes=4; set model"):
        data.make_dataset(STYLES, 16, 1, seed=1, num_classes=4)


def test_objective_is_wgan_gp_real_only_classification_and_reconstruction():
    pieces = stargan.terms(stargan.StarGANObjective())
    assert [type(p) for p in pieces] == [
        terms.Adversarial,
        terms.GradientPenalty,
        terms.AuxiliaryClassifier,
        terms.DomainReconstruction,
    ]
    assert pieces[0].pair is losses.WASSERSTEIN and pieces[1].weight == 10.0
    assert not pieces[2].on_fakes and (pieces[2].weight, pieces[3].weight) == (1.0, 10.0)
    assert stargan.StarGANObjective().d_steps == 5
    # The discriminator classifies real images only; the generator is scored on its fakes.
    real_logits = tf.constant([[5.0, 0.0], [0.0, 5.0]])
    update = terms.Update(
        global_batch=2,
        batch={"image": tf.zeros((2, 4)), "label": tf.constant([0, 1])},
        real_out={"class_logits": real_logits},
        fake_in={"label": tf.constant([1, 1])},
        fake=tf.zeros((2, 4)),
        fake_out={"class_logits": tf.constant([[0.0, 0.0], [0.0, 0.0]])},
        critic=None,
        draw=None,
        discriminate=None,
        logs={},
    )
    real_only = terms.AuxiliaryClassifier(1.0, on_fakes=False)
    expected_real = np.log1p(np.exp(-5.0))  # -log softmax of the right class
    assert float(real_only.discriminator_loss(update)) == pytest.approx(expected_real, rel=1e-5)
    with_fakes = terms.AuxiliaryClassifier(1.0).discriminator_loss(update)
    assert float(with_fakes) == pytest.approx(expected_real + np.log(2.0), rel=1e-5)
    assert float(real_only.generator_loss(update)) == pytest.approx(np.log(2.0), rel=1e-5)


def test_reconstruction_translates_back_to_each_images_own_domain():
    seen = {}

    def generate(inputs):  # records what the way back was asked; "translates" by adding 1
        seen.update(inputs)
        return inputs["source"] + 1.0

    update = terms.Update(
        global_batch=2,
        batch={"image": tf.zeros((2, 2, 2, 1)), "label": tf.constant([2, 0])},
        real_out={},
        fake_in={"source": tf.zeros((2, 2, 2, 1)), "label": tf.constant([1, 1])},
        fake=tf.fill((2, 2, 2, 1), 0.5),
        fake_out={},
        critic=None,
        draw=None,
        discriminate=None,
        logs={},
        generate=generate,
    )
    loss = terms.DomainReconstruction(10.0).generator_loss(update)
    assert float(loss) == pytest.approx(10.0 * 1.5)  # |0 - (0.5 + 1)| per pixel
    assert seen["label"].numpy().tolist() == [2, 0]  # the images' own domains
    np.testing.assert_array_equal(seen["source"], update.fake)
    assert float(update.logs["rec"]) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="needs the generator"):
        terms.DomainReconstruction().generator_loss(
            terms.Update(**{**update.__dict__, "generate": None})
        )


def test_resume_is_exact_with_several_critic_batches(trained_runs, tmp_path):
    train(tiny_config("stargan", "train.steps=1"), tmp_path / "resumed")
    train(tiny_config("stargan", "train.steps=2"), tmp_path / "resumed", resume=True)
    a = open_run(trained_runs("stargan"))[0].trainer
    b = open_run(tmp_path / "resumed")[0].trainer
    assert int(b.optimizers["discriminator"].iterations.numpy()) == 4  # d_steps=2 a step
    for name in ("generator", "discriminator"):
        for x, y in zip(a.net(name).weights, b.net(name).weights, strict=True):
            np.testing.assert_allclose(x.numpy(), y.numpy(), atol=1e-6, err_msg=name)


def test_sample_and_evaluate_translate_into_each_domain(trained_runs, tmp_path, capsys):
    run = trained_runs.copy("stargan", tmp_path / "run")  # evaluation writes metrics.json
    out = tmp_path / "thin"
    code = sample_main(
        [
            str(run),
            "--split",
            "test[8000:8004]",
            "--num",
            "4",
            "--domain",
            "thin",
            "--out",
            str(out),
        ]
    )
    assert code == 0 and sorted(p.name for p in (out / "target").iterdir())[-1] == "00003.png"
    digits, _ = data.load_split(STYLES, "test[8000:8004]", 16, 1)
    from training.sample import translations

    images = translations(run, 4, split="test[8000:8004]", domain="thin")
    np.testing.assert_allclose(images["target"], views.view("thin", digits), atol=1e-6)
    np.testing.assert_allclose(images["input"], digits, atol=1e-6)
    other = translations(run, 4, split="test[8000:8004]", domain="bold")
    assert np.abs(other["output"] - images["output"]).max() > 1e-4  # the label reaches G
    assert sample_main([str(run), "--split", "test[8000:]", "--domain", "italic"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --domain 'italic' is not one of this run's: none, bold, thin (or 0-2)"
    assert evaluate_main([str(run), "--num-samples", "40", "--metrics", "swd"]) == 0
    result = json.loads((run / "metrics.json").read_text())["translation"]
    assert set(result["domains"]) == {"bold", "thin"} and result["source_domain"] == "none"
    bold = result["domains"]["bold"]
    assert 0.0 < bold["identity_l1"] < 1.0 and bold["l1"] > 0.0
    assert result["l1"] == pytest.approx((bold["l1"] + result["domains"]["thin"]["l1"]) / 2)
    assert "translation none -> thin" in capsys.readouterr().out
    assert (
        sample_main([str(trained_runs("cyclegan")), "--split", "test[8000:]", "--domain", "0"]) == 2
    )
    assert capsys.readouterr().err.strip() == (
        "error: --domain is for multi-domain runs (stargan); a cyclegan run has no domains"
    )
