"""Stateless shuffling: an order that depends on the seed alone.

tf.data's `shuffle(seed=...)` mixes TensorFlow's global seed into its
order, and Keras' distributed input (`MirroredStrategy`,
`MultiWorkerMirroredStrategy`) rebuilds the dataset where that seed is not
set: one device and several replicas would see the training examples in
different orders. tf.data has no stateless shuffle, so this module builds
one from `tf.random.experimental.stateless_shuffle`: every pass's order is
drawn from `(seed, pass, window)` and nothing else.
"""

import random

import tensorflow as tf


def shuffle_passes(dataset, buffer_size, seed=None, *, passes=1):
  """Passes over `dataset`, each in its own order, drawn from `seed` alone.

  Consecutive windows of `buffer_size` elements are permuted uniformly (the
  whole dataset when it is no longer), window w of pass p by the stateless
  seed `(seed, p, w)`: the same order on one device or on many replicas,
  whatever TensorFlow's global seed. An element stays within its window, and
  the windows keep their order (tf.data's `shuffle` buffer, too, draws from
  the next `buffer_size` elements); make `buffer_size` at least the dataset
  for a full permutation. `buffer_size=0` only repeats.

  Args:
    dataset: a finite `tf.data.Dataset`.
    buffer_size: elements permuted together (and held in memory); 0 keeps
      the order.
    seed: int; None draws one.
    passes: passes over `dataset`; None repeats it forever (an empty
      dataset then gives an empty stream, not a hang).

  Returns:
    A `tf.data.Dataset` of the same elements (variable-length parts as
    plain tensors).

  Raises:
    ValueError: a negative `buffer_size` or `passes`.

  Example:
    >>> ds = shuffle_passes(tf.data.Dataset.range(5), 10, seed=1, passes=2)
    >>> [int(x) for x in ds]   # two passes, two orders
    [2, 0, 4, 3, 1, 2, 0, 3, 4, 1]
  """
  if buffer_size < 0:
    raise ValueError(f"buffer_size={buffer_size} must be 0 (no shuffling) "
                     "or more.")
  if passes is not None and passes < 0:
    raise ValueError(f"passes={passes} must be None (forever) or >= 0.")
  if not buffer_size:
    return dataset if passes == 1 else dataset.repeat(passes)
  if seed is None:
    seed = random.SystemRandom().randrange(2**31)
  base = tf.constant([seed, 0x5EED], tf.int64)

  # Windows numbered within their pass; a window 0 starts the next pass.
  def count_passes(pass_index, numbered):
    pass_index = tf.where(numbered[0] == 0, pass_index + 1, pass_index)
    return pass_index, (pass_index,) + numbered

  def permute(pass_index, window_index, window):
    first = tf.nest.flatten(window)[0]
    size = (first.nrows() if isinstance(first, tf.RaggedTensor)
            else tf.shape(first, out_type=tf.int64)[0])
    window_seed = tf.random.experimental.stateless_fold_in(
        tf.random.experimental.stateless_fold_in(base, pass_index),
        window_index)
    order = tf.random.experimental.stateless_shuffle(tf.range(size),
                                                     window_seed)
    return tf.nest.map_structure(lambda x: tf.gather(x, order), window)

  windows = dataset.ragged_batch(buffer_size).enumerate().repeat(passes)
  # `ragged_batch` + `unbatch` leave variable-length parts as ragged-rank-0
  # specs; the last map hands them over as plain tensors again.
  return windows.scan(tf.constant(-1, tf.int64), count_passes).map(
      permute).unbatch().map(_same, num_parallel_calls=tf.data.AUTOTUNE,
                             deterministic=True)


def _same(*element):
  return element[0] if len(element) == 1 else element
