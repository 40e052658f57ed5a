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

  Args:
    folder: a folder holding one TF checkpoint (`<prefix>.index` and
      `<prefix>.data-*`), or several and a `checkpoint` state file.

  Returns:
    The prefix: the latest one the state file names, else the only one (or
    `bert_model.ckpt` among several).

  Raises:
    ValueError: none, or several without a `checkpoint` state file; the
      message lists the `.index` files found.

  Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = tf.train.Checkpoint(v=tf.Variable(1.0)).write(
    ...     os.path.join(folder, "model.ckpt"))
    >>> os.path.basename(find_checkpoint_prefix(folder))
    'model.ckpt'
    >>> find_checkpoint_prefix(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    ValueError: Cannot pick a TF checkpoint in '...': found no *.index file. ...
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
    >>> import os, tempfile
    >>> from keras_bert_lab.checkpoints.names import get_weights
    >>> from keras_bert_lab.models import BertEncoder
    >>> config = BertConfig(vocab_size=10, hidden_size=8, num_layers=1,
    ...                     num_heads=2, intermediate_size=16)
    >>> weights = get_weights(BertEncoder(config))
    >>> folder = os.path.join(tempfile.mkdtemp(), "uncased_L-1_H-8_A-2")
    >>> os.makedirs(folder)
    >>> config.write_google_json(os.path.join(folder, "bert_config.json"))
    >>> _ = tf.raw_ops.SaveV2(   # a TF1 checkpoint, as Google's releases
    ...     prefix=os.path.join(folder, "bert_model.ckpt"),
    ...     tensor_names=list(weights), shape_and_slices=[""] * len(weights),
    ...     tensors=list(weights.values()))
    >>> read_config, read_weights, vocab, lower = read_google_folder(folder)
    >>> read_config == config, sorted(read_weights) == sorted(weights)
    (True, True)
    >>> vocab, lower   # no vocab.txt here; "uncased" in the folder name
    (None, True)
  """
  config = BertConfig.from_json_file(os.path.join(folder, "bert_config.json"))
  prefix = find_checkpoint_prefix(folder)
  try:
    reader = tf.train.load_checkpoint(prefix)
    weights = {
        name: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if name.rsplit("/", 1)[-1] not in _OPTIMIZER_LEAVES
    }
  except (tf.errors.OpError, IndexError) as e:
    # A cut-short shard raises IndexError ("Read less bytes than requested").
    files = sorted(os.path.basename(f) for f in glob.glob(prefix + ".*"))
    raise ValueError(
        f"Cannot read the TF checkpoint {prefix} ({', '.join(files)}): "
        f"{getattr(e, 'message', e)}. A file is cut short or damaged; "
        "download the checkpoint again. Nothing was changed.") from e
  vocab = os.path.join(folder, "vocab.txt")
  base = os.path.basename(os.path.normpath(folder)).lower()
  lower_case = True if "uncased" in base else (False if "cased" in base
                                               else None)
  return config, weights, (vocab if os.path.exists(vocab) else None), lower_case
