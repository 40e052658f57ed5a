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
  whatever TensorFlow's global seed. `buffer_size=0` only repeats.

  Args:
    dataset: a finite `tf.data.Dataset`.
    buffer_size: elements permuted together (and held in memory); 0 keeps
      the order.
    seed: int; None draws one.
    passes: passes over `dataset`; None repeats it forever.

  Returns:
    A `tf.data.Dataset` of the same elements (variable-length parts as
    plain tensors).

  Example:
    >>> ds = shuffle_passes(tf.data.Dataset.range(5), 10, seed=1, passes=2)
    >>> [int(x) for x in ds]   # two passes, two orders
    [2, 0, 4, 3, 1, 2, 0, 3, 4, 1]
  """
  if buffer_size < 0:
    raise ValueError(f"buffer_size={buffer_size} must be 0 (no shuffling) "
                     "or more.")
  if not buffer_size:
    return dataset if passes == 1 else dataset.repeat(passes)
  if seed is None:
    seed = random.SystemRandom().randrange(2**31)
  base = tf.constant([seed, 0x5EED], tf.int64)
  windows = dataset.ragged_batch(buffer_size).enumerate()

  def one_pass(index):
    pass_seed = tf.random.experimental.stateless_fold_in(base, index)

    def permute(window_index, window):
      first = tf.nest.flatten(window, expand_composites=False)[0]
      size = (first.nrows() if isinstance(first, tf.RaggedTensor)
              else tf.shape(first, out_type=tf.int64)[0])
      order = tf.random.experimental.stateless_shuffle(
          tf.range(size),
          tf.random.experimental.stateless_fold_in(pass_seed, window_index))
      return tf.nest.map_structure(lambda x: tf.gather(x, order), window)

    return windows.map(permute).unbatch()

  counter = (tf.data.Dataset.counter() if passes is None
             else tf.data.Dataset.range(passes))
  # `ragged_batch` + `unbatch` leave variable-length parts as ragged-rank-0
  # specs; a map hands them over as plain tensors again.
  return counter.flat_map(one_pass).map(_same,
                                        num_parallel_calls=tf.data.AUTOTUNE,
                                        deterministic=True)


def _same(*element):
  return element[0] if len(element) == 1 else element
