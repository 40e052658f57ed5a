"""NSP instances against the rules of Google's create_pretraining_data.py.

The synthetic corpora give every token an id that says where it came from:
token = doc * 10000 + sentence * 10 + k (k-th token of the sentence), so each
output segment can be traced back to its document and sentences.
"""

import collections
import re

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.data import pretraining
from keras_bert_lab.data.pretraining import nsp_instances
from keras_bert_lab.text.tokenizer import BertTokenizer


def make_corpus(sentence_lengths):
  """Documents as lists of sentences of traceable token ids."""
  return [[[d * 10000 + s * 10 + k for k in range(n)]
           for s, n in enumerate(doc)] for d, doc in enumerate(sentence_lengths)]


def random_corpus(num_docs, max_sentences, max_sentence_length, seed=0):
  rng = np.random.default_rng(seed)
  return make_corpus(
      [rng.integers(1, max_sentence_length + 1,
                    rng.integers(1, max_sentences + 1)).tolist()
       for _ in range(num_docs)])


def dataset(corpus):
  return tf.data.Dataset.from_tensor_slices(
      tf.ragged.constant(corpus, dtype=tf.int32, ragged_rank=2))


def as_lists(instances):
  """(tokens_a, tokens_b, label) lists of a dataset of instances."""
  out = []
  for x in instances.ragged_batch(100_000):
    out += zip(x["tokens_a"].to_list(), x["tokens_b"].to_list(),
               x["next_sentence_labels"].numpy().tolist())
  return out


def run(corpus, **kwargs):
  return as_lists(nsp_instances(dataset(corpus), **kwargs))


def doc_of(token):
  return token // 10000


class Flat:
  """A document's tokens in order, with sentence starts."""

  def __init__(self, doc):
    self.tokens = [t for sentence in doc for t in sentence]
    self.position = {t: i for i, t in enumerate(self.tokens)}
    self.starts = set(np.cumsum([0] + [len(s) for s in doc]).tolist())

  def span(self, segment):
    """[begin, end) of `segment` in the document; fails unless contiguous."""
    begin = self.position[segment[0]]
    assert self.tokens[begin:begin + len(segment)] == segment
    return begin, begin + len(segment)


MAX_SEQ = 32


@pytest.fixture(scope="module")
def corpus():
  return random_corpus(num_docs=400, max_sentences=60, max_sentence_length=9)


@pytest.fixture(scope="module")
def instances(corpus):
  return run(corpus, max_seq_length=MAX_SEQ, seed=7)


def test_segments_follow_the_nsp_rules(corpus, instances):
  flats = [Flat(doc) for doc in corpus]
  max_num_tokens = MAX_SEQ - 3
  assert len(instances) > 3000
  for a, b, label in instances:
    assert a and b and len(a) + len(b) + 3 <= MAX_SEQ
    untruncated = len(a) + len(b) < max_num_tokens
    doc_a = doc_of(a[0])
    a_begin, a_end = flats[doc_a].span(a)
    if label == 0:  # actual next: same document, B right after A
      flat = flats[doc_a]
      b_begin, b_end = flat.span(b)
      # A ended and B began at one sentence start; truncation may trim A's
      # back and B's front, so that start lies between them.
      assert any(a_end <= p <= b_begin for p in flat.starts)
    else:  # random next: another document
      assert doc_of(b[0]) != doc_a
      flat = flats[doc_of(b[0])]
      b_begin, b_end = flat.span(b)
    if untruncated:  # whole sentences, B directly after A when actual next
      assert {a_begin, a_end, b_begin, b_end} <= flats[doc_a].starts | flat.starts
      assert a_begin in flats[doc_a].starts and a_end in flats[doc_a].starts
      assert b_begin in flat.starts and b_end in flat.starts
      if label == 0:
        assert b_begin == a_end


def test_labels_are_balanced_and_one_sentence_chunks_random():
  """With 1-token sentences and no short targets nothing is truncated and
  every chunk is the next min(target, sentences left) sentences, so each
  instance's chunk is known: a one-sentence chunk must be random next, the
  others random with probability 0.5."""
  max_seq = 16
  target = max_seq - 3
  ones = make_corpus([[1] * n for n in range(1, 120)] * 5)
  by_size = collections.defaultdict(list)
  a_sentences = []  # A's share of full chunks: uniform in [1, target - 1]
  for a, _, label in run(ones, max_seq_length=max_seq, short_seq_prob=0,
                         seed=11):
    left = len(ones[doc_of(a[0])]) - (a[0] % 10000) // 10
    by_size[min(target, left) >= 2].append(label)
    if left >= target:
      a_sentences.append(len(a))
  assert by_size[False] and all(by_size[False])
  assert len(by_size[True]) > 3000
  assert np.mean(by_size[True]) == pytest.approx(0.5, abs=0.03)
  counts = np.bincount(a_sentences, minlength=target)
  assert counts[0] == 0 and len(counts) == target
  assert counts[1:] == pytest.approx(len(a_sentences) / (target - 1), rel=0.3)


