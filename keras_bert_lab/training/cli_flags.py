"""The absl flags that several CLIs share: where training runs (strategy,
devices, cluster timeouts) and its batch shapes (length buckets), for
`pretrain` and `finetune`; how pre-training examples are made, for
`pretrain` and `create_pretraining_data`."""

from absl import flags

from keras_bert_lab.training.distribution import CONNECT_TIMEOUT, STRATEGIES


def define_distribution_flags(flag_values=flags.FLAGS):
  """Defines where and how training runs.

  --strategy, --tpu, --num_cpu_devices and --connect_timeout pick the
  devices; --bucket_boundaries, the batch shapes they get.

  Args:
    flag_values: the `absl.flags.FlagValues` to define them in (the CLIs:
      the global `FLAGS`).

  Example:
    >>> values = flags.FlagValues()
    >>> define_distribution_flags(values)
    >>> _ = values(["pretrain", "--strategy=mirrored"])
    >>> values.strategy
    'mirrored'
  """
  flags.DEFINE_enum("strategy", "auto", list(STRATEGIES),
                    "tf.distribute strategy.", flag_values=flag_values)
  flags.DEFINE_string("tpu", None, "TPU address (--strategy=tpu).",
                      flag_values=flag_values)
  flags.DEFINE_list("bucket_boundaries", [], "Sequence-length bucketing for "
                    "training: each batch padded only to the smallest of "
                    "these lengths (and max_seq_length) that fits its "
                    "examples, e.g. 32,64,96. Empty: pretrain pads every "
                    "batch to max_seq_length; finetune pads each batch to "
                    "its longest row (TPU or --jit_compile: to "
                    "max_seq_length).", flag_values=flag_values)
  flags.DEFINE_integer("num_cpu_devices", 1, "Split the CPU into this many "
                       "logical devices (MirroredStrategy replicas without "
                       "accelerators: tests, dry runs).", lower_bound=1,
                       flag_values=flag_values)
  flags.DEFINE_integer("connect_timeout", CONNECT_TIMEOUT, "Seconds to wait "
                       "for a --tpu address or the other workers (TF_CONFIG) "
                       "to answer, and for a collective step before a dead "
                       "worker fails the run.", lower_bound=1,
                       flag_values=flag_values)


def define_instance_flags(flag_values=flags.FLAGS):
  """Defines how pre-training examples are made.

  The flags of Google's `create_pretraining_data.py` that `pretrain` shares
  (sequence length, masking rate, NSP pairs, sentence and document
  splitting); each CLI still defines its own spelling of whole-word masking
  and the seed.

  Args:
    flag_values: where to define them (default absl's global `FLAGS`).

  Example:
    >>> values = flags.FlagValues()
    >>> define_instance_flags(values)
    >>> _ = values(["pretrain", "--nonext_sentence"])
    >>> values.next_sentence
    False
  """
  flags.DEFINE_integer("max_seq_length", 128, "Sequence length, special "
                       "tokens included.", lower_bound=8,
                       flag_values=flag_values)
  flags.DEFINE_integer("max_predictions_per_seq", 20, "Most masked positions "
                       "per sequence.", lower_bound=1, flag_values=flag_values)
  flags.DEFINE_float("masked_lm_prob", 0.15, "Share of tokens to mask.",
                     lower_bound=0.0, upper_bound=1.0, flag_values=flag_values)
  flags.DEFINE_float("short_seq_prob", 0.1, "Probability of a shorter "
                     "target length.", lower_bound=0.0, upper_bound=1.0,
                     flag_values=flag_values)
  flags.DEFINE_bool("next_sentence", True, "Sentence pairs with NSP labels; "
                    "--nonext_sentence for single segments and masked LM "
                    "only (RoBERTa style).", flag_values=flag_values)
  flags.DEFINE_bool("cross_documents", True, "With --nonext_sentence: "
                    "segments run on into the next document after a [SEP] "
                    "(RoBERTa's FULL-SENTENCES); --nocross_documents ends "
                    "them at document ends (DOC-SENTENCES).",
                    flag_values=flag_values)
  flags.DEFINE_bool("split_sentences", True, "Split lines into sentences "
                    "(paragraph-per-line corpora); --nosplit_sentences for "
                    "the original one-sentence-per-line format.",
                    flag_values=flag_values)
  flags.DEFINE_bool("document_per_line", False, "Every line is a document "
                    "(default: blank lines separate documents).",
                    flag_values=flag_values)
