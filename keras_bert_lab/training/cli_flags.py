"""The absl flags that `pretrain` and `finetune` share: where to run.

Example:
  >>> from absl import flags
  >>> define_distribution_flags()
  >>> flags.FLAGS(["prog", "--strategy=mirrored", "--num_cpu_devices=2"])
"""

from absl import flags

from keras_bert_lab.training.distribution import CONNECT_TIMEOUT, STRATEGIES


def define_distribution_flags():
  """Defines --strategy, --tpu, --num_cpu_devices, --connect_timeout and
  --bucket_boundaries in absl's global `FLAGS`."""
  flags.DEFINE_enum("strategy", "auto", list(STRATEGIES),
                    "tf.distribute strategy.")
  flags.DEFINE_string("tpu", None, "TPU address (--strategy=tpu).")
  flags.DEFINE_list("bucket_boundaries", [], "Sequence-length bucketing for "
                    "training: each batch padded only to the smallest of "
                    "these lengths (and max_seq_length) that fits its "
                    "examples, e.g. 32,64,96. Empty: every batch padded to "
                    "max_seq_length.")
  flags.DEFINE_integer("num_cpu_devices", 1, "Split the CPU into this many "
                       "logical devices (MirroredStrategy replicas without "
                       "accelerators: tests, dry runs).", lower_bound=1)
  flags.DEFINE_integer("connect_timeout", CONNECT_TIMEOUT, "Seconds to wait "
                       "for a --tpu address or the other workers (TF_CONFIG) "
                       "to answer, and for a collective step before a dead "
                       "worker fails the run.", lower_bound=1)
