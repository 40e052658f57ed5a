r"""Distil a fine-tuned task model into a smaller student.

  python -m keras_bert_lab.distill --teacher=runs/reviews \
      --student_layers=0,2,4 --model_dir=runs/reviews-3l \
      --train_file=../shared/data/labeled/en/fine_foods_train.tsv \
      --text_column=review --label_column=score
  python -m keras_bert_lab.distill --teacher=runs/ner --student_config=mini \
      --hidden_weight=1 --model_dir=runs/ner-mini --train_file=train.bio

The student starts from teacher blocks (`--student_layers`, DistilBERT's
way), from a checkpoint with the teacher's vocabulary (`--student_init`) or
at random in a preset or `config.json` shape (`--student_config`). The task,
labels and preprocessing are the teacher's `task.json`; the data and
training flags are `finetune`'s (the column flags may rename the columns of
this data). The loss mixes the hard labels (`--alpha`), the teacher's soft
targets at `--temperature`, and the inside of the encoder:
`--hidden_weight` (hidden states, TinyBERT's and DistilBERT's),
`--attention_weight` (attention scores block by block, TinyBERT's; the
student needs the teacher's head count) and `--minilm_weight` (the last
block's attention and value relations, MiniLM's; any width, but the last
blocks' head counts must match)
(`keras_bert_lab.compression.distillation`). `model_dir` is a `finetune`
model_dir (rerun the same command to resume); its `eval_results.json` also
holds the teacher's metrics on the same evaluation data.
"""

import os

from absl import app, flags

from keras_bert_lab.training import cli_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("teacher", None, "The fine-tuned task folder to distil "
                    "(a finetune model_dir, or an HF BertFor... folder).")
flags.DEFINE_string("model_dir", None, "The student's folder; rerun the same "
                    "command to resume.")
flags.DEFINE_list("student_layers", None, "Start the student from these "
                  "teacher blocks (0-based, increasing), with the teacher's "
                  "embeddings, pooler and head, e.g. 0,2,4.")
flags.DEFINE_string("student_init", None, "Start the student's encoder from "
                    "this checkpoint folder (it must have the teacher's "
                    "vocab.txt and case); the head starts at random.")
flags.DEFINE_string("student_config", None, "Start a random student of this "
                    "shape: a preset (tiny, mini, small, medium, base, "
                    "large) or a config.json (ours, HF or Google).")
cli_flags.define_distillation_flags()
cli_flags.define_data_flags()
cli_flags.define_training_flags()
flags.adopt_module_key_flags(cli_flags)   # listed in --help
flags.mark_flags_as_required(["teacher", "model_dir"])


def _fail(message):
  raise app.UsageError(message)


def _check_flags():
  """Checks that need no TensorFlow."""
  if not os.path.isdir(FLAGS.teacher):
    _fail(f"--teacher={FLAGS.teacher} is not a folder; give a finetune "
          "model_dir.")
  starts = [f"--{name}" for name in ("student_layers", "student_init",
                                     "student_config")
            if FLAGS[name].value is not None]
  if len(starts) != 1:
    _fail("Give exactly one way to start the student: --student_layers, "
          f"--student_init or --student_config (got "
          f"{', '.join(starts) or 'none'}).")
  if FLAGS.student_init and not os.path.isdir(FLAGS.student_init):
    _fail(f"--student_init={FLAGS.student_init} is not a folder.")
  cli_flags.check_data_and_training(FLAGS)


def _student_config():
  value = FLAGS.student_config
  if value is None or not value.endswith(".json"):
    return value
  from keras_bert_lab.config import BertConfig
  if not os.path.isfile(value):
    _fail(f"--student_config={value} does not exist; give a preset name or "
          "a config.json.")
  return BertConfig.from_json_file(value)


def main(argv):
  if len(argv) > 1:
    _fail(f"Unexpected arguments: {argv[1:]}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  _check_flags()
  from keras_bert_lab import tasks
  from keras_bert_lab.compression import distillation
  try:
    config = cli_flags.config_from_flags(distillation.DistillConfig, FLAGS)
    data, train = (cli_flags.config_from_flags(cls, FLAGS)
                   for cls in (tasks.DataConfig, tasks.TrainConfig))
    results, written = distillation.distill(
        FLAGS.teacher, data, FLAGS.model_dir, train,
        layers=FLAGS.student_layers, init_checkpoint=FLAGS.student_init,
        student_config=_student_config(), config=config,
        **cli_flags.column_overrides(FLAGS))
  except ValueError as e:
    _fail(str(e))
  cli_flags.print_results(results, written)


if __name__ == "__main__":
  app.run(main)
