"""Pick a `tf.distribute` strategy by name, as `--strategy` asks.

Only TensorFlow's own strategies; this module maps flag values to them and
explains what is missing (no GPU, no TPU address) before training starts.
"""

import tensorflow as tf

STRATEGIES = ("auto", "cpu", "gpu", "mirrored", "multi_worker", "tpu")


def get_strategy(name="auto", tpu=None):
  """Returns the strategy for a `--strategy` value.

  Args:
    name: `auto` (TPU if `tpu` is given, else all local GPUs, else the CPU),
      `cpu`, `gpu` (one GPU; both the default strategy), `mirrored` (all
      local GPUs, or the logical CPUs), `multi_worker` (`MultiWorkerMirroredStrategy`, workers from
      `TF_CONFIG`) or `tpu`.
    tpu: TPU address or name for `TPUClusterResolver` ("" or "local" in a
      TPU VM or Colab).

  Returns:
    A `tf.distribute.Strategy`.

  Raises:
    ValueError: an unknown name, or a GPU/TPU strategy without the device.

  Example:
    >>> strategy = get_strategy("mirrored")
    >>> strategy.num_replicas_in_sync
    1
  """
  if name not in STRATEGIES:
    raise ValueError(f"--strategy={name!r} is not one of {STRATEGIES}.")
  gpus = tf.config.list_logical_devices("GPU")
  if name == "auto":
    name = "tpu" if tpu is not None else ("mirrored" if len(gpus) > 1 else
                                          "gpu" if gpus else "cpu")
  # One device: the default strategy, whose input iterator (unlike a
  # OneDeviceStrategy's) can be checkpointed for an exact resume.
  if name == "cpu":
    if gpus:
      raise ValueError("--strategy=cpu on a machine with a GPU: hide it with "
                       "CUDA_VISIBLE_DEVICES= to train on the CPU.")
    return tf.distribute.get_strategy()
  if name == "gpu":
    if not gpus:
      raise ValueError("--strategy=gpu but TensorFlow sees no GPU; check the "
                       "CUDA install or use --strategy=cpu.")
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  if tpu is None:
    raise ValueError("--strategy=tpu needs --tpu=ADDRESS (or --tpu=local on "
                     "a TPU VM).")
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
      tpu="" if tpu == "local" else tpu)
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)
