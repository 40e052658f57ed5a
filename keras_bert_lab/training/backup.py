"""Keras' `BackupAndRestore`, plus the dropout seed states it leaves out.

Keras 3 keeps each `SeedGenerator`'s state (the counter behind dropout's
random masks) out of `model.weights`, so `save_weights`, and with it
`keras.callbacks.BackupAndRestore`, does not back it up: a resumed `fit`
draws other dropout masks than an uninterrupted one. `SeedBackupAndRestore`
saves those states next to Keras' backup (`seed_states.npz`, tagged with the
epoch it belongs to, written under a temporary name and then renamed) and
restores them with it; everything else is Keras' own callback.
"""

import logging
import os

import keras
import numpy as np

from keras_bert_lab.config import read_json

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

  def _save_model(self):
    super()._save_model()
    if self.double_checkpoint and os.path.exists(self._seeds_path):
      os.replace(self._seeds_path, f"{self._seeds_path}.bkp")
    states = {f"s{i}": v.numpy() for i, v in enumerate(seed_states(self.model))}
    temporary = f"{self._seeds_path}.tmp.npz"
    np.savez(temporary, epoch=self._current_epoch, **states)
    os.replace(temporary, self._seeds_path)

  def _load_model(self):
    super()._load_model()
    if not os.path.exists(self._training_metadata_path):
      return
    epoch = read_json(self._training_metadata_path)["epoch"]
    for path in (self._seeds_path, f"{self._seeds_path}.bkp"):
      if os.path.exists(path):
        with np.load(path) as saved:
          if int(saved["epoch"]) == epoch:
            for i, variable in enumerate(seed_states(self.model)):
              variable.assign(saved[f"s{i}"])
            return
    logger.warning("%s holds no dropout seed states for epoch %d: the "
                   "resumed run draws other dropout masks.", self.backup_dir,
                   epoch)
