"""Hugging Face layout: `config.json` + `model.safetensors` (+ `vocab.txt`).

Names are converted by one rule and its inverse (canonical Google names <->
HF `BertModel` / `BertForPreTraining` / `BertForMaskedLM` keys; dense kernels
transposed), plus the fine-tuning heads: `output_weights`/`output_bias`
(Google's run_classifier.py) <-> `classifier.weight/bias` (HF's
`BertForSequenceClassification`, `BertForTokenClassification`,
`BertForMultipleChoice`) and `cls/squad/output_weights/bias` (run_squad.py)
<-> `qa_outputs.weight/bias` (`BertForQuestionAnswering`); both layouts keep
these as `[num_outputs, H]`, so they are not transposed. A structurally
pruned model is written zero-padded to full width (`pad_pruned`), which every
transformers version loads as the same function, and cut back on reading;
HF 4 folders in the `pruned_heads` layout are read too. transformers converts to PyTorch and keras-hub reads HF folders
only into its own `BertBackbone` layout (no heads, tanh GELU), so neither
could fill this package's model; the conversion is written here. Pickle
files (`pytorch_model.bin`) are refused, never unpickled.
"""

import json
import logging
import os

import numpy as np
import safetensors.numpy
import safetensors.tensorflow

from keras_bert_lab.checkpoints.names import block_slices, head_columns
from keras_bert_lab.config import BertConfig, read_json

logger = logging.getLogger("keras_bert_lab")

# HF buffers that are not weights.
_BUFFERS = ("embeddings.position_ids",)

# Fine-tuning heads: canonical name <-> HF key (same [out, in] layout).
_HEADS = {
    "output_weights": "classifier.weight",
    "output_bias": "classifier.bias",
    "cls/squad/output_weights": "qa_outputs.weight",
    "cls/squad/output_bias": "qa_outputs.bias",
}
_HEADS_FROM_HF = {v: k for k, v in _HEADS.items()}
# HF keys outside the `bert.` base model in task and pre-training layouts.
HEAD_PREFIXES = ("cls.", "classifier.", "qa_outputs.")


def canonical_to_hf(name):
  """Returns `(hf_key, transpose)` for a canonical (Google) variable name.

  Encoder keys have no `bert.` prefix (the `BertModel` layout); add it for
  `BertForPreTraining`. `transpose` says whether the array is a dense kernel
  (`[in, out]` in Google's layout, `[out, in]` in PyTorch's).

  Example:
    >>> canonical_to_hf("bert/encoder/layer_0/attention/self/query/kernel")
    ('encoder.layer.0.attention.self.query.weight', True)
  """
  if name in _HEADS:
    return _HEADS[name], False
  if name == "cls/predictions/output_bias":
    return "cls.predictions.bias", False
  if name.startswith("cls/seq_relationship/output_"):
    leaf = "weight" if name.endswith("weights") else "bias"
    return f"cls.seq_relationship.{leaf}", False
  path = name.removeprefix("bert/")
  if path.startswith("embeddings/") and path.endswith("_embeddings"):
    return path.replace("/", ".") + ".weight", False
  path, leaf = path.rsplit("/", 1)
  path = path.replace("layer_", "layer.").replace("/", ".")
  hf_leaf = {"kernel": "weight", "bias": "bias", "gamma": "weight",
             "beta": "bias"}[leaf]
  return f"{path}.{hf_leaf}", leaf == "kernel"


def hf_to_canonical(key):
  """Inverse of `canonical_to_hf`: `(canonical name, transpose)` of an HF key.

  Accepts keys with or without the `bert.` prefix and old-style
  `LayerNorm.gamma/beta` names.

  Example:
    >>> hf_to_canonical("bert.pooler.dense.weight")
    ('bert/pooler/dense/kernel', True)
  """
  key = key.removeprefix("bert.")
  if key in _HEADS_FROM_HF:
    return _HEADS_FROM_HF[key], False
  if key == "cls.predictions.bias":
    return "cls/predictions/output_bias", False
  if key.startswith("cls.seq_relationship."):
    leaf = "weights" if key.endswith(".weight") else "bias"
    return f"cls/seq_relationship/output_{leaf}", False
  path, leaf = key.rsplit(".", 1)
  name = path.replace("layer.", "layer_").replace(".", "/")
  if not key.startswith("cls."):
    name = "bert/" + name
  if name.endswith("_embeddings"):
    return name, False
  if name.endswith("LayerNorm"):
    return name + ("/gamma" if leaf in ("weight", "gamma") else "/beta"), False
  return name + ("/kernel" if leaf == "weight" else "/bias"), leaf == "weight"


def _load_file(path):
  # The TF reader, unlike the numpy one, understands bfloat16 files.
  try:
    tensors = safetensors.tensorflow.load_file(path)
  except (safetensors.SafetensorError, OSError) as e:
    raise ValueError(
        f"Cannot read {path}: {e}. The file is cut short or is not "
        "safetensors; download or save it again. Nothing was changed.") from e
  return {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}


