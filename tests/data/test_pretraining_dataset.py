"""The assembled pre-training pipeline and the create_pretraining_data CLI."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab import data, text

CORPUS = "keras_bert_lab/resources/austen_sense_and_sensibility_pride_and_prejudice.txt"
VOCAB = "keras_bert_lab/resources/vocab.txt"


@pytest.fixture(scope="module")
def tokenizer():
  return text.BertTokenizer(VOCAB)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
  lines = open(CORPUS, encoding="utf-8").read().split("\n")[:400]
  path = tmp_path_factory.mktemp("corpus") / "small.txt"
  path.write_text("\n".join(lines), encoding="utf-8")
  return str(path)


def _batches(corpus, tokenizer, seed, n, **kwargs):
  docs = data.read_documents(corpus, seed=seed)
  ds = data.pretraining_dataset(docs, tokenizer, batch_size=16, seed=seed,
                                max_seq_length=64, **kwargs)
  return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


def test_features_follow_bert_layout(small_corpus, tokenizer):
  batches = _batches(small_corpus, tokenizer, seed=1, n=8)
  specials = {tokenizer.cls_id, tokenizer.sep_id, tokenizer.pad_id}
  for b in batches:
    assert b["input_word_ids"].dtype == np.int32
    assert b["masked_lm_weights"].dtype == np.float32
    assert b["input_word_ids"].shape == (16, 64)
    assert b["masked_lm_positions"].shape == (16, 20)
    assert b["next_sentence_labels"].shape == (16,)
    assert (b["input_word_ids"][:, 0] == tokenizer.cls_id).all()
    lengths = b["input_mask"].sum(1)
    seps = (b["input_word_ids"] == tokenizer.sep_id).sum(1)
    assert (seps == 2).all()  # [CLS] A [SEP] B [SEP], nothing masks [SEP]
    for row in range(16):
      real = b["masked_lm_weights"][row] > 0
      positions = b["masked_lm_positions"][row][real]
      assert (positions < lengths[row]).all()
      assert not set(b["masked_lm_ids"][row][real]) & specials
      # Segment B (type 1) ends with the last [SEP].
      types = b["input_type_ids"][row][:lengths[row]]
      assert types[-1] == 1 and (np.diff(types) >= 0).all()


def test_same_seed_same_examples_and_new_passes_differ(small_corpus, tokenizer):
  first = _batches(small_corpus, tokenizer, seed=5, n=3, passes=1)
  again = _batches(small_corpus, tokenizer, seed=5, n=3, passes=1)
  other = _batches(small_corpus, tokenizer, seed=6, n=3, passes=1)
  for a, b in zip(first, again):
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])
  assert any((a["input_word_ids"] != b["input_word_ids"]).any()
             for a, b in zip(first, other))
  # Two passes over the corpus: the second pass makes other examples.
  one_pass = _batches(small_corpus, tokenizer, seed=5, n=1000, passes=1,
                      shuffle_buffer=0)
  two = _batches(small_corpus, tokenizer, seed=5, n=2 * len(one_pass),
                 passes=2, shuffle_buffer=0)
  second = two[len(one_pass):]
  assert second and any(
      (a["input_word_ids"] != b["input_word_ids"]).any()
      for a, b in zip(one_pass, second))


def test_single_document_fails_even_when_repeated(tmp_path, tokenizer):
  path = tmp_path / "one.txt"
  path.write_text("One sentence here. Another one there. And a third.\n")
  docs = data.read_documents(str(path))
  ds = data.pretraining_dataset(docs, tokenizer, 2, passes=3)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="NSP needs at least two documents"):
    list(ds)


def test_cli_writes_what_the_pipeline_makes(tmp_path, small_corpus, tokenizer):
  outputs = [str(tmp_path / "a.tfrecord"), str(tmp_path / "b.tfrecord")]
  result = subprocess.run(
      [sys.executable, "-m", "keras_bert_lab.create_pretraining_data",
       f"--input_files={small_corpus}", f"--vocab_file={VOCAB}",
       f"--output_file={','.join(outputs)}", "--max_seq_length=64",
       "--max_predictions_per_seq=20", "--dupe_factor=2",
       "--do_whole_word_mask", "--random_seed=7"],
      capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "random next" in result.stdout
  # Google's feature names in the files.
  record = next(iter(tf.data.TFRecordDataset(outputs[0])))
  names = set(tf.train.Example.FromString(record.numpy()).features.feature)
  assert names == {"input_ids", "input_mask", "segment_ids",
                   "masked_lm_positions", "masked_lm_ids", "masked_lm_weights",
                   "next_sentence_labels"}
  # The same examples as the in-process pipeline with the same settings.
  # tf.data's shuffles mix in TensorFlow's global seed, which the CLI leaves
  # unset and earlier tests in this process may have set.
  tf.random.set_seed(None)
  docs = data.read_documents(small_corpus, seed=7)
  expected = data.pretraining_dataset(
      docs, tokenizer, batch_size=256, seed=7, max_seq_length=64,
      whole_word_mask=True, passes=2, drop_remainder=False)
  expected = [ex for batch in expected for ex in data.to_examples(batch)]
  written = [list(tf.data.TFRecordDataset(p).as_numpy_iterator())
             for p in outputs]
  interleaved = [written[i % 2][i // 2] for i in range(len(expected))]
  assert sum(map(len, written)) == len(expected) > 100
  assert interleaved == expected
  # And the trainer's reader takes them.
  batch = next(iter(data.read_pretraining_tfrecords(outputs, 64, 20,
                                                    batch_size=8)))
  assert batch["input_word_ids"].shape == (8, 64)


def test_cli_single_document_message(tmp_path):
  path = tmp_path / "one.txt"
  path.write_text("Only one document. Two sentences.\n")
  result = subprocess.run(
      [sys.executable, "-m", "keras_bert_lab.create_pretraining_data",
       f"--input_files={path}", f"--vocab_file={VOCAB}",
       f"--output_file={tmp_path / 'o.tfrecord'}"],
      capture_output=True, text=True)
  assert result.returncode != 0
  assert "holds a single document" in result.stderr
  assert "--nonext_sentence" in result.stderr



def test_full_sentences_pipeline(small_corpus, tokenizer):
  """next_sentence=False: one segment, [SEP] between documents inside it."""
  batches = _batches(small_corpus, tokenizer, seed=1, n=20,
                     next_sentence=False)
  for b in batches:
    assert (b["input_type_ids"] == 0).all()
    assert (b["next_sentence_labels"] == 0).all()
    lengths = b["input_mask"].sum(1)
    rows = np.arange(16)
    assert (b["input_word_ids"][rows, lengths - 1] == tokenizer.sep_id).all()
  seps = np.concatenate([(b["input_word_ids"] == tokenizer.sep_id).sum(1)
                         for b in batches])
  assert seps.min() == 1 and seps.max() >= 2  # Some run on into a document.


def test_random_next_is_another_document_of_a_shuffled_corpus(tmp_path,
                                                              tokenizer):
  """`read_documents` reshuffles on every read; the random-next candidates
  come from the same read as the document, so "another document" holds
  and the same pass (an earlier design compared positions across two
  orders). Each document repeats one word of its own."""
  words = [w for w in tokenizer.vocab[1000:1200]
           if w.isalpha() and w.isascii() and not w.startswith("#")][:10]
  docs = ["\n".join(" ".join([w] * 6) + "." for _ in range(12)) for w in words]
  path = tmp_path / "corpus.txt"
  path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
  ids = {tokenizer.vocab.index(w): w for w in words}
  tokenized = data.read_documents(str(path), seed=3).map(tokenizer)
  # Small blocks and many passes: pass boundaries fall inside blocks.
  instances = list(data.nsp_instances(tokenized, max_seq_length=32, seed=3,
                                      passes=30, random_document_pool=2))
  randoms = 0
  for x in instances:
    a = {ids[t] for t in x["tokens_a"].numpy().tolist() if t in ids}
    b = {ids[t] for t in x["tokens_b"].numpy().tolist() if t in ids}
    assert len(a) == len(b) == 1
    if x["next_sentence_labels"].numpy() == 1:
      randoms += 1
      assert a != b
    else:
      assert a == b
  assert randoms > 50
