"""Corrupt and cut-short files: each is a ValueError naming the file, and
nothing on disk changes; invalid UTF-8 is counted and reported once.

The corruptions are what disks and downloads do: a file cut short, a
flipped byte, an empty file, bytes that are not the format at all.
"""

import gzip
import hashlib
import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.checkpoints.names import get_weights
from keras_bert_lab.config import BertConfig
from keras_bert_lab.data import (corrupt_record_error, expand_input_files,
                                 invalid_utf8_bytes, read_documents,
                                 read_pretraining_tfrecords, to_examples)
from keras_bert_lab.models import BertClassifier, BertEncoder
from keras_bert_lab.text import SPECIAL_TOKENS

CONFIG = BertConfig(vocab_size=12, hidden_size=8, num_layers=1, num_heads=2,
                    intermediate_size=16)
VOCAB = list(SPECIAL_TOKENS) + [f"w{i}" for i in range(7)]


def _cut(path):
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])


def _flip(path):
  data = bytearray(path.read_bytes())
  data[len(data) // 2] ^= 0xFF
  path.write_bytes(bytes(data))


def _garbage(path):
  path.write_bytes(b"\x00" * 64)


def _binary(path):
  path.write_bytes(b"\xff\xfe\x00\x81 not text\n" * 8)


def _digest(folder):
  return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(pathlib.Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  """A task folder (save_pretrained) and a Google TF1 folder."""
  root = tmp_path_factory.mktemp("good")
  task = root / "task"
  BertClassifier(BertEncoder(CONFIG, vocab=VOCAB),
                 labels=["neg", "pos"]).save_pretrained(task)
  google = root / "uncased_L-1_H-8_A-2"
  google.mkdir()
  CONFIG.write_google_json(google / "bert_config.json")
  weights = get_weights(BertEncoder(CONFIG))
  tf.raw_ops.SaveV2(prefix=str(google / "bert_model.ckpt"),
                    tensor_names=list(weights),
                    shape_and_slices=[""] * len(weights),
                    tensors=list(weights.values()))
  (google / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB))
  return {"task": task, "google": google}


CASES = [
    # (folder, file, corruption, loader, words the message must hold)
    ("task", "model.safetensors", _cut, BertClassifier, "not safetensors"),
    ("task", "model.safetensors", _garbage, BertClassifier, "not safetensors"),
    ("task", "task.json", _cut, BertClassifier, "not valid JSON"),
    ("task", "config.json", _cut, BertClassifier, "not valid JSON"),
    ("task", "keras_bert_lab.json", _cut, BertEncoder, "not valid JSON"),
    ("task", "tokenizer_config.json", _cut, BertEncoder, "not valid JSON"),
    ("task", "vocab.txt", _binary, BertEncoder, "not valid UTF-8"),
    ("task", "vocab.txt", _cut, BertEncoder, "lacks the special token"),
    ("google", "bert_model.ckpt.data-00000-of-00001", _cut, BertEncoder,
     "cut short or damaged"),
    ("google", "bert_model.ckpt.data-00000-of-00001", _flip, BertEncoder,
     "Checksum does not match"),
    ("google", "bert_model.ckpt.index", _cut, BertEncoder,
     "cut short or damaged"),
    ("google", "bert_config.json", _cut, BertEncoder, "not valid JSON"),
]


@pytest.mark.parametrize(
    "kind,name,corrupt,loader,words", CASES,
    ids=[f"{c[1]}-{c[2].__name__[1:]}" for c in CASES])
def test_corrupt_model_files_are_named(folders, tmp_path, kind, name, corrupt,
                                       loader, words):
  folder = tmp_path / folders[kind].name
  shutil.copytree(folders[kind], folder)
  corrupt(folder / name)
  before = _digest(folder)
  with pytest.raises(ValueError) as raised:
    loader.from_pretrained(str(folder))
  message = str(raised.value)
  assert str(folder) in message and words in message, message
  assert name in message or "bert_model.ckpt" in message, message
  assert _digest(folder) == before


def _tfrecord(path, rows, seq=8, predictions=2):
  ids = np.tile(np.arange(2, 2 + seq), (rows, 1))
  features = {
      "input_word_ids": ids, "input_mask": np.ones_like(ids),
      "input_type_ids": np.zeros_like(ids),
      "masked_lm_positions": np.ones((rows, predictions), np.int64),
      "masked_lm_ids": np.full((rows, predictions), 5),
      "masked_lm_weights": np.ones((rows, predictions), np.float32),
      "next_sentence_labels": np.zeros(rows, np.int64)}
  with tf.io.TFRecordWriter(str(path)) as writer:
    for record in to_examples(features):
      writer.write(record)
  return len(record) + 16   # bytes per record: length, CRCs, data


def _cut_inside_last(path):
  path.write_bytes(path.read_bytes()[:-3])


# A file cut exactly between records cannot be told from a shorter one: the
# format has no end marker.
@pytest.mark.parametrize("corrupt,words,good_records", [
    (_cut_inside_last, "truncated record at byte", 9),
    (_flip, "corrupted record at byte", 5)])
def test_corrupt_tfrecord_names_file_offset_and_good_records(
    tmp_path, corrupt, words, good_records):
  good, bad = tmp_path / "a.tfrecord", tmp_path / "b.tfrecord"
  _tfrecord(good, 10)
  size = _tfrecord(bad, 10)
  corrupt(bad)
  files = [str(good), str(bad)]
  with pytest.raises(ValueError) as raised:
    with corrupt_record_error(files):
      for _ in read_pretraining_tfrecords(files, 8, 2, batch_size=2):
        pass
  message = str(raised.value)
  assert message.startswith(
      f"{bad}: {words} {good_records * size}, after {good_records} good "
      "records."), message


def test_other_data_loss_is_not_blamed_on_a_tfrecord(tmp_path):
  # A damaged checkpoint raises DataLossError inside the same loop.
  _tfrecord(tmp_path / "a.tfrecord", 2)
  for files in ([], [str(tmp_path / "a.tfrecord")]):
    with pytest.raises(tf.errors.DataLossError, match="Checksum does not"):
      with corrupt_record_error(files):
        raise tf.errors.DataLossError(None, None, "Checksum does not match")


def test_gzip_cut_short_is_named_and_whole_files_pass(tmp_path):
  text = "".join(f"Sentence {i} is here. Another one.\n\n" for i in range(3000))
  whole = gzip.compress(text.encode())
  (tmp_path / "cut.txt.gz").write_bytes(whole[:len(whole) // 2])
  (tmp_path / "two_members.txt.gz").write_bytes(
      gzip.compress(b"One. Two.\n\n") + gzip.compress(b"Three.\n"))
  (tmp_path / "not.txt.gz").write_bytes(b"plain text, not gzip\n")
  (tmp_path / "padded.txt.gz").write_bytes(gzip.compress(b"One.\n") + b"\0" * 8)
  with pytest.raises(ValueError, match=r"cut.txt.gz' is cut short"):
    read_documents(str(tmp_path / "cut.txt.gz"))
  with pytest.raises(ValueError, match=r"not.txt.gz' is not valid gzip"):
    expand_input_files(str(tmp_path / "not.txt.gz"))
  with pytest.raises(ValueError, match=r"padded.txt.gz' ends in zero padding"):
    expand_input_files(str(tmp_path / "padded.txt.gz"))
  documents = [d.numpy().tolist() for d in read_documents(
      str(tmp_path / "two_members.txt.gz"), shuffle=False)]
  assert documents == [[b"One.", b"Two."], [b"Three."]]


def test_pretrain_on_a_corrupt_tfrecord_names_it(tmp_path):
  records = tmp_path / "train.tfrecord"
  _tfrecord(records, 64, seq=32, predictions=5)
  _flip(records)
  model_dir = tmp_path / "run"
  result = subprocess.run(
      [sys.executable, "-m", "keras_bert_lab.pretrain", "--model_size=tiny",
       "--max_seq_length=32", "--max_predictions_per_seq=5",
       "--train_batch_size=4", "--num_train_steps=40",
       "--checkpoint_every=5", f"--tfrecord_files={records}",
       f"--model_dir={model_dir}"], capture_output=True, text=True)
  assert result.returncode != 0
  assert f"{records}: corrupted record at byte" in result.stderr, (
      result.stderr[-2000:])
  assert "Traceback" not in result.stderr
  # The checkpoints written before the bad record are intact.
  assert tf.train.latest_checkpoint(str(model_dir))
  assert json.loads((model_dir / "input_flags.json").read_text())


# The byte sequences of tests/text/test_tokenizer.py that are not UTF-8
# (a lone continuation, cut-short sequences, a surrogate, past U+10FFFF,
# an overlong form).
INVALID = [b"ab\xffcd", b"\xc3", b"caf\xc3", b"ok\xed\xa0\x80x",
           b"\xf4\x90\x80\x80z", b"\xc0\xafq", b"\xe4\xb8\xad\xe6\x96"]


def test_invalid_utf8_is_counted_as_python_drops_it(tmp_path, data_dir):
  real = (pathlib.Path(data_dir) / "corpora/en/enwiki_104_articles.txt"
          ).read_bytes()[:200_000]
  mixed = real[:50_000] + b"\n".join(INVALID) + real[50_000:]
  (tmp_path / "mixed.txt").write_bytes(mixed)
  (tmp_path / "mixed.txt.gz").write_bytes(gzip.compress(mixed))
  (tmp_path / "clean.txt").write_bytes(real)
  files = [str(tmp_path / n) for n in ("clean.txt", "mixed.txt",
                                       "mixed.txt.gz")]
  dropped = len(mixed) - len(mixed.decode("utf-8", "ignore").encode())
  assert dropped > 10
  assert invalid_utf8_bytes(files) == {files[1]: dropped, files[2]: dropped}


def test_vocab_reports_invalid_utf8_once(tmp_path):
  corpus = tmp_path / "latin1.txt"
  corpus.write_bytes("Un café, une crème brûlée.\n".encode("latin-1") * 50)
  result = subprocess.run(
      [sys.executable, "-m", "keras_bert_lab.vocab", f"--input_files={corpus}",
       f"--output={tmp_path / 'vocab.txt'}", "--vocab_size=200"],
      capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stderr.count("invalid UTF-8") == 1
  assert f"{corpus} (200)" in result.stderr
