"""BERT's masked-LM selection (Google's `create_pretraining_data.py`), in the graph.

`MlmMasker` takes packed ids (`BertPacker`'s `input_word_ids`) and returns
Model Garden's pre-training features. It uses only TensorFlow ops, so it runs
in `tf.data` maps on batches, in `tf.function`s and in SavedModels; each call
draws a fresh mask (dynamic masking, as in RoBERTa) from stateless random ops.

The original's rules, one by one:
  * `num_to_predict = min(max_predictions_per_seq,
    max(1, round(len(tokens) * masked_lm_prob)))`, where `len(tokens)` counts
    `[CLS]` and `[SEP]` but not padding; computed in float64 with
    round-half-to-even, bit for bit Python's `round(len * prob)`.
  * Special ids (`[CLS]`, `[SEP]`, `[PAD]`) are never chosen.
  * Candidates (pieces, or whole words with `whole_word_mask`) are visited in
    a random order; one is skipped when it would take the count past
    `num_to_predict`, and the visit stops when the count is reached.
  * Each chosen piece: 80% `[MASK]`, 10% a random id uniform over the whole
    vocabulary (`randint(0, vocab_size - 1)`), 10% unchanged.
  * Outputs sorted by position, padded to `max_predictions_per_seq`.

N-gram masking (`ngram_max > 1`), Model Garden's extension of whole-word
masking: each candidate is a span of n whole words starting at a word, with
n drawn from a Zipf weighting, P(n) proportional to 1/n for n = 1..ngram_max
(Model Garden's weights). A span ends early at the end of its segment (it
never crosses `[SEP]`), and a span that overlaps chosen words is skipped.
Model Garden first draws n and then an n-gram; here n is drawn per start
word, so spans near a segment end come out a little shorter.

Why not tensorflow-text's `mask_language_model` / `RandomItemSelector` /
`MaskValuesChooser`: the selector chooses `ceil(selectable * rate)` items,
not the original's `round(len(tokens) * rate)` floored at 1; its whole-word
grouping (a ragged words axis) counts words, not the pieces the original
caps; it has no n-gram spans; and all three draw from stateful random ops
(`tf.random.shuffle`, `tf.random.uniform`) that take no per-call seed, so
the same seed cannot give the same mask. The selection loop and the 80/10/10
choice are therefore written here with `tf.random.stateless_*` ops.

One divergence from the original, on input it never produces: a `##` piece
right after a special token starts a new word here (the original would glue
it to the last word of the previous segment).
"""

import random

import numpy as np

import tensorflow as tf
from absl import logging


def is_continuation_table(vocab_tokens):
  """Marks WordPiece continuation pieces (`##...`) of a vocabulary.

  Args:
    vocab_tokens: the vocabulary, a sequence of token strings in id order
      (e.g. `BertTokenizer.vocab`).

  Returns:
    A NumPy bool vector, True at the ids whose token starts with `##`.

  Example:
    >>> is_continuation_table(["[PAD]", "un", "##aff", "##able"])
    array([False, False,  True,  True])
  """
  return np.array([t.startswith("##") for t in vocab_tokens], dtype=bool)


