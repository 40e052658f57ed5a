"""Tagging data: the CoNLL/BIO reader against a Python reading of the files,
first-wordpiece labels against Hugging Face's `word_ids()` rule."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.data.tagging import (align_words, learn_tags,
                                               read_tagging_file,
                                               tagging_dataset, tfds_tagging,
                                               word_level)
from keras_bert_lab.text import BertTokenizer

PEOPLES_DAILY = "labeled/zh/peoples_daily_ner_train.bio"


def _python_sentences(path):
  """Blank lines separate sentences; a tab separates character and tag."""
  sentences, words, tags = [], [], []
  with open(path, encoding="utf-8") as f:
    for line in f:
      line = line.rstrip("\n")
      if not line.strip():
        if words:
          sentences.append((words, tags))
        words, tags = [], []
        continue
      word, tag = line.split("\t")
      words.append(word)
      tags.append(tag)
  if words:
    sentences.append((words, tags))
  return sentences


def _sentences(dataset, limit=None):
  if limit:
    dataset = dataset.take(limit)
  out = []
  for batch in dataset.ragged_batch(8192):
    words, tags = batch["words"].to_list(), batch["tags"].to_list()
    for w, t, line in zip(words, tags, batch["line"].numpy()):
      out.append(([x.decode() for x in w], [x.decode() for x in t], int(line)))
  return out


@pytest.mark.slow
def test_peoples_daily_reads_every_sentence(data_dir):
  path = data_dir / PEOPLES_DAILY
  expected = _python_sentences(path)
  got = _sentences(read_tagging_file(path))
  assert len(got) == len(expected) == 42832
  assert [(w, t) for w, t, _ in got] == expected
  assert got[0][2] == 1
  assert learn_tags(read_tagging_file(path)) == [
      "O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def test_conll2003_layout(tmp_path):
  path = tmp_path / "conll.txt"
  path.write_bytes(
      b"-DOCSTART- -X- -X- O\n\n"
      b"EU NNP B-NP B-ORG\r\nrejects VBZ B-VP O\r\n  \r\n\n\n"
      b"-DOCSTART- -X- -X- O\n"
      b"Peter  NNP B-NP   B-PER\nBlackburn NNP B-NP I-PER")
  assert _sentences(read_tagging_file(str(path))) == [
      (["EU", "rejects"], ["B-ORG", "O"], 3),
      (["Peter", "Blackburn"], ["B-PER", "I-PER"], 9)]
  # Tab-separated: only tabs split, so a token may hold a space; the tag is
  # the last column, the token the first.
  tabbed = tmp_path / "t.bio"
  tabbed.write_text("New York\tNNP\tS-LOC\n \tO\n\nx\tE-MISC\n",
                    encoding="utf-8")
  assert _sentences(read_tagging_file([str(tabbed), str(path)]))[:2] == [
      (["New York", " "], ["S-LOC", "O"], 1), (["x"], ["E-MISC"], 4)]
  assert len(_sentences(read_tagging_file([str(tabbed), str(path)]))) == 4


def test_bad_lines_name_file_and_line(tmp_path):
  path = tmp_path / "bad.bio"
  path.write_text("a\tO\nb\tB-PER\n\nc\tPER\n", encoding="utf-8")
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"bad.bio line 4: `c\\tPER` is not a token and a "
                     r"BIO/IOBES tag"):
    list(read_tagging_file(path))
  path.write_text("a\tO\nlonely\n", encoding="utf-8")
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"bad.bio line 2: `lonely`"):
    list(read_tagging_file(path))
  path.write_text("a O\n", encoding="utf-8")
  with pytest.raises(tf.errors.InvalidArgumentError, match="tag column 0"):
    list(read_tagging_file(path, tag_column=0))   # "a" is not a tag
  with pytest.raises(FileNotFoundError):
    read_tagging_file(tmp_path / "missing.bio")


def test_learn_tags_order_iobes(tmp_path):
  path = tmp_path / "t.bio"
  path.write_text("a S-PER\nb B-LOC\nc E-LOC\nd O\ne I-LOC\n", "utf-8")
  assert learn_tags(read_tagging_file(path)) == [
      "O", "B-LOC", "I-LOC", "E-LOC", "S-PER"]


@pytest.fixture(scope="module")
def hf_fast(minilm_dir):
  transformers = pytest.importorskip("transformers")
  tok = transformers.AutoTokenizer.from_pretrained(str(minilm_dir))
  assert tok.is_fast
  return tok


def _hf_rule(hf, words, tag_ids, seq_length):
  """Labels and weights by HF's word_ids(): a word's first token only."""
  enc = hf(words, is_split_into_words=True, truncation=True,
           max_length=seq_length, padding="max_length")
  labels, weights, previous = [], [], None
  for word in enc.word_ids():
    first = word is not None and word != previous
    labels.append(tag_ids[word] if first else 0)
    weights.append(1.0 if first else 0.0)
    previous = word
  return enc["input_ids"], labels, weights


def _english_sentences(data_dir, count):
  import csv
  with open(data_dir / "labeled/en/fine_foods_train.tsv", encoding="utf-8",
            newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t"))[:count]
  cycle = ["O", "B-X", "I-X", "O", "B-Y"]
  out = []
  for row in rows:
    words = row["review"].split()
    assert not any("[" in w for w in words)   # no HF special-token matches
    out.append((words, [cycle[i % 5] for i in range(len(words))]))
  return out


def _dataset(sentences):
  words = tf.ragged.constant([w for w, _ in sentences])
  tags = tf.ragged.constant([t for _, t in sentences])
  return tf.data.Dataset.from_tensor_slices({
      "words": words, "tags": tags,
      "source": ["s"] * len(sentences),
      "line": tf.range(len(sentences), dtype=tf.int64)})


@pytest.mark.parametrize("language,seq_length", [("zh", 64), ("en", 48),
                                                 ("en", 256)])
def test_first_wordpiece_labels_equal_hf_word_ids(data_dir, minilm_dir,
                                                  hf_fast, language,
                                                  seq_length):
  if language == "zh":
    sentences = [(w, t) for w, t in _python_sentences(
        data_dir / PEOPLES_DAILY)[:40]]
    tags = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
  else:
    sentences = _english_sentences(data_dir, 40)
    tags = ["O", "B-X", "I-X", "B-Y"]
  tok = BertTokenizer(minilm_dir / "vocab.txt", lower_case=True)
  # HF drops words without wordpieces; compare in that mode.
  ds = tagging_dataset(_dataset(sentences), tok, tags, seq_length=seq_length,
                       batch_size=40, empty_words="drop")
  features, labels, weights = next(iter(ds))
  assert labels.dtype == tf.int32 and weights.dtype == tf.float32
  truncated = 0
  for i, (words, word_tags) in enumerate(sentences):
    ids, want_labels, want_weights = _hf_rule(
        hf_fast, words, [tags.index(t) for t in word_tags], seq_length)
    assert features["input_word_ids"][i].numpy().tolist() == ids
    assert labels[i].numpy().tolist() == want_labels
    assert weights[i].numpy().tolist() == want_weights
    truncated += sum(want_weights) < len(words)
  if seq_length <= 64:
    assert truncated > 0   # the cut is exercised


def test_empty_words_unk_and_word_level(bert_vocab):
  tok = BertTokenizer(bert_vocab)
  # "\u200b" (zero-width space) and "\x01" vanish in BERT's cleaning.
  sentences = [(["Unaffable", "\u200b", "Paris", "\x01"],
                ["B-PER", "O", "B-LOC", "O"])]
  tags = ["O", "B-LOC", "B-PER"]
  features, labels, weights = next(iter(tagging_dataset(
      _dataset(sentences), tok, tags, seq_length=10, batch_size=1)))
  # The rule: [CLS], each word's pieces ([UNK] for none), [SEP].
  pieces = tok(tf.constant(sentences[0][0])).to_list()
  assert [len(p) for p in pieces] == [3, 0, 1, 0]
  expected = ([tok.cls_id] + pieces[0] + [tok.unk_id] + pieces[2] +
              [tok.unk_id, tok.sep_id, 0, 0])
  assert features["input_word_ids"][0].numpy().tolist() == expected
  assert labels[0].numpy().tolist() == [0, 2, 0, 0, 0, 1, 0, 0, 0, 0]
  assert weights[0].numpy().tolist() == [0, 1, 0, 0, 1, 1, 1, 0, 0, 0]
  # Per-word predictions back from first wordpieces: one per word.
  per_word = word_level(labels, weights).to_list()
  assert per_word == [[2, 0, 1, 0]]
  # Prediction: no tags -> (features, word_index).
  words_only = _dataset(sentences).map(
      lambda s: {k: v for k, v in s.items() if k != "tags"})
  feats, index = next(iter(tagging_dataset(words_only, tok, tags,
                                           seq_length=6, batch_size=1)))
  assert index.numpy().tolist() == [[-1, 0, -1, -1, 1, -1]]
  assert word_level(tf.range(6)[tf.newaxis], index).to_list() == [[1, 4]]
  # Dropping them as HF does.
  features, index = align_words(tf.ragged.constant([sentences[0][0]]), tok,
                                10, empty_words="drop")
  assert index.numpy().tolist() == [[-1, 0, -1, -1, 2, -1, -1, -1, -1, -1]]


def test_unknown_tag_names_source_and_line(tmp_path, bert_vocab):
  path = tmp_path / "t.bio"
  path.write_text("a\tO\n\nb\tB-PER\nc\tI-ORG\n", encoding="utf-8")
  ds = tagging_dataset(read_tagging_file(path), BertTokenizer(bert_vocab),
                       ["O", "B-PER", "I-PER"], seq_length=8, batch_size=2)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"Tag `I-ORG` in the sentence at .*t.bio line 3 "
                     r"is not in the tag list \[O, B-PER, I-PER\]"):
    list(ds)


def test_tfds_conll2003_mock(bert_vocab):
  tfds = pytest.importorskip("tensorflow_datasets")
  examples = {"tokens": tf.ragged.constant([["EU", "rejects", "German"],
                                            ["Peter"]]),
              "ner": tf.ragged.constant([[3, 0, 7], [1]], dtype=tf.int64),
              "pos": tf.ragged.constant([[0, 0, 0], [0]], dtype=tf.int64),
              "chunks": tf.ragged.constant([[0, 0, 0], [0]], dtype=tf.int64)}

  def as_dataset(self, *args, **kwargs):
    return tf.data.Dataset.from_tensor_slices(examples)

  with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    sentences, tags = tfds_tagging("conll2003", "train")
    got = _sentences(sentences)
  assert tags == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC",
                  "B-MISC", "I-MISC"]
  assert got == [(["EU", "rejects", "German"], ["B-ORG", "O", "B-MISC"], 0),
                 (["Peter"], ["B-PER"], 1)]
  tok = BertTokenizer(bert_vocab)
  _, labels, _ = next(iter(tagging_dataset(sentences, tok, tags, seq_length=6,
                                           batch_size=2)))
  assert labels.numpy().tolist() == [[0, 3, 0, 7, 0, 0], [0, 1, 0, 0, 0, 0]]


def test_batches_fit_a_keras_model(tmp_path, bert_vocab):
  # The (features, labels, sample_weight) structure is what model.fit takes;
  # weighted loss ignores non-first pieces. A tiny stand-in model.
  import keras
  path = tmp_path / "t.bio"
  path.write_text("Peter\tB-PER\nlives\tO\nin\tO\nParis\tB-LOC\n\n"
                  "Unaffable\tO\n", encoding="utf-8")
  tok = BertTokenizer(bert_vocab)
  tags = ["O", "B-LOC", "B-PER"]
  ds = tagging_dataset(read_tagging_file(path), tok, tags, seq_length=8,
                       batch_size=2)
  inputs = {k: keras.Input((8,), dtype="int32", name=k)
            for k in ("input_word_ids", "input_mask", "input_type_ids")}
  hidden = keras.layers.Embedding(tok.vocab_size, 4)(inputs["input_word_ids"])
  model = keras.Model(inputs, keras.layers.Dense(len(tags))(hidden))
  model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
      from_logits=True), weighted_metrics=["accuracy"])
  history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
  assert np.isfinite(history.history["loss"][0])
