"""Synthetic pre-training features for the training tests, keyed by example id.

Each example is a pure function of its `example_id` (stateless random ops), so
a dataset's order is fixed and the ids a step consumed tell its data position.
The masked-LM labels are the tokens at the masked positions (left unmasked),
and the NSP label is `example_id % 2`, so a tiny model can learn both.
"""

import tensorflow as tf

from keras_bert_lab.config import BertConfig

VOCAB_SIZE = 100
SEQ_LENGTH = 16
NUM_PREDICTIONS = 4


def tiny_config(dropout=0.1):
  return BertConfig.preset(
      "tiny", vocab_size=VOCAB_SIZE, max_position_embeddings=SEQ_LENGTH,
      hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)


def example(example_id):
  seed = tf.stack([tf.cast(example_id, tf.int32), 7])
  words = tf.random.stateless_uniform([SEQ_LENGTH], seed, 5, VOCAB_SIZE,
                                      tf.int32)
  positions = tf.random.stateless_uniform([NUM_PREDICTIONS], seed + 1, 1,
                                          SEQ_LENGTH, tf.int32)
  # Odd examples use one prediction less, to exercise masked_lm_weights.
  weights = tf.concat([tf.ones([NUM_PREDICTIONS - 1]),
                       [tf.cast(example_id % 2 == 0, tf.float32)]], 0)
  return {
      "example_id": tf.cast(example_id, tf.int32),
      "input_word_ids": words,
      "input_mask": tf.ones([SEQ_LENGTH], tf.int32),
      "input_type_ids": tf.repeat([0, 1], SEQ_LENGTH // 2),
      "masked_lm_positions": positions,
      "masked_lm_ids": tf.gather(words, positions),
      "masked_lm_weights": weights,
      "next_sentence_labels": tf.cast(example_id % 2, tf.int32),
  }


def dataset(num_examples, batch_size, repeat=False):
  """Examples 0..num_examples-1 in order, batched (and repeated)."""
  ds = tf.data.Dataset.range(num_examples).map(example)
  if repeat:
    ds = ds.repeat()
  return ds.batch(batch_size)


def dataset_fn(num_examples, global_batch_size):
  """A `distribute_datasets_from_function` input function."""
  def fn(input_context):
    return dataset(num_examples, input_context.get_per_replica_batch_size(
        global_batch_size), repeat=True).shard(
            input_context.num_input_pipelines,
            input_context.input_pipeline_id)
  return fn