def _read_safetensors(folder):
  single = os.path.join(folder, "model.safetensors")
  if os.path.exists(single):
    return _load_file(single)
  index = os.path.join(folder, "model.safetensors.index.json")
  shards = sorted(set(read_json(index)["weight_map"].values()))
  tensors = {}
  for shard in shards:
    # A shard is a file of this folder: a name that reaches outside it
    # ("../x", "/x") is refused, and a missing one is named.
    path = os.path.join(folder, shard)
    if os.path.basename(shard) != shard or shard in ("", ".", ".."):
      raise ValueError(f"{index}: shard {shard!r} is not a file name in "
                       f"{folder}; only the folder's own files are read.")
    if not os.path.exists(path):
      raise ValueError(f"{index} names shard {shard!r}, which {folder} does "
                       "not hold; download or save the model again.")
    tensors.update(_load_file(path))
  return tensors


def hf_tensors_to_canonical(tensors, source):
  """Converts HF state-dict arrays to `{canonical name: array}`.

  The tied MLM decoder (`cls.predictions.decoder.weight/bias`) is dropped
  when it equals the word embeddings / output bias it is tied to; if it
  differs it is kept under its HF name so that it is reported unused.
  Unknown keys are kept under their HF names for the same reason.

  Args:
    tensors: `{hf key: numpy array}`.
    source: used in log lines.

  Returns:
    `{name: float32 array}`.

  Example:
    >>> import numpy as np
    >>> weights = hf_tensors_to_canonical({
    ...     "bert.pooler.dense.weight": np.eye(2, 3),
    ...     "cls.predictions.bias": np.zeros(4),
    ...     "cls.predictions.decoder.bias": np.zeros(4)}, "example")
    >>> {name: w.shape for name, w in weights.items()}   # transposed, untied
    {'bert/pooler/dense/kernel': (3, 2), 'cls/predictions/output_bias': (4,)}
  """
  tensors = {k.removeprefix("bert."): v for k, v in tensors.items()
             if k.removeprefix("bert.") not in _BUFFERS}
  weights = {}
  for key, value in tensors.items():
    if key.startswith("cls.predictions.decoder."):
      continue
    name, transpose = hf_to_canonical(key)
    value = np.asarray(value, dtype=np.float32)
    weights[name] = np.ascontiguousarray(value.T) if transpose else value
  tied = {
      "cls.predictions.decoder.weight": "bert/embeddings/word_embeddings",
      "cls.predictions.decoder.bias": "cls/predictions/output_bias",
  }
  for key, name in tied.items():
    if key not in tensors:
      continue
    value = np.asarray(tensors[key], dtype=np.float32)
    if name not in weights:
      weights[name] = value
    elif not np.array_equal(weights[name], value):
      logger.warning("%s: %s differs from %s it is tied to in BERT; this "
                     "model ties them and uses %s.", source, key, name, name)
      weights[key] = value
  return weights


