"""`BertConfig`: BERT's hyper-parameters, presets, and the two on-disk formats.

Google's `bert_config.json` and Hugging Face's `config.json` carry the same
numbers under the same names (HF adds `layer_norm_eps` and bookkeeping keys).
keras-hub's `BertBackbone` takes its own argument names and has no reader for
either file nor a way to pick the exact (erf) GELU, so this small dataclass is
written by hand. Keys this package does not use are logged, never kept.
"""

import dataclasses
import json
import logging
import os

logger = logging.getLogger("keras_bert_lab")

HIDDEN_ACTS = ("gelu", "gelu_approximate")

# name -> (num_layers, hidden_size); heads = H / 64, intermediate = 4 H.
# Turc et al. 2019 ("Well-Read Students Learn Better") and the BERT paper.
_PRESETS = {
    "tiny": (2, 128),
    "mini": (4, 256),
    "small": (4, 512),
    "medium": (8, 512),
    "base": (12, 768),
    "large": (24, 1024),
}

# Our field name -> the key both Google and HF use.
_FILE_KEYS = {
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "num_layers": "num_hidden_layers",
    "num_heads": "num_attention_heads",
    "intermediate_size": "intermediate_size",
    "hidden_act": "hidden_act",
    "hidden_dropout_prob": "hidden_dropout_prob",
    "attention_probs_dropout_prob": "attention_probs_dropout_prob",
    "max_position_embeddings": "max_position_embeddings",
    "type_vocab_size": "type_vocab_size",
    "initializer_range": "initializer_range",
    "layer_norm_eps": "layer_norm_eps",
}

# File spellings of the activations -> ours. HF's "gelu" is erf-exact;
# "gelu_new" and "gelu_pytorch_tanh" are the tanh approximation.
_ACT_FROM_FILE = {
    "gelu": "gelu",
    "gelu_approximate": "gelu_approximate",
    "gelu_new": "gelu_approximate",
    "gelu_pytorch_tanh": "gelu_approximate",
}
_ACT_TO_HF = {"gelu": "gelu", "gelu_approximate": "gelu_new"}

# config.json key of a pruned model's per-layer shapes (see to_hf_dict).
PRUNING_KEY = "keras_bert_lab_pruning"

# Pure bookkeeping that changes nothing in the model; dropped without a log.
_BOOKKEEPING_KEYS = frozenset({
    "architectures", "model_type", "transformers_version", "_name_or_path",
    "torch_dtype", "dtype", "pad_token_id", "use_cache",
    "gradient_checkpointing", "classifier_dropout", "directionality",
    "output_past", "tie_word_embeddings",
    # Task heads' metadata, read by keras_bert_lab.models.task_models.
    "id2label", "label2id", "problem_type", "num_labels",
})

# Keys whose non-default values would change the model into one we do not
# build: key -> the only accepted value.
_REQUIRED_VALUES = {
    "position_embedding_type": "absolute",
    "is_decoder": False,
    "add_cross_attention": False,
}


