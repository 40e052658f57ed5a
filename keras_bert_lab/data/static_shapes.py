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


def featurized(batches, featurize, batch_size, drop_remainder):
  """`batches` mapped by `featurize`, in order, with static batch shapes
  again when `drop_remainder` asks for them (TPUs), and prefetched.

  Args:
    batches: a batched `tf.data.Dataset`.
    featurize: the per-batch map (tokenizing and packing).
    batch_size: the batch size.
    drop_remainder: whether `batches` dropped the last partial batch.

  Returns:
    The featurized batches.

  Example:
    >>> ds = tf.data.Dataset.range(5).batch(2, drop_remainder=True)
    >>> featurized(ds, lambda x: x * 2, 2, True).element_spec.shape
    TensorShape([2])
  """
  batches = batches.map(featurize, num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True)
  if drop_remainder:
    batches = static_batches(batches, batch_size)
  return batches.prefetch(tf.data.AUTOTUNE)