def _pruned_rows(config, layer):
  """`{name: (axis, kept indices, full size)}` of a pruned layer's weights."""
  rows = {}
  if layer in config.pruned_heads:
    heads = [h for h in range(config.num_heads)
             if h not in config.pruned_heads[layer]]
    columns = head_columns(heads, config.hidden_size // config.num_heads)
    for name, (axis, kept) in block_slices(layer, columns=columns).items():
      rows[name] = axis, kept, config.hidden_size
  width = config.layer_intermediate_size(layer)
  if width < config.intermediate_size:
    for name, (axis, kept) in block_slices(
        layer, neurons=np.arange(width)).items():
      rows[name] = axis, kept, config.intermediate_size
  return rows


def pad_pruned(config, weights):
  """Zero-pads a pruned model's weights to the unpruned shapes.

  transformers 5 removed `prune_heads` and has no per-layer feed-forward
  width, so a pruned model is written at full width: a pruned head's
  query, key and value are zero (uniform attention over zero values) and
  its rows of the output projection are zero, and pruned feed-forward
  neurons have zero weights in and out (GELU(0) = 0). The function is
  unchanged.

  Args:
    config: the pruned `BertConfig`.
    weights: `{canonical name: array}` in the pruned shapes.

  Returns:
    A new dict at full width (`weights` itself for an unpruned config).

  Example:
    >>> import numpy as np
    >>> config = BertConfig(hidden_size=8, num_layers=1, num_heads=2,
    ...                     intermediate_size=16, intermediate_sizes=[5],
    ...                     pruned_heads={0: [0]})
    >>> name = "bert/encoder/layer_0/attention/output/dense/kernel"
    >>> padded = pad_pruned(config, {name: np.ones([4, 8])})
    >>> padded[name].shape, bool(padded[name][:4].any()), bool(padded[name][4:].all())
    ((8, 8), False, True)
  """
  if not config.is_pruned:
    return weights
  weights = dict(weights)
  for layer in range(config.num_layers):
    for name, (axis, kept, size) in _pruned_rows(config, layer).items():
      if name in weights:
        value = weights[name]
        shape = list(value.shape)
        shape[axis] = size
        full = np.zeros(shape, value.dtype)
        index = [slice(None)] * value.ndim
        index[axis] = kept
        full[tuple(index)] = value
        weights[name] = full
  return weights


def cut_pruned(config, weights):
  """Inverse of `pad_pruned`: full-width arrays back to the pruned shapes.

  Arrays already in the pruned shapes (an HF 4 folder written with
  `prune_heads`, whose `config.json` has `pruned_heads`) are kept as they
  are.

  Args:
    config: the pruned `BertConfig` read from the same folder.
    weights: `{canonical name: array}` as in the file.

  Returns:
    A new dict (`weights` itself for an unpruned config).

  Example:
    >>> import numpy as np
    >>> config = BertConfig(hidden_size=8, num_layers=1, num_heads=2,
    ...                     intermediate_size=16, pruned_heads={0: [0]})
    >>> name = "bert/encoder/layer_0/attention/self/query/kernel"
    >>> cut_pruned(config, {name: np.ones([8, 8])})[name].shape
    (8, 4)
  """
  if not config.is_pruned:
    return weights
  weights = dict(weights)
  for layer in range(config.num_layers):
    for name, (axis, kept, _) in _pruned_rows(config, layer).items():
      if name in weights and weights[name].shape[axis] != len(kept):
        weights[name] = np.take(weights[name], kept, axis=axis)
  return weights


def read_hf_folder(folder):
  """Reads an HF BERT folder into canonical weights.

  Args:
    folder: contains `config.json` and `model.safetensors` (or a sharded
      `model.safetensors.index.json`); `vocab.txt` and `tokenizer_config.json`
      are read when present.

  Returns:
    `(config, weights, vocab_path_or_None, lower_case_or_None)`.

  Example:
    >>> import tempfile
    >>> from keras_bert_lab.checkpoints.names import get_weights
    >>> from keras_bert_lab.models import BertEncoder
    >>> config = BertConfig(vocab_size=10, hidden_size=8, num_layers=1,
    ...                     num_heads=2, intermediate_size=16)
    >>> folder = tempfile.mkdtemp()
    >>> write_hf_folder(folder, config, get_weights(BertEncoder(config)),
    ...                 with_heads=False)
    >>> read_config, weights, vocab, lower = read_hf_folder(folder)
    >>> read_config == config, len(weights), vocab, lower
    (True, 23, None, None)
  """
  config = BertConfig.from_json_file(os.path.join(folder, "config.json"))
  weights = cut_pruned(
      config, hf_tensors_to_canonical(_read_safetensors(folder), folder))
  vocab = os.path.join(folder, "vocab.txt")
  lower_case = None
  tokenizer_config = os.path.join(folder, "tokenizer_config.json")
  if os.path.exists(tokenizer_config):
    lower_case = read_json(tokenizer_config).get("do_lower_case")
  return config, weights, (vocab if os.path.exists(vocab) else None), lower_case


def write_hf_folder(folder, config, weights, with_heads, architecture=None,
                    extra_config=None):
  """Writes `config.json` and `model.safetensors` in HF's layout.

  Args:
    folder: existing folder.
    config: the `BertConfig`.
    weights: `{canonical name: array}`.
    with_heads: True writes the layout of an HF model with heads (`bert.`
      prefix on the encoder, heads `cls.*`, `classifier.*`, `qa_outputs.*`
      at top level), False the `BertModel` layout.
    architecture: HF class name for `architectures` (e.g.
      `"BertForSequenceClassification"`); by default derived from the heads.
    extra_config: more `config.json` keys (e.g. `id2label`, `problem_type`).

  Example:
    >>> import json, os, tempfile
    >>> import numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> weights = {"bert/pooler/dense/kernel": np.zeros([8, 8], np.float32),
    ...            "output_weights": np.zeros([3, 8], np.float32)}
    >>> write_hf_folder(folder, BertConfig(hidden_size=8, num_heads=2), weights,
    ...                 with_heads=True,
    ...                 architecture="BertForSequenceClassification")
    >>> sorted(os.listdir(folder))
    ['config.json', 'model.safetensors']
    >>> json.load(open(os.path.join(folder, "config.json")))["architectures"]
    ['BertForSequenceClassification']
    >>> sorted(safetensors.numpy.load_file(
    ...     os.path.join(folder, "model.safetensors")))
    ['bert.pooler.dense.weight', 'classifier.weight']
  """
  tensors = {}
  for name, value in pad_pruned(config, weights).items():
    key, transpose = canonical_to_hf(name)
    if with_heads and not key.startswith(HEAD_PREFIXES):
      key = "bert." + key
    tensors[key] = np.ascontiguousarray(value.T if transpose else value)
  safetensors.numpy.save_file(tensors, os.path.join(folder, "model.safetensors"),
                              metadata={"format": "pt"})
  values = config.to_hf_dict()
  if with_heads and "cls/seq_relationship/output_weights" not in weights:
    values["architectures"] = ["BertForMaskedLM"]
  elif not with_heads:
    values["architectures"] = ["BertModel"]
  if architecture is not None:
    values["architectures"] = [architecture]
  values.update(extra_config or {})
  with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
    json.dump(values, f, indent=2, sort_keys=True)
    f.write("\n")
