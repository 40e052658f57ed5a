"""Multiple choice: SWAG's CSV as published, or TFDS hellaswag.

Example:
  >>> MultipleChoiceTask().config.num_choices
  4
"""

import csv
import pathlib

from keras_bert_lab.tasks import base
from keras_bert_lab.tasks.config import MultipleChoiceConfig


class MultipleChoiceTask(base.Task):
  """One score per choice, softmax over the K choices.

  Args:
    config: a `MultipleChoiceConfig` (`num_choices` is read from the data).

  Example:
    >>> MultipleChoiceTask().name
    'multiple_choice'
  """

  config_class = MultipleChoiceConfig

  def read_data(self, data):
    import tensorflow as tf
    from keras_bert_lab.data import multiple_choice as mc

    def read_file(flag, path, role):
      # Predict files may have labels or not (SWAG's test.csv has none).
      return mc.read_swag_csv(path, with_labels=None if role == "predict"
                              else True)

    def read_tfds(split, role):
      return mc.tfds_multiple_choice(data.tfds_name, split,
                                     data.tfds_data_dir), None

    train, evaluation, predict, _ = self.read_sources(data, read_file,
                                                      read_tfds)
    self.config.num_choices = int(train.element_spec["choices"].shape[0])
    self.config.context_column = mc.SWAG_CONTEXT_COLUMN
    self.config.start_column = mc.SWAG_START_COLUMN
    source = data.train_source
    train, evaluation, eval_name, dev_split = base.split_or_eval(
        train, evaluation, data, source)
    try:
      num_train = self._check(train, source)
      num_eval = self._check(evaluation, eval_name)
    except tf.errors.InvalidArgumentError as e:
      raise ValueError(base.assert_message(e)) from None
    if not num_train:
      raise ValueError(f"The training data ({source}) holds no examples.")
    if not num_eval:
      raise ValueError(f"The evaluation data ({eval_name}) holds no "
                       "examples.")
    return base.TaskData(train, evaluation, predict, num_train, num_eval,
                         eval_name, dev_split)

  def _check(self, examples, source):
    count = 0
    k = self.config.num_choices
    for labels in examples.map(lambda e: e["label"]).batch(
        4096).as_numpy_iterator():
      bad = (labels < 0) | (labels >= k)
      if bad.any():
        raise ValueError(
            f"{source}: example {count + int(bad.argmax()) + 1} has label "
            f"{labels[bad.argmax()]}, outside [0, {k}) (the index of the "
            "right ending).")
      count += len(labels)
    return count

  def preprocessor(self, tokenizer):
    from keras_bert_lab.data.multiple_choice import (
        MultipleChoicePreprocessor)
    return MultipleChoicePreprocessor(tokenizer, self.config.max_seq_length,
                                      self.config.truncation)

  def _dataset(self, examples, tokenizer, batch_size, passes, seed,
               with_labels=True):
    from keras_bert_lab.data.shuffling import shuffle_passes
    from keras_bert_lab.data import multiple_choice as mc
    examples = shuffle_passes(
        examples, base.SHUFFLE_BUFFER if passes is None else 0, seed,
        passes=passes)
    return mc.featurize(examples, self.preprocessor(tokenizer),
                        self.config.max_seq_length, batch_size,
                        num_choices=self.config.num_choices,
                        with_labels=with_labels,
                        drop_remainder=passes is None)

  def evaluate(self, model, tokenizer, examples, batch_size=32):
    from keras_bert_lab import metrics
    logits, (gold,) = base.predict(model, self.eval_dataset(
        examples, tokenizer, batch_size))
    return metrics.compute("multiple_choice", gold, logits)

  def write_predictions(self, model, tokenizer, examples, model_dir,
                        batch_size=32):
    logits = base.predict_features(model, self._dataset(
        examples, tokenizer, batch_size, passes=1, seed=0, with_labels=False))
    probabilities = base.softmax(logits)
    path = pathlib.Path(model_dir) / "predictions.tsv"
    with open(path, "w", encoding="utf-8", newline="") as f:
      writer = csv.writer(f, delimiter="\t", lineterminator="\n")
      writer.writerow(["example", "label"] + [
          f"probability_{i}" for i in range(self.config.num_choices)])
      for i, p in enumerate(probabilities):
        writer.writerow([i, int(p.argmax())] + [f"{x:.6f}" for x in p])
    return [path]
