"""``tf.distribute`` for training, and the work-arounds Keras needs under multi-worker.

TensorFlow-specific, like :mod:`suite.unet.tfdata`: the strategies, and two
fenced patches of Keras internals for ``MultiWorkerMirroredStrategy``, each
naming the upstream problem. ``tests/test_distribute.py`` fails loudly when
the Keras internals they rely on change.
"""

from __future__ import annotations

import json
import os

from suite.unet.errors import TrainingError
from suite.unet.options import STRATEGIES


def make_strategy(name: str = "default"):
    """A ``tf.distribute`` strategy: ``default`` (one device), ``mirrored`` (all local GPUs) or
    ``multiworker`` (``MultiWorkerMirroredStrategy`` configured from ``TF_CONFIG``).

    Returns:
        ``(strategy, is_chief, worker_index)``.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"Expected strategy in {STRATEGIES}. Received: strategy={name!r}")
    if name == "default":
        return tf.distribute.get_strategy(), True, 0
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(), True, 0
    tf_config = os.environ.get("TF_CONFIG")
    if not tf_config:
        raise TrainingError("--strategy multiworker needs TF_CONFIG (cluster and task) in the environment")
    try:
        cfg = json.loads(tf_config)
        task = cfg.get("task", {})
        kind, index = task.get("type", "worker"), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError) as e:
        raise TrainingError(f"TF_CONFIG is not valid JSON with a task: {e}") from None
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    is_chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cfg.get("cluster", {}))
    return strategy, is_chief, index


def work_around_multiworker_build(model, dist, dataset, compile_model):
    """Builds model, loss and metrics on one local batch, then skips Keras' own symbolic build.

    ``compile_model()`` compiles ``model`` as its first phase will be.

    Keras 3.15's ``fit`` reduces the first distributed batch with
    ``strategy.reduce("MEAN", ...)`` to learn its shapes, which fails under
    ``MultiWorkerMirroredStrategy`` ("Attempt to convert a value (PerReplica...)").
    Shapes are all it needs, and a local batch has them.
    """
    compile_model()
    batch = next(iter(dataset.take(1)))
    with dist.scope():
        model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    _patch_keras_multiworker_reduce()


def _patch_keras_multiworker_reduce():
    """Reduces scalar step logs across workers with ``axis=None``.

    Keras 3 reduces every log under ``MultiWorkerMirroredStrategy`` with
    ``strategy.reduce("MEAN", v, axis=0)``, which fails on the scalar loss and
    metrics ("Invalid reduction dimension 0 for input with 0 dimensions",
    tensorflow/tensorflow#72388). Patched once, only for multi-worker runs.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer.reduce_per_replica, "_suite_patched", False):
        return
    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):

            def _reduce(v):
                rank = getattr(v, "shape", None)
                axis = None if rank is None or len(rank) == 0 else 0
                return strategy.reduce("MEAN", v, axis=axis)

            return tree.map_structure(_reduce, values)
        return original(values, strategy, reduction)

    reduce_per_replica._suite_patched = True
    tf_trainer.reduce_per_replica = reduce_per_replica
