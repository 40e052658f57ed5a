"""The absl flags that several CLIs share: where training runs (strategy,
devices, cluster timeouts) and its batch shapes (length buckets), for
`pretrain`, `finetune`, `distill` and `prune`; a task's data sources and
how it is trained, for `finetune`, `distill` and `prune`; the distillation
losses, for `distill` and `prune`; how pre-training examples are made, for
`pretrain` and `create_pretraining_data`."""

import dataclasses
import json
import os

from absl import app, flags

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


def define_data_flags(flag_values=flags.FLAGS):
  """Defines where a task's examples come from (`tasks.DataConfig`).

  --train_file or --tfds_name, --eval_file (else a --dev_fraction dev
  split), --predict_file, and the text and label columns.

  Args:
    flag_values: where to define them (default absl's global `FLAGS`).

  Example:
    >>> values = flags.FlagValues()
    >>> define_data_flags(values)
    >>> _ = values(["finetune", "--train_file=reviews.tsv"])
    >>> values.train_file, values.dev_fraction
    ('reviews.tsv', 0.1)
  """
  flags.DEFINE_string("train_file", None, "Training data: CSV/TSV/JSONL "
                      "(classification, regression), CoNLL/BIO (tagging), "
                      "SQuAD JSON (squad), SWAG CSV (multiple_choice).",
                      flag_values=flag_values)
  flags.DEFINE_string("eval_file", None, "Evaluation data in the same format. "
                      "Without it, --dev_fraction of --train_file is held out.",
                      flag_values=flag_values)
  flags.DEFINE_string("predict_file", None, "Data to predict on (labels not "
                      "needed); predictions are written to model_dir.",
                      flag_values=flag_values)
  flags.DEFINE_string("tfds_name", None, "Instead of --train_file: a "
                      "TensorFlow Datasets name (glue/sst2, glue/stsb, "
                      "conll2003, squad/v1.1, squad/v2.0, hellaswag).",
                      flag_values=flag_values)
  flags.DEFINE_string("tfds_train_split", "train", "tfds split to train on.",
                      flag_values=flag_values)
  flags.DEFINE_string("tfds_eval_split", "validation", "tfds split to "
                      "evaluate on (conll2003: dev); empty to hold out "
                      "--dev_fraction of the training split.",
                      flag_values=flag_values)
  flags.DEFINE_string("tfds_data_dir", None, "tfds data directory.",
                      flag_values=flag_values)
  flags.DEFINE_string("text_column", "text", "Column (CSV/TSV) or key (JSONL) "
                      "of the text.", flag_values=flag_values)
  flags.DEFINE_string("text_b_column", None, "Column of the second text of a "
                      "pair (MRPC, MNLI, STS-B, ...).",
                      flag_values=flag_values)
  flags.DEFINE_string("label_column", "label", "Column of the label (or the "
                      "score for regression).", flag_values=flag_values)
  flags.DEFINE_float("dev_fraction", 0.1, "Without --eval_file: the share of "
                     "the training file held out (deterministically, by "
                     "--seed) as the dev split that eval_results.json reports.",
                     flag_values=flag_values)


def define_training_flags(flag_values=flags.FLAGS):
  """Defines how a task model is trained (`tasks.TrainConfig`).

  The optimisation flags (names of google-research/bert's
  run_classifier.py), precision, XLA, seed, logging and backups, and
  `define_distribution_flags`.

  Args:
    flag_values: where to define them (default absl's global `FLAGS`).

  Example:
    >>> values = flags.FlagValues()
    >>> define_training_flags(values)
    >>> _ = values(["finetune", "--learning_rate=5e-5"])
    >>> values.learning_rate, values.strategy
    (5e-05, 'auto')
  """
  flags.DEFINE_float("learning_rate", 3e-5, "Peak learning rate (the BERT "
                     "paper tries 2e-5, 3e-5, 5e-5).", flag_values=flag_values)
  flags.DEFINE_float("num_train_epochs", 3.0, "Epochs over the training set.",
                     flag_values=flag_values)
  flags.DEFINE_integer("train_batch_size", 32, "Global training batch size.",
                       lower_bound=1, flag_values=flag_values)
  flags.DEFINE_integer("eval_batch_size", 32, "Evaluation/prediction batch "
                       "size.", lower_bound=1, flag_values=flag_values)
  flags.DEFINE_float("warmup_proportion", 0.1, "Share of the training steps "
                     "of linear warm-up.", flag_values=flag_values)
  flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (not on "
                     "LayerNorm or biases).", flag_values=flag_values)
  flags.DEFINE_float("dropout", None, "Override the checkpoint's "
                     "hidden_dropout_prob (encoder and head).",
                     flag_values=flag_values)
  flags.DEFINE_enum("mixed_precision", "none", ["none", "bf16", "fp16"],
                    "Mixed precision (fp16 uses loss scaling).",
                    flag_values=flag_values)
  flags.DEFINE_bool("jit_compile", False, "Compile training and prediction "
                    "with XLA.", flag_values=flag_values)
  flags.DEFINE_integer("steps_per_execution", 1, "Steps per tf.function call.",
                       lower_bound=1, flag_values=flag_values)
  flags.DEFINE_integer("seed", 42, "Seed for the dev split, shuffling, head "
                       "initialisation and dropout.", flag_values=flag_values)
  flags.DEFINE_integer("log_every", 50, "Steps between progress log lines.",
                       lower_bound=1, flag_values=flag_values)
  flags.DEFINE_integer("checkpoint_every", None, "Back up for a resume every "
                       "N steps (default: after each pass over the training "
                       "data); a rerun resumes from the last backup.",
                       lower_bound=1, flag_values=flag_values)
  define_distribution_flags(flag_values)