class MlmMasker(tf.Module):
  """Chooses and replaces BERT's masked-LM tokens in a batch of packed ids.

  Args:
    vocab_size: number of ids; random replacements are uniform over
      `[0, vocab_size)`.
    mask_id: id of `[MASK]`.
    special_ids: ids never chosen (`[CLS]`, `[SEP]`, `[PAD]`, ...).
    pad_id: id of `[PAD]`; padding does not count in `len(tokens)`.
    max_predictions_per_seq: most tokens chosen per sequence, and the width
      of the outputs.
    masked_lm_prob: share of `len(tokens)` to choose.
    whole_word_mask: choose whole words (a first piece and its `##` pieces).
    is_continuation: bool per vocabulary id, True for `##` pieces (see
      `is_continuation_table`); needed for `whole_word_mask`.
    ngram_max: choose spans of 1..ngram_max whole words (needs
      `whole_word_mask`); 1 is plain (whole-word) masking.
    seed: seeds the `tf.random.Generator` that gives each call its seed;
      None for a nondeterministic one.
    name: name of the `tf.Module`.

  Call args:
    input_word_ids: int [batch, seq] packed ids.
    seed: optional int [2] seed for this call; by default one is drawn from
      the masker's generator, so every call gives a fresh mask.

  Returns:
    A dict: `input_word_ids` (int32 [batch, seq], with the replacements),
    `masked_lm_positions` and `masked_lm_ids` (int32 [batch,
    max_predictions_per_seq], ascending positions and the original ids
    there, padded with 0) and `masked_lm_weights` (float32, 1 for a
    prediction, 0 for padding).

  Example:
    >>> from importlib import resources
    >>> from keras_bert_lab.text import BertPacker, BertTokenizer
    >>> tok = BertTokenizer(resources.files("keras_bert_lab") / "resources"
    ...                     / "vocab.txt")
    >>> packer = BertPacker.for_tokenizer(tok, seq_length=16)
    >>> masker = MlmMasker.for_tokenizer(tok, max_predictions_per_seq=4,
    ...                                  whole_word_mask=True, seed=1)
    >>> ids = packer([tok(["It is a truth universally acknowledged,"]),
    ...               tok(["that a single man"])])["input_word_ids"]
    >>> int(tf.reduce_sum(tf.sign(ids)))   # round(14 * 0.15) = 2 to predict
    14
    >>> out = masker(ids)
    >>> out["masked_lm_weights"].numpy()
    array([[1., 1., 0., 0.]], dtype=float32)
    >>> bool(tf.reduce_all(tf.gather(ids, out["masked_lm_positions"],
    ...                              batch_dims=1)[:, :2]
    ...                    == out["masked_lm_ids"][:, :2]))
    True
  """

  def __init__(self, vocab_size, mask_id, special_ids, pad_id=0,
               max_predictions_per_seq=20, masked_lm_prob=0.15,
               whole_word_mask=False, is_continuation=None, ngram_max=1,
               seed=None, name=None):
    super().__init__(name=name)
    if not 0 < masked_lm_prob <= 1:
      raise ValueError(f"masked_lm_prob={masked_lm_prob} must be in (0, 1].")
    if max_predictions_per_seq < 1:
      raise ValueError(
          f"max_predictions_per_seq={max_predictions_per_seq} must be >= 1.")
    if ngram_max < 1 or (ngram_max > 1 and not whole_word_mask):
      raise ValueError(
          f"ngram_max={ngram_max}: use 1, or more with whole_word_mask=True "
          "(spans are made of whole words).")
    if whole_word_mask and (is_continuation is None
                            or len(is_continuation) != vocab_size):
      raise ValueError(
          "whole_word_mask needs is_continuation, one bool per vocabulary id "
          f"({vocab_size}); build it with is_continuation_table(vocab).")
    self.vocab_size = int(vocab_size)
    self.mask_id = int(mask_id)
    self.pad_id = int(pad_id)
    self.special_ids = sorted({int(i) for i in special_ids} | {self.pad_id})
    self.max_predictions_per_seq = int(max_predictions_per_seq)
    self.masked_lm_prob = float(masked_lm_prob)
    self.whole_word_mask = bool(whole_word_mask)
    self.ngram_max = int(ngram_max)
    self._is_continuation = (tf.constant(is_continuation, tf.bool)
                             if whole_word_mask else None)
    if seed is None:  # Not from_non_deterministic_state: op determinism bans it.
      seed = random.SystemRandom().randrange(2**63)
    self._generator = tf.random.Generator.from_seed(seed)
    self._warned = False

  @classmethod
  def for_tokenizer(cls, tokenizer, **kwargs):
    """A masker with `tokenizer`'s vocabulary, `[MASK]` and special ids.

    The special ids are `[CLS]`, `[SEP]` and `[PAD]`, as in the original.

    Args:
      tokenizer: a `BertTokenizer`.
      **kwargs: the other `MlmMasker` arguments.

    Returns:
      An `MlmMasker`.

    Example:
      >>> from keras_bert_lab.text import BertTokenizer
      >>> tok = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
      ...                      "a"])
      >>> masker = MlmMasker.for_tokenizer(tok, max_predictions_per_seq=2)
      >>> masker.mask_id, list(masker.special_ids), masker.vocab_size
      (4, [0, 2, 3], 6)
    """
    return cls(tokenizer.vocab_size, tokenizer.mask_id,
               (tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id),
               pad_id=tokenizer.pad_id,
               is_continuation=is_continuation_table(tokenizer.vocab), **kwargs)

  def __call__(self, input_word_ids, seed=None):
    ids = tf.cast(input_word_ids, tf.int32)
    self._warn_if_capped(ids.shape[-1])
    if seed is None:
      seed = self._generator.make_seeds(1)[:, 0]
    order_seed, span_seed, action_seed, random_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4))

    maskable = tf.reduce_all(
        ids[:, :, tf.newaxis] != tf.constant(self.special_ids, tf.int32), -1)
    length = tf.reduce_sum(tf.cast(ids != self.pad_id, tf.float64), 1)
    num_to_predict = tf.clip_by_value(
        tf.cast(tf.round(length * self.masked_lm_prob), tf.int32), 1,
        self.max_predictions_per_seq)
    chosen = self._choose(ids, maskable, num_to_predict, order_seed, span_seed)

    shape = tf.shape(ids)
    action = tf.random.stateless_uniform(shape, action_seed)
    random_ids = tf.random.stateless_uniform(
        shape, random_seed, maxval=self.vocab_size, dtype=tf.int32)
    replacement = tf.where(action < 0.8, self.mask_id,
                           tf.where(action < 0.9, random_ids, ids))
    positions = tf.broadcast_to(tf.range(shape[1]), shape)
    out_shape = [None, self.max_predictions_per_seq]

    def gather_chosen(values):
      return tf.ragged.boolean_mask(values, chosen).to_tensor(shape=out_shape)

    return {
        "input_word_ids": tf.where(chosen, replacement, ids),
        "masked_lm_positions": gather_chosen(positions),
        "masked_lm_ids": gather_chosen(ids),
        "masked_lm_weights": gather_chosen(tf.ones(shape, tf.float32)),
    }

  def _choose(self, ids, maskable, num_to_predict, order_seed, span_seed):
    """The original's greedy visit of shuffled candidates; bool [batch, seq]."""
    batch, seq = tf.shape(ids)[0], tf.shape(ids)[1]
    starts = maskable
    if self.whole_word_mask:
      continues = tf.gather(self._is_continuation, ids)
      after_maskable = tf.pad(maskable[:, :-1], [[0, 0], [1, 0]])
      starts = maskable & ~(continues & after_maskable)
    word = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1  # per token
    num_words = word[:, -1:] + 1
    word_index = tf.range(seq)[tf.newaxis]
    is_word = word_index < num_words

    # Per word: its number of pieces and its segment (maskable tokens
    # between two special tokens). Non-maskable tokens go to a spare bucket.
    buckets = tf.where(maskable, word + tf.range(batch)[:, tf.newaxis] * seq,
                       batch * seq)
    segment = tf.cumsum(tf.cast(~maskable, tf.int32), axis=1)

    def per_word(values, reduce):
      return tf.reshape(reduce(values, buckets, batch * seq + 1)[:-1],
                        [batch, seq])

    word_len = per_word(tf.cast(maskable, tf.int32), tf.math.unsorted_segment_sum)
    word_segment = per_word(segment, tf.math.unsorted_segment_max)

    keys = tf.random.stateless_uniform([batch, seq], order_seed)
    order = tf.argsort(tf.where(is_word, keys, 2.0), axis=1)
    if self.ngram_max > 1:
      zipf = -tf.math.log(tf.range(1, self.ngram_max + 1, dtype=tf.float32))
      span = tf.random.stateless_categorical(
          tf.tile(zipf[tf.newaxis], [batch, 1]), seq, span_seed,
          dtype=tf.int32) + 1
    else:
      span = tf.ones([batch, seq], tf.int32)

    def body(k, chosen_words, count):
      start = order[:, k:k + 1]
      covered = (is_word & (word_index >= start)
                 & (word_index < start + tf.gather(span, start, batch_dims=1))
                 & (word_segment == tf.gather(word_segment, start,
                                              batch_dims=1)))
      pieces = tf.reduce_sum(tf.where(covered, word_len, 0), 1)
      take = ((k < num_words[:, 0])
              & ~tf.reduce_any(covered & chosen_words, 1)
              & (count + pieces <= num_to_predict))
      # (ensure_shape: the gathers lose the static shapes the loop needs.)
      return (k + 1,
              tf.ensure_shape(chosen_words | (covered & take[:, tf.newaxis]),
                              chosen_words.shape),
              tf.ensure_shape(count + tf.where(take, pieces, 0), count.shape))

    def cond(k, _, count):
      return tf.reduce_any((count < num_to_predict) & (k < num_words[:, 0]))

    _, chosen_words, _ = tf.while_loop(
        cond, body, (0, tf.zeros_like(starts), tf.zeros([batch], tf.int32)))
    return maskable & tf.gather(chosen_words, tf.maximum(word, 0),
                                batch_dims=1)

  def _warn_if_capped(self, seq_length):
    """Logs once if `max_predictions_per_seq` caps what the rate asks for."""
    if self._warned or seq_length is None:
      return
    wanted = round(seq_length * self.masked_lm_prob)
    if wanted > self.max_predictions_per_seq:
      logging.warning(
          "max_predictions_per_seq=%d is below round(%d * masked_lm_prob=%g) ="
          " %d: full sequences get fewer than %g of their tokens masked. Raise "
          "max_predictions_per_seq to %d (BERT uses 20 at 128, 76 at 512).",
          self.max_predictions_per_seq, seq_length, self.masked_lm_prob,
          wanted, self.masked_lm_prob, wanted)
      self._warned = True
