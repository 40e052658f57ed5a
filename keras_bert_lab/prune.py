r"""Prune attention heads and feed-forward neurons of a fine-tuned task model.

  python -m keras_bert_lab.prune --model=runs/reviews --heads=0.5 --ffn=0.5 \
      --train_file=../shared/data/labeled/en/fine_foods_train.tsv \
      --text_column=review --label_column=score --model_dir=runs/reviews-p50
  python -m keras_bert_lab.prune --model=runs/ner --heads=0.3 --layers=3,4,5 \
      --recover_epochs=1 --train_file=train.bio --model_dir=runs/ner-pruned

Heads and neurons are ranked by the gradient of the task loss on
--importance_examples training examples (Michel et al. 2019, Kwon et al.
2022) and the lowest removed from the weights; `model_dir` is an ordinary
task folder of the smaller model, with `pruning.json` (what was removed and
why) and `eval_results.json` (the pruned model's metrics and, under
"unpruned", the original's on the same data). --recover_epochs distils the
pruned model from the original afterwards (the loss flags are `distill`'s;
the other training flags set its optimiser); rerun the same command to
resume. The data flags are `finetune`'s; the task, labels and preprocessing
are the model's `task.json` (`keras_bert_lab.compression.pruning`).
"""

import os

from absl import app, flags

from keras_bert_lab.training import cli_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "The fine-tuned task folder to prune (a "
                    "finetune or distill model_dir).")
flags.DEFINE_string("model_dir", None, "The pruned model's folder; rerun the "
                    "same command to resume.")
flags.DEFINE_float("heads", 0.0, "Share of the attention heads to remove, in "
                   "[0, 1); each layer keeps one.")
flags.DEFINE_float("ffn", 0.0, "Share of the feed-forward neurons to remove, "
                   "in [0, 1); each layer keeps one.")
flags.DEFINE_list("layers", None, "Only these blocks (0-based) lose heads and "
                  "neurons; default all.")
flags.DEFINE_integer("importance_examples", 2048, "Training examples whose "
                     "gradients rank the heads and neurons.", lower_bound=1)
flags.DEFINE_float("recover_epochs", 0.0, "Epochs of distillation from the "
                   "unpruned model after pruning (0: none).", lower_bound=0)
cli_flags.define_distillation_flags()
cli_flags.define_data_flags()
cli_flags.define_training_flags()
flags.adopt_module_key_flags(cli_flags)   # listed in --help
flags.mark_flags_as_required(["model", "model_dir"])


def _fail(message):
  raise app.UsageError(message)


def main(argv):
  if len(argv) > 1:
    _fail(f"Unexpected arguments: {argv[1:]}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  if not os.path.isdir(FLAGS.model):
    _fail(f"--model={FLAGS.model} is not a folder; give a finetune "
          "model_dir.")
  cli_flags.check_data_and_training(FLAGS)
  from keras_bert_lab import tasks
  from keras_bert_lab.compression import distillation, pruning
  try:
    config = pruning.PruneConfig(
        FLAGS.heads, FLAGS.ffn, FLAGS.layers, FLAGS.importance_examples,
        FLAGS.recover_epochs,
        cli_flags.config_from_flags(distillation.DistillConfig, FLAGS))
    data, train = (cli_flags.config_from_flags(cls, FLAGS)
                   for cls in (tasks.DataConfig, tasks.TrainConfig))
    results, written = pruning.prune(FLAGS.model, data, FLAGS.model_dir,
                                     config, train,
                                     **cli_flags.column_overrides(FLAGS))
  except ValueError as e:
    _fail(str(e))
  cli_flags.print_results(results, written)


if __name__ == "__main__":
  app.run(main)
