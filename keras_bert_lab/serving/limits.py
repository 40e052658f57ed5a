"""Request limits checked inside the exported graph.

A served model takes whatever a client sends. One request of a million
texts, or one text of a gigabyte, would make the tokenizer allocate memory
for all of it before the model runs, and TF Serving runs many requests in
one process. So every signature of an exported model first checks its
inputs against two limits fixed at export time (`export --max_batch_size`,
`--max_input_bytes`) and refuses a request past either with an
`InvalidArgumentError` that names the input, the limit and the flag, before
any other op runs; an input of the wrong rank is refused there too (the
wrong dtype already is, by TensorFlow's own argument check). A request's strings then hold at most
`max_batch_size * max_input_bytes` bytes (100 MB by default).

Why by hand: TF Serving bounds a gRPC message's size (4 MB by default, the
server's flag) but not a SavedModel's rows or texts, and neither
`tf.saved_model` nor Keras' export has input limits.
"""

import dataclasses

import tensorflow as tf

# Defaults of `export --max_input_bytes` and `--max_batch_size`.
DEFAULT_MAX_INPUT_BYTES = 100_000
DEFAULT_MAX_BATCH_SIZE = 1024


@dataclasses.dataclass(frozen=True)
class InputLimits:
  """The most one request may hold; every serving signature checks it.

  Args:
    max_input_bytes: the most bytes in one row of a string input: a text, or
      a row of words (`tag_words`) or choices (multiple choice), each string
      of a row counting one byte more (its separator). 100,000 bytes is
      about 20,000 wordpieces, far more than any model reads (longer
      SQuAD contexts are windowed, so they cost time, not correctness).
    max_batch_size: the most rows (texts, or rows of token ids) per request.

  Raises:
    ValueError: a limit that is not a positive integer.

  Example:
    >>> limits = InputLimits(max_input_bytes=8, max_batch_size=2)
    >>> [t.numpy().tolist() for t in limits.check(text=tf.constant(["ok"]))]
    [[b'ok']]
    >>> try:
    ...   limits.check(text=tf.constant(["far too long"]))
    ... except tf.errors.InvalidArgumentError as e:
    ...   print(e.message.split(".")[0])
    text: a row holds more than --max_input_bytes=8 bytes
  """
  max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
  max_batch_size: int = DEFAULT_MAX_BATCH_SIZE

  def __post_init__(self):
    for flag in ("max_input_bytes", "max_batch_size"):
      value = getattr(self, flag)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"--{flag}={value!r}: pass a positive integer.")

  def check(self, **inputs):
    """The inputs, to be used only after they pass the limits.

    Args:
      **inputs: input name -> tensor with the batch first (string or int).

    Returns:
      The tensors in the order given, each behind the checks (an op that
      uses one runs only after every check passed).

    Raises:
      tf.errors.InvalidArgumentError (when run): too many rows, or a row of
        too many bytes (the message names the input, the limit and the
        flag), or a rank other than the input's spec.
    """
    checks, inputs = [], dict(inputs)
    for name, tensor in inputs.items():
      # The signature's rank, checked when run: a loaded signature and TF
      # Serving's session feed a tensor of any shape ("Shape of tensor
      # text [1,1] is not compatible with expected shape [?]").
      tensor = inputs[name] = tf.ensure_shape(tensor, tensor.shape)
      rows = tf.shape(tensor)[0]
      checks.append(tf.debugging.assert_less_equal(
          rows, self.max_batch_size, message=(
              f"{name}: more rows than --max_batch_size="
              f"{self.max_batch_size} allows. Split the request, or export "
              "again with a larger --max_batch_size")))
      if tensor.dtype == tf.string:
        row_bytes = tf.strings.length(tensor)
        if tensor.shape.rank > 1:   # + 1 per string, its separator
          row_bytes = tf.reduce_sum(row_bytes + 1,
                                    axis=list(range(1, tensor.shape.rank)))
        longest = tf.reduce_max(tf.concat([[0], row_bytes], 0))
        checks.append(tf.debugging.assert_less_equal(
            longest, self.max_input_bytes, message=(
                f"{name}: a row holds more than --max_input_bytes="
                f"{self.max_input_bytes} bytes. Shorten the text, or "
                "export again with a larger --max_input_bytes")))
    with tf.control_dependencies(checks):
      return [tf.identity(tensor) for tensor in inputs.values()]
