"""Serving sentence / pair classification and regression on raw strings."""

import tensorflow as tf

from keras_bert_lab.serving.batching import TaskServing
from keras_bert_lab.serving.savedmodel import STRING_BATCH

# Feature keys of the tf.Examples `serve_examples` parses.
EXAMPLE_TEXT_KEY = "text"
EXAMPLE_TEXT_B_KEY = "text_b"


class ClassifierServing(TaskServing):
  """Sentence / pair classification and regression on raw strings.

  Signatures:
    * `serving_default(text[, text_b])` -> `probabilities` float32 [None, C]
      and `label` string [None]; regression -> `score` float32 [None]. Pair
      models take `text_b` too; an empty `text_b` packs as a single text, as
      in training (`ClassificationPreprocessor`).
    * `serve_examples(inputs)`: serialized `tf.Example`s with bytes
      features `text` (and `text_b`); TF Serving's classify API (`classes`
      string [None, C], `scores` float32 [None, C]) or regress API
      (`outputs` float32 [None]).
  `preprocess(text[, text_b])` (a function, not a signature) returns the
  model features the preprocessor makes.

  Args: `TaskServing`'s, for a `ClassificationTask` and its `BertClassifier`.

  Example:
    >>> from keras_bert_lab import tasks
    >>> from keras_bert_lab.models import BertClassifier, BertEncoder
    >>> task = tasks.get_task("classification", labels=["neg", "pos"])
    >>> clf = BertClassifier(BertEncoder.from_vocab(), labels=["neg", "pos"])
    >>> module = ClassifierServing(task, clf, tasks.load_tokenizer(clf))
    >>> module.serve(tf.constant(["great", "so so"]))["label"].shape
    TensorShape([2])
  """

  def __init__(self, task, model, tokenizer, limits=None):
    inputs = [STRING_BATCH] * (2 if task.config.pair else 1)
    super().__init__(task, model, tokenizer, inputs, limits)
    self.regression = bool(self.config.regression)
    self.pair = bool(self.config.pair)
    self.labels = None if self.regression else self.labels_of()
    if self.pair:
      self.serve = tf.function(lambda text, text_b: self._outputs(
          text, text_b), input_signature=inputs)
    else:
      self.serve = tf.function(lambda text: self._outputs(text),
                               input_signature=inputs)
    self.serve_examples = tf.function(self._serve_examples,
                                      input_signature=[STRING_BATCH])

  def _outputs(self, text, text_b=None):
    if text_b is None:
      (text,) = self.limits.check(text=text)
    else:
      text, text_b = self.limits.check(text=text, text_b=text_b)
    logits = self.run_sorted(self.preprocessor(text, text_b),
                             self.model.num_outputs)
    if self.regression:
      return {"score": logits[:, 0]}
    probabilities = tf.nn.softmax(logits, axis=-1)
    label = tf.gather(tf.constant(self.labels),
                      tf.argmax(logits, axis=-1, output_type=tf.int32))
    return {"probabilities": probabilities, "label": label}

  def _serve_examples(self, inputs):
    # Before parsing: a serialized tf.Example counts as its row's bytes.
    (inputs,) = self.limits.check(inputs=inputs)
    spec = {EXAMPLE_TEXT_KEY: tf.io.FixedLenFeature([], tf.string,
                                                    default_value="")}
    if self.pair:
      spec[EXAMPLE_TEXT_B_KEY] = tf.io.FixedLenFeature([], tf.string,
                                                       default_value="")
    parsed = tf.io.parse_example(inputs, spec)
    out = self._outputs(parsed[EXAMPLE_TEXT_KEY],
                        parsed.get(EXAMPLE_TEXT_B_KEY))
    if self.regression:
      return {"outputs": out["score"]}
    batch = tf.shape(inputs)[0]
    classes = tf.tile(tf.constant(self.labels)[tf.newaxis], [batch, 1])
    return {"classes": classes, "scores": out["probabilities"]}

  def signatures(self):
    return {"serving_default": self.serve.get_concrete_function(),
            "serve_examples": self.serve_examples.get_concrete_function()}

  def method_names(self):
    """TF Serving API method per signature (besides predict)."""
    method = ("tensorflow/serving/regress" if self.regression else
              "tensorflow/serving/classify")
    return {"serve_examples": method}
