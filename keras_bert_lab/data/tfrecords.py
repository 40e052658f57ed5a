"""Pre-training examples as TFRecords in google-research/bert's format.

Google's `create_pretraining_data.py` writes `tf.train.Example`s with the
int64 features `input_ids`, `input_mask`, `segment_ids` [max_seq_length],
`masked_lm_positions`, `masked_lm_ids` [max_predictions_per_seq],
`next_sentence_labels` [1] and the float feature `masked_lm_weights`
[max_predictions_per_seq]. This module writes that format and reads it (ours
or Google's) back into Model Garden's feature names as int32 (TPUs want
int32). The renaming is all that is written by hand; parsing is
`tf.io.parse_example`.

A corrupt or cut-short record fails the pipeline with TensorFlow's
`DataLossError`, which gives the offset but not the file;
`corrupt_record_error` finds the file and names both.
"""

import contextlib
import re

import tensorflow as tf

# How TensorFlow's TFRecord reader reports a bad record (and its offset).
_BAD_RECORD = r"(corrupted|truncated) record at (\d+)"

# Google's name -> Model Garden's name.
GOOGLE_TO_MODEL_GARDEN = {
    "input_ids": "input_word_ids",
    "input_mask": "input_mask",
    "segment_ids": "input_type_ids",
    "masked_lm_positions": "masked_lm_positions",
    "masked_lm_ids": "masked_lm_ids",
    "masked_lm_weights": "masked_lm_weights",
    "next_sentence_labels": "next_sentence_labels",
}


def _feature_spec(max_seq_length, max_predictions_per_seq):
  seq = tf.io.FixedLenFeature([max_seq_length], tf.int64)
  pred = tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64)
  return {
      "input_ids": seq, "input_mask": seq, "segment_ids": seq,
      "masked_lm_positions": pred, "masked_lm_ids": pred,
      "masked_lm_weights": tf.io.FixedLenFeature([max_predictions_per_seq],
                                                 tf.float32),
      "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
  }


def to_examples(features):
  """Turns one batch of Model Garden features into serialized Examples.

  Args:
    features: dict of numpy/tensor arrays with a leading batch dimension,
      Model Garden names (`next_sentence_labels` [batch] or [batch, 1]).

  Returns:
    List of serialized `tf.train.Example` bytes, Google's feature names.

  Example:
    >>> features = {
    ...     "input_word_ids": [[2, 4, 9, 3]], "input_mask": [[1, 1, 1, 1]],
    ...     "input_type_ids": [[0, 0, 0, 0]], "masked_lm_positions": [[1, 0]],
    ...     "masked_lm_ids": [[7, 0]], "masked_lm_weights": [[1.0, 0.0]],
    ...     "next_sentence_labels": [0]}
    >>> records = to_examples(features)
    >>> example = tf.train.Example.FromString(records[0]).features.feature
    >>> list(example["input_ids"].int64_list.value)   # Google's name
    [2, 4, 9, 3]
  """
  arrays = {google: tf.convert_to_tensor(features[ours]).numpy()
            for google, ours in GOOGLE_TO_MODEL_GARDEN.items()}
  batch = arrays["input_ids"].shape[0]
  records = []
  for i in range(batch):
    feature = {}
    for name, values in arrays.items():
      row = values[i].reshape(-1)
      if name == "masked_lm_weights":
        feature[name] = tf.train.Feature(
            float_list=tf.train.FloatList(value=row.astype(float)))
      else:
        feature[name] = tf.train.Feature(
            int64_list=tf.train.Int64List(value=row.astype(int)))
    # Deterministic: map fields in a fixed order, so a seed gives equal files.
    records.append(tf.train.Example(
        features=tf.train.Features(feature=feature)).SerializeToString(
            deterministic=True))
  return records


def _check_first_record(path, spec):
  """Fails early, naming the file, feature and lengths, on a format mismatch."""
  for record in tf.data.TFRecordDataset([path]).take(1):
    feature = tf.train.Example.FromString(record.numpy()).features.feature
    for name, want in spec.items():
      if name not in feature:
        raise ValueError(f"{path}: no feature {name!r}; found {sorted(feature)}."
                         " Expected google-research/bert's pre-training format.")
      kind = feature[name].WhichOneof("kind")
      found = len(getattr(feature[name], kind).value)
      if found != want.shape[0]:
        flag = ("--max_seq_length" if name == "input_ids" else
                "--max_predictions_per_seq")
        raise ValueError(
            f"{path}: feature {name!r} has length {found}, expected "
            f"{want.shape[0]}; the file was written with other settings "
            f"(set {flag}={found}).")


