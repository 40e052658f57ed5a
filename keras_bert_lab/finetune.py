r"""Fine-tune BERT on a task: classification, regression, tagging, SQuAD, SWAG.

  python -m keras_bert_lab.finetune --task=classification \
      --init_checkpoint=runs/mini/pretrained --model_dir=runs/reviews \
      --train_file=../shared/data/labeled/en/fine_foods_train.tsv \
      --text_column=review --label_column=score
  python -m keras_bert_lab.finetune --task=tagging --init_checkpoint=... \
      --model_dir=runs/ner --train_file=train.bio --eval_file=dev.bio
  python -m keras_bert_lab.finetune --task=squad --init_checkpoint=... \
      --model_dir=runs/squad --train_file=train-v2.0.json \
      --eval_file=dev-v2.0.json --predict_file=dev-v2.0.json

Maps the flags to a task config (`keras_bert_lab.tasks`), a `DataConfig` and
a `TrainConfig`, and calls `keras_bert_lab.tasks.finetune`, which reads and
checks the data, trains with Keras' `fit` (rerun the same command to
resume), evaluates and writes `model_dir` (see that module). The checks that
need no TensorFlow run here first, so a bad flag fails in a second.
"""

import dataclasses
import json
import os

from absl import app, flags

from keras_bert_lab.tasks import TASK_NAMES
from keras_bert_lab.training import cli_flags

FLAGS = flags.FLAGS
flags.DEFINE_enum("task", None, list(TASK_NAMES), "The task.")
flags.DEFINE_string("init_checkpoint", None, "Checkpoint folder to start "
                    "from: ours (pretrain's `pretrained/`, a fine-tuned "
                    "model_dir), Hugging Face, Google TF1 or keras-hub.")
flags.DEFINE_string("model_dir", None, "Output folder; rerun the same "
                    "command to resume.")
# Data.
flags.DEFINE_string("train_file", None, "Training data: CSV/TSV/JSONL "
                    "(classification, regression), CoNLL/BIO (tagging), "
                    "SQuAD JSON (squad), SWAG CSV (multiple_choice).")
flags.DEFINE_string("eval_file", None, "Evaluation data in the same format. "
                    "Without it, --dev_fraction of --train_file is held out.")
flags.DEFINE_string("predict_file", None, "Data to predict on (labels not "
                    "needed); predictions are written to model_dir.")
flags.DEFINE_string("tfds_name", None, "Instead of --train_file: a "
                    "TensorFlow Datasets name (glue/sst2, glue/stsb, "
                    "conll2003, squad/v1.1, squad/v2.0, hellaswag).")
flags.DEFINE_string("tfds_train_split", "train", "tfds split to train on.")
flags.DEFINE_string("tfds_eval_split", "validation", "tfds split to "
                    "evaluate on (conll2003: dev); empty to hold out "
                    "--dev_fraction of the training split.")
flags.DEFINE_string("tfds_data_dir", None, "tfds data directory.")
flags.DEFINE_string("text_column", "text", "Column (CSV/TSV) or key (JSONL) "
                    "of the text.")
flags.DEFINE_string("text_b_column", None, "Column of the second text of a "
                    "pair (MRPC, MNLI, STS-B, ...).")
flags.DEFINE_string("label_column", "label", "Column of the label (or the "
                    "score for regression).")
flags.DEFINE_list("labels", None, "The label (tag) list, comma-separated, "
                  "in class-id order; default: learned from the training "
                  "data (sorted; tags with O first).")
flags.DEFINE_float("dev_fraction", 0.1, "Without --eval_file: the share of "
                   "the training file held out (deterministically, by "
                   "--seed) as the dev split that eval_results.json reports.")
flags.DEFINE_integer("max_seq_length", None, "Packed sequence length "
                     "(default 128; squad 384).", lower_bound=8)
flags.DEFINE_integer("doc_stride", 128, "SQuAD: stride between context "
                     "windows.", lower_bound=1)
flags.DEFINE_integer("max_query_length", 64, "SQuAD: question tokens kept.",
                     lower_bound=1)
flags.DEFINE_integer("n_best_size", 20, "SQuAD: n-best answers kept.",
                     lower_bound=1)
flags.DEFINE_integer("max_answer_length", 30, "SQuAD: longest answer in "
                     "wordpieces.", lower_bound=1)
flags.DEFINE_float("null_score_diff_threshold", 0.0, "SQuAD v2.0: predict "
                   "no answer when the null score beats the best span by more "
                   "than this.")
flags.DEFINE_enum("word_units", "auto", ["auto", "characters", "whitespace"],
                  "Tagging: how the exported model splits raw text into "
                  "words, recorded in task.json: one word per character "
                  "(character-level BIO such as People's Daily) or "
                  "whitespace words (CoNLL); auto: characters when every "
                  "training word is one character.")
flags.DEFINE_bool("version_2_with_negative", None, "SQuAD v2.0 (questions "
                  "without an answer); default: read from the file.")
flags.DEFINE_bool("lower_case", None, "Lower-case the text; default: as the "
                  "checkpoint's vocabulary says.")
# Optimisation (names of google-research/bert's run_classifier.py).
flags.DEFINE_float("learning_rate", 3e-5, "Peak learning rate (the BERT "
                   "paper tries 2e-5, 3e-5, 5e-5).")
flags.DEFINE_float("num_train_epochs", 3.0, "Epochs over the training set.")
flags.DEFINE_integer("train_batch_size", 32, "Global training batch size.",
                     lower_bound=1)
