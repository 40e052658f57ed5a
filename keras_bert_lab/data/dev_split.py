"""The deterministic dev split held out of a training set without an eval file.

Shared by every task family (classification rows, tagging sentences, SQuAD
questions, SWAG examples) and by `report`, which re-creates the split a run
evaluated from `eval_results.json`'s `dev_split` record. Written here because
tf.data has no exact-size, seed-stable hold-out: `Dataset.shuffle` plus
`take` depends on the buffer and on TensorFlow's global seed.
"""

import tensorflow as tf


def _dev_mask(num_examples, dev_fraction, seed):
  if not 0 < dev_fraction < 1:
    raise ValueError(f"dev_fraction={dev_fraction} must be between 0 and 1 "
                     "(exclusive).")
  num_dev = int(round(num_examples * dev_fraction))
  if num_examples < 2 or not 0 < num_dev < num_examples:
    raise ValueError(
        f"Cannot hold out a dev_fraction={dev_fraction} of {num_examples} "
        "examples and keep both parts non-empty; pass an eval file.")
  order = tf.random.experimental.stateless_shuffle(
      tf.range(num_examples, dtype=tf.int64), seed=[int(seed), 0x5EED])
  return tf.scatter_nd(order[:num_dev, tf.newaxis],
                       tf.ones([num_dev], tf.bool), [num_examples])


def split_dev(examples, dev_fraction=0.1, seed=0):
  """Holds out a deterministic dev split when no eval file is given.

  Exactly `round(n * dev_fraction)` examples, chosen by a stateless shuffle
  of their positions under `seed`, go to dev; the order of both parts is
  the input's order.

  Args:
    examples: a `tf.data.Dataset` (counted with one pass; finite) or a list.
    dev_fraction: fraction held out, in (0, 1).
    seed: int.

  Returns:
    `(train, dev)`, of the input's kind.

  Example:
    >>> train, dev = split_dev(list(range(10)), 0.2, seed=0)
    >>> len(train), len(dev)
    (8, 2)
  """
  if isinstance(examples, tf.data.Dataset):
    num = int(examples.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    mask = _dev_mask(num, dev_fraction, seed)

    def part(dev):
      return examples.enumerate().filter(
          lambda i, _: tf.gather(mask, i) == dev).map(lambda _, x: x)

    return part(False), part(True)
  examples = list(examples)
  mask = _dev_mask(len(examples), dev_fraction, seed).numpy()
  return ([x for x, m in zip(examples, mask) if not m],
          [x for x, m in zip(examples, mask) if m])
