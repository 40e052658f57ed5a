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

Wires `keras_bert_lab.data.tasks` (reading and featurising in tf.data),
`keras_bert_lab.models` (the task models, `save_pretrained` with task.json),
`keras_bert_lab.training` (BERT's AdamW with warm-up and linear decay, the
strategies) and `keras_bert_lab.metrics` (the official metric definitions)
into Keras' own `compile` / `fit`. Training resumes from the last finished
epoch (or `--checkpoint_every` steps) when the same command is run again
(`keras.callbacks.BackupAndRestore` in `model_dir/backup`, with the dropout
seed states it leaves out), skipping the batches of the training stream
(the same on every run) it trained on.

`model_dir` receives the fine-tuned model in the `save_pretrained` layout
(config.json, model.safetensors, vocab.txt, task.json with the labels and
every preprocessing setting `export` needs), `eval_results.json`, TensorBoard
logs (`logs/`) and, with `--predict_file`, predictions (`predictions.tsv`,
`predictions.txt` for tagging, SQuAD's `predictions.json` and
`nbest_predictions.json`).

Written here because nothing else does it: the flag checks that stop bad
input before compute is spent (labels outside the list, missing columns or
files, a head that does not fit the checkpoint, a non-SQuAD file), the
training-set count that sizes the learning-rate schedule, and the prediction
files.
"""

import csv
import json
import math
import os
import pathlib
import time
import warnings

from absl import app, flags, logging

from keras_bert_lab.training import cli_flags

TASKS = ("classification", "regression", "tagging", "squad",
         "multiple_choice")

SHUFFLE_BUFFER = 10000   # training examples permuted together

FLAGS = flags.FLAGS
flags.DEFINE_enum("task", None, list(TASKS), "The task.")
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


def _first_location(batch, i):
  return f"{batch['source'][i].decode()} {batch['line'][i]}"


# --- Task data ----------------------------------------------------------------
#
# Each task gives: examples (train, eval, predict), their counts, the label
# list, featurisation into `(features, labels[, weights])` batches, metrics,
# and the prediction file.


class _Data:
  """The training, evaluation and prediction data of one task.

  Subclasses' `dataset(examples, tokenizer, batch_size, passes=1)` gives
  model inputs: one pass in file order (evaluation, prediction), or with
  `passes=None` the training stream: passes forever, each shuffled in an
  order drawn from --seed alone (`shuffle_passes`), in full batches.
  """

  labels = None
  eval_name = None

  def count_train(self, tokenizer):
    """Sets `num_train` where counting needs the tokenizer (SQuAD)."""

  def task_info(self):
    return {"max_seq_length": FLAGS.max_seq_length}


def _scan(examples, what, parse_label=None):
  """One host pass: count, and each label with where it first occurs."""
  count, first = 0, {}
  keys = ("label", "source", "line")
  if "label" not in examples.element_spec:
    keys = ("source", "line")
  small = examples.map(lambda e: {k: e[k] for k in keys})
  for batch in small.batch(4096).as_numpy_iterator():
    count += len(batch["line"])
    if "label" not in batch:
      continue
    for i, label in enumerate(batch["label"]):
      value = label.decode("utf-8") if isinstance(label, bytes) else label
      if parse_label is not None:
        parse_label(value, batch, i)
      elif value == "":
        _fail(f"Empty label at {_first_location(batch, i)} ({what}); every "
              "example needs one.")
      if value not in first:
        first[value] = _first_location(batch, i)
  return count, first


def _check_known(first, labels, what):
  unknown = [v for v in first if v not in labels]
  if unknown:
    value = unknown[0]
    _fail(f"Label {value!r} at {first[value]} ({what}) is not in the label "
          f"list {labels}; fix the data, or give the full list with "
          f"--labels={','.join(labels + unknown)}.")


def _split_or_eval(train, eval_examples, reader_name):
  """`(train, eval, eval name)`: --eval_file's, or a dev split of train."""
  from keras_bert_lab.data.tasks import classification
  if eval_examples is not None:
    return train, eval_examples, FLAGS.eval_file
  if not list(train.take(1)):
    _fail(f"The training data ({reader_name}) holds no examples; give a "
          "file with at least one row (and a header naming the columns).")
  try:
    train, dev = classification.split_dev(train, FLAGS.dev_fraction,
                                          FLAGS.seed)
  except ValueError as e:
    _fail(f"{e} (--dev_fraction={FLAGS.dev_fraction} of {reader_name}; "
          "or give --eval_file).")
  return train, dev, (f"dev split: {FLAGS.dev_fraction:g} of {reader_name} "
                      f"held out by --seed={FLAGS.seed}")


