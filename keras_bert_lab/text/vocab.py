"""Learn a WordPiece vocabulary that fits `BertTokenizer`.

Words are counted in the graph with `basic_tokenize` (the tokenizer's own
normalization and splitting, so the vocabulary fits the tokenizer exactly),
and the vocabulary is learned from the counts by tensorflow-text's WordPiece
learner (`wordpiece_tokenizer_learner_lib.learn`, the algorithm behind
`bert_vocab_from_dataset`). Written here: only the counting loop with its
progress report, and placing BERT's special tokens first. tf-text's
`bert_vocab_from_dataset` and keras-hub's `compute_word_piece_vocabulary`
would pre-tokenize with their own (different) normalization.
"""

import collections
import time

import tensorflow as tf
from absl import logging
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

from keras_bert_lab.data.corpus import expand_input_files, text_lines
from keras_bert_lab.text.tokenizer import basic_tokenize
from keras_bert_lab.text.vocab_file import SPECIAL_TOKENS


def count_words(input_files, lower_case=True, batch_size=1024,
                report_every_s=10.0):
  """Counts BERT's words (before WordPiece) in text files, in tf.data.

  Args:
    input_files: file names or globs (see `expand_input_files`).
    lower_case: normalize as `BertTokenizer(lower_case=...)`.
    batch_size: lines tokenized per step.
    report_every_s: seconds between progress log lines.

  Returns:
    `collections.Counter` of word (str) -> count.

  Example:
    >>> count_words("corpus.txt").most_common(2)
    [('the', 26152), (',', 24108)]
  """
  files = expand_input_files(input_files)
  total_bytes = sum(tf.io.gfile.stat(f).length for f in files)

  def count_batch(lines):
    words, _, counts = tf.unique_with_counts(
        basic_tokenize(lines, lower_case).flat_values)
    return words, counts, tf.reduce_sum(tf.strings.length(lines) + 1)

  batches = text_lines(files).batch(batch_size).map(
      count_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(4)
  counts = collections.Counter()
  done, last_report, start = 0, time.time(), time.time()
  for words, word_counts, num_bytes in batches:
    counts.update(dict(zip(words.numpy().tolist(), word_counts.numpy().tolist())))
    done += int(num_bytes)
    if time.time() - last_report > report_every_s:
      last_report = time.time()
      logging.info("counted words in %.1f of %.1f MB (%.0f%%, %.1f MB/s), "
                   "%d distinct", done / 1e6, total_bytes / 1e6,
                   100 * done / max(total_bytes, 1),
                   done / 1e6 / (last_report - start), len(counts))
  return collections.Counter(
      {w.decode("utf-8"): c for w, c in counts.items()})


def learn_vocab(input_files, vocab_size, lower_case=True, reserved_tokens=(),
                max_unique_chars=None):
  """Learns a WordPiece vocabulary from text files.

  Args:
    input_files: file names or globs; plain text or `.gz`.
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
    ValueError: a missing or empty input file (named), or no words at all.

  Example:
    >>> vocab = learn_vocab("austen.txt", vocab_size=8000)
    >>> vocab[:5]
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
  """
  if vocab_size <= len(SPECIAL_TOKENS) + len(reserved_tokens):
    raise ValueError(f"vocab_size={vocab_size} leaves no room next to the "
                     f"{len(SPECIAL_TOKENS) + len(reserved_tokens)} reserved "
                     "tokens.")
  counts = count_words(input_files, lower_case)
  if not counts:
    raise ValueError(f"No words found in {input_files!r}: the files hold only "
                     "whitespace or control characters.")
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


def write_vocab(tokens, path):
  """Writes one token per line (UTF-8), as BERT's vocab.txt."""
  with tf.io.gfile.GFile(path, "w") as f:
    f.write("".join(t + "\n" for t in tokens))
