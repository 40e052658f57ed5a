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

from keras_bert_lab.text.packing import FEATURES


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


def _cut_to_longest(seq_length):
  """A map function cutting an element's token dimension to its longest row.

  The element is an example or a batch: a features dict, or `(features,
  labels, ...)` whose parts with a last dimension of `seq_length` (token
  tagging's labels and weights) are cut too.
  """
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

  return cut


def _static_seq_length(dataset, caller):
  features_spec = (dataset.element_spec[0]
                   if isinstance(dataset.element_spec, tuple)
                   else dataset.element_spec)
  seq_length = features_spec["input_mask"].shape[-1]
  if seq_length is None:
    raise ValueError(f"{caller} needs examples packed to a static length "
                     "(input_mask [..., seq_length]).")
  return seq_length


def trim_batches(dataset):
  """Dynamic padding: each batch cut to its own longest row.

  What Hugging Face's `DataCollatorWithPadding` gives, on batches packed to
  `seq_length`: the sequence dimension becomes the batch's longest row
  (None in the element spec; the batch dimension keeps its size). The
  attention mask hides the padding, so outputs of real tokens do not change
  (to float rounding). Off TPU this is `finetune`'s default; TPUs need
  `bucket_by_length`'s few static lengths instead.

  Args:
    dataset: batches like `bucket_by_length`'s input, batched.

  Returns:
    The same batches, cut.

  Example:
    >>> from keras_bert_lab.text import BertPacker
    >>> packer = BertPacker(seq_length=8, cls_id=2, sep_id=3, pad_id=0)
    >>> batches = tf.data.Dataset.from_tensor_slices(
    ...     packer(tf.ragged.range([1, 2, 5, 1]) + 5)).batch(2)
    >>> [b["input_word_ids"].shape[1] for b in trim_batches(batches)]
    [4, 7]
  """
  cut = _cut_to_longest(_static_seq_length(dataset, "trim_batches"))
  return dataset.map(cut, num_parallel_calls=tf.data.AUTOTUNE,
                     deterministic=True)


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
    >>> from keras_bert_lab.text import BertPacker
    >>> packer = BertPacker(seq_length=8, cls_id=2, sep_id=3, pad_id=0)
    >>> tokens = tf.ragged.range([1, 2, 5, 6, 1, 5]) + 5
    >>> examples = tf.data.Dataset.from_tensor_slices(packer(tokens))
    >>> for batch in bucket_by_length(examples, batch_size=2, boundaries=[4]):
    ...   print(batch["input_word_ids"].shape,
    ...         batch["input_mask"].numpy().sum(axis=1))
    (2, 4) [3 4]
    (2, 8) [7 8]
  """
  seq_length = _static_seq_length(dataset, "bucket_by_length")
  buckets = bucket_boundaries(boundaries, seq_length)

  cut = _cut_to_longest(seq_length)

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
    >>> from keras_bert_lab.text import BertPacker
    >>> packer = BertPacker(seq_length=8, cls_id=2, sep_id=3, pad_id=0)
    >>> examples = tf.data.Dataset.from_tensor_slices(
    ...     packer(tf.ragged.range([1, 2, 5, 6]) + 5))
    >>> padding_share(examples.batch(2))
    (0.3125, 22, 32)
    >>> padding_share(bucket_by_length(examples, 2, [4]))
    (0.0833..., 22, 24)
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