class _ClassificationData(_Data):
  """CSV/TSV/JSONL or tfds GLUE; classes or (regression) scores."""

  def __init__(self, regression):
    from keras_bert_lab.data.tasks import classification as cls_data
    self.regression = regression
    self.module = cls_data
    text_b = FLAGS.text_b_column
    tfds_labels = None
    try:
      if FLAGS.tfds_name:
        train, tfds_labels = cls_data.tfds_classification(
            FLAGS.tfds_name, FLAGS.tfds_train_split, FLAGS.tfds_data_dir)
        source = f"{FLAGS.tfds_name}[{FLAGS.tfds_train_split}]"
        evaluation = None
        if FLAGS.tfds_eval_split:
          evaluation, _ = cls_data.tfds_classification(
              FLAGS.tfds_name, FLAGS.tfds_eval_split, FLAGS.tfds_data_dir)
        self.pair = "text_b" in train.element_spec
      else:
        train = self._read(FLAGS.train_file, FLAGS.label_column)
        source = FLAGS.train_file
        evaluation = (self._read(FLAGS.eval_file, FLAGS.label_column)
                      if FLAGS.eval_file else None)
        self.pair = text_b is not None
      self.predict = (self._read(FLAGS.predict_file, None)
                      if FLAGS.predict_file else None)
    except (ValueError, FileNotFoundError) as e:
      _fail(str(e))
    self.train, self.eval, self.eval_name = _split_or_eval(
        train, evaluation, source)
    if FLAGS.tfds_name and evaluation is not None:
      self.eval_name = f"{FLAGS.tfds_name}[{FLAGS.tfds_eval_split}]"
    parse = self._parse_score if regression else None
    self.num_train, train_labels = _scan(self.train, "training data", parse)
    if not self.num_train:
      _fail(f"The training data ({source}) holds no examples; give a file "
            "with a header and at least one row.")
    self.num_eval, eval_labels = _scan(self.eval, "evaluation data", parse)
    if not self.num_eval:
      _fail(f"The evaluation data ({self.eval_name}) holds no examples.")
    if regression:
      return
    if FLAGS.labels:
      self.labels = list(FLAGS.labels)
    elif tfds_labels:
      self.labels = list(tfds_labels)
    else:
      self.labels = sorted(train_labels)
    if len(self.labels) < 2:
      _fail(f"The training data ({source}) has a single label "
            f"{self.labels}; classification needs two or more (pass "
            "--labels=a,b to name the others, or use --task=regression for "
            "scores).")
    _check_known(train_labels, self.labels, "training data")
    _check_known(eval_labels, self.labels, "evaluation data")
    logging.info("Labels: %s", self.labels)

  @staticmethod
  def _parse_score(value, batch, i):
    if isinstance(value, str):
      try:
        float(value)
      except ValueError:
        _fail(f"Score {value!r} at {_first_location(batch, i)} is not a "
              "number (--task=regression reads --label_column as numbers).")

  def _read(self, path, label_column):
    return self.module.read_classification_file(
        path, FLAGS.text_column, label_column=label_column,
        text_b_column=FLAGS.text_b_column)

  def task_info(self):
    return {"max_seq_length": FLAGS.max_seq_length,
            "text_column": FLAGS.text_column,
            "text_b_column": FLAGS.text_b_column,
            "label_column": FLAGS.label_column,
            "pair": self.pair, "truncation": "longest_first"}

  def dataset(self, examples, tokenizer, batch_size, passes=1):
    return self.module.classification_dataset(
        examples, tokenizer, self.labels, seq_length=FLAGS.max_seq_length,
        batch_size=batch_size, shuffle=passes is None, seed=FLAGS.seed,
        regression=self.regression, passes=passes,
        drop_remainder=passes is None, shuffle_buffer_size=SHUFFLE_BUFFER)

  def evaluate(self, model, tokenizer):
    from keras_bert_lab import metrics
    outputs, (gold,) = _predict(model, self.dataset(
        self.eval, tokenizer, FLAGS.eval_batch_size))
    if self.regression:
      return metrics.compute("regression", gold, outputs[:, 0])
    return metrics.compute("classification", gold, outputs)

  def write_predictions(self, model, tokenizer, model_dir):
    import numpy as np
    outputs = _predict_features(model, self.dataset(
        self.predict, tokenizer, FLAGS.eval_batch_size))
    path = model_dir / "predictions.tsv"
    with open(path, "w", encoding="utf-8", newline="") as f:
      writer = csv.writer(f, delimiter="\t", lineterminator="\n")
      texts = ["text", "text_b"] if self.pair else ["text"]
      if self.regression:
        writer.writerow(["line"] + texts + ["score"])
      else:
        writer.writerow(["line"] + texts + ["label"] +
                        [f"probability_{label}" for label in self.labels])
        shifted = outputs - outputs.max(axis=-1, keepdims=True)
        probabilities = np.exp(shifted) / np.exp(shifted).sum(-1,
                                                              keepdims=True)
      row = 0
      for batch in self.predict.batch(1024).as_numpy_iterator():
        for i in range(len(batch["line"])):
          values = [int(batch["line"][i])] + [
              batch[k][i].decode("utf-8") for k in texts]
          if self.regression:
            values.append(f"{outputs[row, 0]:.6g}")
          else:
            values.append(self.labels[int(probabilities[row].argmax())])
            values += [f"{p:.6f}" for p in probabilities[row]]
          writer.writerow(values)
          row += 1
    return [path]


