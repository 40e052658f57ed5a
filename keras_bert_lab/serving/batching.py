"""Running a task model inside a serving signature: trimmed and sorted batches, XLA.

`TaskServing` is the base of every task's serving module: it holds the Keras
model (tracking its variables for TF1 loaders), runs it on each request's
features cut to the longest row (`run_trimmed`) or in length-sorted
micro-batches (`run_sorted`), optionally compiled with XLA (`use_xla`). The
features themselves come from the task's preprocessor (`preprocessor`,
built from the task config, the same object training used), never from
packing written again here.
"""

import tensorflow as tf

from keras_bert_lab.serving.limits import InputLimits
from keras_bert_lab.serving.savedmodel import hold_untracked, tf_variables

# Rows per length-sorted micro-batch (`TaskServing.run_sorted`).
MICRO_BATCH = 8
# With `--jit_compile`, lengths round up to this (fewer XLA compilations).
XLA_LENGTH_MULTIPLE = 16


def row_lengths(mask):
  """Tokens per example of an int mask [batch, ..., seq] -> int32 [batch].

  Example:
    >>> row_lengths(tf.constant([[1, 1, 0], [1, 0, 0]])).numpy()
    array([2, 1], dtype=int32)
  """
  tokens = tf.reduce_sum(tf.cast(mask, tf.int32), axis=-1)
  return tf.reduce_max(tf.reshape(tokens, [tf.shape(mask)[0], -1]), axis=1)


class TaskServing(tf.Module):
  """Base of the task serving modules: the model, its preprocessor, batching.

  Args:
    task: the model's `keras_bert_lab.tasks.Task` (its config as trained).
    model: the fine-tuned Keras task model.
    tokenizer: its `BertTokenizer`.
    inputs: the preprocessor's raw inputs' `tf.TensorSpec`s: with them,
      `preprocess(*inputs)` (a `tf.function` saved with the module, not a
      signature) returns the features the preprocessor makes.
    limits: the `InputLimits` every signature checks first (default
      `InputLimits()`).

  Attributes:
    preprocessor: `task.preprocessor(tokenizer)`, the layer training used.
    config: `task.config`.
    limits: the `InputLimits`.
  """

  def __init__(self, task, model, tokenizer, inputs=None, limits=None):
    super().__init__()
    self.limits = limits or InputLimits()
    hold_untracked(self, model=model)
    self.tf_variables = tf_variables(model)
    self.tokenizer = tokenizer
    self.config = task.config
    self.preprocessor = task.preprocessor(tokenizer)
    self.seq_length = int(task.config.max_seq_length)
    self._xla_model = None
    if inputs is not None:
      self.preprocess = tf.function(lambda *raw: self.preprocessor(*raw),
                                    input_signature=inputs)

  def labels_of(self, what="labels"):
    """The config's label names, checked against the head's size.

    Args:
      what: the word for them in the message ("labels", "tags").

    Returns:
      The list (HF's `LABEL_i` names when the config has none).

    Raises:
      ValueError: as many names as the head has outputs, not.
    """
    labels = list(self.config.labels or [
        f"LABEL_{i}" for i in range(self.model.num_outputs)])
    if len(labels) != self.model.num_outputs:
      raise ValueError(
          f"{len(labels)} {what} ({labels}) for a head of "
          f"{self.model.num_outputs} outputs; fix `labels` in task.json.")
    return labels

  def use_xla(self):
    """Compiles the model call with XLA (call before `signatures()`).

    Lengths are then rounded up to a multiple of `XLA_LENGTH_MULTIPLE`, so
    at most `seq_length / XLA_LENGTH_MULTIPLE` shapes per batch size
    compile. TF Serving runs XLA:CPU only with
    `--xla_cpu_compilation_enabled=true` (experimental there).
    """
    model = self.model
    self._xla_model = tf.function(
        lambda features: model(features, training=False), jit_compile=True,
        autograph=False)

  def run(self, features):
    if self._xla_model is not None:
      return self._xla_model(features)
    return self.model(features, training=False)

  def cut(self, features, length):
    """Features cut to `length` tokens (rounded up to XLA's multiple)."""
    if self._xla_model is not None:
      length = tf.minimum(-(-length // XLA_LENGTH_MULTIPLE)
                          * XLA_LENGTH_MULTIPLE, self.seq_length)
    return {k: v[..., :length] for k, v in features.items()}

  def run_trimmed(self, features):
    """The model on features cut to the batch's longest row.

    Attention masks the padding, so the outputs of real tokens do not
    change (to float rounding); sequence outputs come back padded with 0
    to `seq_length`.
    """
    features = self.cut(features,
                         tf.reduce_max(row_lengths(features["input_mask"])))
    outputs = self.run(features)
    pad = [[0, 0], [0, self.seq_length - tf.shape(outputs)[1]], [0, 0]]
    return tf.pad(outputs, pad[:len(outputs.shape)])

  def run_sorted(self, features, width):
    """Per-example outputs from length-sorted micro-batches.

    Rows are sorted by length and run `MICRO_BATCH` at a time, each
    micro-batch cut to its own longest row, then put back in input order.
    A batch-1 call runs at the text's own length; a batch of 32 reviews
    (median 69 of 128 tokens) needs ~1.7x less compute than padding all
    rows to 128.

    Args:
      features: the model's int32 inputs, [batch, ..., seq_length].
      width: the model's outputs per example (its output is [batch, width]).

    Returns:
      float32 [batch, width].
    """
    lengths = row_lengths(features["input_mask"])
    order = tf.argsort(lengths, stable=True)
    features = {k: tf.gather(v, order) for k, v in features.items()}
    lengths = tf.gather(lengths, order)
    batch = tf.size(lengths)
    steps = (batch + MICRO_BATCH - 1) // MICRO_BATCH
    results = tf.TensorArray(tf.float32, size=steps, infer_shape=False,
                             element_shape=[None, None])

    def step(i, results):
      rows = slice(i * MICRO_BATCH, tf.minimum((i + 1) * MICRO_BATCH, batch))
      outputs = self.run(self.cut({k: v[rows] for k, v in features.items()},
                                    tf.reduce_max(lengths[rows])))
      return i + 1, results.write(i, tf.cast(outputs, tf.float32))

    _, results = tf.while_loop(lambda i, _: i < steps, step, [0, results])
    sorted_outputs = tf.cond(   # concat() of no elements has no shape
        steps > 0, lambda: tf.reshape(results.concat(), [batch, width]),
        lambda: tf.zeros([0, width]))
    return tf.gather(sorted_outputs, tf.argsort(order))

  def signatures(self):
    """`{signature name: concrete function}` to save."""
    raise NotImplementedError


