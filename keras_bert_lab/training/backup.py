"""Keras' `BackupAndRestore`, plus the dropout seed states it leaves out.

Keras 3 keeps each `SeedGenerator`'s state (the counter behind dropout's
random masks) out of `model.weights`, so `save_weights`, and with it
`keras.callbacks.BackupAndRestore`, does not back it up: a resumed `fit`
draws other dropout masks than an uninterrupted one. `SeedBackupAndRestore`
saves those states next to Keras' backup (`seed_states.npz`, tagged with the
epoch it belongs to, written under a temporary name and then renamed) and
restores them with it; everything else is Keras' own callback.

A backup cut short (a kill, a full disk) is restored as Keras restores a
damaged one, from the previous backup (`double_checkpoint`): a damaged
`training_metadata.json` counts as damaged too (Keras would stop on its
JSON error), and a first backup that never finished (weights without their
metadata, or metadata cut short with nothing before it) is dropped, so the
run starts over instead of stopping. The seed states are written before
Keras writes the metadata that names their epoch. Each backup first checks
that it fits on the disk (`training.disk.check_free`): Keras' h5py writer
cannot stop cleanly half-way through a file.
"""

import logging
import os
import zipfile

import keras
import numpy as np

from keras_bert_lab.config import read_json
from keras_bert_lab.training.disk import check_free, variable_bytes

logger = logging.getLogger("keras_bert_lab")


def seed_states(model):
  """The model's variables that are not weights: its seed generators' states.

  Args:
    model: a built Keras model.

  Returns:
    A list of variables (dropout's `SeedGenerator` states, in a fixed order).

  Example:
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.1)])
    >>> [v.name for v in seed_states(model)]
    ['seed_generator_state']
  """
  weight_ids = {id(weight) for weight in model.weights}
  return [v for v in model.variables if id(v) not in weight_ids]


class SeedBackupAndRestore(keras.callbacks.BackupAndRestore):
  """`BackupAndRestore` that also backs up the dropout seed states.

  Args:
    backup_dir: as `keras.callbacks.BackupAndRestore` (a local folder).
    **kwargs: `save_freq`, `double_checkpoint`, `delete_checkpoint`.

  Example:
    >>> import tempfile
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dropout(0.1),
    ...                           keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> backup = SeedBackupAndRestore(tempfile.mkdtemp(),
    ...                               double_checkpoint=True)
    >>> x = np.ones((4, 2))
    >>> len(model.fit(x, x[:, :1], epochs=2, callbacks=[backup],
    ...               verbose=0).history["loss"])
    2
  """

  def __init__(self, backup_dir, **kwargs):
    super().__init__(backup_dir, **kwargs)
    self._seeds_path = os.path.join(backup_dir, "seed_states.npz")
    self._seeds_temporary = f"{self._seeds_path}.tmp.npz"

  def _save_model(self):
    # Keras' h5py writer cannot stop cleanly on a full disk: refuse first.
    os.makedirs(self.backup_dir, exist_ok=True)
    current = (os.path.getsize(self._weights_path)
               if os.path.exists(self._weights_path) else 0)
    new = current or variable_bytes(
        list(self.model.weights) + list(self.model.optimizer.variables))
    check_free(self.backup_dir, (2 if self.double_checkpoint else 1) * new
               if current else int(new * 1.1) + 2 ** 20,
               "the resume backup", "it resumes from the last backup")
    # The seeds are written whole before Keras writes the metadata that
    # names their epoch, so a kill in between leaves them findable.
    states = {f"s{i}": v.numpy() for i, v in enumerate(seed_states(self.model))}
    np.savez(self._seeds_temporary, epoch=self._current_epoch, **states)
    super()._save_model()
    if self.double_checkpoint and os.path.exists(self._seeds_path):
      os.replace(self._seeds_path, f"{self._seeds_path}.bkp")
    os.replace(self._seeds_temporary, self._seeds_path)

  def _load_model(self):
    metadata, weights = self._training_metadata_path, self._weights_path
    exists = os.path.exists(metadata)
    if exists:
      try:
        read_json(metadata)
      except ValueError as e:
        if os.path.exists(self._prev_training_metadata_path):
          raise OSError(str(e)) from e   # Keras restores the previous one
        logger.warning("%s; the first backup was cut short, so training "
                       "starts from the first step.", e)
        os.remove(metadata)
        exists = False
    if not exists and os.path.exists(weights):
      os.remove(weights)   # a first backup cut short before its metadata
    super()._load_model()
    if not exists:
      return
    epoch = read_json(self._training_metadata_path)["epoch"]
    for path in (self._seeds_path, f"{self._seeds_path}.bkp",
                 self._seeds_temporary):
      try:
        with np.load(path, allow_pickle=False) as saved:
          if int(saved["epoch"]) == epoch:
            for i, variable in enumerate(seed_states(self.model)):
              variable.assign(saved[f"s{i}"])
            return
      except (OSError, ValueError, zipfile.BadZipFile):
        continue   # missing, or cut short by a kill

    logger.warning("%s holds no dropout seed states for epoch %d: the "
                   "resumed run draws other dropout masks.", self.backup_dir,
                   epoch)
