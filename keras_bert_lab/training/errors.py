"""TensorFlow errors that mean a user mistake, re-raised as a `ValueError`
that names the input and the fix.

Some checks can only happen where TensorFlow runs: an input pipeline
asserts in the graph, a checkpoint's iterator state fails to restore. Their
errors carry TensorFlow's own wording; `explained` matches a marker in the
message and replaces the error with ours, leaving every other error as it
was.
"""

import contextlib


@contextlib.contextmanager
def explained(error, marker, message):
  """Re-raises an `error` whose message holds `marker` as `ValueError(message)`.

  Args:
    error: the TensorFlow error class (e.g. `tf.errors.NotFoundError`).
    marker: text that identifies the case in the error's message.
    message: the `ValueError`'s message: what is wrong and the fix.

  Returns:
    A context manager.

  Example:
    >>> import tensorflow as tf
    >>> with explained(tf.errors.InvalidArgumentError, "odd",
    ...                "The input is odd; make it even."):
    ...   tf.debugging.Assert(False, ["odd input"])
    Traceback (most recent call last):
    ...
    ValueError: The input is odd; make it even.
  """
  try:
    yield
  except error as e:
    if marker not in e.message:
      raise
    raise ValueError(message) from None