flags.DEFINE_integer("eval_batch_size", 32, "Evaluation/prediction batch "
                     "size.", lower_bound=1)
flags.DEFINE_float("warmup_proportion", 0.1, "Share of the training steps "
                   "of linear warm-up.")
flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (not on "
                   "LayerNorm or biases).")
flags.DEFINE_float("dropout", None, "Override the checkpoint's "
                   "hidden_dropout_prob (encoder and head).")
flags.DEFINE_enum("mixed_precision", "none", ["none", "bf16", "fp16"],
                  "Mixed precision (fp16 uses loss scaling).")
flags.DEFINE_bool("jit_compile", False, "Compile training and prediction "
                  "with XLA.")
flags.DEFINE_integer("steps_per_execution", 1, "Steps per tf.function call.",
                     lower_bound=1)
cli_flags.define_distribution_flags()
flags.adopt_module_key_flags(cli_flags)   # listed in --help
flags.DEFINE_integer("seed", 42, "Seed for the dev split, shuffling, head "
                     "initialisation and dropout.")
flags.DEFINE_integer("log_every", 50, "Steps between progress log lines.",
                     lower_bound=1)
flags.DEFINE_integer("checkpoint_every", None, "Back up for a resume every "
                     "N steps (default: after each pass over the training "
                     "data); a rerun resumes from the last backup.",
                     lower_bound=1)
flags.mark_flags_as_required(["task", "init_checkpoint", "model_dir"])


def _fail(message):
  raise app.UsageError(message)


def _check_flags():
  """Checks that need no TensorFlow: sources, files, numbers."""
  if not os.path.isdir(FLAGS.init_checkpoint):
    _fail(f"--init_checkpoint={FLAGS.init_checkpoint} is not a folder; give "
          "a checkpoint folder (pretrain's model_dir/pretrained, a Hugging "
          "Face or Google BERT folder).")
  if bool(FLAGS.train_file) == bool(FLAGS.tfds_name):
    _fail("Give exactly one training source: --train_file or --tfds_name "
          f"(got {'both' if FLAGS.train_file else 'neither'}).")
  for name in ("train_file", "eval_file", "predict_file"):
    path = FLAGS[name].value
    if path and not os.path.isfile(path):
      _fail(f"--{name}={path} does not exist (or is not a file).")
  if FLAGS.tfds_name and FLAGS.eval_file:
    _fail("--eval_file goes with --train_file; with --tfds_name use "
          "--tfds_eval_split.")
  if not 0 < FLAGS.dev_fraction < 1:
    _fail(f"--dev_fraction={FLAGS.dev_fraction} must lie between 0 and 1.")
  if FLAGS.num_train_epochs <= 0:
    _fail(f"--num_train_epochs={FLAGS.num_train_epochs} must be positive.")
  if not 0 <= FLAGS.warmup_proportion < 1:
    _fail(f"--warmup_proportion={FLAGS.warmup_proportion} must be in [0, 1).")
  if FLAGS.labels is not None and FLAGS.task not in ("classification",
                                                     "tagging"):
    _fail(f"--labels is for classification and tagging, not --task="
          f"{FLAGS.task}.")
  if FLAGS.labels is not None and len(set(FLAGS.labels)) != len(FLAGS.labels):
    _fail(f"--labels={','.join(FLAGS.labels)} has duplicates.")
  if FLAGS.max_seq_length is None:
    FLAGS.max_seq_length = 384 if FLAGS.task == "squad" else 128
  if FLAGS.task == "squad" and (FLAGS.max_query_length + 3 >=
                                FLAGS.max_seq_length):
    _fail(f"--max_query_length={FLAGS.max_query_length} leaves no room for "
          f"the context in --max_seq_length={FLAGS.max_seq_length}.")


def _task():
  """The task config from the flags."""
  from keras_bert_lab import tasks
  config = {"max_seq_length": FLAGS.max_seq_length}
  if FLAGS.task in ("classification", "regression"):
    config.update(text_column=FLAGS.text_column,
                  text_b_column=FLAGS.text_b_column,
                  label_column=FLAGS.label_column)
  elif FLAGS.task == "squad":
    config.update(doc_stride=FLAGS.doc_stride,
                  max_query_length=FLAGS.max_query_length,
                  n_best_size=FLAGS.n_best_size,
                  max_answer_length=FLAGS.max_answer_length,
                  null_score_diff_threshold=FLAGS.null_score_diff_threshold)
  elif FLAGS.task == "tagging" and FLAGS.word_units != "auto":
    config.update(word_units=FLAGS.word_units)
  task = tasks.get_task(FLAGS.task, **config)
  if FLAGS.task == "tagging":
    task.learn_word_units = FLAGS.word_units == "auto"
  return task


def _from_flags(cls):
  """A config dataclass whose fields are all flags, from the flags."""
  return cls(**{f.name: FLAGS[f.name].value for f in dataclasses.fields(cls)})


def main(argv):
  if len(argv) > 1:
    _fail(f"Unexpected arguments: {argv[1:]}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  _check_flags()
  from keras_bert_lab import tasks
  data, train = (_from_flags(cls) for cls in (tasks.DataConfig,
                                               tasks.TrainConfig))
  try:
    results, written = tasks.finetune(_task(), data, FLAGS.init_checkpoint,
                                      FLAGS.model_dir, train)
  except ValueError as e:
    _fail(str(e))
  print(json.dumps(results, indent=2))
  print("Wrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
  app.run(main)
