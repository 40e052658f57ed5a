"""Static batch shapes, as TPUs need them.

`Dataset.batch(drop_remainder=True)` gives a static batch dimension, but
the tokenizer and packer that follow it (ragged tensors, `to_tensor`) lose
it again; `tf.ensure_shape` puts it back, checked at run time.
"""

import tensorflow as tf


def static_batches(dataset, batch_size):
  """`dataset` with every tensor's leading dimension fixed to `batch_size`.

  Args:
    dataset: batches (any structure of dense tensors) of `batch_size`
      examples each, e.g. from `batch(batch_size, drop_remainder=True)`.
    batch_size: the batch size.

  Returns:
    The same batches, whose element spec has a static batch dimension.

  Example:
    >>> from keras_bert_lab.text import BertPacker
    >>> packer = BertPacker(seq_length=8, cls_id=2, sep_id=3, pad_id=0)
    >>> ds = tf.data.Dataset.from_tensor_slices(tf.ragged.range([1, 2, 5, 6]))
    >>> ds = ds.batch(2, drop_remainder=True).map(packer)
    >>> ds.element_spec["input_word_ids"].shape   # the packer lost the 2
    TensorShape([None, 8])
    >>> static_batches(ds, 2).element_spec["input_word_ids"].shape
    TensorShape([2, 8])
  """
  def fix(*element):
    element = element[0] if len(element) == 1 else element
    return tf.nest.map_structure(
        lambda t: tf.ensure_shape(t, [batch_size] + t.shape[1:].as_list()),
        element)

  return dataset.map(fix)
