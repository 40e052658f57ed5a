"""vocab.txt reading, checking and writing (`text/vocab_io.py`).

The reference for the format is Google's `tokenization.load_vocab` (one
token per line, each line stripped, id = line number), here through
Hugging Face's port of it.
"""

import pathlib

import pytest
import tensorflow as tf

import keras_bert_lab
from keras_bert_lab.text import (SPECIAL_TOKENS, BertTokenizer, read_vocab,
                                 write_vocab)
from keras_bert_lab.text.vocab_io import check_tokens

RESOURCES = pathlib.Path(keras_bert_lab.__file__).parent / "resources"


def test_bundled_vocab_is_valid_and_fits_bundled_corpus():
  vocab = read_vocab(RESOURCES / "vocab.txt")
  assert vocab[:5] == list(SPECIAL_TOKENS) and len(vocab) == 8000
  tok = BertTokenizer(RESOURCES / "vocab.txt")
  corpus = (RESOURCES / "austen_sense_and_sensibility_pride_and_prejudice.txt")
  assert corpus.stat().st_size <= 1_500_000
  ids = tok(tf.constant(corpus.read_text(encoding="utf-8").split("\n")[:500]))
  assert (ids.flat_values.numpy() == tok.unk_id).mean() < 0.001


def test_read_matches_googles_load_vocab(bert_vocab):
  legacy = pytest.importorskip(
      "transformers.models.bert.tokenization_bert_legacy")
  reference = legacy.load_vocab(bert_vocab)  # token -> id, Google's rule
  assert read_vocab(bert_vocab) == list(reference)
  assert list(reference.values()) == list(range(len(reference)))


def test_write_then_read_gives_the_same_tokens(tmp_path, bert_vocab):
  tokens = read_vocab(bert_vocab)
  path = tmp_path / "vocab.txt"
  write_vocab(tokens, path)
  assert read_vocab(path) == tokens
  # The bytes are BERT's format: UTF-8, one token and "\n" per line.
  assert path.read_bytes() == "".join(t + "\n" for t in tokens).encode()
  write_vocab(list(SPECIAL_TOKENS), path)  # replaces the file
  assert read_vocab(path) == list(SPECIAL_TOKENS)


@pytest.mark.parametrize("bad", ["two\nlines", " padded", "tab\t", "a\u2028b",
                                 7])
def test_write_refuses_tokens_that_would_not_read_back(tmp_path, bad):
  path = tmp_path / "vocab.txt"
  with pytest.raises(ValueError, match="Cannot write 1 token"):
    write_vocab(list(SPECIAL_TOKENS) + [bad, "ok"], path)
  assert not path.exists()


def test_save_pretrained_writes_through_write_vocab(tmp_path):
  from keras_bert_lab.config import BertConfig
  from keras_bert_lab.models import BertEncoder
  config = BertConfig(vocab_size=7, hidden_size=8, num_layers=1, num_heads=2,
                      intermediate_size=16)
  vocab = list(SPECIAL_TOKENS) + ["straße", "##s"]
  BertEncoder(config, vocab=vocab).save_pretrained(tmp_path / "ok")
  assert read_vocab(tmp_path / "ok" / "vocab.txt") == vocab
  with pytest.raises(ValueError, match="Cannot write 1 token"):
    BertEncoder(config, vocab=vocab[:-1] + ["new\nline"]).save_pretrained(
        tmp_path / "bad")


@pytest.mark.parametrize("tokens,message", [
    ([], "is empty"),
    (list(SPECIAL_TOKENS) + ["hi", "hi"], "duplicate tokens: 'hi'"),
    (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hi"], "lacks the special token(s) "
     "[MASK]"),
    (list(SPECIAL_TOKENS) + [b"hi"], "not strings"),
])
def test_check_tokens_names_the_source_and_the_problem(tokens, message):
  with pytest.raises(ValueError) as info:
    check_tokens(tokens, "The list from x")
  assert str(info.value).startswith("The list from x")
  assert message in str(info.value)
