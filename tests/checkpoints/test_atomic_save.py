"""`save_pretrained` killed at any point of its commit: the folder is the old
model, or one that every reader refuses, never a mix read as a model; the
next save finishes it. (Real SIGKILLs: benchmarks/soak_kill.py and
tests/test_soak_kill.py.)"""

import os

import numpy as np
import pytest

from keras_bert_lab import tasks
from keras_bert_lab.checkpoints import own
from keras_bert_lab.config import BertConfig
from keras_bert_lab.models import BertClassifier, BertEncoder
from keras_bert_lab.text import SPECIAL_TOKENS

CONFIG = BertConfig(vocab_size=12, hidden_size=8, num_layers=1, num_heads=2,
                    intermediate_size=16)
VOCAB = list(SPECIAL_TOKENS) + [f"w{i}" for i in range(7)]


class Killed(BaseException):
  """Stands for SIGKILL: nothing after it runs, no handler catches it."""


def _classifier(seed):
  import keras
  keras.utils.set_random_seed(seed)
  return BertClassifier(BertEncoder(CONFIG, vocab=VOCAB), labels=["a", "b"])


def _save(model, folder):
  tasks.get_task("classification", max_seq_length=16).save(model, folder)


def _weights(model):
  return [w.numpy() for w in model.weights]


def _moves(tmp_path):
  """How many `os.replace` calls one save makes."""
  calls = []
  real = os.replace

  def count(*args):
    calls.append(args)
    return real(*args)
  os.replace = count
  try:
    _save(_classifier(0), tmp_path / "count")
  finally:
    os.replace = real
  return len(calls)


@pytest.mark.parametrize("over_an_old_model", [False, True])
def test_a_save_killed_at_each_move_is_old_or_refused(tmp_path, monkeypatch,
                                                      over_an_old_model):
  old, new = _classifier(1), _classifier(2)
  moves = _moves(tmp_path)
  assert moves >= 5   # config.json, weights, vocab, tokenizer, marker, task
  for k in range(moves):
    folder = tmp_path / f"kill_after_{k}"
    if over_an_old_model:
      _save(old, folder)
    done = []
    real = os.replace

    def replace(src, dst):
      if len(done) == k:
        raise Killed()
      done.append(dst)
      return real(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(Killed):
      _save(new, folder)
    monkeypatch.setattr(os, "replace", real)
    # config.json goes first and comes back last: every reader refuses.
    assert not os.path.exists(folder / "config.json"), k
    with pytest.raises(ValueError, match="holds no config.json: a "
                       "save_pretrained there was cut short|Cannot recognise "
                       "a BERT checkpoint|holds no fine-tuned task model"):
      tasks.load(folder)
    # Saving again finishes it and leaves no staging folder behind.
    _save(new, folder)
    assert not [n for n in os.listdir(folder) if n.startswith(".staging-")]
    for a, b in zip(_weights(tasks.load(folder)[1]), _weights(new)):
      np.testing.assert_array_equal(a, b)


def test_a_save_killed_while_staging_leaves_the_old_model(tmp_path,
                                                         monkeypatch):
  old = _classifier(1)
  folder = tmp_path / "run"
  _save(old, folder)

  def killed(*args, **kwargs):
    raise Killed()
  monkeypatch.setattr(own, "write_vocab", killed)   # after the weights
  with pytest.raises(Killed):
    _save(_classifier(2), folder)
  for a, b in zip(_weights(tasks.load(folder)[1]), _weights(old)):
    np.testing.assert_array_equal(a, b)


def test_staging_folders_of_killed_saves_are_removed(tmp_path):
  folder = tmp_path / "enc"
  (folder / ".staging-abc").mkdir(parents=True)
  (folder / ".staging-abc" / "model.safetensors").write_bytes(b"half")
  own.save_pretrained(BertEncoder(CONFIG, vocab=VOCAB), str(folder))
  assert sorted(os.listdir(folder)) == [
      "config.json", "keras_bert_lab.json", "model.safetensors",
      "tokenizer_config.json", "vocab.txt"]
