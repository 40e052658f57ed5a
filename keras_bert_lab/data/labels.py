"""Label lists as lookup tables, and the in-graph check that names the file
and line of a label that the list lacks.

Classification labels and tagging tags are looked up the same way: a
`tf.lookup.StaticHashTable` from the string to its index in the list (the
table can go into an exported SavedModel), -1 for a string the list lacks.
TensorFlow's lookup has no "unknown key" error, so `checked` asserts in the
graph and builds the message from the examples' `source` and `line`.
"""

import tensorflow as tf


def label_table(labels, what="label"):
  """A `tf.lookup.StaticHashTable` from label string to class index.

  Args:
    labels: the label list; the order gives the indices.
    what: what a label is called in the error ("label", "tag").

  Returns:
    The table; an unknown string looks up as -1.

  Raises:
    ValueError: the list is empty or has duplicates.

  Example:
    >>> table = label_table(["neg", "pos"])
    >>> table.lookup(tf.constant(["pos", "meh"])).numpy()
    array([ 1, -1], dtype=int32)
  """
  labels = [str(label) for label in labels]
  if len(set(labels)) != len(labels):
    raise ValueError(f"The {what} list {labels} has duplicates.")
  if not labels:
    raise ValueError(f"The {what} list is empty.")
  return tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(
          tf.constant(labels), tf.range(len(labels), dtype=tf.int32)), -1)


def unknown_message(labels, what="label", fix="fix the data or give the "
                    "full list (--labels)"):
  """The end of the error for a label that `labels` lacks.

  Args:
    labels: the label list.
    what: what a label is called ("label", "tag").
    fix: what the user can do.

  Returns:
    A string that follows the label and its place in the message.

  Example:
    >>> unknown_message(["neg", "pos"])
    ' is not in the label list [neg, pos]; fix the data or give the full list (--labels).'
  """
  return (f" is not in the {what} list [" + ", ".join(map(str, labels)) +
          f"]; {fix}.")


def checked(values, ok, shown, source, line, message, what="Label",
            place="at"):
  """`values`, after asserting `ok` in the graph; the error names the first
  bad one and where it came from.

  Args:
    values: the tensor to pass on once checked.
    ok: bool [n], whether each item is good.
    shown: [n] what to show of each item in the message (strings or
      numbers).
    source: `tf.string` [n], where each item came from (`"train.tsv line"`).
    line: int [n], its line number.
    message: what is wrong with a bad item (after "`item` at file line N").
    what: what an item is called at the message's start.
    place: the words before `source` ("at", "in the sentence at").

  Returns:
    `values`, with the check as a control dependency.

  Example:
    >>> ids = tf.constant([0, -1])
    >>> checked(ids, ids >= 0, tf.constant(["neg", "meh"]),
    ...         tf.constant(["d.tsv line"] * 2), tf.constant([2, 3]),
    ...         " is unknown.")
    Traceback (most recent call last):
    ...
    tensorflow.python.framework.errors_impl.InvalidArgumentError: ...
  """
  bad = tf.where(~ok)[:1, 0]
  value = tf.gather(shown, bad)
  if value.dtype != tf.string:
    value = tf.strings.as_string(value)
  text = tf.strings.join([
      f"{what} `", tf.strings.reduce_join(value), f"` {place} ",
      tf.strings.reduce_join(tf.gather(source, bad)), " ",
      tf.strings.reduce_join(tf.strings.as_string(tf.gather(line, bad))),
      message])
  check = tf.debugging.Assert(tf.reduce_all(ok), [text])
  with tf.control_dependencies([check]):
    return tf.identity(values)
