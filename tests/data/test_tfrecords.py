"""TFRecords in google-research/bert's format, written and read back."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.data.tfrecords import read_pretraining_tfrecords, to_examples


def google_example(rng, seq, pred):
  """An Example built as Google's create_pretraining_data.py builds one:
  `create_int_feature` (int64 lists) and `create_float_feature`."""
  ints = lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=v))
  length = int(rng.integers(5, seq))
  ids = list(rng.integers(1, 1000, length)) + [0] * (seq - length)
  n = int(rng.integers(1, pred))
  features = {
      "input_ids": ints(ids),
      "input_mask": ints([1] * length + [0] * (seq - length)),
      "segment_ids": ints([0] * (length // 2) + [1] * (length - length // 2)
                          + [0] * (seq - length)),
      "masked_lm_positions": ints(sorted(rng.choice(range(1, length), n,
                                                    replace=False).tolist())
                                  + [0] * (pred - n)),
      "masked_lm_ids": ints(list(rng.integers(1, 1000, n)) + [0] * (pred - n)),
      "masked_lm_weights": tf.train.Feature(float_list=tf.train.FloatList(
          value=[1.0] * n + [0.0] * (pred - n))),
      "next_sentence_labels": ints([int(rng.integers(0, 2))]),
  }
  return tf.train.Example(features=tf.train.Features(feature=features))


def test_reads_google_format_and_round_trips(tmp_path):
  rng = np.random.default_rng(0)
  seq, pred = 32, 5
  examples = [google_example(rng, seq, pred) for _ in range(10)]
  path = str(tmp_path / "google.tfrecord")
  with tf.io.TFRecordWriter(path) as writer:
    for e in examples:
      writer.write(e.SerializeToString())
  batches = list(read_pretraining_tfrecords([path], seq, pred, batch_size=4))
  assert len(batches) == 2  # drop_remainder: static shapes
  first = batches[0]
  assert first["input_word_ids"].dtype == tf.int32
  assert first["masked_lm_weights"].dtype == tf.float32
  assert first["next_sentence_labels"].shape == (4,)
  feat = examples[0].features.feature
  assert first["input_word_ids"][0].numpy().tolist() == list(
      feat["input_ids"].int64_list.value)
  assert first["input_type_ids"][0].numpy().tolist() == list(
      feat["segment_ids"].int64_list.value)
  # Our writer writes byte-identical Examples from the parsed features.
  unbatched = list(read_pretraining_tfrecords([path], seq, pred))
  ours = to_examples({k: tf.stack([u[k] for u in unbatched])
                      for k in unbatched[0]})
  assert ours == [e.SerializeToString(deterministic=True) for e in examples]


def test_length_mismatch_is_named(tmp_path):
  path = str(tmp_path / "g.tfrecord")
  with tf.io.TFRecordWriter(path) as writer:
    writer.write(google_example(np.random.default_rng(1), 32, 5)
                 .SerializeToString())
  with pytest.raises(ValueError, match=r"g.tfrecord: feature 'input_ids' has "
                     r"length 32, expected 64.*--max_seq_length=32"):
    read_pretraining_tfrecords([path], 64, 5)
  with pytest.raises(ValueError, match=r"--max_predictions_per_seq=5"):
    read_pretraining_tfrecords([path], 32, 20)