class _TaggingData(_Data):
  """CoNLL/BIO files or tfds conll2003; entity-level metrics."""

  def __init__(self):
    from keras_bert_lab.data.tasks import tagging
    self.module = tagging
    tfds_tags = None
    try:
      if FLAGS.tfds_name:
        train, tfds_tags = tagging.tfds_tagging(
            FLAGS.tfds_name, FLAGS.tfds_train_split,
            data_dir=FLAGS.tfds_data_dir)
        source = f"{FLAGS.tfds_name}[{FLAGS.tfds_train_split}]"
        evaluation = None
        if FLAGS.tfds_eval_split:
          evaluation, _ = tagging.tfds_tagging(
              FLAGS.tfds_name, FLAGS.tfds_eval_split,
              data_dir=FLAGS.tfds_data_dir)
      else:
        train = tagging.read_tagging_file(FLAGS.train_file)
        source = FLAGS.train_file
        evaluation = (tagging.read_tagging_file(FLAGS.eval_file)
                      if FLAGS.eval_file else None)
      self.predict = (tagging.read_tagging_file(FLAGS.predict_file)
                      if FLAGS.predict_file else None)
    except (ValueError, FileNotFoundError) as e:
      _fail(str(e))
    self.train, self.eval, self.eval_name = _split_or_eval(
        train, evaluation, source)
    if FLAGS.tfds_name and evaluation is not None:
      self.eval_name = f"{FLAGS.tfds_name}[{FLAGS.tfds_eval_split}]"
    self.num_train, train_tags = self._scan(self.train)
    if not self.num_train:
      _fail(f"The training data ({source}) holds no sentences: a CoNLL/BIO "
            "file has a token and a tag per line, a blank line between "
            "sentences.")
    self.num_eval, eval_tags = self._scan(self.eval)
    if not self.num_eval:
      _fail(f"The evaluation data ({self.eval_name}) holds no sentences.")
    if FLAGS.labels:
      self.labels = list(FLAGS.labels)
    elif tfds_tags:
      self.labels = list(tfds_tags)
    else:
      self.labels = tagging.learn_tags(self.train)
    if self.predict is not None:
      self._scan(self.predict)
    _check_known(train_tags, self.labels, "training data")
    _check_known(eval_tags, self.labels, "evaluation data")
    logging.info("Tags: %s", self.labels)

  @staticmethod
  def _scan(sentences):
    import tensorflow as tf
    count, first = 0, {}
    small = sentences.map(lambda s: {k: s[k] for k in ("tags", "source",
                                                       "line")})
    try:
      for batch in small.ragged_batch(1024):
        count += int(batch["line"].shape[0])
        tags = batch["tags"]
        for tag in set(tags.flat_values.numpy()):
          tag = tag.decode("utf-8")
          if tag not in first:
            i = int(tf.where(tf.reduce_any(tags == tag, axis=1))[0, 0])
            first[tag] = (f"{batch['source'][i].numpy().decode()} "
                          f"{int(batch['line'][i])} (the sentence there)")
    except tf.errors.InvalidArgumentError as e:
      _fail(_assert_message(e))
    return count, first

  def task_info(self):
    return {"max_seq_length": FLAGS.max_seq_length, "empty_words": "unk",
            "first_wordpiece_labels": True}

  def dataset(self, sentences, tokenizer, batch_size, passes=1):
    return self.module.tagging_dataset(
        sentences, tokenizer, self.labels, seq_length=FLAGS.max_seq_length,
        batch_size=batch_size, shuffle=passes is None, seed=FLAGS.seed,
        passes=passes, drop_remainder=passes is None,
        shuffle_buffer_size=SHUFFLE_BUFFER)

  def _predict_tags(self, model, tokenizer, sentences):
    """Per-sentence words and predicted tags (O past the length cut)."""
    import numpy as np
    words_only = sentences.map(lambda s: {k: s[k] for k in ("words",
                                                            "source", "line")})
    logits, (index,) = _predict(model, self.dataset(
        words_only, tokenizer, FLAGS.eval_batch_size))
    ids = self.module.word_level(np.argmax(logits, -1), index).to_list()
    words = [s["words"].tolist() for s in sentences.as_numpy_iterator()]
    cut = 0
    predicted = []
    for sentence_words, tag_ids in zip(words, ids):
      tags = [self.labels[t] for t in tag_ids]
      cut += len(sentence_words) - len(tags)
      predicted.append(tags + ["O"] * (len(sentence_words) - len(tags)))
    if cut:
      logging.warning("%d words lie past --max_seq_length=%d and are tagged "
                      "O; raise --max_seq_length to tag them.", cut,
                      FLAGS.max_seq_length)
    return [[w.decode("utf-8") for w in s] for s in words], predicted

  def evaluate(self, model, tokenizer):
    from keras_bert_lab import metrics
    gold = [[t.decode("utf-8") for t in s["tags"]]
            for s in self.eval.as_numpy_iterator()]
    _, predicted = self._predict_tags(model, tokenizer, self.eval)
    return metrics.compute("tagging", gold, predicted)

  def write_predictions(self, model, tokenizer, model_dir):
    words, predicted = self._predict_tags(model, tokenizer, self.predict)
    path = model_dir / "predictions.txt"
    with open(path, "w", encoding="utf-8") as f:
      for sentence_words, tags in zip(words, predicted):
        for word, tag in zip(sentence_words, tags):
          f.write(f"{word}\t{tag}\n")
        f.write("\n")
    return [path]


