"""Sequence-length bucketing: less padding, a few static lengths.

Real corpora and fine-tuning sets are mostly short, so packing every
example to `max_seq_length` spends much of the compute on `[PAD]`.
`bucket_by_length` re-batches packed examples so that each batch holds
examples of one length bucket, padded only to that bucket's boundary: the
model sees a handful of sequence lengths (one trace, or one XLA program, per
bucket) instead of one length for all or a new length for every batch.

Built on tf.data's own `Dataset.bucket_by_sequence_length`
(`pad_to_bucket_boundary=True`); what is written here is only the cut of
packed examples back to their lengths and the mapping of our boundaries
(inclusive lengths) to tf.data's (exclusive upper bounds). The attention
mask hides the padding, so a bucketed example's outputs equal the
fully-padded ones (to float rounding).
"""

import tensorflow as tf

from keras_bert_lab.models.encoder import FEATURES


def bucket_boundaries(boundaries, seq_length):
  """The sorted bucket lengths: `boundaries` below `seq_length`, then it.

  Args:
    boundaries: ints, e.g. `[32, 64, 96]`.
    seq_length: the packed length (the last bucket).

  Returns:
    list of ints ending with `seq_length`.

  Raises:
    ValueError: a boundary that is not a positive integer.

  Example:
    >>> bucket_boundaries([64, 32, 128, 512], 128)
    [32, 64, 128]
  """
  try:
    lengths = {int(b) for b in boundaries}
  except ValueError:
    lengths = {0}
  if min(lengths, default=1) < 1:
    raise ValueError(f"--bucket_boundaries={','.join(map(str, boundaries))}:"
                     " give positive integer lengths, e.g. 32,64,96.")
  return sorted(b for b in lengths if b < seq_length) + [int(seq_length)]


def bucket_by_length(dataset, batch_size, boundaries, drop_remainder=True):
  """Re-batches packed examples into length buckets.

  Args:
    dataset: unbatched examples: a dict with `input_word_ids`, `input_mask`,
      `input_type_ids` whose last dimension is a static `seq_length` (and
      any other features, e.g. `masked_lm_*`), or a tuple `(features,
      labels, ...)`: labels or weights with a last dimension of
      `seq_length` (token tagging) are cut with the features. Multiple
      choice's [choices, seq_length] features are cut to their longest
      choice.
    batch_size: examples per batch.
    boundaries: bucket lengths, e.g. `[32, 64, 96]` (`seq_length` is always
      the last bucket; boundaries >= it are ignored).
    drop_remainder: drop each bucket's last partial batch (static batch
      size, as TPUs need).

  Returns:
    `tf.data.Dataset` of batches whose sequence parts are [batch, ...,
    bucket length] (the smallest bucket >= every example's length;
    `input_mask` sums give the lengths), zero-padded, other parts as before.

  Example:
    >>> ds = bucket_by_length(examples, 32, [32, 64, 96])
  """
  features_spec = (dataset.element_spec[0]
                   if isinstance(dataset.element_spec, tuple)
                   else dataset.element_spec)
  seq_length = features_spec["input_mask"].shape[-1]
  if seq_length is None:
    raise ValueError("bucket_by_length needs examples packed to a static "
                     "length (input_mask [..., seq_length]).")
  buckets = bucket_boundaries(boundaries, seq_length)

  def cut_tokens(part, length):
    per_token = part.shape.rank and part.shape[-1] == seq_length
    return part[..., :length] if per_token else part

  # tf.data passes a tuple element's parts as separate arguments.
  def cut(*element):
    features = dict(element[0])
    length = tf.reduce_max(tf.reduce_sum(
        tf.cast(features["input_mask"], tf.int32), axis=-1))
    for key in FEATURES:
      features[key] = features[key][..., :length]
    if len(element) == 1:
      return features
    return (features,) + tf.nest.map_structure(
        lambda part: cut_tokens(part, length), element[1:])

  def length_of(*element):
    return tf.shape(element[0]["input_mask"])[-1]

  # tf.data buckets are [lower, upper) and pad to upper - 1: ours are
  # inclusive lengths, so each upper bound is a bucket length + 1.
  cut_examples = dataset.map(cut, num_parallel_calls=tf.data.AUTOTUNE)
  return cut_examples.bucket_by_sequence_length(
      length_of, [b + 1 for b in buckets], [batch_size] * (len(buckets) + 1),
      pad_to_bucket_boundary=True, drop_remainder=drop_remainder)


def padding_share(dataset, num_batches=None):
  """Share of the token positions in `dataset`'s batches that are padding.

  Args:
    dataset: batches with `input_mask` (a dict, or `(features, labels)`).
    num_batches: look at this many batches (default: all).

  Returns:
    `(padding share, real tokens, positions)`.

  Example:
    >>> padding_share(bucket_by_length(examples, 32, [64]), 100)[0]
  """
  if num_batches:
    dataset = dataset.take(num_batches)
  real = positions = 0
  for element in dataset:
    mask = (element[0] if isinstance(element, tuple) else element)[
        "input_mask"]
    real += int(tf.reduce_sum(tf.cast(mask, tf.int64)))
    positions += int(tf.size(mask))
  return (1 - real / positions if positions else 0.0), real, positions
