"""The absl flags that `pretrain` and `finetune` share: where training
runs (strategy, devices, cluster timeouts) and its batch shapes (length
buckets)."""

from absl import flags

from keras_bert_lab.training.distribution import CONNECT_TIMEOUT, STRATEGIES


def define_distribution_flags():
  """Defines where and how training runs, in absl's global `FLAGS`.

  --strategy, --tpu, --num_cpu_devices and --connect_timeout pick the
  devices; --bucket_boundaries, the batch shapes they get.

  Example:
    >>> define_distribution_flags()
    >>> flags.FLAGS(["pretrain", "--strategy=mirrored"]).strategy
  """
  flags.DEFINE_enum("strategy", "auto", list(STRATEGIES),
                    "tf.distribute strategy.")
  flags.DEFINE_string("tpu", None, "TPU address (--strategy=tpu).")
  flags.DEFINE_list("bucket_boundaries", [], "Sequence-length bucketing for "
                    "training: each batch padded only to the smallest of "
                    "these lengths (and max_seq_length) that fits its "
                    "examples, e.g. 32,64,96. Empty: pretrain pads every "
                    "batch to max_seq_length; finetune pads each batch to "
                    "its longest row (TPU or --jit_compile: to "
                    "max_seq_length).")
  flags.DEFINE_integer("num_cpu_devices", 1, "Split the CPU into this many "
                       "logical devices (MirroredStrategy replicas without "
                       "accelerators: tests, dry runs).", lower_bound=1)
  flags.DEFINE_integer("connect_timeout", CONNECT_TIMEOUT, "Seconds to wait "
                       "for a --tpu address or the other workers (TF_CONFIG) "
                       "to answer, and for a collective step before a dead "
                       "worker fails the run.", lower_bound=1)
