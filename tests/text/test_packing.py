"""BertPacker: each truncation strategy against a direct Python statement."""

import random

import pytest
import tensorflow as tf

from keras_bert_lab.text import TRUNCATIONS, BertPacker, BertTokenizer

CLS, SEP, PAD = 101, 102, 0


def longest_first(segments, budget):
  """The original run_classifier._truncate_seq_pair, for any number of
  segments: pop from the longest; on a tie, from the later one."""
  segments = [list(s) for s in segments]
  while sum(map(len, segments)) > budget:
    longest = max(range(len(segments)), key=lambda i: (len(segments[i]), i))
    segments[longest].pop()
  return segments


def round_robin(segments, budget):
  """Each segment in turn takes its next token, until the budget is spent."""
  kept = [0] * len(segments)
  while budget > 0 and any(k < len(s) for k, s in zip(kept, segments)):
    for i, s in enumerate(segments):
      if budget > 0 and kept[i] < len(s):
        kept[i] += 1
        budget -= 1
  return [list(s[:k]) for s, k in zip(segments, kept)]


def waterfall(segments, budget):
  """The first segment keeps what fits, then the next, and so on."""
  out = []
  for s in segments:
    out.append(list(s[:budget]))
    budget -= len(out[-1])
  return out


RULES = {"longest_first": longest_first, "round_robin": round_robin,
         "waterfall": waterfall}


def pack(segments, seq_length):
  ids, types = [CLS], [0]
  for t, s in enumerate(segments):
    ids += list(s) + [SEP]
    types += [t] * (len(s) + 1)
  mask = [1] * len(ids) + [0] * (seq_length - len(ids))
  return (ids + [PAD] * (seq_length - len(ids)),
          mask, types + [0] * (seq_length - len(types)))


@pytest.mark.parametrize("truncation", sorted(RULES))
@pytest.mark.parametrize("num_segments", [1, 2, 3])
def test_truncation_matches_rule(truncation, num_segments):
  rng = random.Random(num_segments)
  seq_length = 12
  batch = [[list(range(1000 * (k + 1), 1000 * (k + 1) + rng.randint(0, 14)))
            for k in range(num_segments)] for _ in range(300)]
  # Ties on purpose too.
  batch += [[list(range(1000, 1000 + n))] * num_segments for n in range(10)]
  packer = BertPacker(seq_length, CLS, SEP, PAD, truncation=truncation)
  segments = [tf.ragged.constant([row[k] for row in batch], dtype=tf.int32)
              for k in range(num_segments)]
  out = packer(segments)
  for key in out:
    assert out[key].dtype == tf.int32 and out[key].shape == (len(batch),
                                                             seq_length)
  budget = seq_length - num_segments - 1
  for i, row in enumerate(batch):
    want = pack(RULES[truncation](row, budget), seq_length)
    got = tuple(out[k][i].numpy().tolist()
                for k in ("input_word_ids", "input_mask", "input_type_ids"))
    assert got == want, (truncation, row)


def test_original_tie_rule_drops_from_b():
  packer = BertPacker(8, CLS, SEP, PAD, truncation="longest_first")
  a = tf.ragged.constant([[1, 2, 3, 4]])
  b = tf.ragged.constant([[5, 6, 7, 8]])
  # Budget 5: pops b, a, b -> A keeps 3, B keeps 2.
  assert packer([a, b])["input_word_ids"].numpy().tolist() == [
      [CLS, 1, 2, 3, SEP, 5, 6, SEP]]


def test_with_tokenizer_in_tf_data(bert_vocab):
  tok = BertTokenizer(bert_vocab)
  packer = BertPacker.for_tokenizer(tok, seq_length=8)
  ds = tf.data.Dataset.from_tensor_slices((["Is it?"], ["Yes."])).batch(1).map(
      lambda a, b: packer([tok(a), tok(b)]))
  out = next(iter(ds))
  assert out["input_word_ids"].numpy().tolist() == [
      [101, 2003, 2009, 1029, 102, 2748, 1012, 102]]
  assert out["input_type_ids"].numpy().tolist() == [[0, 0, 0, 0, 0, 1, 1, 1]]
  assert out["input_mask"].numpy().tolist() == [[1] * 8]



@pytest.mark.parametrize("truncation", TRUNCATIONS)
def test_one_segment_in_a_graph_keeps_the_first_tokens(truncation):
  packer = BertPacker(6, CLS, SEP, 0, truncation=truncation)
  pack = tf.function(lambda x: packer(x)["input_word_ids"])
  segment = tf.ragged.constant([[1, 2, 3, 4, 5, 6], [7]])
  assert pack(segment).numpy().tolist() == [[CLS, 1, 2, 3, 4, SEP],
                                            [CLS, 7, SEP, 0, 0, 0]]

def test_bad_arguments():
  with pytest.raises(ValueError, match="truncation='longest'"):
    BertPacker(8, CLS, SEP, PAD, truncation="longest")
  with pytest.raises(ValueError, match="cannot hold 3 segments"):
    BertPacker(3, CLS, SEP, PAD)([tf.ragged.constant([[1]])] * 3)