class _MultipleChoiceData(_Data):
  """SWAG's CSV or tfds hellaswag; K choices per example."""

  def __init__(self):
    import tensorflow as tf
    from keras_bert_lab.data.tasks import multiple_choice as mc
    self.module = mc
    try:
      if FLAGS.tfds_name:
        train = mc.tfds_multiple_choice(FLAGS.tfds_name,
                                        FLAGS.tfds_train_split,
                                        FLAGS.tfds_data_dir)
        source = f"{FLAGS.tfds_name}[{FLAGS.tfds_train_split}]"
        evaluation = (mc.tfds_multiple_choice(
            FLAGS.tfds_name, FLAGS.tfds_eval_split, FLAGS.tfds_data_dir)
                      if FLAGS.tfds_eval_split else None)
      else:
        train = mc.read_swag_csv(FLAGS.train_file, with_labels=True)
        source = FLAGS.train_file
        evaluation = (mc.read_swag_csv(FLAGS.eval_file, with_labels=True)
                      if FLAGS.eval_file else None)
      self.predict = (mc.read_swag_csv(FLAGS.predict_file)
                      if FLAGS.predict_file else None)
    except (ValueError, FileNotFoundError) as e:
      _fail(str(e))
    self.num_choices = train.element_spec["choices"].shape[0]
    self.train, self.eval, self.eval_name = _split_or_eval(
        train, evaluation, source)
    try:
      self.num_train = self._check(self.train, source)
      self.num_eval = self._check(self.eval, self.eval_name)
    except tf.errors.InvalidArgumentError as e:
      _fail(_assert_message(e))
    if not self.num_train:
      _fail(f"The training data ({source}) holds no examples.")
    if not self.num_eval:
      _fail(f"The evaluation data ({self.eval_name}) holds no examples.")

  def _check(self, examples, source):
    count = 0
    for labels in examples.map(lambda e: e["label"]).batch(
        4096).as_numpy_iterator():
      bad = (labels < 0) | (labels >= self.num_choices)
      if bad.any():
        _fail(f"{source}: example {count + int(bad.argmax()) + 1} has label "
              f"{labels[bad.argmax()]}, outside [0, {self.num_choices}) "
              "(the index of the right ending).")
      count += len(labels)
    return count

  def task_info(self):
    return {"max_seq_length": FLAGS.max_seq_length,
            "num_choices": self.num_choices, "truncation": "longest_first",
            "context_column": self.module.SWAG_CONTEXT_COLUMN,
            "start_column": self.module.SWAG_START_COLUMN}

  def dataset(self, examples, tokenizer, batch_size, passes=1,
              with_labels=True):
    from keras_bert_lab.data.shuffling import shuffle_passes
    examples = shuffle_passes(examples, SHUFFLE_BUFFER if passes is None
                              else 0, FLAGS.seed, passes=passes)
    return self.module.featurize(
        examples, tokenizer, FLAGS.max_seq_length, batch_size,
        num_choices=self.num_choices, with_labels=with_labels,
        drop_remainder=passes is None)

  def evaluate(self, model, tokenizer):
    from keras_bert_lab import metrics
    logits, (gold,) = _predict(model, self.dataset(self.eval, tokenizer,
                                                   FLAGS.eval_batch_size))
    return metrics.compute("multiple_choice", gold, logits)

  def write_predictions(self, model, tokenizer, model_dir):
    import numpy as np
    logits = _predict_features(model, self.dataset(
        self.predict, tokenizer, FLAGS.eval_batch_size, with_labels=False))
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities = shifted / shifted.sum(-1, keepdims=True)
    path = model_dir / "predictions.tsv"
    with open(path, "w", encoding="utf-8", newline="") as f:
      writer = csv.writer(f, delimiter="\t", lineterminator="\n")
      writer.writerow(["example", "label"] + [
          f"probability_{i}" for i in range(self.num_choices)])
      for i, p in enumerate(probabilities):
        writer.writerow([i, int(p.argmax())] + [f"{x:.6f}" for x in p])
    return [path]


