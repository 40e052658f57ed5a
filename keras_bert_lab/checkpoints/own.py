"""This package's `save_pretrained` folder: HF layout plus a marker file.

`config.json` + `model.safetensors` use Hugging Face's names, so transformers
reads the folder too; `vocab.txt` and `tokenizer_config.json`
(`do_lower_case`) carry the vocabulary; `keras_bert_lab.json` marks the
folder as ours and records `lower_case`. Keras' own `.keras` format would
keep neither HF readability nor BERT's names, hence this writer.
"""

import json
import os

from keras_bert_lab.checkpoints.hf import write_hf_folder
from keras_bert_lab.checkpoints.names import get_weights
from keras_bert_lab.text.vocab_io import write_vocab

MARKER = "keras_bert_lab.json"
# Written by task models (keras_bert_lab.models.task_models) next to the weights.
TASK_FILE = "task.json"
FORMAT_VERSION = 1


def save_pretrained(model, path, architecture=None, extra_config=None):
  """Writes a `BertEncoder`, `BertPretrainer` or task model to the folder `path`.

  Args:
    model: the model; its `vocab` (if any) and `lower_case` are written too.
    path: folder, created if missing; existing files of the same names are
      replaced.
    architecture: HF class name written to `config.json`'s `architectures`
      (task models pass theirs, e.g. `"BertForSequenceClassification"`);
      giving one writes the layout with heads.
    extra_config: more `config.json` keys (`id2label`, `problem_type`, ...).

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
  os.makedirs(path, exist_ok=True)
  stale = os.path.join(path, TASK_FILE)
  if os.path.exists(stale):  # a task model rewrites it after this call
    os.remove(stale)
  with_heads = (getattr(model, "masked_lm", None) is not None
                or architecture is not None)
  write_hf_folder(path, model.config, get_weights(model), with_heads,
                  architecture, extra_config)
  if model.vocab is not None:
    write_vocab(model.vocab, os.path.join(path, "vocab.txt"))
  with open(os.path.join(path, "tokenizer_config.json"), "w",
            encoding="utf-8") as f:
    json.dump({"do_lower_case": model.lower_case,
               "tokenizer_class": "BertTokenizer"}, f, indent=2)
  with open(os.path.join(path, MARKER), "w", encoding="utf-8") as f:
    json.dump({"format_version": FORMAT_VERSION,
               "lower_case": model.lower_case}, f, indent=2)
