"""BERT's tokenization, exactly as Google's original `tokenization.py`, in the graph.

Why not a library tokenizer as it is:
  * `tensorflow_text.BertTokenizer` / `FastBertTokenizer` lower-case with ICU's
    NFKC case folding, which rewrites "…" to "...", "ﬁ" to "fi" and full-width
    letters to ASCII; the original uses Python's `str.lower()`, so their ids
    differ on real text.
  * keras-hub's `WordPieceTokenizer` does not strip accents the way BERT does
    and splits on a different punctuation set.
  * `FastWordpieceTokenizer`'s end-to-end mode measures the 200-character
    word limit in bytes, not characters.
So this module composes tensorflow-text and TensorFlow ops into the original's
rules and writes by hand only the glue:

  1. clean: drop NUL, U+FFFD and Cc/Cf characters other than tab/LF/CR;
     invalid UTF-8 bytes are dropped too (the original decodes with
     `errors="ignore"`);
  2. lower case (`lower_case=True` only): `tf.strings.lower(encoding="utf-8")`
     (ICU full lower-case mapping = Python's `str.lower()`, final sigma
     included), then NFD (`tensorflow_text.normalize_utf8`), then remove
     combining marks (Mn);
  3. split (`tensorflow_text.regex_split_with_offsets`) on whitespace
     (tab/LF/CR and Unicode Z*), keeping each punctuation character (ASCII
     33-47, 58-64, 91-96, 123-126 and Unicode P*) and each CJK ideograph of
     the original's eight ranges as a word of its own;
  4. WordPiece, greedy longest-match-first with `##` continuations
     (`tensorflow_text.FastWordpieceTokenizer`, which implements exactly
     that); a word longer than 200 characters becomes `[UNK]`, and so does a
     word with a piece that matches nothing.

Speed: steps 3 and 4 run fused in FastWordpieceTokenizer's end-to-end mode,
whose pre-tokenization is the same split (checked on every line of the
shared corpora and the edge cases in the tests). Its word limit counts bytes,
so it is set to 200 bytes, which is exact for every word of at most 200
bytes; a longer word comes out as an `[UNK]` spanning it, and if it has at
most 200 characters it is WordPiece-tokenized on its own and spliced back.
Invalid UTF-8 is found with one regex and transcoded away only in the rows
that hold it; likewise the Unicode lower-casing, NFD and accent stripping
run only on rows that are not pure ASCII (the others need ASCII
lower-casing alone), and the long-word repair touches every token with only
the few ops that find the long words. There is no `tf.cond` (inside a `tf.data` map one costs more
than tokenizing the batch) and no `regex_split` on the hot path (it compiles
its pattern on every call).

`[CLS]`, `[SEP]` and `[MASK]` written inside raw text are ordinary text: they
split into `[`, `cls`, `]` as in the original.
"""

import functools
import os

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_lab.text.vocab_io import check_tokens, read_vocab

# Characters the original's `_clean_text` deletes: NUL and the other Cc
# controls except tab/LF/CR, format characters (Cf), and U+FFFD.
_REMOVED = r"[^\P{Cc}\t\n\r]|[\p{Cf}\x{FFFD}]"
# What splits words: the original maps tab/LF/CR and Zs to a space and then
# splits on Python's whitespace, which adds U+2028/U+2029 (Zl, Zp).
_WHITESPACE = r"[\t\n\r\p{Z}]+"
_PUNCTUATION = r"[!-/:-@\[-`{-~\p{P}]"
# The eight CJK ideograph ranges of the original `_is_chinese_char`.
_CJK = (r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}"
        r"\x{2A700}-\x{2B73F}\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}"
        r"\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}]")
_KEEP = f"{_PUNCTUATION}|{_CJK}"
# Valid UTF-8: scalar values only (RE2 would accept encoded surrogates).
VALID_UTF8 = r"(?s)[\x{0}-\x{D7FF}\x{E000}-\x{10FFFF}]*"
_DELIMITERS = f"{_WHITESPACE}|{_KEEP}"
_ASCII = r"[\x00-\x7F]*"

