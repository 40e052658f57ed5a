"""Learn a WordPiece vocabulary that fits `BertTokenizer`, from lines of text.

Words are counted in the graph with `basic_tokenize` (the tokenizer's own
normalization and splitting, so the vocabulary fits the tokenizer exactly),
and the vocabulary is learned from the counts by tensorflow-text's WordPiece
learner (`wordpiece_tokenizer_learner_lib.learn`, the algorithm behind
`bert_vocab_from_dataset`). Written here: only the counting loop with its
progress report, and placing BERT's special tokens first. tf-text's
`bert_vocab_from_dataset` and keras-hub's `compute_word_piece_vocabulary`
would pre-tokenize with their own (different) normalization.

The input is lines, never file names: reading files is the data layer's job
(`keras_bert_lab.data.text_lines`), as in the vocabulary CLI,
`python -m keras_bert_lab.vocab`.
"""

import collections
import time

import tensorflow as tf
from absl import logging
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

from keras_bert_lab.text.tokenizer import basic_tokenize
from keras_bert_lab.text.vocab_io import SPECIAL_TOKENS


def _line_dataset(lines):
  """`lines` as a `tf.data.Dataset` of scalar `tf.string`s."""
  if isinstance(lines, (str, bytes)):
    raise ValueError(
        f"Got the single string {lines[:80]!r} where lines of text are "
        "expected: pass a list of lines or a tf.data.Dataset of them; to read "
        f"files, pass keras_bert_lab.data.text_lines({lines[:80]!r}).")
  if not isinstance(lines, tf.data.Dataset):
    lines = list(lines)
    lines = tf.data.Dataset.from_tensor_slices(
        tf.constant(lines, tf.string, shape=[len(lines)]))
  spec = lines.element_spec
  if (not isinstance(spec, tf.TensorSpec) or spec.dtype != tf.string
      or spec.shape.rank != 0):
    raise ValueError(
        f"Expected a dataset of scalar tf.string lines, got elements {spec}; "
        "e.g. keras_bert_lab.data.text_lines(files), or .unbatch() a batched "
        "dataset.")
  return lines


def count_words(lines, lower_case=True, batch_size=1024, report_every_s=10.0):
  """Counts BERT's words (before WordPiece) in lines of text, in tf.data.

  Args:
    lines: a `tf.data.Dataset` of scalar `tf.string` lines (e.g.
      `keras_bert_lab.data.text_lines(files)`), or a list of `str`.
    lower_case: normalize as `BertTokenizer(lower_case=...)`.
    batch_size: lines tokenized per step.
    report_every_s: seconds between progress log lines.

  Returns:
    `collections.Counter` of word (str) -> count.

  Raises:
    ValueError: `lines` is a single string (e.g. a file name) or a dataset
      of something other than scalar strings.

  Example:
    >>> count_words(["The cat sat.", "the CAT!"]).most_common(2)
    [('the', 2), ('cat', 2)]
  """
  lines = _line_dataset(lines)

  def count_batch(batch):
    words, _, counts = tf.unique_with_counts(
        basic_tokenize(batch, lower_case).flat_values)
    return words, counts, tf.reduce_sum(tf.strings.length(batch) + 1)

  batches = lines.batch(batch_size).map(
      count_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(4)
  counts = collections.Counter()
  done, last_report, start = 0, time.time(), time.time()
  for words, word_counts, num_bytes in batches:
    counts.update(dict(zip(words.numpy().tolist(), word_counts.numpy().tolist())))
    done += int(num_bytes)
    if time.time() - last_report > report_every_s:
      last_report = time.time()
      logging.info("counted words in %.1f MB (%.1f MB/s), %d distinct",
                   done / 1e6, done / 1e6 / (last_report - start), len(counts))
  return collections.Counter(
      {w.decode("utf-8"): c for w, c in counts.items()})


def learn_vocab(lines, vocab_size, lower_case=True, reserved_tokens=(),
                max_unique_chars=None):
  """Learns a WordPiece vocabulary from lines of text.

  Args:
    lines: a `tf.data.Dataset` of scalar `tf.string` lines (for files:
      `keras_bert_lab.data.text_lines("a.txt,more/*.txt.gz")`), or a list
      of `str`.
    vocab_size: most tokens (the learner aims within 5% below it).
    lower_case: as the `BertTokenizer` that will use the vocabulary.
    reserved_tokens: extra tokens kept verbatim after
      `[PAD] [UNK] [CLS] [SEP] [MASK]` (e.g. `[unused0]`).
    max_unique_chars: most distinct characters kept; rarer ones become
      `[UNK]`. Default: half the vocabulary, so a Chinese corpus keeps its
      common characters.

  Returns:
    List of tokens, special tokens first.

  Raises:
    ValueError: `vocab_size` leaves no room past the reserved tokens, the
      lines hold no words at all, or `lines` is not lines (see
      `count_words`).

  Example:
    >>> from keras_bert_lab.text import BertTokenizer
    >>> lines = ["the cat sat on the mat", "the cats sat", "a hat, a mat"] * 9
    >>> vocab = learn_vocab(lines, vocab_size=30)
    >>> len(vocab), vocab[:5]
    (28, ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'])
    >>> tok = BertTokenizer(vocab)
    >>> tok.id_to_token(tok("The cats")).numpy()
    array([b'the', b'c', b'##at', b'##s'], dtype=object)
  """
  if vocab_size <= len(SPECIAL_TOKENS) + len(reserved_tokens):
    raise ValueError(f"vocab_size={vocab_size} leaves no room next to the "
                     f"{len(SPECIAL_TOKENS) + len(reserved_tokens)} reserved "
                     "tokens.")
  counts = count_words(lines, lower_case)
  if not counts:
    raise ValueError("No words found: the lines hold only whitespace or "
                     "control characters.")
  reserved = list(SPECIAL_TOKENS) + [
      t for t in reserved_tokens if t not in SPECIAL_TOKENS]
  logging.info("learning a %d-token vocabulary from %d distinct words",
               vocab_size, len(counts))
  vocab = learner.learn(
      counts.items(), vocab_size, reserved,
      max_unique_chars=max_unique_chars or vocab_size // 2,
      # The default lower bound (10) on a piece's count caps the vocabulary
      # of a small corpus far below vocab_size; the binary search needs room.
      lower_thresh=1)
  vocab = _drop_dead_pieces(list(dict.fromkeys(vocab)), lower_case)
  # The learner lists reserved tokens, characters, then pieces by falling
  # count; when its threshold search cannot land under vocab_size (a small
  # corpus), cutting the tail drops only the rarest pieces.
  return vocab[:max(vocab_size, len(reserved))]


def _drop_dead_pieces(vocab, lower_case):
  """Removes `##x` pieces that can never follow a word's first piece.

  The learner adds `##c` for every character `c`, but a CJK ideograph or a
  punctuation mark is always a word of its own, so `##中` or `##,` is never
  used. A piece is kept when "a" + piece is one word for `basic_tokenize`.
  """
  pieces = [t for t in vocab if t.startswith("##") and len(t) > 2]
  if not pieces:
    return vocab
  words = basic_tokenize(tf.constant(["a" + t[2:] for t in pieces]),
                         lower_case).row_lengths().numpy()
  dead = {t for t, n in zip(pieces, words) if n != 1}
  return [t for t in vocab if t not in dead]