def test_each_sentence_is_used_once_in_order(corpus, instances):
  """Put-back: per document, the A segments and actual-next B segments read
  in output order never overlap or go back; with 1-token sentences (never
  truncated) they are exactly the document."""
  flats = [Flat(doc) for doc in corpus]
  last_end = collections.defaultdict(int)
  for a, b, label in instances:
    for segment in [a, b] if label == 0 else [a]:
      begin, end = flats[doc_of(a[0])].span(segment)
      assert begin >= last_end[doc_of(a[0])]
      last_end[doc_of(a[0])] = end

  ones = make_corpus([[1] * n for n in range(1, 80)])
  used = collections.defaultdict(list)
  for a, b, label in run(ones, max_seq_length=16, seed=3):
    used[doc_of(a[0])] += a + (b if label == 0 else [])
  assert [used[d] for d in range(len(ones))] == [
      [t for s in doc for t in s] for doc in ones]


def test_short_targets_once_per_document_at_the_right_rate():
  """With 1-token sentences a chunk (and A + random B) holds exactly the
  document's target length unless it reaches the end of a document, so the
  target of every document is visible."""
  max_seq, prob = 24, 0.3
  ones = make_corpus([[1] * 120] * 300)
  targets = collections.defaultdict(set)
  for a, b, label in run(ones, max_seq_length=max_seq, short_seq_prob=prob,
                         seed=5):
    last_b_sentence = (b[-1] % 10000) // 10
    if last_b_sentence < 119:
      targets[doc_of(a[0])].add(len(a) + len(b))
  assert all(len(t) == 1 for t in targets.values())
  targets = np.array([t.pop() for t in targets.values()])
  assert targets.min() >= 2 and targets.max() == max_seq - 3
  short = targets < max_seq - 3
  expected = prob * (1 - 1 / (max_seq - 4))  # randint may give the maximum
  assert short.mean() == pytest.approx(expected, abs=0.08)
  assert targets[short].mean() == pytest.approx((2 + max_seq - 4) / 2, abs=2.5)


def test_truncation_is_the_originals():
  """The loop-free trimming equals the original's loop: trim the longer
  (B on a tie), front or back by one coin per step."""
  rng = np.random.default_rng(0)
  for _ in range(20):
    pairs = 10
    len_a, len_b = rng.integers(1, 40, pairs), rng.integers(1, 40, pairs)
    limit = int(rng.integers(2, 50))
    seed = rng.integers(0, 2**31, 2)
    got = np.stack(pretraining._truncation(
        tf.constant(len_a, tf.int32), tf.constant(len_b, tf.int32), limit,
        seed), 1)
    excess = np.maximum(len_a + len_b - limit, 0)
    front = (tf.random.stateless_uniform([pairs, max(excess.max(), 0)], seed)
             < 0.5).numpy()
    for i in range(pairs):
      a, b = list(range(len_a[i])), list(range(100, 100 + len_b[i]))
      for step in range(excess[i]):
        trimmed = a if len(a) > len(b) else b
        del trimmed[0 if front[i, step] else -1]
      a_front = a[0] if a else len_a[i]  # tokens removed at each end
      b_front = b[0] - 100 if b else len_b[i]
      assert got[i].tolist() == [
          a_front, len_a[i] - a_front - len(a),
          b_front, len_b[i] - b_front - len(b)]


def test_same_seed_same_instances():
  corpus = random_corpus(num_docs=100, max_sentences=60, max_sentence_length=9)
  first = run(corpus, max_seq_length=MAX_SEQ, seed=7)
  assert run(corpus, max_seq_length=MAX_SEQ, seed=7) == first
  assert run(corpus, max_seq_length=MAX_SEQ, seed=8) != first


def test_single_document_corpus_fails_clearly():
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="NSP needs at least two documents"):
    run(random_corpus(1, 20, 5), max_seq_length=MAX_SEQ, seed=0)


def test_single_sentence_documents_get_random_next():
  corpus = make_corpus([[3]] * 10)
  got = run(corpus, max_seq_length=MAX_SEQ, seed=0)
  assert len(got) == 10
  assert all(label == 1 and doc_of(a[0]) != doc_of(b[0]) for a, b, label in got)


def test_random_next_comes_from_the_block_or_the_one_before():
  """Candidates: the documents of a document's block of
  `random_document_pool` and of the block before; a last block of one
  document still finds another."""
  corpus = make_corpus([[3]] * 25)  # one sentence each: always random next
  got = run(corpus, max_seq_length=MAX_SEQ, seed=0, random_document_pool=4)
  assert len(got) == 25
  for a, b, _ in got:
    doc, other = doc_of(a[0]), doc_of(b[0])
    block = doc // 4
    assert other != doc and max(block - 1, 0) * 4 <= other < (block + 1) * 4
  assert len({doc_of(b[0]) for _, b, _ in got}) > 12


