"""A full disk: a small tmpfs mounted for each test (root only; skipped with
the reason where mounting is refused). Pre-training, fine-tuning and export
that run out of space stop with an error naming the folder and the space
needed, the last good checkpoint and the earlier export version stay intact
and loadable, and the same command resumes once there is space."""

import csv
import hashlib
import os
import pathlib
import subprocess
import sys

import pytest

from tests.conftest import fine_foods_rows

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORPUS = (ROOT / "keras_bert_lab" / "resources" /
          "austen_sense_and_sensibility_pride_and_prejudice.txt")
MB = 2 ** 20


@pytest.fixture()
def small_disk(tmp_path):
  """`mount(size_mb) -> folder`: a tmpfs of that size, unmounted after."""
  mounted = []

  def mount(size_mb):
    folder = tmp_path / f"disk{len(mounted)}"
    folder.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m",
                           "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if proc.returncode:
      pytest.skip("cannot mount a tmpfs here (" + (proc.stderr.strip() or
                  f"exit {proc.returncode}") + "); the full-disk tests need "
                  "root")
    mounted.append(folder)
    return folder
  yield mount
  for folder in mounted:
    subprocess.run(["umount", "-l", str(folder)], check=False)


def _resize(folder, size_mb):
  subprocess.run(["mount", "-o", f"remount,size={size_mb}m", str(folder)],
                 check=True)


def _fill(folder, leave_bytes):
  """A file that leaves `leave_bytes` free on the folder's disk."""
  import shutil
  filler = folder / "filler"
  free = shutil.disk_usage(folder).free
  with open(filler, "wb") as f:
    f.truncate(0)
    f.write(b"\0" * max(0, free - leave_bytes))
  return filler


def _run(module, *flags):
  return subprocess.run([sys.executable, "-m", module, *flags], cwd=ROOT,
                        capture_output=True, text=True, env=dict(
                            os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                            PYTHONPATH=str(ROOT)))


def _digest(folder):
  return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).digest()
          for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_pretrain_keeps_its_last_checkpoint_and_resumes(small_disk):
  # BERT-tiny's checkpoint (weights + Adam) is 22 MB: ckpt-4 fits in 40 MB,
  # ckpt-8 does not.
  disk = small_disk(40)
  model_dir = disk / "run"
  flags = ["--model_size=tiny", "--max_seq_length=32",
           "--max_predictions_per_seq=5", "--train_batch_size=8",
           "--num_train_steps=8", "--checkpoint_every=4", "--log_every=4",
           "--eval_batches=1", f"--input_files={CORPUS}",
           f"--model_dir={model_dir}"]
  full = _run("keras_bert_lab.pretrain", *flags)
  assert full.returncode == 1, full.stderr[-3000:]
  assert (f"{model_dir}: the disk is full while writing checkpoint ckpt-8 "
          "(it needs about 22.") in full.stderr
  assert "training resumes from" in full.stderr and "ckpt-4" in full.stderr
  assert "Traceback" not in full.stderr
  # The last good checkpoint is whole; the partial one was removed.
  import tensorflow as tf
  assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-4")
  assert tf.train.load_checkpoint(str(model_dir / "ckpt-4")).get_tensor(
      "step/.ATTRIBUTES/VARIABLE_VALUE") == 4
  assert not list(model_dir.glob("ckpt-8*"))

  _resize(disk, 200)
  again = _run("keras_bert_lab.pretrain", *flags)
  assert again.returncode == 0, again.stderr[-3000:]
  assert "at step 4" in again.stderr
  assert (model_dir / "pretrained" / "config.json").exists()


@pytest.mark.slow
def test_finetune_stops_with_the_folder_named_and_resumes(small_disk,
                                                          data_dir, tmp_path):
  from keras_bert_lab.config import BertConfig
  from keras_bert_lab.models import BertEncoder
  from keras_bert_lab.text import BUNDLED_VOCAB, read_vocab
  vocab = read_vocab(BUNDLED_VOCAB)
  BertEncoder(BertConfig(vocab_size=len(vocab), hidden_size=32, num_layers=2,
                         num_heads=2, intermediate_size=64,
                         max_position_embeddings=64), vocab=vocab
              ).save_pretrained(str(tmp_path / "encoder"))
  train = tmp_path / "reviews.tsv"
  with open(train, "w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f, delimiter="\t", lineterminator="\n")
    writer.writerow(["score", "review"])
    writer.writerows((r["score"], r["review"])
                     for r in fine_foods_rows(data_dir, 40))
  disk = small_disk(16)
  model_dir = disk / "run"
  filler = _fill(disk, MB // 2)   # the first backup (about 12 MB) fails
  flags = ["--task=classification", f"--init_checkpoint={tmp_path / 'encoder'}",
           f"--model_dir={model_dir}", f"--train_file={train}",
           "--text_column=review", "--label_column=score",
           "--max_seq_length=32", "--train_batch_size=8",
           "--num_train_epochs=1", "--checkpoint_every=2"]
  full = _run("keras_bert_lab.finetune", *flags)
  assert full.returncode == 1, full.stderr[-3000:]
  assert (f"{model_dir}: the disk is full while writing the resume backup "
          "or the fine-tuned model (it needs about") in full.stderr
  assert "it resumes from the last backup" in full.stderr
  assert "Traceback" not in full.stderr
  filler.unlink()
  again = _run("keras_bert_lab.finetune", *flags)
  assert again.returncode == 0, again.stderr[-3000:]
  assert (model_dir / "eval_results.json").exists()
  assert not (model_dir / "backup").exists()


@pytest.mark.slow
def test_export_keeps_the_earlier_version(small_disk, tmp_path):
  from keras_bert_lab import serving, tasks
  from keras_bert_lab.config import BertConfig
  from keras_bert_lab.models import BertClassifier, BertEncoder
  from keras_bert_lab.text import SPECIAL_TOKENS
  from keras_bert_lab.training import DiskFullError
  vocab = list(SPECIAL_TOKENS) + [f"w{i}" for i in range(7)]
  model = BertClassifier(BertEncoder(BertConfig(
      vocab_size=12, hidden_size=8, num_layers=1, num_heads=2,
      intermediate_size=16), vocab=vocab), labels=["a", "b"])
  tasks.get_task("classification", max_seq_length=16).save(
      model, tmp_path / "run")
  disk = small_disk(16)
  serving.export_model(str(tmp_path / "run"), str(disk / "out"), version=1)
  before = _digest(disk / "out")
  filler = _fill(disk, 64 * 1024)
  with pytest.raises(DiskFullError, match=rf"{disk / 'out'}: the disk is "
                     "full while writing the SavedModel .*/2 \\(it needs "
                     "about .* MB are free\\)"):
    serving.export_model(str(tmp_path / "run"), str(disk / "out"), version=2)
  assert sorted(os.listdir(disk / "out")) == ["1"]   # no partial version
  assert _digest(disk / "out") == before
  import tensorflow as tf
  tf.saved_model.load(str(disk / "out" / "1")).signatures["serving_default"](
      text=tf.constant(["w1"]))
  filler.unlink()
  serving.export_model(str(tmp_path / "run"), str(disk / "out"), version=2)
  assert sorted(os.listdir(disk / "out")) == ["1", "2"]
