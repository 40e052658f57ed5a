"""`SeedBackupAndRestore` backs up what Keras' `BackupAndRestore` leaves out."""

import json
import logging

import keras
import numpy as np
import pytest

from keras_bert_lab.training import SeedBackupAndRestore, seed_states


def _model():
  inputs = keras.Input([8])
  hidden = keras.layers.Dropout(0.5, seed=1)(keras.layers.Dense(8)(inputs))
  model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
  model.compile("sgd", "mse")
  return model


def _fit(model, backup_dir, epochs):
  x = np.ones([16, 8], np.float32)
  model.fit(x, x[:, :1], batch_size=4, epochs=epochs, verbose=0,
            callbacks=[SeedBackupAndRestore(str(backup_dir),
                                            double_checkpoint=True,
                                            delete_checkpoint=False)])


def _states(model):
  return [v.numpy() for v in seed_states(model)]


def test_seed_states_are_not_weights():
  model = _model()
  assert seed_states(model)
  weight_ids = {id(w) for w in model.weights}
  assert all(id(v) not in weight_ids for v in seed_states(model))


def test_resumed_model_gets_the_seed_states_of_its_epoch(tmp_path):
  keras.utils.set_random_seed(0)
  trained = _model()
  _fit(trained, tmp_path, 2)
  # Keras' own backup of the weights does not move the seed generators:
  # a fresh model restored from it alone would start from other states.
  fresh = _model()
  assert not all(np.array_equal(a, b) for a, b in
                 zip(_states(fresh), _states(trained)))
  backup = SeedBackupAndRestore(str(tmp_path), double_checkpoint=True)
  backup.set_model(fresh)
  backup.on_train_begin()
  for a, b in zip(_states(fresh), _states(trained)):
    np.testing.assert_array_equal(a, b)
  assert fresh._initial_epoch == 2


def test_states_of_another_epoch_are_not_used(tmp_path, caplog):
  keras.utils.set_random_seed(0)
  _fit(_model(), tmp_path, 2)
  # A kill between Keras' metadata and the seed file: epochs disagree.
  (tmp_path / "training_metadata.json").write_text(
      json.dumps({"epoch": 5, "batch": 0}))
  fresh = _model()
  before = _states(fresh)
  backup = SeedBackupAndRestore(str(tmp_path))
  backup.set_model(fresh)
  with caplog.at_level(logging.WARNING, logger="keras_bert_lab"):
    backup.on_train_begin()
  assert "no dropout seed states for epoch 5" in caplog.text
  for a, b in zip(_states(fresh), before):
    np.testing.assert_array_equal(a, b)


def _restored(backup_dir, caplog):
  """(initial epoch, warnings) of a fresh model restored from the folder."""
  backup = SeedBackupAndRestore(str(backup_dir), double_checkpoint=True)
  backup.set_model(_model())
  with caplog.at_level(logging.WARNING, logger="keras_bert_lab"):
    backup.on_train_begin()
  return backup.model._initial_epoch or 0, caplog.text


@pytest.mark.parametrize("damaged", ["training_metadata.json",
                                     "latest.weights.h5"])
def test_a_backup_cut_short_restores_the_one_before(tmp_path, caplog,
                                                    damaged):
  keras.utils.set_random_seed(0)
  _fit(_model(), tmp_path, 2)
  path = tmp_path / damaged
  path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
  assert _restored(tmp_path, caplog)[0] == 1   # the backup of epoch 1


@pytest.mark.parametrize("cut", ["metadata", "before_metadata"])
def test_a_first_backup_cut_short_starts_over(tmp_path, caplog, cut):
  keras.utils.set_random_seed(0)
  _fit(_model(), tmp_path, 1)
  metadata = tmp_path / "training_metadata.json"
  if cut == "metadata":
    metadata.write_text(metadata.read_text()[:5])
  else:
    metadata.unlink()
  epoch, warnings = _restored(tmp_path, caplog)
  assert epoch == 0
  assert not (tmp_path / "latest.weights.h5").exists()
  if cut == "metadata":
    assert "training_metadata.json: not valid JSON" in warnings
    assert "starts from the first step" in warnings