MAX_CHARS_PER_WORD = 200


def normalize(texts, lower_case):
  r"""Applies the original's text cleaning and, if asked, lower-casing.

  Args:
    texts: `tf.string` tensor of any shape. Invalid UTF-8 bytes are dropped.
    lower_case: also lower-case, NFD-decompose and strip accents (Mn).

  Returns:
    A `tf.string` tensor of the same shape.

  Example:
    >>> normalize(tf.constant(["Ｈéllo\u200b!"]), lower_case=True)[0].numpy().decode()
    'ｈello!'
    >>> normalize(tf.constant(["Ｈéllo\u200b!"]), lower_case=False)[0].numpy().decode()
    'Ｈéllo!'
  """
  # Transcoding costs more than all the rest; only rows with invalid bytes.
  invalid = tf.where(~tf.strings.regex_full_match(texts, VALID_UTF8))
  texts = tf.tensor_scatter_nd_update(texts, invalid, tf.strings.unicode_transcode(
      tf.gather_nd(texts, invalid), "UTF-8", "UTF-8", errors="ignore"))
  texts = tf.strings.regex_replace(texts, _REMOVED, "")
  if lower_case:
    # ASCII rows need only ASCII lower-casing (NFD and Mn leave ASCII as it
    # is); the Unicode steps run on the other rows alone.
    texts = tf.strings.lower(texts)
    rows = tf.where(~tf.strings.regex_full_match(texts, _ASCII))
    other = tf.strings.lower(tf.gather_nd(texts, rows), encoding="utf-8")
    other = tf.strings.regex_replace(tf_text.normalize_utf8(other, "NFD"),
                                     r"\p{Mn}", "")
    texts = tf.tensor_scatter_nd_update(texts, rows, other)
  return texts


def split_words(normalized_texts):
  """Splits normalized text into BERT's words (before WordPiece).

  Args:
    normalized_texts: `tf.string` [batch], output of `normalize`.

  Returns:
    `(words, starts, ends)`: ragged [batch, (words)] strings and their byte
    offsets into `normalized_texts`.

  Example:
    >>> words, starts, ends = split_words(tf.constant(["hi, 中文"]))
    >>> [w.decode() for w in words[0].numpy()], starts.to_list(), ends.to_list()
    (['hi', ',', '中', '文'], [[0, 2, 4, 7]], [[2, 3, 7, 10]])
  """
  return tf_text.regex_split_with_offsets(normalized_texts, _DELIMITERS, _KEEP)


def basic_tokenize(texts, lower_case):
  """The original's `BasicTokenizer`: raw text to words, in the graph.

  Args:
    texts: `tf.string` [batch].
    lower_case: as in `BertTokenizer`.

  Returns:
    Ragged [batch, (words)] `tf.string`.

  Example:
    >>> basic_tokenize(tf.constant(["Don't STOP!"]), lower_case=True).to_list()
    [[b'don', b"'", b't', b'stop', b'!']]
  """
  return split_words(normalize(texts, lower_case))[0]