@dataclasses.dataclass
class BertConfig:
  """BERT's architecture hyper-parameters (names as in the BERT paper's code).

  Args:
    vocab_size: rows of the word-embedding table.
    hidden_size: width H of every layer.
    num_layers: number of transformer blocks L.
    num_heads: attention heads A; must divide `hidden_size`.
    intermediate_size: width of the feed-forward layer (4 H in the paper).
    hidden_act: `"gelu"` (exact, erf, as in BERT's code and HF) or
      `"gelu_approximate"` (tanh, as in keras-hub).
    hidden_dropout_prob: dropout on embeddings and sub-layer outputs.
    attention_probs_dropout_prob: dropout on attention probabilities.
    max_position_embeddings: longest sequence the position table covers.
    type_vocab_size: number of segment (token type) ids.
    initializer_range: stddev of the truncated-normal initializer.
    layer_norm_eps: LayerNorm epsilon (1e-12 in BERT).
    pruned_heads: `{layer: head indices}` removed by structured pruning,
      numbered as in the unpruned layer (HF's `pruned_heads`); each layer
      keeps at least one head of width `hidden_size / num_heads`.
    intermediate_sizes: per-layer feed-forward widths after pruning (each
      at most `intermediate_size`), or None for `intermediate_size` in every
      layer.

  Example:
    >>> cfg = BertConfig.preset("tiny", vocab_size=1000)
    >>> cfg.num_heads, cfg.intermediate_size
    (2, 512)
    >>> pruned = BertConfig.preset("tiny", pruned_heads={"1": [0]},
    ...                            intermediate_sizes=[512, 100])
    >>> pruned.layer_heads(1), pruned.layer_intermediate_size(1)
    (1, 100)
  """

  vocab_size: int = 30522
  hidden_size: int = 768
  num_layers: int = 12
  num_heads: int = 12
  intermediate_size: int = 3072
  hidden_act: str = "gelu"
  hidden_dropout_prob: float = 0.1
  attention_probs_dropout_prob: float = 0.1
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  initializer_range: float = 0.02
  layer_norm_eps: float = 1e-12
  pruned_heads: dict = dataclasses.field(default_factory=dict)
  intermediate_sizes: tuple = None

  def __post_init__(self):
    if self.hidden_act not in HIDDEN_ACTS:
      raise ValueError(
          f"BertConfig.hidden_act={self.hidden_act!r} is not supported; use "
          f"one of {HIDDEN_ACTS} ('gelu' is exact erf GELU as in BERT and HF, "
          "'gelu_approximate' the tanh form keras-hub uses).")
    if self.hidden_size % self.num_heads:
      raise ValueError(
          f"BertConfig.hidden_size={self.hidden_size} is not divisible by "
          f"num_heads={self.num_heads}; pick num_heads dividing hidden_size "
          "(BERT uses hidden_size / 64).")
    for name in ("vocab_size", "hidden_size", "num_layers", "num_heads",
                 "intermediate_size", "max_position_embeddings",
                 "type_vocab_size"):
      value = getattr(self, name)
      if not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"BertConfig.{name}={value!r} must be a positive integer.")
    self._check_pruning()

  def _check_pruning(self):
    # JSON turns the layer keys into strings; keep ints and sorted tuples.
    try:
      self.pruned_heads = {
          int(layer): tuple(sorted({int(h) for h in heads}))
          for layer, heads in (self.pruned_heads or {}).items() if heads}
    except (TypeError, ValueError, AttributeError):
      raise ValueError(
          f"BertConfig.pruned_heads={self.pruned_heads!r} must map layer "
          "indices to lists of head indices, e.g. {0: [1, 3]}.") from None
    for layer, heads in self.pruned_heads.items():
      if not 0 <= layer < self.num_layers:
        raise ValueError(
            f"BertConfig.pruned_heads names layer {layer}; the model has "
            f"layers 0 to {self.num_layers - 1}.")
      if heads[0] < 0 or heads[-1] >= self.num_heads:
        raise ValueError(
            f"BertConfig.pruned_heads[{layer}]={list(heads)} names a head "
            f"outside 0 to {self.num_heads - 1}.")
      if len(heads) == self.num_heads:
        raise ValueError(
            f"BertConfig.pruned_heads[{layer}] removes all {self.num_heads} "
            "heads; every layer keeps at least one.")
    if self.intermediate_sizes is None:
      return
    sizes = tuple(self.intermediate_sizes)
    if len(sizes) != self.num_layers or not all(
        isinstance(n, int) and 0 < n <= self.intermediate_size for n in sizes):
      raise ValueError(
          f"BertConfig.intermediate_sizes={list(sizes)} must give "
          f"{self.num_layers} widths (one per layer), each from 1 to "
          f"intermediate_size={self.intermediate_size}.")
    self.intermediate_sizes = (
        None if all(n == self.intermediate_size for n in sizes) else sizes)

  @property
  def is_pruned(self):
    """Whether any layer has lost heads or feed-forward neurons."""
    return bool(self.pruned_heads) or self.intermediate_sizes is not None

  def layer_heads(self, layer):
    """The number of attention heads left in block `layer`."""
    return self.num_heads - len(self.pruned_heads.get(layer, ()))

  def layer_intermediate_size(self, layer):
    """The feed-forward width of block `layer`."""
    if self.intermediate_sizes is None:
      return self.intermediate_size
    return self.intermediate_sizes[layer]

  def select_layers(self, layers):
    """This config restricted to the blocks `layers`, renumbered from 0.

    Args:
      layers: block indices, in the order the new model stacks them.

    Returns:
      A `BertConfig` with `len(layers)` blocks, each keeping its pruning.

    Example:
      >>> cfg = BertConfig.preset("tiny", num_layers=4, pruned_heads={3: [1]})
      >>> cfg.select_layers([1, 3]).pruned_heads
      {1: (1,)}
    """
    sizes = self.intermediate_sizes
    return dataclasses.replace(
        self, num_layers=len(layers),
        pruned_heads={i: self.pruned_heads[j] for i, j in enumerate(layers)
                      if j in self.pruned_heads},
        intermediate_sizes=(None if sizes is None
                            else tuple(sizes[j] for j in layers)))

  @classmethod
  def preset(cls, name, **overrides):
    """Returns the config of a published BERT size.

    Args:
      name: one of `tiny mini small medium base large` (L2/H128, L4/H256,
        L4/H512, L8/H512, L12/H768, L24/H1024; heads H/64, intermediate 4H).
      **overrides: fields to change, e.g. `vocab_size=8000`.

    Returns:
      A `BertConfig`.

    Example:
      >>> BertConfig.preset("base").num_layers
      12
    """
    if name not in _PRESETS:
      raise ValueError(
          f"Unknown BertConfig preset {name!r}; choose one of "
          f"{', '.join(_PRESETS)}.")
    num_layers, hidden = _PRESETS[name]
    fields = dict(num_layers=num_layers, hidden_size=hidden,
                  num_heads=hidden // 64, intermediate_size=4 * hidden)
    fields.update(overrides)
    return cls(**fields)

  def to_dict(self):
    """Returns the fields as a plain dict (for Keras `get_config`).

    Returns:
      `{field name: value}` for every field, this package's names, in JSON
      types (`pruned_heads` keys are strings).

    Example:
      >>> BertConfig.preset("tiny").to_dict()["num_layers"]
      2
    """
    values = dataclasses.asdict(self)
    values["pruned_heads"] = {str(layer): list(heads)
                              for layer, heads in self.pruned_heads.items()}
    if self.intermediate_sizes is not None:
      values["intermediate_sizes"] = list(self.intermediate_sizes)
    return values

  @classmethod
  def from_dict(cls, values):
    """Builds a config from `to_dict()` output.

    Args:
      values: `{field name: value}`; missing fields take their defaults.

    Returns:
      A `BertConfig`.

    Raises:
      ValueError: an unknown field (e.g. a file's `num_hidden_layers`: use
        `from_file_dict` for those).

    Example:
      >>> cfg = BertConfig.preset("tiny")
      >>> BertConfig.from_dict(cfg.to_dict()) == cfg
      True
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
      raise ValueError(
          f"BertConfig got unknown fields {unknown}; known: {sorted(names)}.")
    return cls(**values)

  @classmethod
  def from_file_dict(cls, values, source="config"):
    """Builds a config from a Google `bert_config.json` or HF `config.json` dict.

    Args:
      values: the parsed JSON.
      source: where it came from, used in messages.

    Returns:
      A `BertConfig`. Keys this package does not use (other than HF
      bookkeeping such as `architectures`) are logged as a warning.

    Raises:
      ValueError: a required key is missing, the activation is unknown, or a
        key asks for a model we do not build (e.g. relative positions).

    Example:
      >>> hf = BertConfig.preset("tiny").to_hf_dict()
      >>> BertConfig.from_file_dict(hf) == BertConfig.preset("tiny")
      True
      >>> BertConfig.from_file_dict(dict(hf, hidden_act="gelu_new")).hidden_act
      'gelu_approximate'
    """
    fields = {}
    for field, key in _FILE_KEYS.items():
      if key in values:
        fields[field] = values[key]
      elif field != "layer_norm_eps":  # Google's file has none: 1e-12.
        raise ValueError(
            f"{source} lacks the key {key!r}; a BERT config needs "
            f"{sorted(set(_FILE_KEYS.values()) - {'layer_norm_eps'})}.")
    act = fields["hidden_act"]
    if act not in _ACT_FROM_FILE:
      raise ValueError(
          f"{source}: hidden_act={act!r} is not supported; accepted: "
          f"{sorted(_ACT_FROM_FILE)}.")
    fields["hidden_act"] = _ACT_FROM_FILE[act]
    for key, accepted in _REQUIRED_VALUES.items():
      if key in values and values[key] != accepted:
        raise ValueError(
            f"{source}: {key}={values[key]!r} describes a model this package "
            f"does not build; only {key}={accepted!r} is supported.")
    # HF 4's `prune_heads` wrote `pruned_heads`; ours (full-width weights,
    # which transformers 5 reads too) goes under PRUNING_KEY.
    pruning = values.get(PRUNING_KEY) or {}
    fields["pruned_heads"] = (values.get("pruned_heads")
                              or pruning.get("pruned_heads") or {})
    fields["intermediate_sizes"] = pruning.get("intermediate_sizes")
    unknown = sorted(set(values) - set(_FILE_KEYS.values())
                     - _BOOKKEEPING_KEYS - set(_REQUIRED_VALUES)
                     - {"pruned_heads", PRUNING_KEY})
    if unknown:
      logger.warning("%s: ignoring keys this package does not use: %s",
                     source, ", ".join(unknown))
    return cls(**fields)

  @classmethod
  def from_json_file(cls, path):
    """Reads a Google `bert_config.json` or an HF `config.json`.

    Args:
      path: the JSON file.

    Returns:
      A `BertConfig`.

    Raises:
      ValueError: the file is missing or not JSON, or its values are not a
        BERT this package builds (see `from_file_dict`).

    Example:
      >>> import os, tempfile
      >>> path = os.path.join(tempfile.mkdtemp(), "bert_config.json")
      >>> BertConfig.preset("mini", vocab_size=8000).write_google_json(path)
      >>> cfg = BertConfig.from_json_file(path)
      >>> cfg.num_layers, cfg.hidden_size, cfg.vocab_size
      (4, 256, 8000)
    """
    path = os.fspath(path)
    return cls.from_file_dict(read_json(path), source=path)

  def to_google_dict(self):
    """Returns the dict of Google's `bert_config.json`.

    Returns:
      The file's keys and values; no `layer_norm_eps` (Google's code fixes
      it at 1e-12).

    Raises:
      ValueError: a pruned config (Google's code builds full layers only).

    Example:
      >>> values = BertConfig.preset("tiny").to_google_dict()
      >>> values["num_hidden_layers"], "layer_norm_eps" in values
      (2, False)
    """
    if self.is_pruned:
      raise ValueError(
          "A pruned BertConfig has no bert_config.json form (Google's code "
          "builds every layer at full width); save it with save_pretrained.")
    values = {key: getattr(self, field) for field, key in _FILE_KEYS.items()}
    del values["layer_norm_eps"]
    return values

  def to_hf_dict(self):
    """Returns the dict of an HF `config.json` for a `BertModel`.

    Returns:
      The file's keys and values, with HF's activation names and
      bookkeeping (`model_type`, `architectures`). A pruned config adds
      `keras_bert_lab_pruning` (`pruned_heads`, `intermediate_sizes`):
      transformers ignores it and loads the zero-padded full-width weights
      (`checkpoints.hf.pad_pruned`) as the same function.

    Example:
      >>> values = BertConfig.preset("tiny", hidden_act="gelu_approximate").to_hf_dict()
      >>> values["model_type"], values["hidden_act"]
      ('bert', 'gelu_new')
    """
    values = {key: getattr(self, field) for field, key in _FILE_KEYS.items()}
    values["hidden_act"] = _ACT_TO_HF[self.hidden_act]
    values.update(model_type="bert", architectures=["BertForPreTraining"],
                  position_embedding_type="absolute", pad_token_id=0)
    if self.is_pruned:
      pruning = self.to_dict()
      values[PRUNING_KEY] = {key: pruning[key] for key in
                             ("pruned_heads", "intermediate_sizes")}
    return values

  def write_google_json(self, path):
    """Writes Google's `bert_config.json` (`to_google_dict`) to `path`.

    Args:
      path: the file to write.

    Example:
      >>> import os, tempfile
      >>> path = os.path.join(tempfile.mkdtemp(), "bert_config.json")
      >>> BertConfig.preset("tiny").write_google_json(path)
      >>> BertConfig.from_json_file(path) == BertConfig.preset("tiny")
      True
    """
    write_json(path, self.to_google_dict())

  def write_hf_json(self, path):
    """Writes HF's `config.json` (`to_hf_dict`) to `path`.

    Args:
      path: the file to write.

    Example:
      >>> import json, os, tempfile
      >>> path = os.path.join(tempfile.mkdtemp(), "config.json")
      >>> BertConfig.preset("tiny").write_hf_json(path)
      >>> json.load(open(path))["architectures"]
      ['BertForPreTraining']
    """
    write_json(path, self.to_hf_dict())


def read_json(path):
  """Reads a JSON file, or fails with an error that names it.

  Args:
    path: the file.

  Returns:
    The parsed value.

  Raises:
    ValueError: the file cannot be read, is not UTF-8 or is not JSON (cut
      short, for example), with the file's path and where it breaks.

  Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "task.json")
    >>> _ = open(path, "w").write('{"task": "clas')
    >>> read_json(path)
    Traceback (most recent call last):
    ...
    ValueError: Cannot read .../task.json: not valid JSON (...); it is cut
    short or damaged. Restore or rewrite the file; nothing was changed.
  """
  path = os.fspath(path)
  try:
    with open(path, encoding="utf-8-sig") as f:   # a BOM is allowed
      return json.load(f)
  except OSError as e:
    raise ValueError(f"Cannot read {path}: {e.strerror or e}.") from e
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    kind = "not UTF-8" if isinstance(e, UnicodeDecodeError) else "not valid JSON"
    raise ValueError(
        f"Cannot read {path}: {kind} ({e}); it is cut short or damaged. "
        "Restore or rewrite the file; nothing was changed.") from e


def write_json(path, values):
  """Writes `values` to `path` as indented JSON, keys sorted.

  Args:
    path: the file.
    values: JSON values.

  Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
    >>> write_json(path, {"steps": 4})
    >>> read_json(path)
    {'steps': 4}
  """
  with open(path, "w", encoding="utf-8") as f:
    json.dump(values, f, indent=2, sort_keys=True)
    f.write("\n")


def write_atomically(path, write):
  """Runs `write(temporary path)`, then renames the file to `path`.

  A reader (a restarted run, another worker of a cluster) sees the whole
  file or none of it, never a part, whenever the writer is killed.

  Args:
    path: the file (a `pathlib.Path`).
    write: `str -> None`, writes the file at the path it is given.

  Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.json"
    >>> write_atomically(path, lambda temporary: write_json(temporary, {}))
    >>> read_json(path)
    {}
  """
  temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
  write(str(temporary))
  os.replace(temporary, path)
