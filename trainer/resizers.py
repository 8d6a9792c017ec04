"""The resizing stages, one per arm: what sits between the [0, 1] image and the backbone.

Every arm is ``Rescaling(1/255) -> resizing stage -> backbone -> head`` (``trainer/models.py``); arms differ in
the resizing stage alone.  :data:`RESIZERS` is the one table of them; :func:`build_resizer` builds an arm's.

Fixed resizes (no trainable parameters) are ``keras.layers.Resizing`` (TensorFlow's ``tf.image.resize``):

* ``bilinear_baseline``: bilinear without antialiasing, the seed's baseline.  At an exact 2x factor with
  half-pixel centres it averages each 2x2 block (a box filter); at other ratios it samples without a low-pass.
* ``area``: the area (box) average.  At an exact integer factor it is *the same function* as
  ``bilinear_baseline`` (each output pixel averages its 2x2 block), so on the seed's 300 -> 150 the two arms
  see identical images (``tests/trainer/test_resizers.py`` shows it); at other ratios they differ.
* ``bicubic``: Keys' cubic (a = -0.5) without antialiasing: at 2x the taps (-1, 9, 9, -1) / 16 per axis.
* ``bilinear_antialias``: bilinear with antialiasing: the tent widened by the scale, at 2x the taps
  (1, 3, 3, 1) / 8 per axis.
* ``lanczos3_antialias``: Lanczos-3 widened by the scale: 12 taps per axis at 2x.

At an exact 2x factor every one of these is a filter symmetric about the centre of each 2x2 block, so each
cancels a pattern alternating with a 2 px period (the demo's class cue) exactly, away from the image border;
the wider ones (bicubic, bilinear_antialias, lanczos3_antialias) renormalise their taps at the border and leave
a trace of it in the outermost output rows or columns (up to 6 %, 14 % and 17 % of its amplitude).  MULLER's
residuals pass through the same base resize before its tanh, so it cancels the pattern too.  Only the
learnable resizer, whose LeakyReLU acts before its resize, can keep it.

Learned stages: ``learnable_resizer`` (:class:`trainer.learnable_resizer.LearnableResizer`) and ``muller``
(:class:`trainer.muller.MullerResizer`, on the baseline's bilinear resize).
"""

import dataclasses

from keras import layers

from trainer import contract
from trainer.config import ArmConfig, ConfigError
from trainer.learnable_resizer import LearnableResizer
from trainer.muller import MullerResizer

RESIZER_LAYER = "resizer"  # every arm's resizing stage has this layer name


@dataclasses.dataclass(frozen=True)
class ResizerSpec:
    """One arm's resizing stage.

    Attributes:
        arm: the arm's name (``contract.*_ARM``).
        kind: ``learnable`` (the learnable resizer), ``laplacian`` (MULLER) or ``fixed``.
        interpolation: the fixed resize (MULLER's base resize), ``tf.image.resize``'s method name.
        antialias: whether that resize antialiases when it downscales.
        description: one line for the report.
    """

    arm: str
    kind: str
    interpolation: str
    antialias: bool
    description: str

    @property
    def learned(self) -> bool:
        """Whether the stage has trainable weights."""
        return self.kind != "fixed"


RESIZERS: dict[str, ResizerSpec] = {spec.arm: spec for spec in (
    ResizerSpec(contract.LEARNABLE_RESIZER_ARM, "learnable", "bilinear", False,
                "learnable resizer (Talebi & Milanfar 2021): conv / residual-block network around a bilinear resize"),
    ResizerSpec(contract.MULLER_ARM, "laplacian", "bilinear", False,
                "MULLER (Tu, Milanfar & Talebi 2023): bilinear + learned Laplacian residuals, 2 weights per layer"),
    ResizerSpec(contract.BILINEAR_BASELINE_ARM, "fixed", "bilinear", False, "bilinear, no antialiasing"),
    ResizerSpec(contract.BILINEAR_ANTIALIAS_ARM, "fixed", "bilinear", True, "bilinear with antialiasing"),
    ResizerSpec(contract.LANCZOS3_ANTIALIAS_ARM, "fixed", "lanczos3", True, "Lanczos-3 with antialiasing"),
    ResizerSpec(contract.BICUBIC_ARM, "fixed", "bicubic", False, "bicubic (Keys, a = -0.5), no antialiasing"),
    ResizerSpec(contract.AREA_ARM, "fixed", "area", False, "area average"),
)}


def resizer_spec(arm: str) -> ResizerSpec:
    """The spec of ``arm``.

    Args:
        arm: an arm name.

    Returns:
        Its :class:`ResizerSpec`.

    Raises:
        ConfigError: an unknown arm, naming the known ones.
    """
    if arm not in RESIZERS:
        raise ConfigError("arm", f"{arm!r} is not one of {', '.join(RESIZERS)}")
    return RESIZERS[arm]


def build_resizer(config: ArmConfig) -> layers.Layer:
    """The resizing stage of ``config.arm``: float images (B, H, W, 3) in [0, 1] -> (B, *target_size, 3).

    Args:
        config: the arm's configuration (``arm``, ``target_size``; the learnable resizer's ``filters``,
            ``num_res_blocks``, ``interpolation``, ``batchnorm_momentum``; MULLER's ``muller``).

    Returns:
        A Keras layer named :data:`RESIZER_LAYER`: :class:`~trainer.learnable_resizer.LearnableResizer`,
        :class:`~trainer.muller.MullerResizer` or ``keras.layers.Resizing``.

    Raises:
        ConfigError: an unknown arm.
    """
    spec = resizer_spec(config.arm)
    height, width = config.target_size
    if spec.kind == "learnable":
        return LearnableResizer(target_size=config.target_size, filters=config.filters,
                                num_res_blocks=config.num_res_blocks, interpolation=config.interpolation,
                                batchnorm_momentum=config.batchnorm_momentum, name=RESIZER_LAYER)
    if spec.kind == "laplacian":
        muller = config.muller
        return MullerResizer(target_size=config.target_size, num_layers=muller.layers,
                             kernel_size=muller.kernel_size, sigma=muller.sigma,
                             interpolation=spec.interpolation, antialias=spec.antialias, name=RESIZER_LAYER)
    return layers.Resizing(height, width, interpolation=spec.interpolation, antialias=spec.antialias,
                           name=RESIZER_LAYER)
