"""Vocabulary learning (`text/wordpiece_learner.py` and the CLI
`python -m keras_bert_lab.vocab`): fits the tokenizer, compares with HF's
trainer."""

import collections
import re
import subprocess
import sys

import pytest
import tensorflow as tf

from keras_bert_lab.data import text_lines
from keras_bert_lab.text import (SPECIAL_TOKENS, BertTokenizer, basic_tokenize,
                                 count_words, learn_vocab, read_vocab,
                                 write_vocab)


def _lines(path, start=0, stop=None):
  return path.read_text(encoding="utf-8").split("\n")[start:stop]


def _write(path, lines):
  path.write_text("\n".join(lines) + "\n", encoding="utf-8")
  return str(path)


def test_cli_learns_a_usable_vocab(tmp_path, data_dir):
  train = _write(tmp_path / "train.txt",
                 _lines(data_dir / "corpora/en/jane_austen_6_novels.txt", 0, 300))
  out = tmp_path / "vocab.txt"
  result = subprocess.run(
      [sys.executable, "-m", "keras_bert_lab.vocab", f"--input_files={train}",
       "--vocab_size=600", f"--output={out}", "--reserved_tokens=[unused0]"],
      capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-2000:]
  vocab = read_vocab(out)
  assert vocab[:6] == list(SPECIAL_TOKENS) + ["[unused0]"]
  assert 0.95 * 600 <= len(vocab) <= 600
  assert any(t.startswith("##") and len(t) > 3 for t in vocab)


def test_chinese_characters_are_words(tmp_path, data_dir):
  lines = _lines(data_dir / "corpora/zh/peoples_daily_199801_raw.txt", 0, 400)
  train = _write(tmp_path / "zh.txt", lines)
  vocab = learn_vocab(text_lines(train), vocab_size=5000)
  words = collections.Counter(
      w.decode() for w in basic_tokenize(tf.constant(lines), True)
      .flat_values.numpy())
  cjk = [w for w, _ in words.most_common() if "\u4e00" <= w <= "\u9fff"]
  assert len(cjk) > 1000
  # The common characters are tokens (no useless "##中" twins, no piece
  # spanning two), and the text is covered.
  assert not set(cjk[:1000]) - set(vocab)
  assert not [t for t in vocab if any("\u4e00" <= c <= "\u9fff" for c in t)
              and len(t) > 1]
  write_vocab(vocab, tmp_path / "vocab.txt")
  ids = BertTokenizer(tmp_path / "vocab.txt")(tf.constant(lines)).flat_values
  assert (ids.numpy() == 1).mean() < 0.005


@pytest.mark.parametrize("bad,message", [
    ("missing.txt", "does not exist"),
    ("empty.txt", "are empty"),
])
def test_bad_input_files_are_named(tmp_path, bad, message):
  (tmp_path / "empty.txt").write_text("")
  result = subprocess.run(
      [sys.executable, "-m", "keras_bert_lab.vocab",
       f"--input_files={tmp_path / bad}", f"--output={tmp_path / 'v.txt'}"],
      capture_output=True, text=True)
  assert result.returncode != 0
  assert bad in result.stderr and message in result.stderr
  assert not (tmp_path / "v.txt").exists()


def test_whitespace_only_corpus_fails(tmp_path):
  path = _write(tmp_path / "blank.txt", ["   ", "\t", "\u200b"])
  with pytest.raises(ValueError, match="No words found"):
    learn_vocab(text_lines(path), vocab_size=100)
  result = subprocess.run(
      [sys.executable, "-m", "keras_bert_lab.vocab", f"--input_files={path}",
       f"--output={tmp_path / 'v.txt'}"], capture_output=True, text=True)
  assert result.returncode != 0
  assert path in result.stderr and "No words found" in result.stderr


def test_words_are_counted_as_the_tokenizer_splits(tmp_path):
  lines = ["Héllo, WORLD!", "hello  world", "", "中文 hello"]
  expected = collections.Counter(
      w.decode() for w in basic_tokenize(tf.constant(lines), True)
      .flat_values.numpy())
  assert expected["hello"] == 3 and expected["中"] == 1
  # A list, a dataset of lines and the lines of a file count the same.
  assert count_words(lines, batch_size=3) == expected
  assert count_words(tf.data.Dataset.from_tensor_slices(lines)) == expected
  path = _write(tmp_path / "a.txt", lines)
  assert count_words(text_lines(path), batch_size=2) == expected


@pytest.mark.parametrize("make_lines,message", [
    (lambda: "corpus.txt", "text_lines('corpus.txt')"),
    (lambda: tf.data.Dataset.range(3), "scalar tf.string lines"),
    (lambda: tf.data.Dataset.from_tensor_slices([["a", "b"]]), ".unbatch()"),
], ids=["file_name", "ints", "batched"])
def test_lines_not_file_names(make_lines, message):
  with pytest.raises(ValueError, match=re.escape(message)):
    learn_vocab(make_lines(), vocab_size=100)


@pytest.mark.slow
def test_quality_against_hf_wordpiece_trainer(tmp_path, data_dir):
  """[UNK] rate < 0.5% on held-out English; wordpieces per word within 5% of
  Hugging Face `tokenizers`' WordPiece trainer at the same size and input."""
  tokenizers = pytest.importorskip("tokenizers")
  austen = data_dir / "corpora/en/jane_austen_6_novels.txt"
  wiki = data_dir / "corpora/en/enwiki_104_articles.txt"
  # Train: five Austen novels and 90% of the Wikipedia articles; held out:
  # the sixth novel (Persuasion, from line 9268) and the other 10%.
  train = [_write(tmp_path / "a.txt", _lines(austen, 0, 9267)),
           _write(tmp_path / "w.txt", _lines(wiki, 0, 4712))]
  held_out = [l for l in _lines(austen, 9267) + _lines(wiki, 4712) if l]
  vocab = learn_vocab(text_lines(train), vocab_size=8000)
  write_vocab(vocab, tmp_path / "ours.txt")

  hf = tokenizers.Tokenizer(tokenizers.models.WordPiece(
      unk_token="[UNK]", max_input_chars_per_word=200))
  hf.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
  hf.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
  hf.train(train, tokenizers.trainers.WordPieceTrainer(
      vocab_size=len(vocab), special_tokens=list(SPECIAL_TOKENS),
      show_progress=False))
  assert hf.get_vocab_size() == len(vocab)

  words = int(tf.size(basic_tokenize(tf.constant(held_out), True).flat_values))
  tok = BertTokenizer(tmp_path / "ours.txt")
  ours = tok(tf.constant(held_out)).flat_values.numpy()
  theirs = [i for e in hf.encode_batch(held_out, add_special_tokens=False)
            for i in e.ids]
  unk_rate = (ours == tok.unk_id).mean()
  ours_ppw, theirs_ppw = len(ours) / words, len(theirs) / words
  print(f"pieces/word ours {ours_ppw:.4f} HF {theirs_ppw:.4f}; "
        f"[UNK] ours {unk_rate:.4%}")
  assert unk_rate < 0.005
  assert abs(ours_ppw / theirs_ppw - 1) < 0.05
