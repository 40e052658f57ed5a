"""Sentence and pair classification (GLUE style) and regression (STS-B).

Reads CSV/TSV/JSONL files or TFDS GLUE (`data.classification`),
checks every label (or score) against the label list with the file and line
of the first bad one, packs with `ClassificationPreprocessor`, and scores
with `metrics` (accuracy, F1, MCC; Pearson/Spearman for regression).

Example:
  >>> task = ClassificationTask(ClassificationConfig(max_seq_length=64))
  >>> task.name
  'classification'
"""

import csv

from keras_bert_lab.tasks import base
from keras_bert_lab.tasks.config import ClassificationConfig


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
        raise ValueError(f"Empty label at {base.first_location(batch, i)} "
                         f"({what}); every example needs one.")
      if value not in first:
        first[value] = base.first_location(batch, i)
  return count, first


def _parse_score(value, batch, i):
  if isinstance(value, str):
    try:
      float(value)
    except ValueError:
      raise ValueError(
          f"Score {value!r} at {base.first_location(batch, i)} is not a "
          "number (--task=regression reads --label_column as numbers)."
      ) from None


class ClassificationTask(base.Task):
  """Classification or regression of a text or a text pair.

  Args:
    config: a `ClassificationConfig` (`regression=True` for scores).

  Example:
    >>> task = ClassificationTask(ClassificationConfig(regression=True))
    >>> task.name
    'regression'
  """

  config_class = ClassificationConfig

  def read_data(self, data):
    from keras_bert_lab.data import classification
    config = self.config

    def read_file(flag, path, role):
      return classification.read_classification_file(
          path, config.text_column,
          label_column=None if role == "predict" else config.label_column,
          text_b_column=config.text_b_column)

    def read_tfds(split, role):
      return classification.tfds_classification(data.tfds_name, split,
                                                data.tfds_data_dir)

    train, evaluation, predict, tfds_labels = self.read_sources(
        data, read_file, read_tfds)
    config.pair = ("text_b" in train.element_spec if data.tfds_name
                   else config.text_b_column is not None)
    source = data.train_source
    train, evaluation, eval_name, dev_split = base.split_or_eval(
        train, evaluation, data, source)
    parse = _parse_score if config.regression else None
    num_train, train_labels = _scan(train, "training data", parse)
    if not num_train:
      raise ValueError(f"The training data ({source}) holds no examples; "
                       "give a file with a header and at least one row.")
    num_eval, eval_labels = _scan(evaluation, "evaluation data", parse)
    if not num_eval:
      raise ValueError(f"The evaluation data ({eval_name}) holds no "
                       "examples.")
    if not config.regression:
      if data.labels:
        config.labels = list(data.labels)
      elif tfds_labels:
        config.labels = list(tfds_labels)
      else:
        config.labels = sorted(train_labels)
      if len(config.labels) < 2:
        raise ValueError(
            f"The training data ({source}) has a single label "
            f"{config.labels}; classification needs two or more (pass "
            "--labels=a,b to name the others, or use --task=regression for "
            "scores).")
      base.check_known(train_labels, config.labels, "training data")
      base.check_known(eval_labels, config.labels, "evaluation data")
    return base.TaskData(train, evaluation, predict, num_train, num_eval,
                         eval_name, dev_split)

  def build_model(self, init_checkpoint, **config_overrides):
    if self.config.regression:
      return self.model_class.from_pretrained(init_checkpoint, num_classes=1,
                                              **config_overrides)
    return self.model_class.from_pretrained(
        init_checkpoint, labels=self.config.labels, **config_overrides)

  def preprocessor(self, tokenizer):
    from keras_bert_lab.data.classification import (
        ClassificationPreprocessor)
    return ClassificationPreprocessor(tokenizer, self.config.max_seq_length,
                                      self.config.truncation)

  def _dataset(self, examples, tokenizer, batch_size, passes, seed):
    from keras_bert_lab.data import classification
    training = passes is None
    return classification.classification_dataset(
        examples, self.preprocessor(tokenizer), self.config.labels,
        batch_size=batch_size, shuffle=training, seed=seed,
        regression=self.config.regression, passes=passes,
        drop_remainder=training, shuffle_buffer_size=base.SHUFFLE_BUFFER)

  def evaluate(self, model, tokenizer, examples, batch_size=32):
    from keras_bert_lab import metrics
    outputs, (gold,) = base.predict(model, self.eval_dataset(
        examples, tokenizer, batch_size))
    if self.config.regression:
      return metrics.compute("regression", gold, outputs[:, 0])
    return metrics.compute("classification", gold, outputs)

  def write_predictions(self, model, tokenizer, examples, model_dir,
                        batch_size=32):
    import pathlib
    outputs = base.predict_features(model, self.eval_dataset(
        examples, tokenizer, batch_size))
    labels = self.config.labels
    path = pathlib.Path(model_dir) / "predictions.tsv"
    with open(path, "w", encoding="utf-8", newline="") as f:
      writer = csv.writer(f, delimiter="\t", lineterminator="\n")
      texts = ["text", "text_b"] if self.config.pair else ["text"]
      if self.config.regression:
        writer.writerow(["line"] + texts + ["score"])
      else:
        writer.writerow(["line"] + texts + ["label"] +
                        [f"probability_{label}" for label in labels])
        probabilities = base.softmax(outputs)
      row = 0
      for batch in examples.batch(1024).as_numpy_iterator():
        for i in range(len(batch["line"])):
          values = [int(batch["line"][i])] + [
              batch[k][i].decode("utf-8") for k in texts]
          if self.config.regression:
            values.append(f"{outputs[row, 0]:.6g}")
          else:
            values.append(labels[int(probabilities[row].argmax())])
            values += [f"{p:.6f}" for p in probabilities[row]]
          writer.writerow(values)
          row += 1
    return [path]
