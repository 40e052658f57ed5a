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
cli_flags.define_data_flags()
cli_flags.define_training_flags()
flags.adopt_module_key_flags(cli_flags)   # listed in --help
# Task settings (task.json).
flags.DEFINE_list("labels", None, "The label (tag) list, comma-separated, "
                  "in class-id order; default: learned from the training "
                  "data (sorted; tags with O first).")
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
flags.mark_flags_as_required(["task", "init_checkpoint", "model_dir"])


def _fail(message):
  raise app.UsageError(message)


def _check_flags():
  """Checks that need no TensorFlow: sources, files, numbers."""
  if not os.path.isdir(FLAGS.init_checkpoint):
    _fail(f"--init_checkpoint={FLAGS.init_checkpoint} is not a folder; give "
          "a checkpoint folder (pretrain's model_dir/pretrained, a Hugging "
          "Face or Google BERT folder).")
  cli_flags.check_data_and_training(FLAGS)
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


def main(argv):
  if len(argv) > 1:
    _fail(f"Unexpected arguments: {argv[1:]}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  _check_flags()
  from keras_bert_lab import tasks
  data, train = (cli_flags.config_from_flags(cls, FLAGS)
                 for cls in (tasks.DataConfig, tasks.TrainConfig))
  try:
    results, written = tasks.finetune(_task(), data, FLAGS.init_checkpoint,
                                      FLAGS.model_dir, train)
  except ValueError as e:
    _fail(str(e))
  except OSError as e:
    from keras_bert_lab.training import DiskFullError
    if not isinstance(e, DiskFullError):
      raise
    raise SystemExit(f"FATAL: {e}")
  cli_flags.print_results(results, written)


if __name__ == "__main__":
  app.run(main)
