r"""Draw a run's training curves (and a confusion matrix) to a PNG.

  python -m keras_bert_lab.report --model_dir=runs/quickstart
  python -m keras_bert_lab.report --model_dir=runs/fine_foods \
      --output=fine_foods.png

Reads the TensorBoard event files under `--model_dir` — `pretrain`'s
`train/`, `finetune`'s `logs/train/` and `logs/eval/`, and the `train/` and
`validation/` folders of Keras' `TensorBoard` callback (its `epoch_` and
`batch_` tags, as the notebooks in `colab/` write them) — and draws what
they hold: the losses (total, masked LM, NSP), the accuracies, the learning
rate and the throughput, one panel each, plus the numbers of
`eval_results.json`. For a fine-tuned classifier (`task.json` says
`classification`) it adds the confusion matrix of the saved model on the
data the run evaluated: the `--eval_file` it was given, or its dev split of
`--train_file` (or of a tfds split) drawn again with the source, fraction and
seed that `eval_results.json`'s `dev_split` records.

The library is `keras_bert_lab.reports` (`write_report`); this module maps
the flags to it.
"""

import os

from keras_bert_lab.reports import write_report


def main(argv):
  from absl import app
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  try:
    path = write_report(
        FLAGS.model_dir, FLAGS.output, eval_file=FLAGS.eval_file,
        confusion=False if not FLAGS.confusion_matrix else None,
        steps_per_epoch=FLAGS.steps_per_epoch,
        eval_batch_size=FLAGS.eval_batch_size,
        tfds_data_dir=FLAGS.tfds_data_dir, title=FLAGS.title)
  except (FileNotFoundError, ValueError, ImportError) as e:
    raise app.UsageError(str(e))
  print(path)


def _define_flags():
  """The CLI's flags (defined only when run as a program: `pretrain` and
  `finetune` define `model_dir` too, and may share a process with this
  module)."""
  from absl import flags
  flags.DEFINE_string("model_dir", None, "A pretrain or finetune model_dir "
                      "(or any folder with TensorBoard event files below it).")
  flags.DEFINE_string("output", None, "The PNG to write; default "
                      "<model_dir>/report.png.")
  flags.DEFINE_bool("confusion_matrix", True, "For a classification "
                    "model_dir: add the confusion matrix on the evaluated "
                    "data (--noconfusion_matrix to skip the predictions).")
  flags.DEFINE_string("eval_file", None, "Data for the confusion matrix; "
                      "default: what eval_results.json says the run "
                      "evaluated.")
  flags.DEFINE_integer("eval_batch_size", 32, "Prediction batch size.",
                       lower_bound=1)
  flags.DEFINE_string("tfds_data_dir", None, "tfds data directory, when the "
                      "run evaluated a tfds split.")
  flags.DEFINE_string("title", None, "The figure's title; default "
                      "--model_dir.")
  flags.DEFINE_integer("steps_per_epoch", None, "Keras TensorBoard logs: the "
                       "fit's steps_per_epoch, to plot epochs as steps.",
                       lower_bound=1)
  flags.mark_flag_as_required("model_dir")
  return flags.FLAGS


if __name__ == "__main__":
  from absl import app
  FLAGS = _define_flags()
  app.run(main)
