"""Pre-training sentence pairs (NSP) from tokenized documents, in the graph.

`nsp_instances` follows Google's `create_instances_from_document`
(google-research/bert, create_pretraining_data.py) rule by rule, as a
`tf.data` transformation made of TensorFlow ops only (no `py_function`, no
Python generator), so it runs on a TPU host or tf.data service.

Why by hand: tensorflow-text has trimmers, `combine_segments` and masking
but nothing that cuts documents into sentence pairs; Model Garden reads
pairs that the original script wrote to TFRecords offline; keras-hub has no
NSP data step. None picks a random document from a stream.

Differences from the original, forced by streaming (all else is its rules):
  * The original draws the random document uniformly over the whole corpus
    (10 tries to avoid the current one). Here each pass over the stream is
    cut into blocks of `random_document_pool` (K) consecutive documents,
    and a document's candidates are the documents of its block and of the
    block before in the same pass (so each pass reads the corpus once, and
    a reshuffling source cannot bring a document back under another
    position); the random document is uniform over the
    candidates whose index (the position in `documents`) differs from the
    current one, so it always differs. `read_documents` shuffles documents,
    so neighbours are random documents. With K >= 2 the candidates hold
    another document whenever the corpus has 2; when none does, the corpus
    has one document and "NSP needs at least two documents" is raised.
  * Randomness is stateless: every draw is seeded by `(seed, document
    occurrence, first sentence of the instance)`, so output depends on the
    seed only, not on threads.
  * As in the original's reader, documents without sentences and sentences
    without tokens are dropped first.

No loop over sentences: the original walks sentence by sentence; here the
instance that would start at each sentence is computed for all sentences at
once (the chunk's end by `searchsorted` on the running token counts: the
first sentence where the chunk reaches the target, or the last one, which is
the same chunk), and a loop of one gather per instance follows the starts
from the first sentence. Segments are gathered and trimmed as index ranges.
"""

import random

import tensorflow as tf

from keras_bert_lab.data.static_shapes import featurized
from keras_bert_lab.text.masking import MlmMasker
from keras_bert_lab.text.packing import BertPacker


