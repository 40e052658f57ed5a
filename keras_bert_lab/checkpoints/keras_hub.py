"""keras-hub `BertBackbone` (object or saved preset folder) -> canonical weights.

keras-hub can load HF/Keras presets into its own backbone but has no export
to BERT's layout; this maps its variables by name plus reshapes of the
`[H, heads, head_size]` attention kernels. keras-hub's BERT uses the tanh
GELU, so the resulting config has `hidden_act="gelu_approximate"`.
"""

import os

import numpy as np

from keras_bert_lab.config import BertConfig, read_json


def _np(variable):
  return np.asarray(variable.numpy(), dtype=np.float32)


def backbone_config(backbone):
  """Returns the `BertConfig` equivalent of a keras-hub `BertBackbone`.

  Args:
    backbone: a `keras_hub.models.BertBackbone`.

  Returns:
    A `BertConfig` (`hidden_act="gelu_approximate"`, keras-hub's GELU).

  Example:
    >>> import keras_hub
    >>> backbone = keras_hub.models.BertBackbone(
    ...     vocabulary_size=10, num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=16)
    >>> config = backbone_config(backbone)
    >>> config.num_layers, config.hidden_size, config.hidden_act
    (1, 8, 'gelu_approximate')
  """
  return BertConfig(
      vocab_size=backbone.vocabulary_size, hidden_size=backbone.hidden_dim,
      num_layers=backbone.num_layers, num_heads=backbone.num_heads,
      intermediate_size=backbone.intermediate_dim,
      hidden_act="gelu_approximate", hidden_dropout_prob=backbone.dropout,
      attention_probs_dropout_prob=backbone.dropout,
      max_position_embeddings=backbone.max_sequence_length,
      type_vocab_size=backbone.num_segments, layer_norm_eps=1e-12)


def backbone_weights(backbone):
  """Returns a keras-hub `BertBackbone`'s weights as `{canonical name: array}`.

  Args:
    backbone: a `keras_hub.models.BertBackbone`.

  Returns:
    Canonical (Google-layout) arrays, pooler included.

  Example:
    >>> import keras_hub
    >>> weights = backbone_weights(keras_hub.models.BertBackbone(
    ...     10, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16))
    >>> len(weights), weights["bert/encoder/layer_0/attention/self/query/kernel"].shape
    (23, (8, 8))
  """
  hidden = backbone.hidden_dim
  ln = backbone.get_layer("embeddings_layer_norm")
  weights = {
      "bert/embeddings/word_embeddings":
          _np(backbone.get_layer("token_embedding").embeddings),
      "bert/embeddings/position_embeddings":
          _np(backbone.get_layer("position_embedding").position_embeddings),
      "bert/embeddings/token_type_embeddings":
          _np(backbone.get_layer("segment_embedding").embeddings),
      "bert/embeddings/LayerNorm/gamma": _np(ln.gamma),
      "bert/embeddings/LayerNorm/beta": _np(ln.beta),
  }
  for i in range(backbone.num_layers):
    block = backbone.get_layer(f"transformer_layer_{i}")
    att = block._self_attention_layer
    p = f"bert/encoder/layer_{i}"
    for ours, dense in (("attention/self/query", att.query_dense),
                        ("attention/self/key", att.key_dense),
                        ("attention/self/value", att.value_dense)):
      weights[f"{p}/{ours}/kernel"] = _np(dense.kernel).reshape(hidden, hidden)
      weights[f"{p}/{ours}/bias"] = _np(dense.bias).reshape(hidden)
    weights[f"{p}/attention/output/dense/kernel"] = _np(
        att.output_dense.kernel).reshape(hidden, hidden)
    weights[f"{p}/attention/output/dense/bias"] = _np(att.output_dense.bias)
    for ours, norm in (("attention/output/LayerNorm",
                        block._self_attention_layer_norm),
                       ("output/LayerNorm", block._feedforward_layer_norm)):
      weights[f"{p}/{ours}/gamma"] = _np(norm.gamma)
      weights[f"{p}/{ours}/beta"] = _np(norm.beta)
    for ours, dense in (("intermediate/dense",
                         block._feedforward_intermediate_dense),
                        ("output/dense", block._feedforward_output_dense)):
      weights[f"{p}/{ours}/kernel"] = _np(dense.kernel)
      weights[f"{p}/{ours}/bias"] = _np(dense.bias)
  pooler = backbone.get_layer("pooled_dense")
  weights["bert/pooler/dense/kernel"] = _np(pooler.kernel)
  weights["bert/pooler/dense/bias"] = _np(pooler.bias)
  return weights


def read_keras_hub_preset(folder):
  """Reads a keras-hub BERT preset folder (saved with `save_to_preset`).

  Args:
    folder: a preset folder of a `BertBackbone`, with or without a
      `BertTokenizer`.

  Returns:
    `(config, weights, vocab_list_or_None, lower_case_or_None)`.

  Example:
    >>> import tempfile
    >>> import keras_hub
    >>> folder = tempfile.mkdtemp()
    >>> keras_hub.models.BertBackbone(
    ...     vocabulary_size=6, num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, max_sequence_length=16).save_to_preset(folder)
    >>> keras_hub.models.BertTokenizer(
    ...     vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hi"],
    ...     lowercase=True).save_to_preset(folder)
    >>> config, weights, vocab, lower_case = read_keras_hub_preset(folder)
    >>> config.vocab_size, vocab[-1], lower_case
    (6, 'hi', True)
  """
  # keras-hub builds the class a preset's config.json names: allow only
  # its BertBackbone (Keras' safe_mode, on by default, refuses Lambda code).
  config_file = os.path.join(folder, "config.json")
  registered = read_json(config_file).get("registered_name")
  if registered != "keras_hub>BertBackbone":
    raise ValueError(f"{config_file}: registered_name={registered!r}; only "
                     "a keras_hub>BertBackbone preset is read.")
  import keras_hub  # Imported here: loading keras-hub is slow.
  backbone = keras_hub.models.BertBackbone.from_preset(folder)
  vocab = lower_case = None
  try:
    tokenizer = keras_hub.models.BertTokenizer.from_preset(folder)
  except (ValueError, FileNotFoundError):
    tokenizer = None
  if tokenizer is not None:
    vocab = list(tokenizer.get_vocabulary())
    lower_case = tokenizer.lowercase
  return backbone_config(backbone), backbone_weights(backbone), vocab, lower_case
