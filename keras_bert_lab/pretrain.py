r"""Pre-train BERT (masked LM + next-sentence prediction) on your corpus.

  python -m keras_bert_lab.pretrain --flagfile=configs/quickstart.flags
  python -m keras_bert_lab.pretrain --input_files=corpus/*.txt \
      --vocab_file=vocab.txt --model_size=mini --train_batch_size=256 \
      --num_train_steps=100000 --model_dir=runs/mini

Text is turned into pre-training examples in the graph as Google's
`create_pretraining_data.py` would (`keras_bert_lab.data`); TFRecords made by
that script (or ours) work too (`--tfrecord_files`). Training resumes
exactly (same step, same data position) when the same command is run again;
a run with another model config or other input flags is refused.
`model_dir` receives checkpoints, TensorBoard logs (`train/`), the config,
the input flags and vocab, `eval_results.json` and, at the end, a
`pretrained/` folder that fine-tuning and export accept (`save_pretrained`
layout). The flags map onto `keras_bert_lab.training`: `setup_runtime`,
`PretrainingInput`, `pretraining_model`, `prepare_model_dir`, `train` and
`evaluate`.
"""

import dataclasses
import json
import os
import pathlib

from absl import app, flags, logging

from keras_bert_lab.training import cli_flags
from keras_bert_lab.training.pretraining import BUNDLED_VOCAB, INPUT_FLAGS

FLAGS = flags.FLAGS
# Data.
flags.DEFINE_list("input_files", None, "Text corpus: comma-separated files "
                  "or globs (.gz read as gzip); blank lines separate "
                  "documents.")
flags.DEFINE_list("tfrecord_files", None, "Instead of text: pre-training "
                  "TFRecords in google-research/bert's format.")
flags.DEFINE_string("tfds_name", None, "Instead of files: a TensorFlow "
                    "Datasets name, e.g. wikipedia/20230601.en.")
flags.DEFINE_string("tfds_text_key", "text", "The tfds text feature.")
flags.DEFINE_string("tfds_split", "train", "The tfds split.")
flags.DEFINE_list("eval_files", None, "Held-out text files for "
                  "eval_results.json. Without them, --eval_holdout_percent "
                  "of the documents is held out of --input_files.")
flags.DEFINE_integer("eval_holdout_percent", 5, "Percent of documents (by a "
                     "hash of their first sentence) held out for evaluation "
                     "when no --eval_files are given.", lower_bound=0,
                     upper_bound=50)
flags.DEFINE_integer("eval_batches", 50, "Most evaluation batches.",
                     lower_bound=1)
flags.DEFINE_string("vocab_file", str(BUNDLED_VOCAB),
                    "WordPiece vocabulary (default: the bundled one).")
flags.DEFINE_bool("lower_case", True, "Lower-case and strip accents.")
cli_flags.define_instance_flags()
flags.DEFINE_bool("whole_word_mask", False, "Whole-word masking.")
flags.DEFINE_integer("ngram_max", 1, "Mask spans of up to N whole words.")
flags.DEFINE_integer("seed", 12345, "Seed for data, masking and weights.")
flags.DEFINE_bool("deterministic", False, "TensorFlow op determinism: a "
                  "killed run resumed by the same command ends bit-identical "
                  "to an uninterrupted one (slower on GPU).")
# Model.
flags.DEFINE_enum("model_size", "tiny",
                  ["tiny", "mini", "small", "medium", "base", "large"],
                  "BERT size (Turc et al. 2019; the BERT paper).")
flags.DEFINE_string("bert_config_file", None, "Instead of --model_size: "
                    "Google's bert_config.json or HF's config.json.")
flags.DEFINE_string("init_checkpoint", None, "Continue pre-training from a "
                    "checkpoint folder (HF, Google TF1, keras-hub, ours).")
# Optimisation.
flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"], "Optimizer.")
flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate.")
flags.DEFINE_integer("num_train_steps", 10000, "Training steps.",
                     lower_bound=1)
flags.DEFINE_integer("num_warmup_steps", None, "Linear warm-up steps "
                     "(default: 1% of --num_train_steps).")
flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay (not on "
                   "LayerNorm or biases).")
flags.DEFINE_integer("train_batch_size", 32, "Global batch size.",
                     lower_bound=1)
flags.DEFINE_integer("gradient_accumulation_steps", None, "Accumulate "
                     "gradients over this many steps.")
flags.DEFINE_enum("mixed_precision", "none", ["none", "bf16", "fp16"],
                  "Mixed precision (fp16 uses loss scaling).")
flags.DEFINE_integer("steps_per_execution", 1, "Steps per tf.function call.",
                     lower_bound=1)
flags.DEFINE_bool("jit_compile", False, "Compile the training step with XLA "
                  "(forward, backward and, on one replica, the optimizer "
                  "update).")
