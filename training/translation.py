"""Translation families (pix2pix, cyclegan): their held-out examples with the true
translation, the generator applied to them, and how close it comes.

The truth is known when the run's data is a view of its images (``data.pair`` for a paired
family, ``data.domain_views`` for a two-domain one, see ``training.views``): the held-out
``eval.split`` is viewed as the generator's input and as its target. ``training.evaluate``
scores a run with it and ``training.sample --split`` writes the triplets.

A two-domain family that learns the way back too (CycleGAN's F: Y -> X) ships it beside the
A -> B ``generator`` as ``generator_ba`` (its contract's ``ships``), reading domain B's
images (the batches' ``image_b``). Sampling, evaluation and export name the two by
``DIRECTIONS`` (``AB``, ``BA``); the held-out truth serves both, the B view being the input
of the way back and the A view its target. Evaluation adds the cycle-reconstruction L1 of
both directions (the paper's eq. 2, measured on held-out images rather than trained on).
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Direction -> (the artifact that translates it, the batch key its data input reads).
DIRECTIONS = {"AB": ("generator", "image_a"), "BA": ("generator_ba", "image_b")}
DIRECTION_NAMES = {"AB": "A -> B", "BA": "B -> A"}


def directions(contract) -> tuple[str, ...]:
    """The directions a run's generators translate in: ``("AB", "BA")`` for a two-domain family
    that ships the way back (``generator_ba``), ``("AB",)`` for another translation family and
    ``()`` for a family whose generator reads no image from the data."""
    if len(contract.data_keys) != 1:
        return ()
    if contract.data_keys == (DIRECTIONS["AB"][1],) and DIRECTIONS["BA"][0] in contract.ships:
        return ("AB", "BA")
    return ("AB",)


def direction_problem(contract, family: str, direction: str) -> str | None:
    """Why ``direction`` (``AB`` or ``BA``, any case) cannot be asked of a run of ``family``
    with ``contract``, in one line naming what is accepted; ``None`` when it can."""
    direction = direction.upper()
    if direction not in DIRECTIONS:
        return f"direction {direction!r} is unknown; accepted: {', '.join(DIRECTIONS)}"
    if direction == "AB" or direction in directions(contract):
        return None
    artifact = DIRECTIONS[direction][0]
    return (
        f"direction {direction} needs a run that ships a {DIRECTION_NAMES[direction]} generator "
        f"({artifact}.keras, as cyclegan's do); a {family} run ships "
        f"{', '.join(f'{name}.keras' for name in contract.ships)}; accepted: AB"
    )


def direction_contract(contract, direction: str):
    """The contract of the generator of ``direction``: the family's own for ``AB``; for ``BA``
    the same inputs with the data input reading domain B (``image_b``)."""
    if direction.upper() == "AB":
        return contract
    key = DIRECTIONS[direction.upper()][1]
    inputs = {
        name: dataclasses.replace(spec, key=key) if spec.kind == "data" else spec
        for name, spec in contract.inputs.items()
    }
    return dataclasses.replace(contract, inputs=inputs)


def domain_names(config) -> list[str] | None:
    """The domains of a multi-domain run (StarGAN: ``data.domain_labels``), in label order:
    each domain's view (``none``, ``bold``, ...) when the domains are views of one dataset,
    else its split or folder; ``None`` for other runs."""
    data = config.data
    if not data.domain_labels:
        return None
    if data.domain_views and len(set(data.domain_views)) == len(data.domain_views):
        return list(data.domain_views)
    return list(data.domains)


def domain_index(config, domain: str | int | None) -> int:
    """The label of target ``domain`` (a name of ``domain_names`` or an index) of a
    multi-domain run; ``None``: the first domain after the source's (1). A one-line
    ``ValueError`` names the accepted ones."""
    names = domain_names(config)
    if names is None:
        raise ValueError(
            f"domain is for multi-domain runs (stargan); a {config.family} run has no domains"
        )
    if domain is None:
        return 1
    if str(domain) in names:
        return names.index(str(domain))
    if str(domain).isdigit() and int(domain) < len(names):
        return int(domain)
    raise ValueError(
        f"domain {domain!r} is not one of this run's: {', '.join(names)} (or 0-{len(names) - 1})"
    )


def held_out_translations(
    config, contract, direction: str = "AB", domain: int | None = None
) -> dict | None:
    """For a family that translates a view of the data (``data.pair``, or ``data.domains`` with
    ``data.domain_views``), the held-out ``eval.split`` as generator inputs (``sources``, by
    batch key), the true translations (``truth``) and the digits' ``labels``; ``None`` for
    other families or data whose true translation is not known. ``direction="BA"`` (a
    two-domain run that ships the way back) swaps the views: the B views are the sources (under
    ``image_b``) and the A views the truth."""
    from training.data import load_split
    from training.pairs import load_pairs, source_size
    from training.views import view

    data, model = config.data, config.model
    keys = direction_contract(contract, direction).data_keys
    if len(keys) != 1 or not (data.pair or data.domains):
        return None
    if data.pair == "given":  # the data's own pairs: no digit labels
        size = source_size(model)
        source, truth = load_pairs(data, config.eval.split, model.image_size, model.channels, size)
        return {"sources": {keys[0]: source}, "truth": truth, "labels": np.zeros(len(truth), int)}
    images, labels = load_split(data, config.eval.split, model.image_size, model.channels)
    if data.domain_labels:  # from the first domain's view into ``domain``'s
        if not data.domain_views:
            return None
        target = 1 if domain is None else domain
        source, truth = view(data.domain_views[0], images), view(data.domain_views[target], images)
        classes = np.full(len(images), target, np.int32)
        return {
            "sources": {keys[0]: np.asarray(source)},
            "truth": np.asarray(truth),
            "labels": labels,
            "classes": classes,
        }
    if data.pair:
        source, truth = view(data.pair, images), images
    else:
        views = data.domain_views or ["none"] * len(data.domains)
        source, truth = view(views[0], images), view(views[1], images)
        if direction.upper() == "BA":
            source, truth = truth, source
    return {"sources": {keys[0]: np.asarray(source)}, "truth": np.asarray(truth), "labels": labels}


def translate(
    generator, contract, sources: dict, seed: int, batch_size: int = 500, classes=None
) -> np.ndarray:
    """The generator's output for each row of ``sources`` (its data inputs by batch key), other
    inputs drawn as in training; a class input (StarGAN's target domain) from ``classes``
    when given."""
    rng = np.random.default_rng(seed)
    shapes = {t.name.split(":")[0]: tuple(t.shape[1:]) for t in generator.inputs}
    num = len(next(iter(sources.values())))
    out = []
    for i in range(0, num, batch_size):
        chunk = {key: rows[i : i + batch_size] for key, rows in sources.items()}
        given = None if classes is None else classes[i : i + batch_size]
        n = len(next(iter(chunk.values())))
        feeds = contract.example_inputs(shapes, n, rng, chunk, classes=given)
        args = [feeds[name] for name in shapes]
        out.append(np.asarray(generator(args if len(args) > 1 else args[0], training=False)))
    return np.concatenate(out)


def l1(images, truth) -> float:
    """Mean absolute error of images in [-1, 1], on the [0, 1] scale."""
    return float(np.mean(np.abs(np.asarray(images, np.float64) - truth)) / 2.0)


def translation_metrics(fake, truth, labels, extractor) -> dict:
    """How close translations are to the true ones: mean absolute error, PSNR and SSIM
    (``tf.image.ssim``'s 11x11 Gaussian window; images scaled to [0, 1]), and, with a digit
    classifier, the share of translations read as the digit they were made from, next to the
    same share for the true translations (the ceiling)."""
    import tensorflow as tf

    error = (fake.astype(np.float64) - truth) / 2.0  # [0, 1] scale
    mse = np.mean(error**2, axis=(1, 2, 3))
    ssim = tf.image.ssim((fake + 1.0) / 2.0, (truth + 1.0) / 2.0, max_val=1.0)
    result = {
        "l1": float(np.mean(np.abs(error))),
        "psnr": float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-10)))),
        "ssim": float(np.mean(ssim)),
    }
    if extractor is not None and extractor.name == "mnist_cnn":
        result["digit_accuracy"] = float(np.mean(np.argmax(extractor(fake)[1], 1) == labels))
        result["truth_digit_accuracy"] = float(np.mean(np.argmax(extractor(truth)[1], 1) == labels))
    return result


def bicubic(sources, size: int) -> np.ndarray:
    """Low-resolution ``sources`` upsampled to ``size`` by bicubic interpolation and clipped to
    [-1, 1]: the baseline a super-resolution family has to beat."""
    import tensorflow as tf

    up = tf.image.resize(np.asarray(sources, np.float32), (size, size), method="bicubic")
    return np.clip(up.numpy(), -1.0, 1.0)


def reverse_metrics(
    forward, backward, contract, source, truth, labels, extractor, seed: int, fake_b=None
) -> dict:
    """The way back of a two-domain run on held-out pairs (``source``: A views, ``truth``: their
    B views), by the generators ``forward`` (A -> B) and ``backward`` (B -> A):

    * ``ba_l1``, ``ba_psnr`` (and with the digit classifier ``ba_digit_accuracy``,
      ``ba_truth_digit_accuracy``): ``backward(truth)`` against ``source``, as
      ``translation_metrics`` scores the forward direction;
    * ``cycle_l1_aba``: ``backward(forward(source))`` against ``source``, and
      ``cycle_l1_bab``: ``forward(backward(truth))`` against ``truth``, the L1 of the paper's
      cycle-consistency loss on the [0, 1] scale of ``l1``.

    ``fake_b`` is ``forward(source)`` when already computed."""
    back = direction_contract(contract, "BA")
    (key_a,), (key_b,) = contract.data_keys, back.data_keys
    if fake_b is None:
        fake_b = translate(forward, contract, {key_a: source}, seed)
    fake_a = translate(backward, back, {key_b: truth}, seed)
    reverse = translation_metrics(fake_a, source, labels, extractor)
    result = {f"ba_{k}": v for k, v in reverse.items()}
    result["cycle_l1_aba"] = l1(translate(backward, back, {key_b: fake_b}, seed), source)
    result["cycle_l1_bab"] = l1(translate(forward, contract, {key_a: fake_a}, seed), truth)
    return result


def domain_metrics(generator, contract, config, extractor, num: int, seed: int) -> dict:
    """A multi-domain run's held-out digits (its first domain's view) translated into each
    other domain and scored against that domain's view of them, with the identity baseline:
    ``{"domains": {name: metrics}}`` and the means over the domains at the top (``l1``,
    ``psnr``, ``ssim``, ``digit_accuracy``, ...)."""
    names = domain_names(config)
    per_domain = {}
    for target in range(1, len(names)):
        held_out = held_out_translations(config, contract, domain=target)
        sources = {key: rows[:num] for key, rows in held_out["sources"].items()}
        truth, labels = held_out["truth"][:num], held_out["labels"][:num]
        fake = translate(generator, contract, sources, seed, classes=held_out["classes"][:num])
        scores = translation_metrics(fake, truth, labels, extractor)
        (source,) = sources.values()
        identity = translation_metrics(source, truth, None, None)
        per_domain[names[target]] = scores | {f"identity_{k}": v for k, v in identity.items()}
    means = {
        key: float(np.mean([d[key] for d in per_domain.values()]))
        for key in next(iter(per_domain.values()))
    }
    return {"source_domain": names[0], **means, "domains": per_domain}


def summary_lines(t: dict) -> list[str]:
    """The printed lines of ``result["translation"]``: each direction's L1, PSNR (with the
    identity baseline) and digit reading, and the cycle-reconstruction L1 of both ways."""
    both = "ba_l1" in t
    lines = []
    for name, d in t.get("domains", {}).items():
        line = (
            f"translation {t['source_domain']} -> {name} of held-out {t['split']}: L1 "
            f"{d['l1']:.4f}, PSNR {d['psnr']:.2f} dB (input as output: {d['identity_l1']:.4f}, "
            f"{d['identity_psnr']:.2f} dB)"
        )
        if "digit_accuracy" in d:
            line += f", read as the source digit {d['digit_accuracy']:.3f}"
        lines.append(line)
    if "domains" in t:
        t = {k: v for k, v in t.items() if k not in ("domains", "source_domain")}
        t["split"] = f"{t['split']} (mean over the domains)"
    for prefix, name in (("", " (A -> B)" if both else ""), ("ba_", " (B -> A)")):
        if f"{prefix}l1" not in t:
            continue
        line = (
            f"{'reverse ' if prefix else ''}translation{name} of held-out {t['split']}: "
            f"L1 {t[prefix + 'l1']:.4f}, PSNR {t[prefix + 'psnr']:.2f} dB"
        )
        if "ssim" in t and not prefix:
            line += f", SSIM {t['ssim']:.4f}"
        if f"identity_{prefix}l1" in t:
            line += (
                f" (input as output: {t[f'identity_{prefix}l1']:.4f}, "
                f"{t[f'identity_{prefix}psnr']:.2f} dB)"
            )
        if "bicubic_l1" in t and not prefix:
            line += (
                f" (bicubic: {t['bicubic_l1']:.4f}, {t['bicubic_psnr']:.2f} dB, "
                f"SSIM {t['bicubic_ssim']:.4f})"
            )
        if f"{prefix}digit_accuracy" in t:
            line += (
                f", read as the source digit {t[prefix + 'digit_accuracy']:.3f} (true "
                f"translations {t[prefix + 'truth_digit_accuracy']:.3f})"
            )
        lines.append(line)
    if "bicubic_digit_accuracy" in t:
        lines.append(
            f"bicubic upsampling read as the source digit {t['bicubic_digit_accuracy']:.3f}"
        )
    if "cycle_l1_aba" in t:
        lines.append(
            f"cycle reconstruction L1 of held-out {t['split']}: A -> B -> A "
            f"{t['cycle_l1_aba']:.4f}, B -> A -> B {t['cycle_l1_bab']:.4f}"
        )
    return lines