def test_two_documents_always_take_the_other():
  corpus = random_corpus(num_docs=2, max_sentences=300, max_sentence_length=9)
  got = run(corpus, max_seq_length=MAX_SEQ, seed=2)
  assert sum(label for _, _, label in got) > 20
  assert all(doc_of(b[0]) == 1 - doc_of(a[0]) for a, b, label in got if label)


def test_full_sentences_across_documents(corpus):
  """RoBERTa FULL-SENTENCES: greedy whole sentences up to max_seq_length - 2
  tokens, running on into the next document after a separator; all the
  sentences of the corpus in order, each once, sentences too long cut."""
  separator = -1
  long_corpus = corpus + make_corpus([[40, 3]])  # a sentence > MAX_SEQ - 2
  got = run(long_corpus, max_seq_length=MAX_SEQ, next_sentence=False,
            document_separator=separator, seed=0)
  sentences = [(d > 0 and s == 0, sentence[:MAX_SEQ - 2])
               for d, doc in enumerate(long_corpus)
               for s, sentence in enumerate(doc)]
  expected, current = [], []
  for first, sentence in sentences:  # The rule, stated in Python.
    addition = ([separator] if first and current else []) + sentence
    if len(current) + len(addition) > MAX_SEQ - 2:
      expected.append(current)
      current = list(sentence)
    else:
      current += addition
  expected.append(current)
  assert all(b == [] and label == 0 for _, b, label in got)
  assert [a for a, _, _ in got] == expected
  assert sum(separator in a for a in expected) > 100  # It crosses documents.
  assert max(len(a) for a in expected) == MAX_SEQ - 2


def test_doc_sentences_without_nsp(corpus):
  """DOC-SENTENCES: greedy whole sentences of one document up to
  max_seq_length - 2 tokens, covering every document in order."""
  got = run(corpus, max_seq_length=MAX_SEQ, next_sentence=False,
            cross_documents=False, seed=0)
  flats = [Flat(doc) for doc in corpus]
  used = collections.defaultdict(list)
  for a, b, label in got:
    assert b == [] and label == 0 and 1 <= len(a) <= MAX_SEQ - 2
    flat = flats[doc_of(a[0])]
    begin, end = flat.span(a)
    assert begin in flat.starts and end in flat.starts
    # Greedy: the next sentence would not have fit.
    next_end = min((s for s in flat.starts if s > end), default=None)
    assert next_end is None or next_end - begin > MAX_SEQ - 2
    used[doc_of(a[0])] += a
  assert [used[d] for d in range(len(corpus))] == [f.tokens for f in flats]


def test_real_text(data_dir, bert_vocab):
  """Wikipedia articles (blank-line separated), split into sentences at
  sentence-final punctuation; BERT-base's max_seq_length 128.

  Short targets are off: a document with a short target makes mostly
  one-sentence chunks, which the rule makes random next (with the default
  0.1 this corpus gives 56% random); the rate is tested above.
  """
  text = (data_dir / "corpora" / "en" / "enwiki_104_articles.txt").read_text(
      encoding="utf-8")
  articles = [[s for line in article.splitlines()
               for s in re.split(r"(?<=[.!?])\s+", line)]
              for article in text.split("\n\n") if article.strip()]
  assert len(articles) == 104
  tokenizer = BertTokenizer(bert_vocab)
  documents = tf.data.Dataset.from_tensor_slices(
      tf.ragged.constant(articles)).map(tokenizer)
  max_seq = 128
  got = as_lists(nsp_instances(documents, max_seq_length=max_seq,
                               short_seq_prob=0, seed=1))
  lengths = np.array([[len(a), len(b)] for a, b, _ in got])
  labels = np.array([label for _, _, label in got])
  assert len(got) > 3000
  assert lengths.min() >= 1 and (lengths.sum(1) + 3).max() <= max_seq
  # Most instances fill the sequence.
  assert np.mean(lengths.sum(1) + 3 >= max_seq - 10) > 0.7
  assert labels.mean() == pytest.approx(0.5, abs=0.03)


def test_empty_documents_and_sentences_are_dropped():
  """As the original's reader: empty sentences and documents go; an empty
  corpus gives no instances (and does not hang on the candidate stream)."""
  corpus = [[[1, 2], [], [3]], [], [[10001]]]
  got = run(corpus, max_seq_length=MAX_SEQ, seed=0)
  assert [t for a, b, label in got for t in a + (b if label == 0 else [])
         ] == [1, 2, 3, 10001]
  assert run(corpus[1:2] * 3, max_seq_length=MAX_SEQ, seed=0) == []
