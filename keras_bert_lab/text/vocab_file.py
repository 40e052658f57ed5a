"""Read and check a WordPiece vocabulary file (one token per line, id = line number).

This is the one place that decides whether a vocabulary is usable: the
tokenizer, the packer, the vocabulary learner and checkpoint import all call
`read_vocab`, so a bad file fails the same way everywhere, at construction,
before any compute is spent.
"""

import os

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def read_vocab(vocab_file):
  """Reads a BERT vocabulary file and checks that BERT can use it.

  Lines are stripped of surrounding whitespace, as Google's `load_vocab` does.

  Args:
    vocab_file: path to a text file with one token per line.

  Returns:
    A list of tokens; a token's id is its index.

  Raises:
    ValueError: the file is missing or unreadable, empty, has duplicate tokens,
      or lacks one of `[PAD] [UNK] [CLS] [SEP] [MASK]`. The message names the
      file and what is wrong.

  Example:
    >>> tokens = read_vocab("vocab.txt")
    >>> tokens.index("[CLS]")
    101
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
  if not tokens:
    raise ValueError(f"Vocabulary file {vocab_file!r} is empty.")
  seen = {}
  duplicates = []
  for i, token in enumerate(tokens):
    if token in seen:
      duplicates.append(f"{token!r} (lines {seen[token] + 1} and {i + 1})")
    else:
      seen[token] = i
  if duplicates:
    raise ValueError(
        f"Vocabulary file {vocab_file!r} has duplicate tokens: "
        f"{', '.join(duplicates[:10])}"
        f"{' ...' if len(duplicates) > 10 else ''}. Each token must appear once.")
  missing = [t for t in SPECIAL_TOKENS if t not in seen]
  if missing:
    raise ValueError(
        f"Vocabulary file {vocab_file!r} lacks the special token(s) "
        f"{' '.join(missing)}; BERT needs all of {' '.join(SPECIAL_TOKENS)}. "
        "Add them (by convention at the top) or learn a vocabulary with "
        "`python -m keras_bert_lab.vocab`.")
  return tokens
