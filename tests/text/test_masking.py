"""MlmMasker against the rules of Google's create_pretraining_data.py.

Real sequences: the shared English corpora, tokenized with the real
bert-base-uncased vocabulary and packed as `[CLS] A [SEP] B [SEP]` at 128.
"""

import logging

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.text import BertPacker, BertTokenizer
from keras_bert_lab.text.masking import MlmMasker, is_continuation_table

SEQ = 128
NUM_ROWS = 2048


@pytest.fixture(scope="module")
def tokenizer(bert_vocab):
  return BertTokenizer(bert_vocab, lower_case=True)


@pytest.fixture(scope="module")
def packed(tokenizer, data_dir):
  """NUM_ROWS packed pairs of 20..62-token chunks of the running text
  (total lengths 43..127, so padding is exercised too)."""
  lines = []
  for path in sorted((data_dir / "corpora" / "en").glob("*.txt")):
    lines += path.read_text(encoding="utf-8").splitlines()[:1500]
  stream = tokenizer(tf.constant([l for l in lines if l.strip()])).flat_values
  rng = np.random.default_rng(0)
  lengths = rng.integers(20, 63, size=2 * NUM_ROWS)
  assert lengths.sum() <= len(stream)
  chunks = tf.RaggedTensor.from_row_lengths(stream[:lengths.sum()], lengths)
  packer = BertPacker.for_tokenizer(tokenizer, seq_length=SEQ)
  return packer([chunks[0::2], chunks[1::2]])["input_word_ids"].numpy()


def num_to_predict(row, max_predictions=20, prob=0.15, pad=0):
  """The original's rule; len(tokens) includes [CLS]/[SEP], not padding."""
  return min(max_predictions, max(1, round(int((row != pad).sum()) * prob)))


def chosen_mask(out, shape):
  """Bool [batch, seq]: the positions the outputs name."""
  mask = np.zeros(shape, bool)
  rows, cols = np.nonzero(out["masked_lm_weights"])
  mask[rows, out["masked_lm_positions"][rows, cols]] = True
  return mask


def words(row, continuation, special):
  """The original's whole-word candidates: lists of positions."""
  groups = []
  for i, token in enumerate(row):
    if token in special:
      continue
    if groups and continuation[token] and groups[-1][-1] == i - 1:
      groups[-1].append(i)
    else:
      groups.append([i])
  return groups


def run(masker, ids, seed=None):
  return {k: v.numpy() for k, v in masker(ids, seed=seed).items()}


def check_outputs(out, ids, special):
  """Exact invariants every masking mode keeps."""
  weights = out["masked_lm_weights"]
  positions = out["masked_lm_positions"]
  counts = weights.sum(1).astype(int)
  assert set(np.unique(weights)) <= {0.0, 1.0}
  lengths = (ids != 0).sum(1)
  for r, c in enumerate(counts):
    assert np.all(weights[r, :c] == 1) and np.all(weights[r, c:] == 0)
    pos = positions[r, :c]
    assert np.all(np.diff(pos) > 0), "sorted and unique"
    assert np.all(pos < lengths[r])
    assert not np.isin(ids[r, pos], special).any(), "special token chosen"
    np.testing.assert_array_equal(out["masked_lm_ids"][r, :c], ids[r, pos])
    assert np.all(positions[r, c:] == 0) and np.all(out["masked_lm_ids"][r, c:] == 0)
  unchanged = ~chosen_mask(out, ids.shape)
  np.testing.assert_array_equal(out["input_word_ids"][unchanged], ids[unchanged])
  assert out["masked_lm_positions"].dtype == np.int32
  assert out["masked_lm_ids"].dtype == np.int32
  assert out["input_word_ids"].dtype == np.int32
  assert weights.dtype == np.float32
  return counts


def special_ids(tok):
  return [tok.cls_id, tok.sep_id, tok.pad_id]


def test_is_continuation_table():
  np.testing.assert_array_equal(
      is_continuation_table(["[PAD]", "un", "##aff", "##able", "#"]),
      [False, False, True, True, False])


def test_token_masking_rules(tokenizer, packed):
  out = run(MlmMasker.for_tokenizer(tokenizer, seed=0), packed)
  counts = check_outputs(out, packed, special_ids(tokenizer))
  maskable = (~np.isin(packed, special_ids(tokenizer))).sum(1)
  expected = [min(num_to_predict(r), m) for r, m in zip(packed, maskable)]
  np.testing.assert_array_equal(counts, expected)


def test_num_to_predict_rounds_half_to_even_and_caps():
  # Rows of every length 2..128: [CLS] x .. x [SEP] [PAD]..; 0.15 * 10, 30,
  # 50, 70, 90, 110 end in .5 and round to even, as Python's round().
  ids = np.zeros([127, SEQ], np.int32)
  for r, length in enumerate(range(2, SEQ + 1)):
    ids[r, :length] = 1000
    ids[r, [0, length - 1]] = [101, 102]
  for prob, cap in [(0.15, 20), (0.15, 7), (0.5, 200)]:
    masker = MlmMasker(30522, 103, [101, 102, 0], max_predictions_per_seq=cap,
                       masked_lm_prob=prob, seed=1)
    counts = run(masker, ids)["masked_lm_weights"].sum(1)
    expected = [min(num_to_predict(r, cap, prob), int((r == 1000).sum()))
                for r in ids]
    np.testing.assert_array_equal(counts, expected)