def nsp_instances(documents, max_seq_length, short_seq_prob=0.1,
                  next_sentence=True, seed=None, random_document_pool=8,
                  passes=1,
                  cross_documents=True, document_separator=None):
  """Cuts tokenized documents into BERT pre-training instances.

  With `next_sentence=True`, Google's NSP rules: per document a target length
  (`max_seq_length - 3`, or with probability `short_seq_prob` uniform in
  [2, max_seq_length - 3]); sentences gather into a chunk until it reaches
  the target (or the document ends); A is the chunk's first `a_end` sentences
  (`a_end` uniform in [1, chunk sentences - 1], 1 for a one-sentence chunk);
  B is the rest of the chunk (label 0), or, with probability 0.5 and always
  for a one-sentence chunk, sentences from a random start in another
  document until B reaches `target - len(A)` tokens (label 1), and then the
  chunk's unused sentences are put back. Finally the longer of A and B (B on
  a tie) loses a token from the front or the back (probability 0.5 each)
  until `len(A) + len(B) <= max_seq_length - 3`.

  With `next_sentence=False`, RoBERTa's single segments: contiguous whole
  sentences packed greedily into `tokens_a` of at most `max_seq_length - 2`
  tokens (`[CLS] A [SEP]`; a longer single sentence is cut at the end);
  `tokens_b` is empty, the label is 0 and `short_seq_prob` is not used.
  FULL-SENTENCES (`cross_documents=True`, the default) lets an instance run
  on into the next document, with `document_separator` between the two;
  DOC-SENTENCES (`cross_documents=False`) ends instances at document ends.

  Args:
    documents: `tf.data.Dataset` whose elements are int32 ragged tensors
      [num_sentences, (tokens)], one document each.
    max_seq_length: length of the packed inputs, special tokens included
      (at least 5).
    short_seq_prob: probability of a shorter target length for a document.
    next_sentence: make NSP pairs (BERT) or single segments (RoBERTa).
    seed: int; the same seed gives the same instances. None: a random one.
    random_document_pool: block size K; a document's random-next
      sentences come from the documents of its block and the block before
      (at least 2).
    passes: passes over `documents` (None: forever), each with new draws;
      a random next sentence never comes from the same document, whichever
      pass it is in.
    cross_documents: with `next_sentence=False`, FULL-SENTENCES (True) or
      DOC-SENTENCES (False).
    document_separator: token id put between two documents' sentences in a
      FULL-SENTENCES instance (RoBERTa: `[SEP]`); None puts nothing.

  Returns:
    A `tf.data.Dataset` of single instances, in document order, each a dict:
      `tokens_a`, `tokens_b`: int32 [(tokens)], already truncated;
      `next_sentence_labels`: int32 scalar, 0 = B is the actual next
        sentence, 1 = B is random.
    Batch, pack (`BertPacker` with `[tokens_a, tokens_b]`) and mask
    (`MlmMasker`) downstream; packing adds no truncation since the pair fits.

  Raises:
    ValueError: bad arguments.
    tf.errors.InvalidArgumentError (while iterating): the corpus has only
      one document, so no random next sentence can be drawn.

  Example:
    >>> docs = tf.data.Dataset.from_tensor_slices(tf.ragged.constant(
    ...     [[[1, 2], [3, 4, 5]], [[6], [7, 8]]], dtype=tf.int32))
    >>> for x in nsp_instances(docs, max_seq_length=8, seed=1).take(1):
    ...   print(x["tokens_a"].numpy(), x["tokens_b"].numpy(),
    ...         x["next_sentence_labels"].numpy())   # B from the other document
    [1 2] [7 8] 1
  """
  if max_seq_length < 5:
    raise ValueError(f"max_seq_length={max_seq_length} leaves no room for "
                     "[CLS] A [SEP] B [SEP] with A and B non-empty; use >= 5.")
  if not 0 <= short_seq_prob <= 1:
    raise ValueError(f"short_seq_prob={short_seq_prob} must be in [0, 1].")
  if next_sentence and random_document_pool < 2:
    raise ValueError(f"random_document_pool={random_document_pool} must be at "
                     "least 2 to always offer a document other than the "
                     "current one.")
  if seed is None:
    seed = random.SystemRandom().randrange(2**31)
  documents = documents.map(_drop_empty_sentences).filter(
      lambda doc: doc.nrows() > 0)
  # A document's identity is its position in one pass; its occurrence (the
  # position over all passes) seeds its draws, so every pass differs.
  identified = documents.enumerate()
  if not next_sentence:
    occurrences = identified.repeat(passes).enumerate()
    if cross_documents:
      return _full_sentences_across(occurrences, max_seq_length - 2,
                                    document_separator)
    return occurrences.map(
        lambda n, id_doc: _full_sentences(id_doc[1], max_seq_length - 2),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
  # Candidates come from the document's own pass: a reshuffling source
  # (`read_documents`) puts documents at other positions in every pass.
  pass_numbers = (tf.data.Dataset.counter() if passes is None
                  else tf.data.Dataset.range(passes))
  with_candidates = pass_numbers.flat_map(
      lambda _: _with_candidates(identified, random_document_pool))
  make = _NspMaker(max_seq_length - 3, short_seq_prob, seed)
  return with_candidates.enumerate().map(
      make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()


def _with_candidates(identified, block_size):
  """Pairs each document of one pass with its random-next candidates.

  Args:
    identified: `Dataset` of `(document_id, doc)`, one pass.
    block_size: documents per block.

  Returns:
    `Dataset` of `((document_id, doc), (ids, docs))`: the candidates are the
    documents of the element's block and of the block before, `ids` int64
    [n] and `docs` ragged [n, (sentences), (tokens)].
  """
  # `scan` cannot carry a RaggedTensor: the previous block travels as its
  # ids, flat values and two row-splits vectors.
  spec = identified.element_spec[1]
  no_block = (tf.zeros([0], tf.int64), tf.zeros([0], spec.dtype),
              tf.zeros([1], spec.row_splits_dtype),
              tf.zeros([1], spec.row_splits_dtype))

  def candidates(previous, block):
    ids, docs = block
    previous_docs = tf.RaggedTensor.from_nested_row_splits(
        previous[1], previous[2:], validate=False)
    pool = (tf.concat([previous[0], ids], 0),
            tf.concat([previous_docs, docs], 0))
    return (ids, docs.flat_values) + docs.nested_row_splits, (block, pool)

  def each_document(block, pool):
    return tf.data.Dataset.zip(tf.data.Dataset.from_tensor_slices(block),
                               tf.data.Dataset.from_tensors(pool).repeat())

  return identified.batch(block_size).scan(no_block, candidates).flat_map(
      each_document)


def _drop_empty_sentences(doc):
  return tf.ragged.boolean_mask(doc, doc.row_lengths() > 0)


def _randint(seed, low, high):
  """Uniform int32 in [low, high], both included (Python's `randint`)."""
  return tf.random.stateless_uniform([], seed, minval=low, maxval=high + 1,
                                     dtype=tf.int32)


def _coin(seed, prob):
  return tf.random.stateless_uniform([], seed) < prob


class _NspMaker:
  """Makes one document's NSP instances (a `Dataset.map` function)."""

  def __init__(self, max_num_tokens, short_seq_prob, seed):
    self.max_num_tokens = max_num_tokens
    self.short_seq_prob = short_seq_prob
    self.seed = tf.constant([seed, 0], tf.int64)

  def __call__(self, occurrence, document_and_candidates):
    (document_id, doc), (pool_ids, pool_docs) = document_and_candidates
    others = tf.cast(tf.where(pool_ids != document_id)[:, 0], tf.int32)
    check = tf.debugging.assert_positive(
        tf.size(others), message="NSP needs at least two documents: the "
        "corpus has only one (every random-next candidate is the current "
        "document). Add documents or use next_sentence=False.")
    with tf.control_dependencies([check]):
      others = tf.identity(others)
    doc_seed = tf.random.experimental.stateless_fold_in(self.seed, occurrence)
    target_seed, draw_seed, trim_seed = tf.unstack(
        tf.random.experimental.stateless_split(doc_seed, 3))
    target = tf.where(
        _coin(target_seed, self.short_seq_prob),
        _randint(tf.random.experimental.stateless_fold_in(target_seed, 1), 2,
                 self.max_num_tokens),
        self.max_num_tokens)
    # Sentence start offsets; the pool's tokens follow the document's in
    # `tokens`, so that every segment is a slice of one tensor.
    splits = tf.cast(doc.row_splits, tf.int32)
    num_sentences = tf.size(splits) - 1
    pool_sentences = tf.cast(pool_docs.row_splits, tf.int32)
    pool_splits = tf.cast(pool_docs.values.row_splits, tf.int32)
    tokens = tf.concat([doc.flat_values, pool_docs.flat_values], 0)

    # The instance that would start at each sentence s.
    starts = tf.range(num_sentences)
    draws = tf.random.stateless_uniform([num_sentences, 4], draw_seed)
    end = tf.clip_by_value(
        tf.searchsorted(splits, splits[:-1] + target), starts + 1,
        num_sentences)
    a_end = starts + 1 + _below(draws[:, 0], tf.maximum(end - starts - 1, 1))
    is_random = (end - starts == 1) | (draws[:, 1] < 0.5)
    # Random next: sentences of another pool document from a random start
    # until B reaches `target - len(A)` tokens or the document ends.
    pick = tf.gather(others, _below(draws[:, 2], tf.size(others)))
    first, stop = (tf.gather(pool_sentences, pick),
                   tf.gather(pool_sentences, pick + 1))
    random_start = first + _below(draws[:, 3], stop - first)
    b_target = target - (tf.gather(splits, a_end) - splits[:-1])
    random_end = tf.clip_by_value(
        tf.searchsorted(pool_splits,
                        tf.gather(pool_splits, random_start) + b_target),
        random_start + 1, stop)
    # Random next puts the chunk's unused sentences back.
    next_start = tf.where(is_random, a_end, end)

    def step(s, n, path):
      return next_start[s], n + 1, path.write(n, s)

    _, _, path = tf.while_loop(
        lambda s, *_: s < num_sentences, step,
        (0, 0, tf.TensorArray(tf.int32, size=0, dynamic_size=True)))
    path = path.stack()
    offset = tf.size(doc.flat_values)
    path_random = tf.gather(is_random, path)
    a_lo = tf.gather(splits, path)
    a_hi = tf.gather(splits, tf.gather(a_end, path))
    b_lo = tf.where(path_random,
                    offset + tf.gather(pool_splits,
                                       tf.gather(random_start, path)), a_hi)
    b_hi = tf.where(path_random,
                    offset + tf.gather(pool_splits,
                                       tf.gather(random_end, path)),
                    tf.gather(splits, tf.gather(end, path)))
    trims = _truncation(a_hi - a_lo, b_hi - b_lo, self.max_num_tokens,
                        trim_seed)
    return {
        "tokens_a": tf.gather(tokens, tf.ragged.range(a_lo + trims[0],
                                                      a_hi - trims[1])),
        "tokens_b": tf.gather(tokens, tf.ragged.range(b_lo + trims[2],
                                                      b_hi - trims[3])),
        "next_sentence_labels": tf.cast(path_random, tf.int32)}


def _below(uniform, n):
  """Ints uniform in [0, n) from floats uniform in [0, 1)."""
  return tf.minimum(tf.cast(uniform * tf.cast(n, tf.float32), tf.int32), n - 1)


def _truncation(len_a, len_b, max_num_tokens, seed):
  """The original's `truncate_seq_pair` for many pairs, without a loop.

  Each of a pair's `excess` steps trims the longer segment (B on a tie) at
  the front or the back (probability 0.5). Which segment a step trims
  depends on the lengths only: first the longer one until both are equal,
  then B, A, B, A... So the steps' segments are known in advance; one
  random bit per step (row i of `stateless_uniform([pairs, max excess],
  seed)`) says front or back.

  Args:
    len_a, len_b: int32 [pairs], the segments' lengths.
    max_num_tokens: the most tokens A and B may hold together.
    seed: a stateless seed, shape [2].

  Returns:
    `(a_front, a_back, b_front, b_back)`, int32 [pairs] each: tokens to
    remove from each end of each segment.
  """
  excess = tf.maximum(len_a + len_b - max_num_tokens, 0)
  steps = tf.range(tf.reduce_max(tf.concat([excess, [0]], 0)))[tf.newaxis]
  excess, len_a, len_b = (x[:, tf.newaxis] for x in (excess, len_a, len_b))
  first_phase = tf.minimum(tf.abs(len_a - len_b), excess)
  alternating_on_a = (steps >= first_phase) & ((steps - first_phase) % 2 == 1)
  on_a = ((len_a > len_b) & (steps < first_phase)) | alternating_on_a
  front = tf.random.stateless_uniform(tf.shape(on_a), seed) < 0.5
  taken = steps < excess

  def count(mask):
    return tf.reduce_sum(tf.cast(taken & mask, tf.int32), axis=1)

  return (count(on_a & front), count(on_a & ~front), count(~on_a & front),
          count(~on_a & ~front))


def _full_sentences(doc, max_tokens):
  """RoBERTa DOC-SENTENCES: greedy runs of whole sentences of at most
  `max_tokens` tokens (a longer sentence alone, cut at the end)."""
  splits = tf.cast(doc.row_splits, tf.int32)
  num_sentences = tf.size(splits) - 1

  def step(start, n, out):
    end = _search(splits, splits[start] + max_tokens, side="right") - 1
    end = tf.clip_by_value(end, start + 1, num_sentences)
    stop = tf.minimum(splits[end], splits[start] + max_tokens)
    return end, n + 1, _write(out, n, doc.flat_values[splits[start]:stop])

  _, n, out = tf.while_loop(lambda start, *_: start < num_sentences, step,
                            (0, 0, _rows()))
  return {"tokens_a": _ragged(out),
          "tokens_b": tf.RaggedTensor.from_row_lengths(
              tf.zeros([0], tf.int32), tf.zeros([n], tf.int64)),
          "next_sentence_labels": tf.zeros([n], tf.int32)}


def _full_sentences_across(occurrences, max_tokens, separator):
  """RoBERTa FULL-SENTENCES: greedy runs of whole sentences of at most
  `max_tokens` tokens that may run on into the next document."""
  separator = tf.constant([] if separator is None else [separator], tf.int32)
  end = (tf.zeros([0], tf.int32), False, True)

  def sentences(n, id_doc):
    doc = id_doc[1]
    first = tf.range(doc.nrows()) == 0
    return tf.data.Dataset.from_tensor_slices(
        (doc.row_starts(), doc.row_limits(), first)).map(
            lambda start, limit, first: (doc.values[start:limit], first, False))

  def step(buffer, sentence_first_last):
    sentence, first, last = sentence_first_last
    sentence = sentence[:max_tokens]
    held = tf.size(buffer)
    gap = tf.size(separator) * tf.cast(first & (held > 0), tf.int32)
    fits = ~last & (held + gap + tf.size(sentence) <= max_tokens)
    keep = tf.where(fits, held, 0)
    emit = ~fits & (held > 0)
    new_buffer = tf.concat([buffer[:keep], separator[:tf.where(fits, gap, 0)],
                            sentence], 0)
    return new_buffer, (emit, buffer)

  stream = occurrences.flat_map(sentences).concatenate(
      tf.data.Dataset.from_tensors(end))
  return stream.scan(tf.zeros([0], tf.int32), step).filter(
      lambda emit, _: emit).map(lambda _, tokens: {
          "tokens_a": tokens, "tokens_b": tf.fill(tf.shape(tokens) * 0, 0),
          "next_sentence_labels": tf.constant(0, tf.int32)})


def _rows():
  """An empty list of 1-D int32 rows: (values, lengths) TensorArrays."""
  return (tf.TensorArray(tf.int32, size=0, dynamic_size=True,
                         infer_shape=False, element_shape=[None]),
          tf.TensorArray(tf.int64, size=0, dynamic_size=True))


def _write(rows, n, row):
  return rows[0].write(n, row), rows[1].write(n, tf.size(row, tf.int64))


def _ragged(rows):
  return tf.RaggedTensor.from_row_lengths(rows[0].concat(), rows[1].stack())


def _search(splits, value, side="left"):
  """`tf.searchsorted` for one scalar value in 1-D `splits`."""
  return tf.searchsorted(splits, value[tf.newaxis], side=side)[0]


def pretraining_dataset(documents, tokenizer, batch_size, max_seq_length=128,
                        max_predictions_per_seq=20, masked_lm_prob=0.15,
                        short_seq_prob=0.1, next_sentence=True,
                        cross_documents=True, whole_word_mask=False,
                        ngram_max=1, passes=None,
                        shuffle_buffer=10000, seed=0, drop_remainder=True):
  """Documents of sentences to batched pre-training features, in the graph.

  Tokenize (`BertTokenizer`), cut into NSP pairs (`nsp_instances`), shuffle,
  pack `[CLS] A [SEP] B [SEP]` (`BertPacker`), mask (`MlmMasker`). Each batch's
  mask is seeded by `(seed, batch index)`, so the output depends on `seed`
  and on TensorFlow's global seed (`tf.random.set_seed`, which tf.data's
  shuffles mix in); with `passes=None` the corpus repeats forever and every
  pass gets new pairs and new masks (dynamic masking).

  Args:
    documents: `tf.data.Dataset` of `tf.string` [num_sentences] (e.g.
      `read_documents`).
    tokenizer: a `BertTokenizer`.
    batch_size: examples per batch (per replica when called from a
      `distribute_datasets_from_function` input function).
    max_seq_length, max_predictions_per_seq, masked_lm_prob, short_seq_prob:
      as in Google's `create_pretraining_data.py`.
    next_sentence: NSP pairs; False for RoBERTa-style single segments.
    cross_documents: without NSP, FULL-SENTENCES (segments run on into the
      next document after a `[SEP]`) or DOC-SENTENCES (False).
    whole_word_mask, ngram_max: see `MlmMasker`.
    passes: passes over the corpus (the original's `dupe_factor`); None
      repeats forever, for step-based training.
    shuffle_buffer: instances held for shuffling (0: no shuffling).
    seed: makes pairs, shuffling and masks reproducible.
    drop_remainder: keep batch shapes static (TPUs need it).

  Returns:
    `tf.data.Dataset` of dicts: `input_word_ids`, `input_mask`,
    `input_type_ids` [batch, max_seq_length], `masked_lm_positions`,
    `masked_lm_ids` [batch, max_predictions_per_seq] and
    `next_sentence_labels` [batch], all int32; `masked_lm_weights` float32.

  Example:
    >>> from keras_bert_lab.text import BUNDLED_VOCAB, BertTokenizer
    >>> tok = BertTokenizer(BUNDLED_VOCAB)
    >>> docs = tf.data.Dataset.from_tensor_slices(tf.ragged.constant([
    ...     ["It is a truth universally acknowledged.", "He was single."],
    ...     ["Emma Woodhouse was handsome.", "She was clever.", "And rich."]]))
    >>> ds = pretraining_dataset(docs, tok, batch_size=2, max_seq_length=16,
    ...                          max_predictions_per_seq=3, passes=1)
    >>> batch = next(iter(ds))
    >>> {name: tuple(t.shape) for name, t in sorted(batch.items())}
    {'input_mask': (2, 16), 'input_type_ids': (2, 16), 'input_word_ids': (2, 16),
     'masked_lm_ids': (2, 3), 'masked_lm_positions': (2, 3),
     'masked_lm_weights': (2, 3), 'next_sentence_labels': (2,)}
  """
  tokenized = documents.map(tokenizer, num_parallel_calls=tf.data.AUTOTUNE)
  instances = nsp_instances(tokenized, max_seq_length, short_seq_prob,
                            next_sentence=next_sentence, seed=seed,
                            passes=passes, cross_documents=cross_documents,
                            document_separator=tokenizer.sep_id)
  if shuffle_buffer:
    instances = instances.shuffle(shuffle_buffer, seed=seed)
  packer = BertPacker.for_tokenizer(tokenizer, max_seq_length)
  masker = MlmMasker.for_tokenizer(
      tokenizer, max_predictions_per_seq=max_predictions_per_seq,
      masked_lm_prob=masked_lm_prob, whole_word_mask=whole_word_mask,
      ngram_max=ngram_max)

  def featurize(index, batch):
    segments = [batch["tokens_a"]]
    if next_sentence:
      segments.append(batch["tokens_b"])
    features = packer(segments)
    features.update(masker(features["input_word_ids"],
                           seed=tf.stack([tf.cast(seed, tf.int64), index])))
    features["next_sentence_labels"] = batch["next_sentence_labels"]
    return features

  batches = instances.ragged_batch(batch_size, drop_remainder=drop_remainder)
  return featurized(batches.enumerate(), featurize, batch_size,
                    drop_remainder)
