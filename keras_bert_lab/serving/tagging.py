"""Serving token tagging (NER) on raw text or on pre-split words."""

import tensorflow as tf

from keras_bert_lab.serving.batching import TaskServing
from keras_bert_lab.serving.savedmodel import STRING_BATCH

_WORDS = tf.TensorSpec([None, None], tf.string)


class TaggerServing(TaskServing):
  """Word-level tags of raw text, or of words already split.

  Raw text is cut into the word units training used, by the task's
  `TaggingPreprocessor.split` and the rule in task.json (`word_units`: one
  word per character for character-level BIO such as People's Daily,
  whitespace words for CoNLL-style data); each word is tokenized and
  labelled at its first wordpiece, as in training (`align_words`).

  Signatures:
    * `serving_default(text)` -> `words` string [None, W], `labels` string
      [None, W] (padded with ""), `start`, `end` int32 [None, W]: each
      word's characters `[start, end)` in `text` (-1 padding).
    * `tag_words(words)`: pre-split words (as Hugging Face's
      `is_split_into_words`), string [None, W] padded at the end with "" ->
      `labels` string [None, W].
  Only words whose first wordpiece fits in `max_seq_length` get a label (W
  = the most that fit in the batch). `preprocess(text)` returns the
  features and word index.

  Args: `TaskServing`'s, for a `TaggingTask` and its `BertTokenClassifier`.

  Example:
    >>> from keras_bert_lab import tasks
    >>> from keras_bert_lab.models import BertEncoder, BertTokenClassifier
    >>> tagger = BertTokenClassifier(BertEncoder.from_vocab(), num_labels=2)
    >>> task = tasks.get_task("tagging", labels=["O", "B-PER"])
    >>> words = tf.constant([["Elinor", "smiled"]])   # serve(text) splits text
    >>> TaggerServing(task, tagger, tasks.load_tokenizer(tagger)).tag_words(
    ...     words)["labels"].shape
    TensorShape([1, 2])
  """

  def __init__(self, task, model, tokenizer, limits=None):
    super().__init__(task, model, tokenizer, limits=limits)
    self.labels = self.labels_of("tags")
    self.serve = tf.function(self._serve, input_signature=[STRING_BATCH])
    self.tag_words = tf.function(self._tag_words, input_signature=[_WORDS])
    self.preprocess = tf.function(
        lambda text: self.preprocessor(self.preprocessor.split(text)[0]),
        input_signature=[STRING_BATCH])

  def _labels(self, words):
    """Ragged tag strings of the words that fit."""
    features, index = self.preprocessor(words)
    tag_ids = tf.argmax(self.run_trimmed(features), axis=-1,
                        output_type=tf.int32)
    word_tags = tf.ragged.boolean_mask(tag_ids, index >= 0)
    return tf.gather(tf.constant(self.labels), word_tags)

  def _serve(self, text):
    (text,) = self.limits.check(text=text)
    words, starts, ends = self.preprocessor.split(text)
    labels = self._labels(words)
    fitted = labels.row_lengths()

    def kept(values):
      position = tf.ragged.range(values.row_lengths())
      return tf.ragged.boolean_mask(values, position < fitted[:, tf.newaxis])

    return {"words": kept(words).to_tensor(""),
            "labels": labels.to_tensor(""),
            "start": kept(starts).to_tensor(-1),
            "end": kept(ends).to_tensor(-1)}

  def _tag_words(self, words):
    (words,) = self.limits.check(words=words)
    ragged = tf.RaggedTensor.from_tensor(words, padding="")
    return {"labels": self._labels(ragged).to_tensor("")}

  def signatures(self):
    return {"serving_default": self.serve.get_concrete_function(),
            "tag_words": self.tag_words.get_concrete_function()}