def test_masked_share_and_80_10_10(tokenizer, packed):
  # max_predictions_per_seq=128 never binds: the share is the rate's.
  out = run(MlmMasker.for_tokenizer(tokenizer, max_predictions_per_seq=SEQ,
                                    seed=2), packed)
  maskable = ~np.isin(packed, special_ids(tokenizer))
  chosen = chosen_mask(out, packed.shape)
  assert abs(chosen.sum() / maskable.sum() - 0.15) < 0.01
  new, old = out["input_word_ids"][chosen], packed[chosen]
  is_mask = new == tokenizer.mask_id
  same = new == old
  assert abs(is_mask.mean() - 0.8) < 0.02
  assert abs(same.mean() - 0.1) < 0.02  # (+ random ids equal to the original)
  assert abs((~is_mask & ~same).mean() - 0.1) < 0.02
  # Random ids are uniform over the whole vocabulary, not its used part.
  random_ids = new[~is_mask & ~same]
  assert abs(random_ids.mean() / tokenizer.vocab_size - 0.5) < 0.05
  assert random_ids.min() < 1000 and random_ids.max() > 29000


def test_whole_word_masking(tokenizer, packed):
  masker = MlmMasker.for_tokenizer(tokenizer, whole_word_mask=True,
                                   max_predictions_per_seq=SEQ, seed=3)
  out = run(masker, packed)
  special = special_ids(tokenizer)
  counts = check_outputs(out, packed, special)
  chosen = chosen_mask(out, packed.shape)
  continuation = is_continuation_table(tokenizer.vocab)
  multi_piece = 0
  for r, row in enumerate(packed):
    budget = num_to_predict(row, SEQ)
    assert counts[r] <= budget
    for word in words(row, continuation, special):
      taken = chosen[r, word]
      assert taken.all() or not taken.any(), "partial word"
      multi_piece += len(word) > 1 and taken.all()
      # The greedy visit skipped it: it did not fit, even at the end.
      assert taken.all() or counts[r] + len(word) > budget
  assert multi_piece > 100
  assert abs(chosen.sum() / (~np.isin(packed, special)).sum() - 0.15) < 0.01


def test_ngram_masking(tokenizer, packed):
  special = special_ids(tokenizer)
  continuation = is_continuation_table(tokenizer.vocab)

  def neighbour_share(ngram_max):
    masker = MlmMasker.for_tokenizer(tokenizer, whole_word_mask=True,
                                     ngram_max=ngram_max, seed=4)
    out = run(masker, packed)
    counts = check_outputs(out, packed, special)
    chosen = chosen_mask(out, packed.shape)
    together = taken_words = 0
    for r, row in enumerate(packed):
      assert counts[r] <= num_to_predict(row)
      taken = [chosen[r, w].all() for w in words(row, continuation, special)
               if chosen[r, w].any()]
      assert all(taken), "partial word"
      flags = [chosen[r, w[0]] for w in words(row, continuation, special)]
      together += sum(a and b for a, b in zip(flags, flags[1:]))
      taken_words += sum(flags)
    return together / taken_words

  # Spans of 1..3 words (P ∝ 1/n: mean 1.64 words) put chosen words next to
  # each other far more often than independent single words do.
  assert neighbour_share(3) > 2 * neighbour_share(1) > 0


def test_same_seed_same_mask_new_call_new_mask(tokenizer, packed):
  ids = packed[:64]
  first = MlmMasker.for_tokenizer(tokenizer, whole_word_mask=True, seed=5)
  again = MlmMasker.for_tokenizer(tokenizer, whole_word_mask=True, seed=5)
  a, b, c = run(first, ids), run(again, ids), run(first, ids)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  assert not np.array_equal(a["masked_lm_positions"], c["masked_lm_positions"])
  seed = tf.constant([7, 8], tf.int64)
  np.testing.assert_array_equal(run(first, ids, seed)["input_word_ids"],
                                run(again, ids, seed)["input_word_ids"])


def test_in_tf_data_map_and_tf_function(tokenizer, packed):
  masker = MlmMasker.for_tokenizer(tokenizer, whole_word_mask=True,
                                   ngram_max=2, seed=6)
  ds = tf.data.Dataset.from_tensor_slices(packed[:256]).batch(64).map(masker)
  epochs = [[{k: v.numpy() for k, v in b.items()} for b in ds]
            for _ in range(2)]
  for out, ids in zip(epochs[0], np.split(packed[:256], 4)):
    check_outputs(out, ids, special_ids(tokenizer))
  assert not np.array_equal(epochs[0][0]["masked_lm_positions"],
                            epochs[1][0]["masked_lm_positions"])
  fn = tf.function(masker, input_signature=[
      tf.TensorSpec([None, None], tf.int32)])
  check_outputs({k: v.numpy() for k, v in fn(packed[:64]).items()},
                packed[:64], special_ids(tokenizer))


def test_warns_once_when_max_predictions_binds(tokenizer, caplog):
  ids = np.full([2, 512], 1000, np.int32)
  with caplog.at_level(logging.WARNING):
    MlmMasker.for_tokenizer(tokenizer, seed=0)(ids[:, :SEQ])
    assert not caplog.records  # 20 >= round(128 * 0.15) = 19
    masker = MlmMasker.for_tokenizer(tokenizer, seed=0)
    masker(ids)
    masker(ids)
  assert len(caplog.records) == 1
  assert "max_predictions_per_seq=20" in caplog.records[0].getMessage()
  assert "77" in caplog.records[0].getMessage()


@pytest.mark.parametrize("kwargs", [
    dict(masked_lm_prob=0.0), dict(max_predictions_per_seq=0),
    dict(ngram_max=2), dict(whole_word_mask=True, is_continuation=[True])])
def test_bad_arguments(kwargs):
  with pytest.raises(ValueError):
    MlmMasker(30522, 103, [0, 101, 102], **kwargs)
