"""The `Task` interface every family implements, and what they share.

A task (after Model Garden's `official/core/base_task.py` and keras-hub's
`Task`) is a typed config (`keras_bert_lab.tasks.config`) plus the object
that owns everything else of its family: reading and validating the data
(`read_data`), the model (`build_model`, from any checkpoint), the
preprocessor that training and serving share (`preprocessor`), the training
and evaluation datasets with one signature for every task
(`train_dataset`, `eval_dataset`), evaluation with the official metrics
(`evaluate`) and the prediction files (`write_predictions`). The default
loss and metrics are the task model's own (`BertTaskModel.compile`).

Every data error is a `ValueError` whose message names the file, line or
flag and the fix, raised before training starts.
"""

import dataclasses
import os
import warnings
from typing import Optional

from keras_bert_lab.models import task_models

SHUFFLE_BUFFER = 10000   # training examples permuted together


@dataclasses.dataclass
class DataConfig:
  """Where a task's examples come from (`finetune`'s data flags).

  Attributes:
    train_file, eval_file, predict_file: local files (the family's format).
    tfds_name, tfds_train_split, tfds_eval_split, tfds_data_dir: a TFDS
      source instead of `train_file` (an empty eval split holds out a dev
      split of the training split).
    labels: the label (tag) list in class-id order; None learns it.
    dev_fraction: without an eval source, the share of the training data
      held out (by `seed`) as the dev split.
    seed: the dev split's and the shuffle's seed.
    version_2_with_negative: SQuAD v2.0; None reads it from the file.
  """

  train_file: Optional[str] = None
  eval_file: Optional[str] = None
  predict_file: Optional[str] = None
  tfds_name: Optional[str] = None
  tfds_train_split: str = "train"
  tfds_eval_split: str = "validation"
  tfds_data_dir: Optional[str] = None
  labels: Optional[list] = None
  dev_fraction: float = 0.1
  seed: int = 42
  version_2_with_negative: Optional[bool] = None

  @property
  def train_source(self):
    """The training data's name in messages."""
    if self.tfds_name:
      return f"{self.tfds_name}[{self.tfds_train_split}]"
    return self.train_file


@dataclasses.dataclass
class TaskData:
  """A task's examples, counted and checked.

  Attributes:
    train, eval, predict: the family's examples (predict may be None).
    num_train, num_eval: counts (SQuAD: training windows once counted).
    eval_name: what was evaluated, in words.
    dev_split: `{"source", "fraction", "seed"}` when eval is a dev split
      held out of the training data, else None (`eval_results.json`).
    counts: more figures of the data for `eval_results.json` (SQuAD:
      `train_skipped`, the questions whose answer is not in the context).
  """

  train: object
  eval: object
  predict: object
  num_train: Optional[int]
  num_eval: int
  eval_name: str
  dev_split: Optional[dict] = None
  counts: dict = dataclasses.field(default_factory=dict)


def assert_message(error):
  """The readable part of a failed `tf.debugging.Assert` in a dataset.

  Args:
    error: a `tf.errors.InvalidArgumentError`.

  Returns:
    The assertion's message.
  """
  message = error.message
  for marker in ("assertion failed: [", "Assertion failed: ["):
    if marker in message:
      message = message.split(marker, 1)[1]
      message = message.split("]\n", 1)[0].rstrip("]")
      break
  return message.strip().strip('"')


def first_location(batch, i):
  """`"file line"` of row `i` of a batch with `source` and `line`."""
  return f"{batch['source'][i].decode()} {batch['line'][i]}"


def check_known(first, labels, what):
  """Raises if a label seen in the data is not in `labels`.

  Args:
    first: `{label: where it first occurs}`.
    labels: the label list.
    what: "training data", ... for the message.
  """
  unknown = [v for v in first if v not in labels]
  if unknown:
    value = unknown[0]
    raise ValueError(
        f"Label {value!r} at {first[value]} ({what}) is not in the label "
        f"list {labels}; fix the data, or give the full list with "
        f"--labels={','.join(labels + unknown)}.")


