"""Stateless shuffling: every pass a permutation, drawn from the seed alone."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.data import shuffle_passes


def values(dataset):
  return [int(x) for x in dataset]


@pytest.mark.parametrize("size,buffer", [(50, 100), (50, 7), (50, 50)])
def test_each_pass_is_a_permutation_within_windows(size, buffer):
  got = values(shuffle_passes(tf.data.Dataset.range(size), buffer, seed=3,
                              passes=3))
  assert len(got) == 3 * size
  passes = [got[i * size:(i + 1) * size] for i in range(3)]
  for one in passes:
    assert sorted(one) == list(range(size))
    # An element stays in its window of `buffer` consecutive elements.
    assert all(x // buffer == i // buffer for i, x in enumerate(one))
  assert passes[0] != passes[1] != passes[2]


def test_order_depends_on_the_seed_alone():
  """tf.data's shuffle(seed=...) changes with TensorFlow's global seed; this
  order does not (what keeps replicas and one device in step)."""
  def run(global_seed):
    tf.random.set_seed(global_seed)
    return (values(shuffle_passes(tf.data.Dataset.range(30), 100, seed=5,
                                  passes=2)),
            values(tf.data.Dataset.range(30).shuffle(100, seed=5)))
  ours_1, theirs_1 = run(1)
  ours_2, theirs_2 = run(2)
  assert ours_1 == ours_2
  assert theirs_1 != theirs_2   # what the stateless shuffle avoids
  assert values(shuffle_passes(tf.data.Dataset.range(30), 100, seed=6,
                               passes=2)) != ours_1


def test_positions_are_uniform():
  """Over 2,000 passes, element 0 lands in each of 10 positions about
  equally often (chi-square, 9 degrees of freedom, p > 0.001)."""
  got = np.array(values(shuffle_passes(tf.data.Dataset.range(10), 10, seed=0,
                                       passes=2000))).reshape(2000, 10)
  counts = collections.Counter(np.argmax(got == 0, axis=1).tolist())
  expected = 2000 / 10
  chi2 = sum((counts[i] - expected) ** 2 / expected for i in range(10))
  assert chi2 < 27.88


def test_forever_and_unshuffled():
  forever = shuffle_passes(tf.data.Dataset.range(4), 4, seed=1, passes=None)
  assert sorted(values(forever.take(8))) == [0, 0, 1, 1, 2, 2, 3, 3]
  assert values(shuffle_passes(tf.data.Dataset.range(4), 0, passes=2)) == [
      0, 1, 2, 3, 0, 1, 2, 3]
  with pytest.raises(ValueError, match="buffer_size=-1"):
    shuffle_passes(tf.data.Dataset.range(4), -1)


def test_structured_elements_keep_their_parts():
  words = tf.ragged.constant([["a", "b"], ["c"], ["d", "e", "f"]])
  dataset = tf.data.Dataset.from_tensor_slices(
      ({"words": words, "text": ["x", "y", "z"]}, [0, 1, 2]))
  shuffled = shuffle_passes(dataset, 2, seed=0, passes=2)
  assert shuffled.element_spec[0]["words"] == tf.TensorSpec([None], tf.string)
  rows = [(f["words"].numpy().tolist(), f["text"].numpy(), int(label))
          for f, label in shuffled]
  assert len(rows) == 6
  assert sorted(rows[:3]) == [([b"a", b"b"], b"x", 0), ([b"c"], b"y", 1),
                              ([b"d", b"e", b"f"], b"z", 2)]
  assert sorted(rows[3:]) == sorted(rows[:3])


def test_empty_forever_ends_and_bad_passes_fail():
  empty = tf.data.Dataset.range(0)
  assert values(shuffle_passes(empty, 4, seed=1, passes=None)) == []
  with pytest.raises(ValueError, match="passes=-1"):
    shuffle_passes(empty, 4, seed=1, passes=-1)
