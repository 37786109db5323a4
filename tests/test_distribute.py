"""The Keras internals that suite.unet.distribute patches for multi-worker training.

If Keras renames or changes them, these fail loudly here, instead of multi-worker
training failing in the middle of a cluster run.
"""

import inspect

import pytest

tf = pytest.importorskip("tensorflow")


def test_keras_internals_the_multiworker_patch_relies_on():
    import keras
    from keras.src.backend.tensorflow import trainer as tf_trainer

    assert callable(getattr(tf_trainer, "reduce_per_replica", None)), "keras moved reduce_per_replica"
    assert list(inspect.signature(tf_trainer.reduce_per_replica).parameters) == ["values", "strategy", "reduction"]
    assert callable(getattr(tf_trainer, "_collective_all_reduce_multi_worker", None))
    assert callable(getattr(keras.Model, "_symbolic_build", None)), "keras removed Model._symbolic_build"
    assert "data_batch" in inspect.signature(keras.Model._symbolic_build).parameters
    assert hasattr(keras.Model, "_maybe_symbolic_build")


def test_patch_is_installed_once_and_keeps_other_strategies():
    from keras.src.backend.tensorflow import trainer as tf_trainer

    from suite.unet.distribute import _patch_keras_multiworker_reduce

    original = tf_trainer.reduce_per_replica
    try:
        _patch_keras_multiworker_reduce()
        patched = tf_trainer.reduce_per_replica
        _patch_keras_multiworker_reduce()
        assert tf_trainer.reduce_per_replica is patched and patched._suite_patched
        # Under the default strategy the patched function gives what Keras gives.
        strategy = tf.distribute.get_strategy()
        v = tf.constant([1.0, 3.0])
        assert float(tf.reduce_sum(patched(v, strategy, "auto"))) == float(tf.reduce_sum(original(v, strategy, "auto")))
    finally:
        tf_trainer.reduce_per_replica = original


def test_make_strategy_names():
    from suite.unet.distribute import STRATEGIES, make_strategy

    assert STRATEGIES == ("default", "mirrored", "multiworker")
    strategy, is_chief, index = make_strategy("default")
    assert is_chief and index == 0
    with pytest.raises(ValueError, match="Received: strategy='nope'"):
        make_strategy("nope")


def test_cli_choices_come_from_the_library():
    from suite.cli import main
    from suite.common.nn.backbones import backbone_names, style_backbone_names
    from suite.unet import losses
    from suite.unet.options import LOSSES

    assert tuple(losses._LOSSES) == LOSSES
    choices = {p.name: list(p.type.choices) for p in main.commands["train"].params if hasattr(p.type, "choices")}
    assert choices["backbone"] == backbone_names() + ["none"]
    assert choices["loss"] == list(LOSSES)
    style = {p.name: list(p.type.choices) for p in main.commands["stylize"].params if hasattr(p.type, "choices")}
    assert style["backbone"] == style_backbone_names() == ["vgg16", "vgg19"]