def split_or_eval(train, eval_examples, data, source):
  """`(train, eval, eval name, dev split)`: the eval source's, or a dev split.

  Args:
    train: the training examples (a dataset, or a list for SQuAD).
    eval_examples: the eval source's examples, or None.
    data: the `DataConfig`.
    source: the training data's name.

  Returns:
    The four values of `TaskData`'s `train`, `eval`, `eval_name`,
    `dev_split`.
  """
  import tensorflow as tf
  from keras_bert_lab.data.dev_split import split_dev
  if eval_examples is not None:
    name = data.eval_file or f"{data.tfds_name}[{data.tfds_eval_split}]"
    return train, eval_examples, name, None
  if isinstance(train, tf.data.Dataset) and not list(train.take(1)):
    raise ValueError(f"The training data ({source}) holds no examples; "
                     "give a file with at least one row (and a header "
                     "naming the columns).")
  try:
    train, dev = split_dev(train, data.dev_fraction, data.seed)
  except ValueError as e:
    raise ValueError(f"{e} (--dev_fraction={data.dev_fraction} of {source}; "
                     "or give --eval_file).") from None
  return train, dev, (f"dev split: {data.dev_fraction:g} of {source} held "
                      f"out by --seed={data.seed}"), {
                          "source": source, "fraction": data.dev_fraction,
                          "seed": data.seed}


def predict_features(model, features):
  """`model.predict` on a finite dataset of features.

  Args:
    model: a Keras model.
    features: a dataset of model inputs.

  Returns:
    The outputs, concatenated (numpy).
  """
  with warnings.catch_warnings():
    # Keras warns that a finite dataset "ran out of data" at its end.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    return model.predict(features, verbose=0)


def predict(model, dataset):
  """Model outputs on `dataset`'s features and its other parts, as numpy.

  Args:
    model: a Keras model.
    dataset: yields `(features, a, b, ...)`.

  Returns:
    `(outputs, [a, b, ...])`, each concatenated over batches.
  """
  import numpy as np
  dataset = dataset.cache()
  outputs = predict_features(model, dataset.map(lambda features, *_: features))
  parts = {}
  # A dict keeps one extra a tuple of one (tf.data unpacks 1-tuples).
  named = dataset.map(lambda _, *extras: {f"{i:03d}": e
                                          for i, e in enumerate(extras)})
  for batch in named.as_numpy_iterator():
    for key, value in batch.items():
      parts.setdefault(key, []).append(value)
  return outputs, [np.concatenate(parts[k]) for k in sorted(parts)]


def softmax(logits):
  """Row-wise softmax of a numpy array."""
  import numpy as np
  shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
  return shifted / shifted.sum(axis=-1, keepdims=True)