class BertTokenizer(keras.layers.Layer):
  """BERT's WordPiece tokenizer with the original's exact rules, in the graph.

  Runs in `tf.data` maps, `tf.function`s and SavedModels; uses only TensorFlow
  and tensorflow-text ops. Adds no special tokens (see `BertPacker`).

  Args:
    vocab: the WordPiece vocabulary: the path of a `vocab.txt` (one token
      per line, read by `read_vocab`) or a list of tokens in id order (e.g.
      a model's `vocab`); either way it must hold
      `[PAD] [UNK] [CLS] [SEP] [MASK]` (see `check_tokens`).
    lower_case: lower-case and strip accents, as uncased BERT models expect.
    vocab_file: the path, by its keyword of earlier versions (instead of
      `vocab`).
    **kwargs: passed to `keras.layers.Layer`.

  Attributes:
    vocab: the tokens (list of str); `vocab_size` their number.
    vocab_file: the path given, or None for a list.
    pad_id, unk_id, cls_id, sep_id, mask_id: the special tokens' ids.

  Raises:
    ValueError: an unreadable or unusable vocabulary (named in the message).

  Example:
    >>> from importlib import resources
    >>> vocab_file = resources.files("keras_bert_lab") / "resources" / "vocab.txt"
    >>> tok = BertTokenizer(vocab_file, lower_case=True)
    >>> ids = tok(tf.constant(["Hello, Elizabeth!", "Mr. Darcy"]))
    >>> ids
    <tf.RaggedTensor [[70, 5584, 5584, 5587, 12, 115, 5], [94, 14, 144]]>
    >>> tok.id_to_token(ids).to_list()
    [[b'he', b'##l', b'##l', b'##o', b',', b'elizabeth', b'!'],
     [b'mr', b'.', b'darcy']]
    >>> tok.detokenize(ids).numpy()
    array([b'hello , elizabeth !', b'mr . darcy'], dtype=object)
    >>> BertTokenizer(tok.vocab)(tf.constant(["Mr. Darcy"])).to_list()
    [[94, 14, 144]]
  """

  def __init__(self, vocab=None, lower_case=True, vocab_file=None, **kwargs):
    if vocab is None:   # the keyword before lists were accepted, and configs
      vocab = vocab_file   # saved then
    kwargs.setdefault("dtype", "int32")
    kwargs.setdefault("trainable", False)
    super().__init__(**kwargs)
    # Strings in, ragged ids out: Keras must not cast or convert them.
    self._convert_input_args = False
    self._allow_non_tensor_positional_args = True
    if isinstance(vocab, (list, tuple)):
      self.vocab_file = None
      self.vocab = list(check_tokens(list(vocab), "The vocabulary list"))
    else:
      self.vocab_file = os.fspath(vocab) if isinstance(
          vocab, (str, os.PathLike)) else str(vocab)
      self.vocab = read_vocab(self.vocab_file)
    self.lower_case = bool(lower_case)
    self.vocab_size = len(self.vocab)
    ids = {token: i for i, token in enumerate(self.vocab)}
    self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
        ids[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"))
    wordpiece = functools.partial(
        tf_text.FastWordpieceTokenizer, self.vocab, suffix_indicator="##",
        token_out_type=tf.int32, unknown_token="[UNK]")
    # Fused split + WordPiece; exact for words of at most 200 bytes.
    self._fused = wordpiece(
        max_bytes_per_word=MAX_CHARS_PER_WORD, no_pretokenization=False,
        support_detokenization=True)
    # For single words of more than 200 bytes but at most 200 characters.
    self._wordpiece = wordpiece(
        max_bytes_per_word=4 * MAX_CHARS_PER_WORD, no_pretokenization=True)
    self.built = True

  def call(self, texts):
    """Tokenizes `texts` (a `tf.string` scalar or [batch]) to int32 ids.

    Args:
      texts: `tf.string` scalar or [batch] (or a Python str / list of str).

    Returns:
      int32 ids: [(tokens)] for a scalar, ragged [batch, (tokens)] else.

    Example:
      >>> tok = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
      ...                      "un", "##aff", "##able", "!"])
      >>> tok("Unaffable!").numpy()
      array([5, 6, 7, 8], dtype=int32)
    """
    return self._tokenize(texts, with_offsets=False)

  def tokenize_with_offsets(self, texts):
    """Tokenizes and reports where each token came from.

    Args:
      texts: `tf.string` scalar or [batch].

    Returns:
      `(ids, starts, ends)`, each ragged [batch, (tokens)] (int32, int64,
      int64). Offsets are **byte** offsets into the input strings:
      `texts[i][starts[i][j]:ends[i][j]]` is the text token j came from (the
      whole word for `[UNK]`; the characters a `##` piece covers, without
      `##`). A piece that begins or ends inside one input character (this
      happens only when normalization expands a character, e.g. a Hangul
      syllable decomposing into jamo) is given that whole character.

    Example:
      >>> tok = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
      ...                      "un", "##aff", "##able"])
      >>> ids, starts, ends = tok.tokenize_with_offsets(["Ünaffable"])
      >>> ids.to_list(), starts.to_list(), ends.to_list()
      ([[5, 6, 7]], [[0, 3, 6]], [[3, 6, 10]])
    """
    return self._tokenize(texts, with_offsets=True)

  def _tokenize(self, texts, with_offsets):
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    scalar = texts.shape.rank == 0
    if scalar:
      texts = tf.expand_dims(texts, 0)
    normalized = normalize(texts, self.lower_case)
    ids, starts, ends = self._fused.tokenize_with_offsets(normalized)
    ids, starts, ends = self._retokenize_long_words(normalized, ids, starts,
                                                    ends)
    if with_offsets:
      starts, ends = _map_to_input(texts, starts, ends, self.lower_case)
      result = ids, starts, ends
    else:
      result = ids
    if scalar:
      return tf.nest.map_structure(lambda t: t[0], result)
    return result

  def _retokenize_long_words(self, normalized, ids, starts, ends):
    """Applies the original's 200-character word limit to the fused output.

    The fused op turns each word of more than 200 bytes into one `[UNK]`
    spanning it; those with at most 200 characters are WordPiece-tokenized
    here and their pieces put in place of the `[UNK]`.

    Args:
      normalized: `tf.string` [batch], what the fused op tokenized.
      ids, starts, ends: its output, ragged [batch, (tokens)].

    Returns:
      `(ids, starts, ends)` like the input.
    """
    # Flat tensors only: ragged ops (value_rowids, element-wise arithmetic)
    # are composites of many small ops with shape assertions, which inside a
    # tf.data map cost more than the tokenization itself. Long words are
    # rare, so only the few ops that find them touch every token.
    flat = (ids.flat_values, starts.flat_values, ends.flat_values)
    spans = flat[2] - flat[1]
    long_word = tf.where((flat[0] == self.unk_id)
                         & (spans > MAX_CHARS_PER_WORD))[:, 0]
    words = tf.strings.substr(
        tf.gather(normalized, _segment_ids(ids.row_splits, long_word)),
        tf.gather(flat[1], long_word), tf.gather(spans, long_word))
    fits = tf.strings.length(words, unit="UTF8_CHAR") <= MAX_CHARS_PER_WORD
    redo = long_word[fits]
    pieces = self._wordpiece.tokenize_with_offsets(words[fits])
    piece_splits = pieces[0].row_splits
    piece_word = _segment_ids(piece_splits, tf.range(piece_splits[-1]))
    word_starts = tf.gather(tf.gather(flat[1], redo), piece_word)
    pieces = (pieces[0].flat_values, pieces[1].flat_values + word_starts,
              pieces[2].flat_values + word_starts)
    *flat, row_splits = _splice(flat, ids.row_splits, redo, pieces,
                                piece_splits, piece_word)
    return tuple(tf.RaggedTensor.from_row_splits(v, row_splits, validate=False)
                 for v in flat)

  def detokenize(self, ids):
    """Joins ids back into text: `##` pieces onto their word, words by spaces.

    Args:
      ids: int ids, ragged or dense, [batch, (tokens)] or [tokens].

    Returns:
      `tf.string` [batch] (or a scalar for 1-D input).

    Example:
      >>> tok = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
      ...                      "un", "##aff", "##able", "!"])
      >>> tok.detokenize([[5, 6, 7, 8]]).numpy()
      array([b'unaffable !'], dtype=object)
    """
    return self._fused.detokenize(ids)

  def id_to_token(self, ids):
    """Maps ids to their vocabulary strings.

    Args:
      ids: int ids, any shape, dense or ragged.

    Returns:
      `tf.string` tokens of the same shape (`##` pieces keep their `##`).

    Example:
      >>> tok = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
      ...                      "un", "##aff", "##able"])
      >>> tok.id_to_token(tok(["unaffable", "x"])).to_list()
      [[b'un', b'##aff', b'##able'], [b'[UNK]']]
    """
    vocab = tf.constant(self.vocab)
    if isinstance(ids, tf.RaggedTensor):
      return tf.ragged.map_flat_values(tf.gather, vocab, ids)
    return tf.gather(vocab, ids)

  def get_config(self):
    config = super().get_config()
    config.update(vocab=self.vocab_file if self.vocab_file is not None
                  else list(self.vocab), lower_case=self.lower_case)
    return config


def _segment_ids(row_splits, positions):
  """The row of each value position (int64) of a ragged tensor with these
  row splits (one op; `RaggedTensor.value_rowids` is a composite of many)."""
  return tf.searchsorted(row_splits[1:], positions, side="right",
                         out_type=row_splits.dtype)


def _splice(tokens, row_splits, redo, pieces, piece_splits, piece_token):
  """Replaces chosen tokens by lists of pieces, on flat tensors.

  Each token moves right by the pieces added before it; a replaced token's
  slot then holds its first piece (`dynamic_stitch` lets the later list
  win), and every list has at least one piece.

  Args:
    tokens: tuple of flat tensors [num_tokens] (ids, starts, ends).
    row_splits: int64 row splits grouping `tokens`.
    redo: int64 [num_redo], increasing positions of the tokens to replace.
    pieces: tuple like `tokens` of flat tensors [num_pieces].
    piece_splits: row splits grouping `pieces`, one row per `redo` token.
    piece_token: int64 [num_pieces], the row of each piece.

  Returns:
    The new flat tensors, then their row splits.
  """
  added = piece_splits[1:] - piece_splits[:-1] - 1
  shift = tf.cumsum(tf.scatter_nd(redo[:, None], added,
                                  tf.shape(tokens[0], tf.int64) + 1),
                    exclusive=True)
  moved = tf.range(tf.size(tokens[0], tf.int64)) + shift[:-1]
  piece_positions = (tf.range(piece_splits[-1])
                     - tf.gather(piece_splits, piece_token)
                     + tf.gather(tf.gather(moved, redo), piece_token))
  positions = [tf.cast(moved, tf.int32), tf.cast(piece_positions, tf.int32)]
  values = [tf.dynamic_stitch(positions, [t, tf.cast(p, t.dtype)])
            for t, p in zip(tokens, pieces)]
  return (*values, row_splits + tf.gather(shift, row_splits))


def _map_to_input(texts, starts, ends, lower_case):
  """Maps byte offsets in `normalize(texts)` to byte offsets in `texts`.

  Each input character is normalized on its own; the byte lengths of the
  results align the two strings (the whole-string and per-character
  normalizations have the same length: the only contextual rule, Greek final
  sigma, swaps letters of equal length). Invalid bytes and removed characters
  have length 0 there, so no offset points at them.
  """
  chars, char_starts = tf.strings.unicode_split_with_offsets(
      texts, "UTF-8", errors="replace")
  nonempty = chars.row_lengths() > 0
  last_end = tf.RaggedTensor.from_row_lengths(
      tf.boolean_mask(tf.cast(tf.strings.length(texts), tf.int64), nonempty),
      tf.cast(nonempty, tf.int64))
  char_ends = tf.concat([char_starts[:, 1:], last_end], axis=1)
  char_sizes = tf.cast(
      tf.strings.length(normalize(chars.flat_values, lower_case)), tf.int64)
  # Lay the rows of the normalized text end to end: global byte positions.
  cum_end = tf.cumsum(char_sizes)
  row_sizes = tf.reduce_sum(chars.with_flat_values(char_sizes), axis=1)
  row_offsets = tf.expand_dims(tf.cumsum(row_sizes, exclusive=True), 1)
  last = tf.maximum(tf.size(cum_end, out_type=tf.int64) - 1, 0)

  def char_at(byte_positions):
    # The character whose normalized bytes hold each position.
    index = tf.searchsorted(cum_end[tf.newaxis], byte_positions[tf.newaxis],
                            side="right", out_type=tf.int64)[0]
    return tf.minimum(index, last)

  first = char_at((starts + row_offsets).flat_values)
  final = char_at((ends + row_offsets).flat_values - 1)
  return (starts.with_flat_values(tf.gather(char_starts.flat_values, first)),
          ends.with_flat_values(tf.gather(char_ends.flat_values, final)))