def check_data_and_training(values=flags.FLAGS):
  """The checks of those flags that need no TensorFlow: sources, files, numbers.

  Args:
    values: the parsed `FlagValues`.

  Raises:
    app.UsageError: naming the flag and the fix.

  Example:
    >>> values = flags.FlagValues()
    >>> define_data_flags(values)
    >>> define_training_flags(values)
    >>> _ = values(["finetune", "--tfds_name=glue/sst2"])
    >>> check_data_and_training(values)
  """
  if bool(values.train_file) == bool(values.tfds_name):
    raise app.UsageError(
        "Give exactly one training source: --train_file or --tfds_name "
        f"(got {'both' if values.train_file else 'neither'}).")
  for name in ("train_file", "eval_file", "predict_file"):
    path = values[name].value
    if path and not os.path.isfile(path):
      raise app.UsageError(f"--{name}={path} does not exist (or is not a "
                           "file).")
  if values.tfds_name and values.eval_file:
    raise app.UsageError("--eval_file goes with --train_file; with "
                         "--tfds_name use --tfds_eval_split.")
  if not 0 < values.dev_fraction < 1:
    raise app.UsageError(f"--dev_fraction={values.dev_fraction} must lie "
                         "between 0 and 1.")
  if values.num_train_epochs <= 0:
    raise app.UsageError(f"--num_train_epochs={values.num_train_epochs} "
                         "must be positive.")
  if not 0 <= values.warmup_proportion < 1:
    raise app.UsageError(f"--warmup_proportion={values.warmup_proportion} "
                         "must be in [0, 1).")


def config_from_flags(cls, values=flags.FLAGS):
  """A config dataclass with each field that is a flag set from the flags.

  Args:
    cls: a dataclass (`tasks.DataConfig`, `tasks.TrainConfig`).
    values: the parsed `FlagValues`; fields without a flag keep their
      default.

  Returns:
    An instance of `cls`.

  Example:
    >>> @dataclasses.dataclass
    ... class Run:
    ...   seed: int = 0
    ...   name: str = "run"
    >>> values = flags.FlagValues()
    >>> _ = flags.DEFINE_integer("seed", 7, "", flag_values=values)
    >>> _ = values(["cli"])
    >>> config_from_flags(Run, values)
    Run(seed=7, name='run')
  """
  return cls(**{f.name: values[f.name].value for f in dataclasses.fields(cls)
                if f.name in values})


# Column flags that rename a fine-tuned model's columns for new data.
_COLUMNS = ("text_column", "text_b_column", "label_column")


def column_overrides(values=flags.FLAGS):
  """The column flags given on the command line, as task config fields.

  `distill` and `prune` read a fine-tuned folder's `task.json`; a column
  flag given explicitly renames that column for this data.

  Args:
    values: the parsed `FlagValues` (with `define_data_flags`).

  Returns:
    `{field: value}` of the column flags that are present.

  Example:
    >>> values = flags.FlagValues()
    >>> define_data_flags(values)
    >>> _ = values(["distill", "--text_column=review"])
    >>> column_overrides(values)
    {'text_column': 'review'}
  """
  return {name: values[name].value for name in _COLUMNS
          if values[name].present}


def define_distillation_flags(flag_values=flags.FLAGS):
  """Defines the losses of a distillation (`compression.DistillConfig`).

  --temperature, --alpha, --logits_weight, --hidden_weight,
  --attention_weight, --minilm_weight and --layer_map, for `distill` and
  for `prune`'s recovery.

  Args:
    flag_values: where to define them (default absl's global `FLAGS`).

  Example:
    >>> values = flags.FlagValues()
    >>> define_distillation_flags(values)
    >>> _ = values(["distill", "--alpha=0.2"])
    >>> values.alpha, values.temperature
    (0.2, 2.0)
  """
  flags.DEFINE_float("temperature", 2.0, "Soft-target temperature T (the KL "
                     "is scaled by T^2).", flag_values=flag_values)
  flags.DEFINE_float("alpha", 0.5, "Weight of the hard-label loss, in "
                     "[0, 1]; the distillation losses get 1 - alpha.",
                     flag_values=flag_values)
  flags.DEFINE_float("logits_weight", 1.0, "Weight of the soft-target KL "
                     "(regression: the MSE to the teacher's scores).",
                     flag_values=flag_values)
  flags.DEFINE_float("hidden_weight", 0.0, "Weight of the hidden-state MSE "
                     "(TinyBERT); 0 turns it off.", flag_values=flag_values)
  flags.DEFINE_float("attention_weight", 0.0, "Weight of the attention-score "
                     "MSE (TinyBERT); 0 turns it off.",
                     flag_values=flag_values)
  flags.DEFINE_float("minilm_weight", 0.0, "Weight of MiniLM's last-block "
                     "attention and value-relation KL; 0 turns it off.",
                     flag_values=flag_values)
  flags.DEFINE_list("layer_map", None, "Teacher block for each student block "
                    "in the hidden-state and attention-score losses; "
                    "default the blocks the student starts from, else "
                    "TinyBERT's uniform map.",
                    flag_values=flag_values)


def print_results(results, written):
  """Prints a job's results as JSON and the files it wrote.

  Args:
    results: the `eval_results.json` dict.
    written: the paths written.

  Example:
    >>> print_results({"accuracy": 0.5}, ["runs/x/task.json"])
    {
      "accuracy": 0.5
    }
    Wrote runs/x/task.json
  """
  print(json.dumps(results, indent=2))
  print("Wrote " + ", ".join(str(p) for p in written))