@contextlib.contextmanager
def corrupt_record_error(input_files):
  """Around a loop over TFRecords: a corrupt record is a `ValueError` that
  names the file, the offset and the fix.

  Args:
    input_files: the TFRecord paths the loop reads.

  Returns:
    A context manager. On `DataLossError` it reads the files one by one to
    the first bad record (only then, so a healthy run pays nothing).

  Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "cut.tfrecord")
    >>> with tf.io.TFRecordWriter(path) as writer:
    ...   writer.write(b"a record")
    >>> with open(path, "rb+") as f:
    ...   _ = f.truncate(20)
    >>> with corrupt_record_error([path]):
    ...   _ = list(tf.data.TFRecordDataset([path]))
    Traceback (most recent call last):
    ...
    ValueError: .../cut.tfrecord: truncated record at byte 0, after 0 good \
records. Write the file again (create_pretraining_data); the checkpoints \
written so far are kept.
  """
  try:
    yield
  except tf.errors.DataLossError as e:
    # Other data loss (a damaged checkpoint, say) is not a record's.
    if not input_files or not re.search(_BAD_RECORD, e.message):
      raise
    for path in input_files:
      good = 0
      try:
        for _ in tf.data.TFRecordDataset([path]):
          good += 1
      except tf.errors.DataLossError as bad:
        found = re.search(_BAD_RECORD, bad.message)
        reason = (f"{found[1]} record at byte {found[2]}" if found
                  else bad.message)
        raise ValueError(
            f"{path}: {reason}, after {good} good records. Write the file "
            "again (create_pretraining_data); the checkpoints written so far "
            "are kept.") from None
    raise


def read_pretraining_tfrecords(input_files, max_seq_length,
                               max_predictions_per_seq, batch_size=None,
                               shard=None):
  """Reads Google-format pre-training TFRecords as Model Garden features.

  Args:
    input_files: list of TFRecord paths (ours or made by Google's script).
    max_seq_length, max_predictions_per_seq: what the files were written
      with; a mismatch fails at once, naming the file, feature and lengths.
    batch_size: if set, batch (with `drop_remainder`, static shapes) before
      parsing, which is faster.
    shard: `(num_shards, index)`: keep every num_shards-th record from
      `index` (input pipelines with fewer files than pipelines).

  Returns:
    `tf.data.Dataset` of dicts: `input_word_ids`, `input_mask`,
    `input_type_ids`, `masked_lm_positions`, `masked_lm_ids`,
    `next_sentence_labels` (int32; the labels [batch]) and
    `masked_lm_weights` (float32).

  Example:
    >>> import os, tempfile
    >>> features = {
    ...     "input_word_ids": [[2, 4, 9, 3]] * 3, "input_mask": [[1, 1, 1, 1]] * 3,
    ...     "input_type_ids": [[0, 0, 0, 0]] * 3,
    ...     "masked_lm_positions": [[1, 0]] * 3, "masked_lm_ids": [[7, 0]] * 3,
    ...     "masked_lm_weights": [[1.0, 0.0]] * 3,
    ...     "next_sentence_labels": [0, 1, 0]}
    >>> path = os.path.join(tempfile.mkdtemp(), "train.tfrecord")
    >>> with tf.io.TFRecordWriter(path) as writer:
    ...   for record in to_examples(features):
    ...     writer.write(record)
    >>> ds = read_pretraining_tfrecords([path], max_seq_length=4,
    ...                                 max_predictions_per_seq=2, batch_size=2)
    >>> batch = next(iter(ds))
    >>> batch["input_word_ids"].shape, batch["next_sentence_labels"].numpy()
    (TensorShape([2, 4]), array([0, 1], dtype=int32))
    >>> read_pretraining_tfrecords([path], max_seq_length=128,
    ...                            max_predictions_per_seq=20)
    Traceback (most recent call last):
    ...
    ValueError: .../train.tfrecord: feature 'input_ids' has length 4, expected \
128; the file was written with other settings (set --max_seq_length=4).
  """
  spec = _feature_spec(max_seq_length, max_predictions_per_seq)
  _check_first_record(input_files[0], spec)
  dataset = tf.data.TFRecordDataset(input_files)
  if shard:
    dataset = dataset.shard(*shard)
  if batch_size:
    dataset = dataset.batch(batch_size, drop_remainder=True)

  def parse(records):
    if batch_size:
      parsed = tf.io.parse_example(records, spec)
    else:
      parsed = tf.io.parse_single_example(records, spec)
    out = {}
    for google, ours in GOOGLE_TO_MODEL_GARDEN.items():
      value = parsed[google]
      out[ours] = value if value.dtype == tf.float32 else tf.cast(value,
                                                                  tf.int32)
    out["next_sentence_labels"] = tf.squeeze(out["next_sentence_labels"], -1)
    return out

  return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
