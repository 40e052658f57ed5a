r"""BERT's vocabulary file, `vocab.txt`: one token per line, id = line number.

This is the one place that reads, checks and writes the format: the
tokenizer, the vocabulary learner, checkpoint import and every writer of a
`vocab.txt` (the vocabulary CLI, `save_pretrained`, the pre-training and
fine-tuning CLIs) go through `read_vocab` / `write_vocab`, so a bad
vocabulary fails the same way everywhere, at construction, before any
compute is spent, and what is written reads back as it was.

Example:
  >>> import os, tempfile
  >>> path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
  >>> write_vocab(list(SPECIAL_TOKENS) + ["hello", "##s"], path)
  >>> read_vocab(path)[-2:]
  ['hello', '##s']
"""

import os
import pathlib

import tensorflow as tf

# The 8,000-token vocabulary learned from the bundled quick-start corpus.
BUNDLED_VOCAB = (pathlib.Path(__file__).resolve().parents[1] / "resources" /
                 "vocab.txt")
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# The quick start's corpus, bundled beside it (two Austen novels).
BUNDLED_CORPUS = BUNDLED_VOCAB.parent / (
    "austen_sense_and_sensibility_pride_and_prejudice.txt")


def check_tokens(tokens, source):
  """Checks that BERT can use a list of tokens as its vocabulary.

  Args:
    tokens: the tokens in id order, a list of `str`.
    source: what the tokens came from, the start of every message (e.g.
      `"Vocabulary file 'vocab.txt'"`).

  Returns:
    `tokens`, unchanged.

  Raises:
    ValueError: a token is not a string, the list is empty, a token appears
      twice, or one of `[PAD] [UNK] [CLS] [SEP] [MASK]` is missing. The
      message names `source` and what is wrong.

  Example:
    >>> check_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]"], "My list")
    Traceback (most recent call last):
    ...
    ValueError: My list lacks the special token(s) [MASK]; BERT needs all of \
[PAD] [UNK] [CLS] [SEP] [MASK]. ...
  """
  not_str = [t for t in tokens if not isinstance(t, str)]
  if not_str:
    raise ValueError(f"{source} holds tokens that are not strings: "
                     f"{not_str[:5]!r}. Pass a list of str, one per id.")
  if not tokens:
    raise ValueError(f"{source} is empty.")
  seen = {}
  duplicates = []
  for i, token in enumerate(tokens):
    if token in seen:
      duplicates.append(f"{token!r} (lines {seen[token] + 1} and {i + 1})")
    else:
      seen[token] = i
  if duplicates:
    raise ValueError(
        f"{source} has duplicate tokens: {', '.join(duplicates[:10])}"
        f"{' ...' if len(duplicates) > 10 else ''}. Each token must appear once.")
  missing = [t for t in SPECIAL_TOKENS if t not in seen]
  if missing:
    raise ValueError(
        f"{source} lacks the special token(s) {' '.join(missing)}; BERT needs "
        f"all of {' '.join(SPECIAL_TOKENS)}. Add them (by convention at the "
        "top) or learn a vocabulary with `python -m keras_bert_lab.vocab`.")
  return tokens


def read_vocab(vocab_file):
  """Reads a BERT vocabulary file and checks that BERT can use it.

  Lines are stripped of surrounding whitespace, as Google's `load_vocab` does.

  Args:
    vocab_file: path to a text file with one token per line.

  Returns:
    A list of tokens; a token's id is its index.

  Raises:
    ValueError: the file is missing or unreadable, not UTF-8, empty, has
      duplicate tokens, or lacks one of `[PAD] [UNK] [CLS] [SEP] [MASK]`
      (see `check_tokens`). The message names the file and what is wrong.

  Example:
    >>> from importlib import resources
    >>> tokens = read_vocab(resources.files("keras_bert_lab") / "resources"
    ...                     / "vocab.txt")
    >>> len(tokens), tokens[:5], tokens.index("the")
    (8000, ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'], 57)
  """
  vocab_file = os.fspath(vocab_file)
  try:
    with open(vocab_file, "rb") as f:
      raw = f.read()
  except OSError as e:
    raise ValueError(
        f"Cannot read vocabulary file {vocab_file!r}: {e.strerror or e}. "
        "Pass the path of a WordPiece vocab.txt (one token per line), or learn "
        "one with `python -m keras_bert_lab.vocab`.") from e
  try:
    text = raw.decode("utf-8")
  except UnicodeDecodeError as e:
    raise ValueError(
        f"Vocabulary file {vocab_file!r} is not valid UTF-8 (byte {e.start}). "
        "Re-save it as UTF-8.") from e
  tokens = [line.strip() for line in text.splitlines()]
  while tokens and not tokens[-1]:
    tokens.pop()
  return check_tokens(tokens, f"Vocabulary file {vocab_file!r}")


def write_vocab(tokens, path):
  """Writes a vocabulary as BERT's `vocab.txt`: one token per line, UTF-8.

  The one writer of the format. It refuses a token that would not read back
  as itself (`read_vocab` splits lines and strips whitespace).

  Args:
    tokens: the tokens in id order (a list of `str`).
    path: the file to write (any `tf.io.gfile` path, e.g. `gs://...`);
      replaced if it exists.

  Raises:
    ValueError: a token that is not a string, holds a line break or starts
      or ends with whitespace; nothing is written then.

  Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
    >>> write_vocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hi"], path)
    >>> open(path, encoding="utf-8").read().split("\\n")[-3:]
    ['[MASK]', 'hi', '']
  """
  bad = [t for t in tokens
         if not isinstance(t, str) or t != t.strip() or len(t.splitlines()) > 1]
  if bad:
    raise ValueError(
        f"Cannot write {len(bad)} token(s) to {os.fspath(path)!r} as lines of "
        f"a vocab.txt: {bad[:5]!r}. A token must be a string without line "
        "breaks or surrounding whitespace.")
  with tf.io.gfile.GFile(os.fspath(path), "w") as f:
    f.write("".join(t + "\n" for t in tokens))
