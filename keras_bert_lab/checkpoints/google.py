"""Google's original TF1 checkpoints: `bert_config.json` + `bert_model.ckpt.*` + `vocab.txt`.

Read with `tf.train.load_checkpoint`; variable names are already this
package's canonical names (`bert/...`, `cls/...`). Neither keras-hub nor
transformers (5.x) reads these files any more, hence this small reader.
Optimizer slots (`adam_m`, `adam_v`, `global_step`, ...) are skipped.
"""

import glob
import os

import tensorflow as tf

from keras_bert_lab.config import BertConfig

_OPTIMIZER_LEAVES = frozenset({"adam_m", "adam_v", "Adam", "Adam_1",
                               "Momentum", "global_step"})


def find_checkpoint_prefix(folder):
  """Returns the checkpoint prefix (e.g. `folder/bert_model.ckpt`) in `folder`.

  Raises:
    ValueError: none, or several without a `checkpoint` state file; the
      message lists the `.index` files found.
  """
  latest = tf.train.latest_checkpoint(folder)
  if latest:
    return latest
  indexes = sorted(glob.glob(os.path.join(folder, "*.index")))
  if len(indexes) == 1:
    return indexes[0][:-len(".index")]
  preferred = os.path.join(folder, "bert_model.ckpt.index")
  if preferred in indexes:
    return preferred[:-len(".index")]
  raise ValueError(
      f"Cannot pick a TF checkpoint in {folder!r}: found "
      f"{[os.path.basename(i) for i in indexes] or 'no *.index file'}. "
      "Keep one checkpoint (bert_model.ckpt.index + .data-*) in the folder.")


def read_google_folder(folder):
  """Reads a Google BERT folder into canonical weights.

  Args:
    folder: contains `bert_config.json`, `bert_model.ckpt.index` and
      `.data-*`, and usually `vocab.txt`.

  Returns:
    `(config, weights, vocab_path_or_None, lower_case_or_None)`; `lower_case`
    is taken from the folder name as Google's releases encode it
    (`uncased_L-12_...` / `cased_L-12_...`), else None.

  Example:
    >>> config, weights, vocab, lower = read_google_folder("uncased_L-2_H-128_A-2/")
  """
  config = BertConfig.from_json_file(os.path.join(folder, "bert_config.json"))
  reader = tf.train.load_checkpoint(find_checkpoint_prefix(folder))
  weights = {
      name: reader.get_tensor(name)
      for name in reader.get_variable_to_shape_map()
      if name.rsplit("/", 1)[-1] not in _OPTIMIZER_LEAVES
  }
  vocab = os.path.join(folder, "vocab.txt")
  base = os.path.basename(os.path.normpath(folder)).lower()
  lower_case = True if "uncased" in base else (False if "cased" in base
                                               else None)
  return config, weights, (vocab if os.path.exists(vocab) else None), lower_case
