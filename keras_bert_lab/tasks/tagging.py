"""Token tagging (NER): CoNLL/BIO files or TFDS conll2003, entity-level F1.

The word rule that turns raw text into the words training saw
(`TaggingConfig.word_units`) is learned from the training file when not
given: one word per character for character-level BIO (People's Daily),
whitespace words otherwise. The exported model applies the same rule
(`TaggingPreprocessor.split`), so served text is cut as training text was.

Example:
  >>> TaggingTask(TaggingConfig(labels=["O", "B-PER"])).name
  'tagging'
"""

from absl import logging

from keras_bert_lab.tasks import base
from keras_bert_lab.tasks.config import TaggingConfig


class TaggingTask(base.Task):
  """A tag per word, labelled at its first wordpiece.

  Args:
    config: a `TaggingConfig`.
    learn_word_units: let `read_data` set `config.word_units` from the
      training data (`data.tagging.word_units_of`).

  Example:
    >>> TaggingTask().config.word_units
    'whitespace'
  """

  config_class = TaggingConfig

  def __init__(self, config=None, learn_word_units=False):
    super().__init__(config)
    self.learn_word_units = learn_word_units

  def read_data(self, data):
    import tensorflow as tf
    from keras_bert_lab.data import tagging

    def read_file(flag, path, role):
      return tagging.read_tagging_file(path)

    def read_tfds(split, role):
      return tagging.tfds_tagging(data.tfds_name, split,
                                  data_dir=data.tfds_data_dir)

    train, evaluation, predict, tfds_tags = self.read_sources(
        data, read_file, read_tfds)
    source = data.train_source
    train, evaluation, eval_name, dev_split = base.split_or_eval(
        train, evaluation, data, source)
    try:
      num_train, train_tags = _scan(train)
      if not num_train:
        raise ValueError(
            f"The training data ({source}) holds no sentences: a CoNLL/BIO "
            "file has a token and a tag per line, a blank line between "
            "sentences.")
      num_eval, eval_tags = _scan(evaluation)
      if not num_eval:
        raise ValueError(f"The evaluation data ({eval_name}) holds no "
                         "sentences.")
      if predict is not None:
        _scan(predict)
    except tf.errors.InvalidArgumentError as e:
      raise ValueError(base.assert_message(e)) from None
    config = self.config
    if data.labels:
      config.labels = list(data.labels)
    elif tfds_tags:
      config.labels = list(tfds_tags)
    else:
      config.labels = tagging.learn_tags(train)
    base.check_known(train_tags, config.labels, "training data")
    base.check_known(eval_tags, config.labels, "evaluation data")
    if self.learn_word_units:
      config.word_units = tagging.word_units_of(train)
      logging.info("Raw text is split into words by %r (learned from %s).",
                   config.word_units, source)
    return base.TaskData(train, evaluation, predict, num_train, num_eval,
                         eval_name, dev_split)

  def build_model(self, init_checkpoint, **config_overrides):
    return self.model_class.from_pretrained(
        init_checkpoint, labels=self.config.labels, **config_overrides)

  def preprocessor(self, tokenizer):
    from keras_bert_lab.data.tagging import TaggingPreprocessor
    return TaggingPreprocessor(tokenizer, self.config.max_seq_length,
                               self.config.word_units,
                               self.config.empty_words)

  def _dataset(self, sentences, tokenizer, batch_size, passes, seed):
    from keras_bert_lab.data import tagging
    training = passes is None
    return tagging.tagging_dataset(
        sentences, self.preprocessor(tokenizer), self.config.labels,
        batch_size=batch_size, shuffle=training, seed=seed, passes=passes,
        drop_remainder=training, shuffle_buffer_size=base.SHUFFLE_BUFFER)

  def predict_tags(self, model, tokenizer, sentences, batch_size=32):
    """Per-sentence words and predicted tags (O past the length cut).

    Args:
      model: the tagger.
      tokenizer: its `BertTokenizer`.
      sentences: sentence dicts with `words`.
      batch_size: prediction batch size.

    Returns:
      `(words, tags)`: lists of lists of strings.
    """
    import numpy as np
    from keras_bert_lab.data import tagging
    words_only = sentences.map(lambda s: {k: s[k] for k in ("words",
                                                            "source", "line")})
    logits, (index,) = base.predict(model, self._dataset(
        words_only, tokenizer, batch_size, passes=1, seed=0))
    ids = tagging.word_level(np.argmax(logits, -1), index).to_list()
    words = [s["words"].tolist() for s in sentences.as_numpy_iterator()]
    cut = 0
    predicted = []
    for sentence_words, tag_ids in zip(words, ids):
      tags = [self.config.labels[t] for t in tag_ids]
      cut += len(sentence_words) - len(tags)
      predicted.append(tags + ["O"] * (len(sentence_words) - len(tags)))
    if cut:
      logging.warning("%d words lie past --max_seq_length=%d and are tagged "
                      "O; raise --max_seq_length to tag them.", cut,
                      self.config.max_seq_length)
    return [[w.decode("utf-8") for w in s] for s in words], predicted

  def evaluate(self, model, tokenizer, examples, batch_size=32):
    from keras_bert_lab import metrics
    gold = [[t.decode("utf-8") for t in s["tags"]]
            for s in examples.as_numpy_iterator()]
    _, predicted = self.predict_tags(model, tokenizer, examples, batch_size)
    return metrics.compute("tagging", gold, predicted)

  def write_predictions(self, model, tokenizer, examples, model_dir,
                        batch_size=32):
    import pathlib
    words, predicted = self.predict_tags(model, tokenizer, examples,
                                         batch_size)
    path = pathlib.Path(model_dir) / "predictions.txt"
    with open(path, "w", encoding="utf-8") as f:
      for sentence_words, tags in zip(words, predicted):
        for word, tag in zip(sentence_words, tags):
          f.write(f"{word}\t{tag}\n")
        f.write("\n")
    return [path]


def _scan(sentences):
  """`(count, {tag: where it first occurs})` of a sentence dataset."""
  import tensorflow as tf
  count, first = 0, {}
  small = sentences.map(lambda s: {k: s[k] for k in ("tags", "source",
                                                     "line")})
  for batch in small.ragged_batch(1024):
    count += int(batch["line"].shape[0])
    tags = batch["tags"]
    for tag in set(tags.flat_values.numpy()):
      tag = tag.decode("utf-8")
      if tag not in first:
        i = int(tf.where(tf.reduce_any(tags == tag, axis=1))[0, 0])
        first[tag] = (f"{batch['source'][i].numpy().decode()} "
                      f"{int(batch['line'][i])} (the sentence there)")
  return count, first