def _assert_message(error):
  """The readable part of a failed `tf.debugging.Assert` in a dataset."""
  message = error.message
  for marker in ("assertion failed: [", "Assertion failed: ["):
    if marker in message:
      message = message.split(marker, 1)[1]
      message = message.split("]\n", 1)[0].rstrip("]")
      break
  return message.strip().strip('"')


def _predict_features(model, features):
  """`model.predict` on a finite dataset of features."""
  with warnings.catch_warnings():
    # Keras warns that a finite dataset "ran out of data" at its end.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    return model.predict(features, verbose=0)


def _predict(model, dataset):
  """Model outputs on `dataset`'s features and its other parts, as numpy.

  Args:
    model: a Keras model.
    dataset: yields `(features, a, b, ...)`.

  Returns:
    `(outputs, [a, b, ...])`, each concatenated over batches.
  """
  import numpy as np
  dataset = dataset.cache()
  outputs = _predict_features(model, dataset.map(lambda features, *_: features))
  parts = {}
  # A dict keeps one extra a tuple of one (tf.data unpacks 1-tuples).
  named = dataset.map(lambda _, *extras: {f"{i:03d}": e
                                          for i, e in enumerate(extras)})
  for batch in named.as_numpy_iterator():
    for key, value in batch.items():
      parts.setdefault(key, []).append(value)
  return outputs, [np.concatenate(parts[k]) for k in sorted(parts)]


def _task_data():
  if FLAGS.task in ("classification", "regression"):
    return _ClassificationData(regression=FLAGS.task == "regression")
  if FLAGS.task == "tagging":
    return _TaggingData()
  if FLAGS.task == "multiple_choice":
    return _MultipleChoiceData()
  return _SquadData()


# --- Model, training ------------------------------------------------------------


def _build_model(task_data):
  from keras_bert_lab.models import tasks as task_models
  overrides = {}
  if FLAGS.dropout is not None:
    overrides["hidden_dropout_prob"] = FLAGS.dropout
  cls = task_models.TASK_MODELS[FLAGS.task]
  try:
    if FLAGS.task == "classification":
      return cls.from_pretrained(FLAGS.init_checkpoint,
                                 labels=task_data.labels, **overrides)
    if FLAGS.task == "regression":
      return cls.from_pretrained(FLAGS.init_checkpoint, num_classes=1,
                                 **overrides)
    if FLAGS.task == "tagging":
      return cls.from_pretrained(FLAGS.init_checkpoint,
                                 labels=task_data.labels, **overrides)
    if FLAGS.task == "multiple_choice":
      return cls.from_pretrained(FLAGS.init_checkpoint, **overrides)
    return cls.from_pretrained(FLAGS.init_checkpoint, **overrides)
  except ValueError as e:
    _fail(f"--init_checkpoint={FLAGS.init_checkpoint}: {e}")


def _losses():
  import keras
  sce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  if FLAGS.task == "regression":
    return keras.losses.MeanSquaredError(), None, None
  if FLAGS.task == "tagging":
    # Mean over the words' first wordpieces (sample_weight 1), not over
    # every position.
    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight")
    return loss, None, ["sparse_categorical_accuracy"]
  if FLAGS.task == "squad":
    # run_squad.py: the mean of the start and end losses.
    return ({"start_logits": sce, "end_logits": sce},
            {"start_logits": 0.5, "end_logits": 0.5}, None)
  return sce, None, None


def _summary_writer(folder):
  """Writes TensorBoard scalars without the `tensorboard` package.

  Keras' TensorBoard callback calls `tf.summary.scalar`, which needs the
  `tensorboard` package that TensorFlow 2.21 no longer installs; a scalar is
  `tf.summary.write` with the scalars plugin's metadata (what
  `tf.summary.scalar` writes).

  Returns:
    `write(step, {name: value})`.
  """
  import tensorflow as tf
  from tensorflow.core.framework import summary_pb2
  metadata = summary_pb2.SummaryMetadata(
      plugin_data=summary_pb2.SummaryMetadata.PluginData(
          plugin_name="scalars"))
  writer = tf.summary.create_file_writer(str(folder))

  def write(step, values):
    with writer.as_default(step=step):
      for name, value in values.items():
        tf.summary.write(name, tf.constant(value, tf.float32),
                         metadata=metadata)
    writer.flush()

  return write


def _progress_logger(every, total_steps, log_dir):
  """A callback: every `every` steps a log line and TensorBoard scalars."""
  import keras

  class ProgressLogger(keras.callbacks.Callback):

    def on_train_begin(self, logs=None):
      self.write = _summary_writer(log_dir)
      self.start = time.time()
      self.first_step = None

    def on_train_batch_end(self, batch, logs=None):
      step = int(self.model.optimizer.iterations.numpy())
      if self.first_step is None:
        self.first_step = step - 1
      if step % every and step != total_steps:
        return
      elapsed = time.time() - self.start
      rate = (step - self.first_step) / max(elapsed, 1e-9)
      lr = self.model.optimizer.learning_rate
      lr = float(lr.numpy()) if hasattr(lr, "numpy") else float(lr)
      loss = float((logs or {}).get("loss", float("nan")))
      self.write(step, {"loss": loss, "learning_rate": lr,
                        "steps_per_second": rate})
      logging.info("step %d/%d  loss %.4f  learning_rate %.3g  %.2f steps/s"
                   "  ETA %ds", step, total_steps, loss, lr, rate,
                   int((total_steps - step) / max(rate, 1e-9)))

  return ProgressLogger()


