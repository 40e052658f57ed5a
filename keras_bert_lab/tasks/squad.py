"""Extractive QA: SQuAD v1.1/v2.0 JSON as published, or TFDS squad.

Training counts doc-stride windows, not questions, so the schedule needs one
featurisation pass over the training set (`count_train`). Evaluation and the
exported signature answer through the same graph function,
`data.squad.answer_questions` (windows, the model, `run_squad.py`'s
n-best post-processing); the official SQuAD script's metrics score it.

Example:
  >>> SquadTask().config.doc_stride
  128
"""

import json
import pathlib

from absl import logging

from keras_bert_lab.tasks import base
from keras_bert_lab.tasks.config import SquadConfig


class SquadTask(base.Task):
  """Span QA over doc-stride windows.

  Args:
    config: a `SquadConfig`.

  Example:
    >>> SquadTask(SquadConfig(max_seq_length=256)).name
    'squad'
  """

  config_class = SquadConfig

  def read_data(self, data):
    from keras_bert_lab.data import squad_json
    v2 = data.version_2_with_negative

    def read_file(flag, path, role):
      try:
        return squad_json.read_squad_json(path, is_training=role == "train",
                                     version_2_with_negative=v2)
      except ValueError as e:
        raise ValueError(f"--{flag}={path} is not usable SQuAD data for "
                         f"--task=squad: {e}") from None

    def read_tfds(split, role):
      return squad_json.read_squad_tfds(data.tfds_name, split,
                                   is_training=role == "train",
                                   data_dir=data.tfds_data_dir), None

    train, evaluation, predict, _ = self.read_sources(data, read_file,
                                                      read_tfds)
    self.config.version_2_with_negative = (
        train.version_2_with_negative or bool(
            evaluation is not None and evaluation.version_2_with_negative))
    skipped = len(train.skipped)
    if skipped:
      logging.warning("%d training question(s) skipped: the answer text is "
                      "not at its answer_start in %s (as run_squad.py: "
                      "\"Could not find answer\"), e.g. %s.",
                      skipped, train.source, train.skipped[:3])
    if not len(train):
      raise ValueError(f"The training data ({train.source}) holds no usable "
                       f"questions ({skipped} skipped).")
    dev_split = None
    if evaluation is None:
      kept, dev, _, dev_split = base.split_or_eval(
          train.examples, None, data, train.source)
      evaluation = squad_json.SquadExamples(dev, [], train.version_2_with_negative,
                                       train.source)
      train = squad_json.SquadExamples(kept, train.skipped,
                                  train.version_2_with_negative, train.source)
      eval_name = (f"dev split: {data.dev_fraction:g} of the questions of "
                   f"{train.source} held out by --seed={data.seed}")
    else:
      eval_name = evaluation.source
    if not len(evaluation):
      raise ValueError(f"The evaluation data ({evaluation.source}) holds no "
                       "questions.")
    return base.TaskData(train, evaluation, predict, None, len(evaluation),
                         eval_name, dev_split, {"train_skipped": skipped})

  def preprocessor(self, tokenizer):
    from keras_bert_lab.data.squad import SquadPreprocessor
    return SquadPreprocessor(tokenizer, self.config.max_seq_length,
                             self.config.doc_stride,
                             self.config.max_query_length)

  def count_train(self, data, tokenizer):
    import tensorflow as tf
    from keras_bert_lab.data import squad
    logging.info("Counting the doc-stride windows of %d training questions.",
                 len(data.train))
    windows = squad.squad_windows(data.train, self.preprocessor(tokenizer))
    data.num_train = int(windows.reduce(tf.constant(0, tf.int64),
                                        lambda n, _: n + 1))
    logging.info("%d questions give %d training windows.", len(data.train),
                 data.num_train)

  def _dataset(self, examples, tokenizer, batch_size, passes, seed):
    from keras_bert_lab.data.shuffling import shuffle_passes
    from keras_bert_lab.data import squad
    windows = shuffle_passes(
        squad.squad_windows(examples, self.preprocessor(tokenizer)),
        base.SHUFFLE_BUFFER if passes is None else 0, seed, passes=passes)
    return windows.map(squad.fit_inputs).batch(
        batch_size, drop_remainder=passes is None).prefetch(2)

  def post_settings(self):
    """`squad_postprocess`' settings from the config.

    Returns:
      A dict of keyword arguments.
    """
    config = self.config
    return dict(n_best_size=config.n_best_size,
                max_answer_length=config.max_answer_length,
                version_2_with_negative=config.version_2_with_negative,
                null_score_diff_threshold=config.null_score_diff_threshold)

  def answers(self, model, tokenizer, examples, batch_size=32):
    """`(predictions, nbest, null_odds)` of the original's JSON files.

    Args:
      model: the span labeler.
      tokenizer: its `BertTokenizer`.
      examples: `SquadExamples`.
      batch_size: questions answered per graph call.

    Returns:
      The three dicts of `squad_json.prediction_json`.
    """
    import numpy as np
    import tensorflow as tf
    from keras_bert_lab.data import squad, squad_json
    preprocessor = self.preprocessor(tokenizer)
    settings = self.post_settings()
    answer = tf.function(lambda q, c: squad.answer_questions(
        lambda f: model(f, training=False), preprocessor, q, c, **settings))
    parts = {}
    questions = tf.data.Dataset.from_tensor_slices((
        [e["question"] for e in examples.examples],
        [e["context"] for e in examples.examples])).batch(batch_size)
    for question, context in questions:
      for key, value in answer(question, context).items():
        value = value.to_list() if hasattr(value, "to_list") else list(
            value.numpy())
        parts.setdefault(key, []).extend(value)
    outputs = {k: v if k.startswith("nbest") else np.asarray(v)
               for k, v in parts.items()}
    return squad_json.prediction_json(outputs, examples.ids,
                                 self.config.version_2_with_negative)

  def evaluate(self, model, tokenizer, examples, batch_size=32):
    from keras_bert_lab import metrics
    predictions, _, _ = self.answers(model, tokenizer, examples, batch_size)
    gold = {e["id"]: ([] if e["is_impossible"] else list(e["answers"]))
            for e in examples.examples}
    return metrics.compute(
        "squad", gold, predictions,
        version="v2.0" if self.config.version_2_with_negative else "v1.1")

  def write_predictions(self, model, tokenizer, examples, model_dir,
                        batch_size=32):
    predictions, nbest, null_odds = self.answers(model, tokenizer, examples,
                                                 batch_size)
    written = []
    files = [("predictions.json", predictions),
             ("nbest_predictions.json", nbest)]
    if self.config.version_2_with_negative:
      files.append(("null_odds.json", null_odds))
    for name, values in files:
      path = pathlib.Path(model_dir) / name
      path.write_text(json.dumps(values, indent=2, ensure_ascii=False) + "\n",
                      encoding="utf-8")
      written.append(path)
    return written
