"""Length bucketing: nothing lost, each batch one bucket, same model outputs."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab import data
from keras_bert_lab.data.bucketing import (bucket_boundaries, bucket_by_length,
                                           padding_share)
from keras_bert_lab.data import classification
from keras_bert_lab.text import BertTokenizer
from tests.conftest import ROOT

VOCAB = str(ROOT / "keras_bert_lab" / "resources" / "vocab.txt")
CORPUS = str(ROOT / "keras_bert_lab" / "resources" /
             "austen_sense_and_sensibility_pride_and_prejudice.txt")
SEQ = 128
BOUNDS = [32, 64, 96]


def test_boundaries():
  assert bucket_boundaries([64, 32, 128, 512], 128) == [32, 64, 128]
  assert bucket_boundaries([], 64) == [64]
  with pytest.raises(ValueError, match="positive"):
    bucket_boundaries([0, 16], 64)


def _examples(rows):
  """`{(ids without padding, label): count}` of (features, labels) batches."""
  seen = collections.Counter()
  for features, labels in rows:
    for ids, mask, label in zip(features["input_word_ids"].numpy(),
                                features["input_mask"].numpy(),
                                labels.numpy()):
      seen[(tuple(ids[:mask.sum()]), int(label))] += 1
  return seen


@pytest.fixture(scope="module")
def reviews(data_dir):
  tokenizer = BertTokenizer(VOCAB, lower_case=True)
  examples = classification.read_classification_file(
      str(data_dir / "labeled/en/fine_foods_train.tsv"), "review",
      "score").take(300)
  return classification.classification_dataset(
      examples, tokenizer, ["great", "other"], seq_length=SEQ,
      batch_size=16)


def test_reviews_keep_every_example_in_its_smallest_bucket(reviews):
  bucketed = bucket_by_length(reviews.unbatch(), 16, BOUNDS,
                              drop_remainder=False)
  assert _examples(bucketed) == _examples(reviews)   # nothing lost or added
  buckets = BOUNDS + [SEQ]
  for features, labels in bucketed:
    width = features["input_word_ids"].shape[1]
    assert width in buckets
    lengths = features["input_mask"].numpy().sum(1)
    assert lengths.max() <= width
    smaller = max([0] + [b for b in buckets if b < width])
    assert lengths.min() > smaller   # each example in its smallest bucket
    assert features["input_type_ids"].shape == features["input_mask"].shape
    assert labels.shape[0] == features["input_mask"].shape[0]
  assert padding_share(bucketed)[0] < padding_share(reviews)[0]
  assert padding_share(bucketed)[1] == padding_share(reviews)[1]


def test_drop_remainder_gives_full_batches(reviews):
  bucketed = bucket_by_length(reviews.unbatch(), 16, BOUNDS)
  assert all(f["input_mask"].shape[0] == 16 for f, _ in bucketed)


def test_model_outputs_equal_padded(reviews):
  from keras_bert_lab.config import BertConfig
  from keras_bert_lab.models import BertClassifier, BertEncoder
  config = BertConfig(vocab_size=8000, hidden_size=32, num_layers=2,
                      num_heads=2, intermediate_size=64,
                      max_position_embeddings=SEQ)
  model = BertClassifier(BertEncoder(config), 2)
  for features, _ in bucket_by_length(reviews.unbatch(), 16, BOUNDS).take(4):
    width = features["input_mask"].shape[1]
    padded = {k: tf.pad(v, [[0, 0], [0, SEQ - width]])
              for k, v in features.items()}
    np.testing.assert_allclose(model(features), model(padded), atol=1e-5)


def test_pretraining_batches():
  tokenizer = BertTokenizer(VOCAB, lower_case=True)
  documents = data.read_documents([CORPUS], seed=1)
  batches = data.pretraining_dataset(documents, tokenizer, 8,
                                     max_seq_length=64, passes=1, seed=1)
  bucketed = bucket_by_length(batches.unbatch(), 8, [32])
  widths = set()
  for features in bucketed.take(200):
    width = features["input_word_ids"].shape[1]
    widths.add(width)
    positions = features["masked_lm_positions"].numpy()
    weights = features["masked_lm_weights"].numpy()
    assert (positions[weights > 0] < features["input_mask"].numpy().sum(
        1)[:, None].repeat(positions.shape[1], 1)[weights > 0]).all()
    assert features["masked_lm_ids"].shape == positions.shape
    assert features["next_sentence_labels"].shape == (8,)
  assert widths == {32, 64}   # NSP's short targets (10%) land in 32


def test_bad_boundaries_name_the_flag():
  for bad in (["0", "32"], ["x"], ["-4"]):
    with pytest.raises(ValueError, match="--bucket_boundaries=.*positive "
                       "integer"):
      bucket_boundaries(bad, 128)


def test_tagging_and_multiple_choice_cut_their_token_parts(data_dir):
  """Tagging's per-token labels and weights are cut with the features;
  multiple choice's [choices, seq] features are cut to the longest choice.
  Nothing is lost: every real token's label and weight survive."""
  from keras_bert_lab.data import multiple_choice, tagging
  tokenizer = BertTokenizer(VOCAB, lower_case=True)
  sentences = tagging.read_tagging_file(
      str(data_dir / "labeled/zh/peoples_daily_ner_train.bio")).take(64)
  tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
  padded = tagging.tagging_dataset(sentences, tokenizer, tags, seq_length=SEQ,
                                   batch_size=16)
  bucketed = bucket_by_length(padded.unbatch(), 16, BOUNDS,
                              drop_remainder=False)

  def token_labels(batches):
    seen = collections.Counter()
    for features, labels, weights in batches:
      assert labels.shape == weights.shape == features["input_mask"].shape
      for ids, mask, label, weight in zip(
          *(x.numpy() for x in (features["input_word_ids"],
                                features["input_mask"], labels, weights))):
        n = mask.sum()
        assert not weight[n:].any()
        seen[(tuple(ids[:n]), tuple(label[:n]), tuple(weight[:n]))] += 1
    return seen

  assert token_labels(bucketed) == token_labels(padded)
  assert padding_share(bucketed)[0] < padding_share(padded)[0]

  swag = multiple_choice.featurize(multiple_choice.read_swag_csv(
      str(ROOT / "tests/data/fixtures/swag_sample.csv")), tokenizer,
      SEQ, batch_size=4)
  for features, labels in bucket_by_length(swag.unbatch(), 4, BOUNDS,
                                           drop_remainder=False):
    width = features["input_mask"].shape[-1]
    assert features["input_word_ids"].shape[1:] == (4, width)
    longest = features["input_mask"].numpy().sum(-1).max()
    assert width == min(b for b in BOUNDS + [SEQ] if b >= longest)