# Distribution and output.
cli_flags.define_distribution_flags()
flags.adopt_module_key_flags(cli_flags)   # listed in --help
flags.DEFINE_string("model_dir", None, "Output folder; rerun to resume.")
flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.")
flags.DEFINE_integer("keep_checkpoints", 5, "Checkpoints kept.")
flags.DEFINE_integer("log_every", 100, "Steps between log lines.")
flags.mark_flag_as_required("model_dir")


def _given(name):
  """A flag's value if given (here or in a flagfile), else None."""
  return FLAGS[name].value if FLAGS[name].present else None


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow as tf
  from keras_bert_lab import training

  model_dir = pathlib.Path(FLAGS.model_dir)
  warmup = (FLAGS.num_warmup_steps if FLAGS.num_warmup_steps is not None
            else FLAGS.num_train_steps // 100)
  if not 0 <= warmup < FLAGS.num_train_steps:
    raise app.UsageError(
        f"--num_warmup_steps={warmup} must be smaller than "
        f"--num_train_steps={FLAGS.num_train_steps}; lower it.")
  try:
    data = training.PretrainingInput(
        **{name: FLAGS[name].value for name in INPUT_FLAGS},
        eval_batches=FLAGS.eval_batches)
    strategy = training.setup_runtime(
        FLAGS.strategy, FLAGS.tpu, FLAGS.connect_timeout,
        FLAGS.num_cpu_devices, FLAGS.train_batch_size, FLAGS.mixed_precision,
        FLAGS.seed, FLAGS.deterministic)
    data = data.checked()
    with strategy.scope():
      model, tokenizer = training.pretraining_model(
          FLAGS.init_checkpoint, FLAGS.model_size, FLAGS.bert_config_file,
          _given("vocab_file"), _given("lower_case"), FLAGS.next_sentence,
          FLAGS.max_seq_length)
    data = dataclasses.replace(data, lower_case=tokenizer.lower_case)
    # Only the chief of a multi-worker cluster writes into model_dir.
    chief = training.is_chief(strategy)
    training.prepare_model_dir(model_dir, model.config, tokenizer.vocab,
                               data.settings(tokenizer.vocab,
                                             training.num_input_pipelines(
                                                 strategy)), write=chief)
  except ValueError as e:
    raise app.UsageError(str(e))
  with strategy.scope():
    optimizer = training.create_optimizer(
        FLAGS.optimizer, FLAGS.learning_rate, FLAGS.num_train_steps, warmup,
        weight_decay=FLAGS.weight_decay,
        gradient_accumulation_steps=FLAGS.gradient_accumulation_steps,
        loss_scale=FLAGS.mixed_precision == "fp16")

  logging.info("Pre-training %s (%d parameters) for %d steps, global batch "
               "%d, %d replica(s).", FLAGS.init_checkpoint or FLAGS.model_size,
               model.count_params(), FLAGS.num_train_steps,
               FLAGS.train_batch_size, strategy.num_replicas_in_sync)
  try:
    with data.input_errors():
      training.train(model, optimizer, data.train_dataset_fn(tokenizer),
                     str(model_dir), FLAGS.num_train_steps, strategy=strategy,
                     steps_per_execution=FLAGS.steps_per_execution,
                     checkpoint_every=FLAGS.checkpoint_every,
                     max_checkpoints_to_keep=FLAGS.keep_checkpoints,
                     log_every=FLAGS.log_every, jit_compile=FLAGS.jit_compile)
  except ValueError as e:
    if not any(case in str(e) for case in ("cannot resume exactly",
                                           "holds a single document",
                                           "good records")):
      raise
    raise app.UsageError(str(e))
  except training.DiskFullError as e:
    raise SystemExit(f"FATAL: {e}")
  except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as e:
    if FLAGS.strategy != "multi_worker":
      raise
    latest = tf.train.latest_checkpoint(str(model_dir))
    lines = [line.strip() for line in e.message.splitlines() if line.strip()]
    reason = next((line for line in lines if "unhealthy" in line or
                   "time" in line.lower()), lines[-1] if lines else "")
    raise SystemExit(
        f"FATAL: a worker of the cluster stopped answering ({reason}). Start "
        "every worker again with the same command: training resumes from "
        f"{latest or 'the first step'}.")

  eval_dataset = data.eval_dataset(tokenizer)
  results = ({} if eval_dataset is None else
             training.evaluate(model, eval_dataset, strategy=strategy))
  results["steps"] = FLAGS.num_train_steps
  if not chief:
    return
  try:
    with training.disk_full_errors(
        model_dir, "eval_results.json and pretrained/",
        lambda: training.variable_bytes(model.weights),
        "training is done, so it only evaluates and saves again"):
      (model_dir / "eval_results.json").write_text(
          json.dumps(results, indent=2))
      model.save_pretrained(str(model_dir / "pretrained"))
  except training.DiskFullError as e:
    raise SystemExit(f"FATAL: {e}")
  print(json.dumps(results, indent=2))
  print(f"Pre-trained model: {model_dir / 'pretrained'}")


if __name__ == "__main__":
  app.run(main)