class Task:
  """One task family: its config, data, model, preprocessor and evaluation.

  Args:
    config: the family's `TaskConfig` (default: its defaults).

  Example:
    >>> from keras_bert_lab.tasks import (ClassificationConfig,
    ...                                   ClassificationTask)
    >>> task = ClassificationTask(ClassificationConfig(labels=["a", "b"]))
    >>> task.name
    'classification'
  """

  config_class = None

  def __init__(self, config=None):
    self.config = config if config is not None else self.config_class()

  @property
  def name(self):
    """The task name (`task.json`'s `task`)."""
    return self.config.task

  @property
  def model_class(self):
    """The Keras model class this task trains."""
    return task_models.TASK_MODELS[self.name]

  def read_data(self, data):
    """Reads, counts and checks the examples; learns labels into the config.

    Args:
      data: a `DataConfig`.

    Returns:
      A `TaskData`.

    Raises:
      ValueError: unreadable or inconsistent data (the message names the
        file, line or flag and the fix).
    """
    raise NotImplementedError

  def read_sources(self, data, read_file, read_tfds):
    """The training, eval and predict examples from files or TFDS.

    Args:
      data: a `DataConfig`.
      read_file: `(flag, path, role) -> examples`, role one of "train",
        "eval", "predict".
      read_tfds: `(split, role) -> (examples, label names or None)`.

    Returns:
      `(train, eval or None, predict or None, TFDS label names or None)`.

    Raises:
      ValueError: a file that cannot be read.
    """
    try:
      if data.tfds_name:
        train, names = read_tfds(data.tfds_train_split, "train")
        evaluation = (read_tfds(data.tfds_eval_split, "eval")[0]
                      if data.tfds_eval_split else None)
      else:
        train, names = read_file("train_file", data.train_file, "train"), None
        evaluation = (read_file("eval_file", data.eval_file, "eval")
                      if data.eval_file else None)
      predict = (read_file("predict_file", data.predict_file, "predict")
                 if data.predict_file else None)
    except FileNotFoundError as e:
      raise ValueError(str(e)) from None
    return train, evaluation, predict, names

  def build_model(self, init_checkpoint, **config_overrides):
    """The task model from any checkpoint (its head too, when it fits).

    Args:
      init_checkpoint: a folder `BertEncoder.from_pretrained` reads.
      **config_overrides: `BertConfig` fields (e.g. `hidden_dropout_prob`).

    Returns:
      The uncompiled model (`model.compile()` gives the task's loss).

    Raises:
      ValueError: the checkpoint does not fit the task.
    """
    return self.model_class.from_pretrained(init_checkpoint,
                                            **config_overrides)

  def preprocessor(self, tokenizer):
    """The Keras layer that turns raw inputs into model features.

    Args:
      tokenizer: the model's `BertTokenizer`.

    Returns:
      The family's preprocessor, built from the config.
    """
    raise NotImplementedError

  def count_train(self, data, tokenizer):
    """Sets `data.num_train` where counting needs the tokenizer (SQuAD)."""

  def train_dataset(self, examples, tokenizer, batch_size, seed=0):
    """The training stream: passes forever, each in a new order, full batches.

    Args:
      examples: the family's examples (`TaskData.train`).
      tokenizer: the model's `BertTokenizer`.
      batch_size: global batch size.
      seed: shuffle seed (the order depends on it alone).

    Returns:
      A `tf.data.Dataset` for `model.fit` (with `steps_per_epoch`).
    """
    return self._dataset(examples, tokenizer, batch_size, passes=None,
                         seed=seed)

  def eval_dataset(self, examples, tokenizer, batch_size):
    """One pass in file order, with labels, for evaluation.

    Args:
      examples: the family's examples.
      tokenizer: the model's `BertTokenizer`.
      batch_size: batch size.

    Returns:
      A `tf.data.Dataset` of `(features, labels[, weights])`.
    """
    return self._dataset(examples, tokenizer, batch_size, passes=1, seed=0)

  def _dataset(self, examples, tokenizer, batch_size, passes, seed):
    raise NotImplementedError

  def evaluate(self, model, tokenizer, examples, batch_size=32):
    """The official metrics of `model` on `examples`.

    Args:
      model: the task model.
      tokenizer: its `BertTokenizer`.
      examples: labelled examples (`TaskData.eval`).
      batch_size: prediction batch size.

    Returns:
      A dict of metric values.
    """
    raise NotImplementedError

  def write_predictions(self, model, tokenizer, examples, model_dir,
                        batch_size=32):
    """Writes the family's prediction file(s) for `examples`.

    Args:
      model: the task model.
      tokenizer: its `BertTokenizer`.
      examples: examples (labels not needed; `TaskData.predict`).
      model_dir: the output folder.
      batch_size: prediction batch size.

    Returns:
      The paths written.
    """
    raise NotImplementedError

  def save(self, model, path):
    """Writes `model` and this config (`task.json`) with `save_pretrained`.

    Args:
      model: the task model.
      path: the folder.
    """
    info = self.config.to_json()
    info.pop("labels", None)   # the model's own
    model.save_pretrained(os.fspath(path), **info)
