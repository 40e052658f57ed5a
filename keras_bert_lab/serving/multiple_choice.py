"""Serving multiple choice (SWAG) on raw strings."""

import tensorflow as tf

from keras_bert_lab.serving.batching import TaskServing
from keras_bert_lab.serving.savedmodel import STRING_BATCH

_CHOICES = tf.TensorSpec([None, None], tf.string)


class MultipleChoiceServing(TaskServing):
  """Multiple choice (SWAG) on raw strings.

  Signature `serving_default(context: string [None], choices: string
  [None, K])` -> `probabilities` float32 [None, K] (softmax over the
  choices), `choice` int32 [None] (the best choice's index). Each choice is
  packed `[CLS] context [SEP] choice [SEP]` by the task's
  `MultipleChoicePreprocessor` (longest-first truncation, as in training);
  `preprocess(context, choices)` returns those features.

  Args: `TaskServing`'s, for a `MultipleChoiceTask` and its `BertMultipleChoice`.

  Example:
    >>> from keras_bert_lab import tasks
    >>> from keras_bert_lab.models import BertEncoder, BertMultipleChoice
    >>> mc = BertMultipleChoice(BertEncoder.from_vocab())
    >>> choices = tf.constant([["He walks in.", "He sings."]])
    >>> MultipleChoiceServing(tasks.get_task("multiple_choice"), mc,
    ...                       tasks.load_tokenizer(mc)).serve(
    ...     tf.constant(["He opens the door."]), choices)["choice"].shape
    TensorShape([1])
  """

  def __init__(self, task, model, tokenizer, limits=None):
    super().__init__(task, model, tokenizer, [STRING_BATCH, _CHOICES],
                     limits)
    self.serve = tf.function(self._serve,
                             input_signature=[STRING_BATCH, _CHOICES])

  def _serve(self, context, choices):
    context, choices = self.limits.check(context=context, choices=choices)
    features = self.preprocessor(context, choices)
    logits = self.run_sorted(features,
                             tf.shape(features["input_word_ids"])[1])
    return {"probabilities": tf.nn.softmax(logits, axis=-1),
            "choice": tf.argmax(logits, axis=-1, output_type=tf.int32)}

  def signatures(self):
    return {"serving_default": self.serve.get_concrete_function()}