def _schedule(num_train):
  """(fit epochs, steps per fit epoch, total steps, warm-up steps).

  Keras' epochs here are chunks of the repeated training stream, each ending
  in a resume backup: one pass over the data each by default, or
  `--checkpoint_every` steps (the total rounded up to equal chunks of whole
  `--steps_per_execution` calls).
  """
  steps_per_epoch = math.ceil(num_train / FLAGS.train_batch_size)
  total = max(1, int(round(steps_per_epoch * FLAGS.num_train_epochs)))
  chunk = FLAGS.checkpoint_every or steps_per_epoch
  chunks = math.ceil(total / chunk)
  # Keras runs whole executions: a chunk is a multiple of them.
  execution = FLAGS.steps_per_execution
  per_chunk = math.ceil(math.ceil(total / chunks) / execution) * execution
  total = per_chunk * chunks
  warmup = int(total * FLAGS.warmup_proportion)
  return chunks, per_chunk, total, warmup


def main(argv):
  if len(argv) > 1:
    _fail(f"Unexpected arguments: {argv[1:]}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  _check_flags()
  import keras
  import tensorflow as tf
  from keras_bert_lab import text, training

  model_dir = pathlib.Path(FLAGS.model_dir)
  model_dir.mkdir(parents=True, exist_ok=True)
  try:
    training.split_cpu(FLAGS.num_cpu_devices)   # before any TF op
    strategy = training.get_strategy(FLAGS.strategy, FLAGS.tpu,
                                     FLAGS.connect_timeout)
    training.check_global_batch(FLAGS.train_batch_size, strategy)
    if FLAGS.bucket_boundaries:
      from keras_bert_lab.data import bucket_boundaries
      bucket_boundaries(FLAGS.bucket_boundaries, FLAGS.max_seq_length or 512)
  except ValueError as e:
    _fail(str(e))
  keras.utils.set_random_seed(FLAGS.seed)
  task_data = _task_data()

  if FLAGS.mixed_precision != "none":
    keras.mixed_precision.set_global_policy(
        {"bf16": "mixed_bfloat16", "fp16": "mixed_float16"}[
            FLAGS.mixed_precision])
  with strategy.scope():
    model = _build_model(task_data)
  positions = model.config.max_position_embeddings
  if FLAGS.max_seq_length > positions:
    _fail(f"--max_seq_length={FLAGS.max_seq_length} is longer than "
          f"--init_checkpoint={FLAGS.init_checkpoint} allows "
          f"(max_position_embeddings={positions}); use --max_seq_length="
          f"{positions} or less.")
  lower_case = model.lower_case
  if FLAGS.lower_case is not None and FLAGS.lower_case != lower_case:
    logging.warning("--lower_case=%s overrides the checkpoint's "
                    "lower_case=%s.", FLAGS.lower_case, lower_case)
    lower_case = model.encoder.lower_case = FLAGS.lower_case
  if not model.vocab:
    _fail(f"--init_checkpoint={FLAGS.init_checkpoint} carries no vocabulary "
          "(vocab.txt); add the one it was trained with.")
  vocab_file = model_dir / "vocab.txt"
  vocab_file.write_text("".join(t + "\n" for t in model.vocab),
                        encoding="utf-8")
  tokenizer = text.BertTokenizer(str(vocab_file), lower_case=lower_case)
  task_data.count_train(tokenizer)
  epochs, steps_per_epoch, total_steps, warmup = _schedule(
      task_data.num_train)
  logging.info("%s: %d training examples, evaluation on %d (%s).",
               FLAGS.task, task_data.num_train, task_data.num_eval,
               task_data.eval_name)

  with strategy.scope():
    optimizer = training.create_optimizer(
        "adamw", FLAGS.learning_rate, total_steps, warmup,
        weight_decay=FLAGS.weight_decay,
        loss_scale=FLAGS.mixed_precision == "fp16")
    loss, loss_weights, weighted = _losses()
    plain = (["sparse_categorical_accuracy"]
             if FLAGS.task in ("classification", "multiple_choice") else None)
    model.compile(optimizer=optimizer, loss=loss, loss_weights=loss_weights,
                  metrics=plain, weighted_metrics=weighted,
                  jit_compile=FLAGS.jit_compile,
                  steps_per_execution=FLAGS.steps_per_execution)

  train = task_data.dataset(task_data.train, tokenizer,
                            FLAGS.train_batch_size, passes=None)
  if FLAGS.bucket_boundaries:
    from keras_bert_lab.data import bucket_by_length
    train = bucket_by_length(train.unbatch(), FLAGS.train_batch_size,
                             FLAGS.bucket_boundaries, drop_remainder=True)
  # double_checkpoint: a run killed while writing a backup resumes from the
  # one before. The backup is restored here already (`fit` restores it
  # again), so that the training stream, the same on every run, skips the
  # batches already trained on: the resumed run sees the same data.
  backup = training.SeedBackupAndRestore(str(model_dir / "backup"),
                                         double_checkpoint=True)
  backup.set_model(model)
  with strategy.scope():
    backup.on_train_begin()
  # Chunks done, as Keras resumes them (`optimizer.iterations` would not
  # count fp16 steps skipped for overflow).
  metadata = model_dir / "backup" / "training_metadata.json"
  chunks = json.loads(metadata.read_text())["epoch"] if metadata.exists() else 0
  if chunks:
    done = chunks * steps_per_epoch
    logging.info("Resuming from the backup in %s: %d of %d chunk(s) done "
                 "(step %d); skipping the %d batches trained on.",
                 metadata.parent, chunks, epochs, done, done)
    train = train.skip(done)
  callbacks = [backup, _progress_logger(FLAGS.log_every, total_steps,
                                        model_dir / "logs" / "train")]
  logging.info("Fine-tuning %s (%d parameters) from %s: %d steps (%d "
               "chunk(s) of %d, each ending in a backup), batch %d, warm-up %d, peak learning rate "
               "%g, %d replica(s).", type(model).__name__,
               model.count_params(), FLAGS.init_checkpoint, total_steps,
               epochs, steps_per_epoch, FLAGS.train_batch_size, warmup,
               FLAGS.learning_rate, strategy.num_replicas_in_sync)
  try:
    with warnings.catch_warnings():
      # Tagging and SQuAD do not use the pooler; Keras says so every step.
      warnings.filterwarnings("ignore", message="Gradients do not exist for "
                              r"variables \['pooler")
      model.fit(train, epochs=epochs, steps_per_epoch=steps_per_epoch,
                callbacks=callbacks, verbose=2, shuffle=False)
  except tf.errors.InvalidArgumentError as e:
    _fail(_assert_message(e))

  results = dict(task_data.evaluate(model, tokenizer))
  results.update(eval_examples=task_data.num_eval,
                 eval_data=task_data.eval_name,
                 train_examples=task_data.num_train, train_steps=total_steps)
  _summary_writer(model_dir / "logs" / "eval")(total_steps, {
      k: v for k, v in results.items() if isinstance(v, (int, float))})
  (model_dir / "eval_results.json").write_text(
      json.dumps(results, indent=2) + "\n", encoding="utf-8")
  info = task_data.task_info()
  model.save_pretrained(str(model_dir), **info)
  written = [model_dir / "task.json", model_dir / "eval_results.json"]
  if task_data.predict is not None:
    written += task_data.write_predictions(model, tokenizer, model_dir)
  print(json.dumps(results, indent=2))
  print("Wrote " + ", ".join(str(p) for p in written))


class _SquadData(_Data):
  """SQuAD v1.1/v2.0 JSON as published, or tfds squad/v1.1, squad/v2.0.

  Training counts doc-stride windows, not questions, so the schedule needs
  one featurisation pass over the training set (`count_train`).
  """

  def __init__(self):
    from keras_bert_lab.data.tasks import squad
    self.module = squad
    v2 = FLAGS.version_2_with_negative
    try:
      if FLAGS.tfds_name:
        train = squad.read_squad_tfds(FLAGS.tfds_name, FLAGS.tfds_train_split,
                                      is_training=True,
                                      data_dir=FLAGS.tfds_data_dir)
        evaluation = (squad.read_squad_tfds(
            FLAGS.tfds_name, FLAGS.tfds_eval_split, is_training=False,
            data_dir=FLAGS.tfds_data_dir) if FLAGS.tfds_eval_split else None)
      else:
        train = self._read("train_file", True, v2)
        evaluation = (self._read("eval_file", False, v2)
                      if FLAGS.eval_file else None)
      self.predict = (self._read("predict_file", False, v2)
                      if FLAGS.predict_file else None)
    except (ValueError, FileNotFoundError) as e:
      _fail(str(e))
    self.version_2 = train.version_2_with_negative or bool(
        evaluation is not None and evaluation.version_2_with_negative)
    self.skipped = len(train.skipped)
    if train.skipped:
      logging.warning("%d training question(s) skipped: the answer text is "
                      "not at its answer_start in %s (as run_squad.py: "
                      "\"Could not find answer\"), e.g. %s.", self.skipped,
                      train.source, train.skipped[:3])
    if not len(train):
      _fail(f"The training data ({train.source}) holds no usable questions "
            f"({self.skipped} skipped).")
    if evaluation is None:
      from keras_bert_lab.data.tasks import classification
      try:
        kept, dev = classification.split_dev(train.examples,
                                             FLAGS.dev_fraction, FLAGS.seed)
      except ValueError as e:
        _fail(f"{e} (--dev_fraction={FLAGS.dev_fraction} of "
              f"{train.source}; or give --eval_file).")
      evaluation = squad.SquadExamples(dev, [], train.version_2_with_negative,
                                       train.source)
      train = squad.SquadExamples(kept, train.skipped,
                                  train.version_2_with_negative, train.source)
      self.eval_name = (f"dev split: {FLAGS.dev_fraction:g} of the questions "
                        f"of {train.source} held out by --seed={FLAGS.seed}")
    else:
      self.eval_name = evaluation.source
    if not len(evaluation):
      _fail(f"The evaluation data ({evaluation.source}) holds no questions.")
    self.train, self.eval = train, evaluation
    self.num_train, self.num_eval = None, len(evaluation)

  def _read(self, flag, is_training, v2):
    path = FLAGS[flag].value
    try:
      return self.module.read_squad_json(path, is_training=is_training,
                                         version_2_with_negative=v2)
    except ValueError as e:
      _fail(f"--{flag}={path} is not usable SQuAD data for --task=squad: {e}")

  def _windows(self, examples, tokenizer, with_answers):
    return self.module.squad_windows(
        examples, tokenizer, max_seq_length=FLAGS.max_seq_length,
        doc_stride=FLAGS.doc_stride, max_query_length=FLAGS.max_query_length,
        with_answers=with_answers)

  def count_train(self, tokenizer):
    import tensorflow as tf
    logging.info("Counting the doc-stride windows of %d training questions.",
                 len(self.train))
    self.num_train = int(self._windows(self.train, tokenizer, True).reduce(
        tf.constant(0, tf.int64), lambda n, _: n + 1))
    logging.info("%d questions give %d training windows.", len(self.train),
                 self.num_train)

  def task_info(self):
    return {"max_seq_length": FLAGS.max_seq_length,
            "doc_stride": FLAGS.doc_stride,
            "max_query_length": FLAGS.max_query_length,
            "n_best_size": FLAGS.n_best_size,
            "max_answer_length": FLAGS.max_answer_length,
            "null_score_diff_threshold": FLAGS.null_score_diff_threshold,
            "version_2_with_negative": self.version_2}

  def dataset(self, examples, tokenizer, batch_size, passes=1):
    from keras_bert_lab.data.shuffling import shuffle_passes
    windows = shuffle_passes(self._windows(examples, tokenizer, True),
                             SHUFFLE_BUFFER if passes is None else 0,
                             FLAGS.seed, passes=passes)
    return windows.map(self.module.fit_inputs).batch(
        batch_size, drop_remainder=passes is None).prefetch(2)

  def _answers(self, model, tokenizer, examples):
    """`(predictions, nbest, null_odds)` of the original's JSON files."""
    import numpy as np
    import tensorflow as tf
    parts = {}
    for batch in self._windows(examples, tokenizer, False).batch(
        256).as_numpy_iterator():
      for key, value in batch.items():
        parts.setdefault(key, []).append(value)
    windows = {k: np.concatenate(v) for k, v in parts.items()}
    features = tf.data.Dataset.from_tensor_slices(
        self.module.model_inputs(windows)).batch(FLAGS.eval_batch_size)
    outputs = _predict_features(model, features)
    result = self.module.squad_postprocess(
        outputs["start_logits"], outputs["end_logits"], windows,
        tf.constant([e["context"] for e in examples.examples]),
        n_best_size=FLAGS.n_best_size,
        max_answer_length=FLAGS.max_answer_length,
        version_2_with_negative=self.version_2,
        null_score_diff_threshold=FLAGS.null_score_diff_threshold)
    return self.module.prediction_json(result, examples.ids,
                                       version_2_with_negative=self.version_2)

  def evaluate(self, model, tokenizer):
    from keras_bert_lab import metrics
    predictions, _, _ = self._answers(model, tokenizer, self.eval)
    gold = {e["id"]: ([] if e["is_impossible"] else list(e["answers"]))
            for e in self.eval.examples}
    results = metrics.compute("squad", gold, predictions,
                              version="v2.0" if self.version_2 else "v1.1")
    results["train_skipped"] = self.skipped
    return results

  def write_predictions(self, model, tokenizer, model_dir):
    predictions, nbest, null_odds = self._answers(model, tokenizer,
                                                  self.predict)
    written = []
    for name, values in (("predictions.json", predictions),
                         ("nbest_predictions.json", nbest),
                         ("null_odds.json", null_odds)):
      if name == "null_odds.json" and not self.version_2:
        continue
      path = model_dir / name
      path.write_text(json.dumps(values, indent=2, ensure_ascii=False) + "\n",
                      encoding="utf-8")
      written.append(path)
    return written


if __name__ == "__main__":
  app.run(main)
