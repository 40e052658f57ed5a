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
layout).
"""

import hashlib
import json
import os
import pathlib

from absl import app, flags, logging

from keras_bert_lab.training import cli_flags

RESOURCES = pathlib.Path(__file__).resolve().parent / "resources"

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
flags.DEFINE_string("vocab_file", str(RESOURCES / "vocab.txt"),
                    "WordPiece vocabulary (default: the bundled one).")
flags.DEFINE_bool("lower_case", True, "Lower-case and strip accents.")
flags.DEFINE_bool("split_sentences", True, "Split lines into sentences; "
                  "--nosplit_sentences for one sentence per line.")
flags.DEFINE_bool("document_per_line", False, "Every line is a document.")
flags.DEFINE_integer("max_seq_length", 128, "Sequence length.", lower_bound=8)
flags.DEFINE_integer("max_predictions_per_seq", 20, "Masked positions per "
                     "sequence at most.", lower_bound=1)
flags.DEFINE_float("masked_lm_prob", 0.15, "Share of tokens masked.")
flags.DEFINE_float("short_seq_prob", 0.1, "Probability of a shorter target "
                   "length.")
flags.DEFINE_bool("next_sentence", True, "NSP pairs; --nonext_sentence for "
                  "single segments and masked LM only (RoBERTa style).")
flags.DEFINE_bool("cross_documents", True, "With --nonext_sentence: "
                  "segments run on into the next document after a [SEP] "
                  "(RoBERTa's FULL-SENTENCES); --nocross_documents ends "
                  "them at document ends (DOC-SENTENCES).")
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


def _check_flags():
  sources = [n for n in ("input_files", "tfrecord_files", "tfds_name")
             if FLAGS[n].value]
  if len(sources) != 1:
    raise app.UsageError("Give exactly one data source: --input_files, "
                         f"--tfrecord_files or --tfds_name (got {sources or 'none'}).")
  if FLAGS.tfrecord_files and FLAGS.whole_word_mask:
    logging.warning("--whole_word_mask has no effect with --tfrecord_files: "
                    "the files are already masked.")


def _model_and_tokenizer():
  """The model to pre-train (built under the strategy's scope) and its
  tokenizer: from `--init_checkpoint` (whose vocabulary and case are the
  defaults then), or a new model of `--model_size` / `--bert_config_file`."""
  import tempfile
  from keras_bert_lab import models, text
  from keras_bert_lab.config import BertConfig
  try:
    if FLAGS.init_checkpoint:
      model = models.BertPretrainer.from_pretrained(
          FLAGS.init_checkpoint, next_sentence=FLAGS.next_sentence)
      if not FLAGS["lower_case"].present:
        FLAGS.lower_case = model.lower_case
      if FLAGS["vocab_file"].present or not model.vocab:
        tokenizer = text.BertTokenizer(FLAGS.vocab_file,
                                       lower_case=FLAGS.lower_case)
      else:   # the checkpoint's own vocabulary (read when built)
        with tempfile.TemporaryDirectory() as folder:
          vocab_file = pathlib.Path(folder) / "vocab.txt"
          vocab_file.write_text("".join(t + "\n" for t in model.vocab),
                                encoding="utf-8")
          tokenizer = text.BertTokenizer(vocab_file,
                                         lower_case=FLAGS.lower_case)
      config = model.config
      source = f"--init_checkpoint={FLAGS.init_checkpoint}"
    else:
      tokenizer = text.BertTokenizer(FLAGS.vocab_file,
                                     lower_case=FLAGS.lower_case)
      config = (BertConfig.from_json_file(FLAGS.bert_config_file)
                if FLAGS.bert_config_file else
                BertConfig.preset(FLAGS.model_size,
                                  vocab_size=tokenizer.vocab_size))
      source = "The model"
  except ValueError as e:
    raise app.UsageError(str(e))
  if config.vocab_size != tokenizer.vocab_size:
    raise app.UsageError(
        f"{source} has vocab_size={config.vocab_size} but "
        f"{tokenizer.vocab_file} holds {tokenizer.vocab_size} tokens; use the "
        "vocabulary the model was made for.")
  if FLAGS.max_seq_length > config.max_position_embeddings:
    raise app.UsageError(
        f"--max_seq_length={FLAGS.max_seq_length} is longer than {source} "
        f"allows (max_position_embeddings={config.max_position_embeddings}); "
        "lower it.")
  if not FLAGS.init_checkpoint:
    model = models.BertPretrainer(
        models.BertEncoder(config, vocab=tokenizer.vocab,
                           lower_case=FLAGS.lower_case),
        next_sentence=FLAGS.next_sentence)
  return model, tokenizer


# The flags that decide the training examples and their order: a resumed
# run continues at the saved data position only if they stay the same.
INPUT_FLAGS = ("input_files", "tfrecord_files", "tfds_name", "tfds_text_key",
               "tfds_split", "eval_files", "eval_holdout_percent",
               "lower_case", "split_sentences", "document_per_line",
               "max_seq_length", "max_predictions_per_seq", "masked_lm_prob",
               "short_seq_prob", "next_sentence", "cross_documents",
               "whole_word_mask", "ngram_max", "seed", "train_batch_size",
               "bucket_boundaries")


def _input_settings(tokenizer, input_pipelines):
  """The INPUT_FLAGS' values (local file paths made absolute), the vocab,
  and the number of input pipelines (each reads its own share and seed)."""
  settings = {name: FLAGS[name].value for name in INPUT_FLAGS}
  settings["input_pipelines"] = input_pipelines
  for name in ("input_files", "tfrecord_files", "eval_files"):
    if settings[name]:
      settings[name] = [path if "://" in path else os.path.abspath(path)
                        for path in settings[name]]
  settings["vocab"] = hashlib.sha256(
      "\n".join(tokenizer.vocab).encode("utf-8")).hexdigest()
  return settings


def _check_resume(model_dir, config, input_settings, write=True):
  """Refuses to resume a model_dir trained with another config or input.

  The model config must match `bert_config.json`; once a checkpoint exists,
  the input settings (`_input_settings`) must match `input_flags.json`,
  since another input cannot continue at the saved data position. Writes
  both files (making model_dir) when `write` and they are not fixed yet.
  """
  from keras_bert_lab.config import BertConfig
  saved = model_dir / "bert_config.json"
  if saved.exists():
    old = BertConfig.from_json_file(str(saved)).to_dict()
    new = config.to_dict()
    diff = {k: (old[k], new[k]) for k in old if old[k] != new.get(k)}
    if diff:
      raise app.UsageError(
          f"{model_dir} holds a run of another model config (saved, asked): "
          f"{diff}. Use a new --model_dir or the same model flags.")
  elif write:
    model_dir.mkdir(parents=True, exist_ok=True)
    config.write_google_json(str(saved))
  saved = model_dir / "input_flags.json"
  if saved.exists() and (model_dir / "checkpoint").exists():
    old = json.loads(saved.read_text())
    diff = {f"--{k}": (old.get(k), input_settings[k]) for k in INPUT_FLAGS
            if old.get(k) != input_settings[k]}
    if old.get("vocab") != input_settings["vocab"]:
      diff["--vocab_file"] = "a vocabulary other than the saved vocab.txt"
    if old.get("input_pipelines", 1) != input_settings["input_pipelines"]:
      diff["workers (TF_CONFIG)"] = (old.get("input_pipelines", 1),
                                     input_settings["input_pipelines"])
    if diff:
      raise app.UsageError(
          f"{model_dir} holds a checkpoint trained on other input (saved, "
          f"asked): {diff}. Resuming continues at the saved data position, "
          "which only the same input reaches: rerun with the values in "
          f"{saved} (and as many workers), or use a new --model_dir.")
  elif write:
    saved.write_text(json.dumps(input_settings, indent=2))


def _holdout(document):
  import tensorflow as tf
  return tf.strings.to_hash_bucket_fast(document[0], 100) < (
      FLAGS.eval_holdout_percent)


def _text_documents(files, context=None, eval_split=False):
  """Documents for training (or the held-out ones with eval_split)."""
  from keras_bert_lab import data
  if FLAGS.tfds_name:
    documents = data.tfds_documents(
        FLAGS.tfds_name, FLAGS.tfds_text_key, FLAGS.tfds_split,
        split_sentences=FLAGS.split_sentences, seed=FLAGS.seed)
  else:
    documents = data.read_documents(
        files, document_per_line=FLAGS.document_per_line,
        split_sentences=FLAGS.split_sentences, seed=FLAGS.seed,
        shuffle=not eval_split)
  if context is not None and context.num_input_pipelines > 1:
    documents = documents.shard(context.num_input_pipelines,
                                context.input_pipeline_id)
  if not FLAGS.eval_files and FLAGS.eval_holdout_percent:
    keep = _holdout if eval_split else (lambda d: ~_holdout(d))
    documents = documents.filter(keep)
  return documents


def _features(tokenizer, documents, batch_size, passes, seed, shuffle):
  from keras_bert_lab import data
  return data.pretraining_dataset(
      documents, tokenizer, batch_size, max_seq_length=FLAGS.max_seq_length,
      max_predictions_per_seq=FLAGS.max_predictions_per_seq,
      masked_lm_prob=FLAGS.masked_lm_prob,
      short_seq_prob=FLAGS.short_seq_prob, next_sentence=FLAGS.next_sentence,
      cross_documents=FLAGS.cross_documents,
      whole_word_mask=FLAGS.whole_word_mask, ngram_max=FLAGS.ngram_max,
      passes=passes, seed=seed, shuffle_buffer=10000 if shuffle else 0,
      drop_remainder=passes is None)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  _check_flags()
  import keras
  import tensorflow as tf
  from keras_bert_lab import data, training

  model_dir = pathlib.Path(FLAGS.model_dir)
  warmup = (FLAGS.num_warmup_steps if FLAGS.num_warmup_steps is not None
            else FLAGS.num_train_steps // 100)
  if not 0 <= warmup < FLAGS.num_train_steps:
    raise app.UsageError(
        f"--num_warmup_steps={warmup} must be smaller than "
        f"--num_train_steps={FLAGS.num_train_steps}; lower it.")
  try:
    # Devices and collectives are configured before any TF op runs.
    training.split_cpu(FLAGS.num_cpu_devices)
    strategy = training.get_strategy(FLAGS.strategy, FLAGS.tpu,
                                     FLAGS.connect_timeout)
    training.check_global_batch(FLAGS.train_batch_size, strategy)
    data.bucket_boundaries(FLAGS.bucket_boundaries, FLAGS.max_seq_length)
    if FLAGS.input_files:
      data.expand_input_files(FLAGS.input_files)
    if FLAGS.eval_files:
      data.expand_input_files(FLAGS.eval_files)
    if FLAGS.tfrecord_files:
      FLAGS.tfrecord_files = data.expand_input_files(FLAGS.tfrecord_files)
  except ValueError as e:
    raise app.UsageError(str(e))

  if FLAGS.mixed_precision != "none":
    keras.mixed_precision.set_global_policy(
        {"bf16": "mixed_bfloat16", "fp16": "mixed_float16"}[
            FLAGS.mixed_precision])
  keras.utils.set_random_seed(FLAGS.seed)
  if FLAGS.deterministic:
    tf.config.experimental.enable_op_determinism()
  with strategy.scope():
    model, tokenizer = _model_and_tokenizer()
  # Only the chief of a multi-worker cluster writes into model_dir.
  chief = training.is_chief(strategy)
  _check_resume(model_dir, model.config, _input_settings(
      tokenizer, training.num_input_pipelines(strategy)), write=chief)
  if chief:
    (model_dir / "vocab.txt").write_text(
        "".join(t + "\n" for t in tokenizer.vocab), encoding="utf-8")
  with strategy.scope():
    optimizer = training.create_optimizer(
        FLAGS.optimizer, FLAGS.learning_rate, FLAGS.num_train_steps, warmup,
        weight_decay=FLAGS.weight_decay,
        gradient_accumulation_steps=FLAGS.gradient_accumulation_steps,
        loss_scale=FLAGS.mixed_precision == "fp16")

  def dataset_fn(context):
    batch_size = context.get_per_replica_batch_size(FLAGS.train_batch_size)
    if FLAGS.tfrecord_files:
      # Each input pipeline reads its share of the files, or of the
      # records when there are fewer files than pipelines.
      files, shard = FLAGS.tfrecord_files, None
      pipelines, index = context.num_input_pipelines, context.input_pipeline_id
      if len(files) >= pipelines:
        files = files[index::pipelines]
      else:
        shard = (pipelines, index)
      batches = data.read_pretraining_tfrecords(
          files, FLAGS.max_seq_length, FLAGS.max_predictions_per_seq,
          batch_size=batch_size, shard=shard).repeat()
    else:
      documents = _text_documents(FLAGS.input_files, context)
      batches = _features(tokenizer, documents, batch_size, passes=None,
                          seed=FLAGS.seed + context.input_pipeline_id,
                          shuffle=True)
    if FLAGS.bucket_boundaries:
      batches = data.bucket_by_length(batches.unbatch(), batch_size,
                                      FLAGS.bucket_boundaries)
    return batches

  logging.info("Pre-training %s (%d parameters) for %d steps, global batch "
               "%d, %d replica(s).", FLAGS.init_checkpoint or FLAGS.model_size,
               model.count_params(),
               FLAGS.num_train_steps, FLAGS.train_batch_size,
               strategy.num_replicas_in_sync)
  try:
    training.train(model, optimizer, dataset_fn, str(model_dir),
                   FLAGS.num_train_steps, strategy=strategy,
                   steps_per_execution=FLAGS.steps_per_execution,
                   checkpoint_every=FLAGS.checkpoint_every,
                   max_checkpoints_to_keep=FLAGS.keep_checkpoints,
                   log_every=FLAGS.log_every, jit_compile=FLAGS.jit_compile)
  except ValueError as e:
    if "cannot resume exactly" not in str(e):
      raise
    raise app.UsageError(str(e))
  except tf.errors.InvalidArgumentError as e:
    if "NSP needs at least two documents" not in e.message:
      raise
    raise app.UsageError("The corpus holds a single document and NSP needs "
                         "two; add documents or use --nonext_sentence.")
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

  results = _evaluate(model, tokenizer, strategy)
  results["steps"] = FLAGS.num_train_steps
  if not chief:
    return
  (model_dir / "eval_results.json").write_text(json.dumps(results, indent=2))
  model.save_pretrained(str(model_dir / "pretrained"))
  print(json.dumps(results, indent=2))
  print(f"Pre-trained model: {model_dir / 'pretrained'}")


def _evaluate(model, tokenizer, strategy):
  from keras_bert_lab import data, training
  if FLAGS.tfrecord_files or FLAGS.tfds_name:
    if not FLAGS.eval_files:
      logging.warning("No --eval_files: eval_results.json is left empty.")
      return {}
  if FLAGS.eval_files:
    documents = _text_documents(FLAGS.eval_files, eval_split=True)
  else:
    documents = _text_documents(FLAGS.input_files, eval_split=True)
  dataset = _features(tokenizer, documents, FLAGS.train_batch_size, passes=1,
                      seed=FLAGS.seed, shuffle=False)
  return training.evaluate(model, dataset.take(FLAGS.eval_batches),
                           strategy=strategy)


if __name__ == "__main__":
  app.run(main)
