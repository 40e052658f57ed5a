"""This package's `save_pretrained` folder: HF layout plus a marker file.

`config.json` + `model.safetensors` use Hugging Face's names, so transformers
reads the folder too; `vocab.txt` and `tokenizer_config.json`
(`do_lower_case`) carry the vocabulary; `keras_bert_lab.json` marks the
folder as ours and records `lower_case`. Keras' own `.keras` format would
keep neither HF readability nor BERT's names, hence this writer.
"""

import glob
import json
import os
import shutil
import tempfile

from keras_bert_lab.checkpoints.hf import write_hf_folder
from keras_bert_lab.checkpoints.names import get_weights
from keras_bert_lab.text.vocab_io import write_vocab

MARKER = "keras_bert_lab.json"
# Written by task models (keras_bert_lab.models.task_models) next to the weights.
TASK_FILE = "task.json"
FORMAT_VERSION = 1
# Moved into the folder last: every reader needs it, so a folder killed
# while it is written is never read as a model.
COMMIT_FILE = "config.json"


def save_pretrained(model, path, architecture=None, extra_config=None,
                    extra_json=None):
  """Writes a `BertEncoder`, `BertPretrainer` or task model to the folder `path`.

  Args:
    model: the model; its `vocab` (if any) and `lower_case` are written too.
    path: folder, created if missing; existing files of the same names are
      replaced.
    architecture: HF class name written to `config.json`'s `architectures`
      (task models pass theirs, e.g. `"BertForSequenceClassification"`);
      giving one writes the layout with heads.
    extra_config: more `config.json` keys (`id2label`, `problem_type`, ...).
    extra_json: `{file name: dict}`, more JSON files of the folder (a task
      model's `task.json`), written with the rest.

  The files are written to a hidden folder inside `path`, then moved in,
  `config.json` last (removed first when it exists): a kill at any moment
  leaves the previous folder, or one without `config.json` that every
  reader refuses ("holds no config.json: a save_pretrained there was cut
  short"), never a mix that reads as a model. Saving again finishes it and removes what a killed save
  left.

  Raises:
    ValueError: a vocabulary token that a `vocab.txt` cannot hold (see
      `keras_bert_lab.text.write_vocab`).

  Example:
    >>> import os, tempfile
    >>> from keras_bert_lab.config import BertConfig
    >>> from keras_bert_lab.models import BertEncoder
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hi"]
    >>> encoder = BertEncoder(BertConfig(
    ...     vocab_size=6, hidden_size=8, num_layers=1, num_heads=2,
    ...     intermediate_size=16), vocab=vocab, lower_case=True)
    >>> folder = os.path.join(tempfile.mkdtemp(), "bert")
    >>> save_pretrained(encoder, folder)
    >>> sorted(os.listdir(folder))
    ['config.json', 'keras_bert_lab.json', 'model.safetensors',
     'tokenizer_config.json', 'vocab.txt']
  """
  path = os.fspath(path)
  os.makedirs(path, exist_ok=True)
  for killed in glob.glob(os.path.join(path, ".staging-*")):
    shutil.rmtree(killed, ignore_errors=True)
  staging = tempfile.mkdtemp(prefix=".staging-", dir=path)
  try:
    with_heads = (getattr(model, "masked_lm", None) is not None
                  or architecture is not None)
    write_hf_folder(staging, model.config, get_weights(model), with_heads,
                    architecture, extra_config)
    if model.vocab is not None:
      write_vocab(model.vocab, os.path.join(staging, "vocab.txt"))
    files = {"tokenizer_config.json": {"do_lower_case": model.lower_case,
                                       "tokenizer_class": "BertTokenizer"},
             MARKER: {"format_version": FORMAT_VERSION,
                      "lower_case": model.lower_case},
             **(extra_json or {})}
    for name, values in files.items():
      with open(os.path.join(staging, name), "w", encoding="utf-8") as f:
        json.dump(values, f, indent=2)
        f.write("\n")
    _commit(staging, path)
  finally:
    shutil.rmtree(staging, ignore_errors=True)


def _commit(staging, path):
  """Moves the staged files into `path`, `COMMIT_FILE` last."""
  names = sorted(os.listdir(staging), key=lambda n: n == COMMIT_FILE)
  if os.path.exists(os.path.join(path, COMMIT_FILE)):
    os.remove(os.path.join(path, COMMIT_FILE))
  if TASK_FILE not in names and os.path.exists(os.path.join(path, TASK_FILE)):
    os.remove(os.path.join(path, TASK_FILE))   # an encoder over a task model
  for name in names:
    os.replace(os.path.join(staging, name), os.path.join(path, name))
