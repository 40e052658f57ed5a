"""BERT's canonical variable names: the one name map between our Keras
variables and every checkpoint format.

Canonical names and shapes are those of Google's original TF1 checkpoints
(`bert/embeddings/word_embeddings`, `bert/encoder/layer_3/attention/self/query/kernel`,
`cls/predictions/output_bias`, `cls/seq_relationship/output_weights`, ...).
Our layers hold their variables in exactly those shapes, so this map is a pure
renaming; the Hugging Face and keras-hub converters translate from these names.
No library offers a name-level view of a Keras model in BERT's layout.

Layering: `checkpoints/` sits below `models/` and never imports it. Models
are read by the attributes they expose (`embeddings`, `transformer_layers`,
`pooler`; `encoder`, `masked_lm`, `next_sentence`; `head_variables()`), and
`models/` calls this package to load and save itself.
"""

import logging

import numpy as np

logger = logging.getLogger("keras_bert_lab")

# Fine-tuning heads, in Google's names and `[num_outputs, H]` layout.
# google-research/bert's run_classifier.py: `output_weights` / `output_bias`
# (top level, no scope); the token-tagging and multiple-choice heads are the
# same dense layer (HF keeps all three under `classifier.*`).
CLASSIFIER_WEIGHTS = "output_weights"
CLASSIFIER_BIAS = "output_bias"
# run_squad.py: start/end logits from `cls/squad/output_weights` `[2, H]`.
SQUAD_WEIGHTS = "cls/squad/output_weights"
SQUAD_BIAS = "cls/squad/output_bias"


def _dense(prefix, layer):
  return {f"{prefix}/kernel": layer.kernel, f"{prefix}/bias": layer.bias}


def _layer_norm(prefix, layer):
  return {f"{prefix}/gamma": layer.gamma, f"{prefix}/beta": layer.beta}


def encoder_variables(encoder):
  """Maps canonical names to the variables of a `BertEncoder`.

  Args:
    encoder: a `keras_bert_lab.models.BertEncoder`.

  Returns:
    A dict `{canonical name: keras.Variable}` in checkpoint order.

  Example:
    >>> from keras_bert_lab.config import BertConfig
    >>> from keras_bert_lab.models import BertEncoder
    >>> enc = BertEncoder(BertConfig(vocab_size=10, hidden_size=8, num_layers=1,
    ...                              num_heads=2, intermediate_size=16))
    >>> names = encoder_variables(enc)
    >>> len(names), tuple(names["bert/pooler/dense/kernel"].shape)
    (23, (8, 8))
    >>> list(names)[:3]
    ['bert/embeddings/word_embeddings', 'bert/embeddings/token_type_embeddings',
     'bert/embeddings/position_embeddings']
  """
  emb = encoder.embeddings
  names = {
      "bert/embeddings/word_embeddings": emb.word_embeddings.embeddings,
      "bert/embeddings/token_type_embeddings":
          emb.token_type_embeddings.embeddings,
      "bert/embeddings/position_embeddings": emb.position_embeddings,
  }
  names.update(_layer_norm("bert/embeddings/LayerNorm", emb.layer_norm))
  for i, block in enumerate(encoder.transformer_layers):
    p = f"bert/encoder/layer_{i}"
    att = block.attention
    names.update(_dense(f"{p}/attention/self/query", att.query))
    names.update(_dense(f"{p}/attention/self/key", att.key))
    names.update(_dense(f"{p}/attention/self/value", att.value))
    names.update(_dense(f"{p}/attention/output/dense", att.output_dense))
    names.update(_layer_norm(f"{p}/attention/output/LayerNorm",
                             block.attention_layer_norm))
    names.update(_dense(f"{p}/intermediate/dense", block.intermediate))
    names.update(_dense(f"{p}/output/dense", block.output_dense))
    names.update(_layer_norm(f"{p}/output/LayerNorm", block.output_layer_norm))
  names.update(_dense("bert/pooler/dense", encoder.pooler))
  return names


def head_columns(heads, head_size):
  """The query/key/value columns of the attention heads `heads`, in order.

  Example:
    >>> head_columns([0, 2], 2).tolist()
    [0, 1, 4, 5]
  """
  return np.concatenate([np.arange(h * head_size, (h + 1) * head_size)
                         for h in heads]).astype(np.int64)


def block_slices(layer, columns=None, neurons=None):
  """Which axis of which weight of block `layer` heads and neurons own.

  Structured pruning keeps some attention-head columns (`head_columns`)
  and some feed-forward neurons; these are the weights that shrink.

  Args:
    layer: the block index.
    columns: kept query/key/value columns, or None to leave attention be.
    neurons: kept feed-forward neurons, or None.

  Returns:
    `{canonical name: (axis, kept indices)}`.

  Example:
    >>> sorted(block_slices(0, neurons=[3]))
    ['bert/encoder/layer_0/intermediate/dense/bias',
     'bert/encoder/layer_0/intermediate/dense/kernel',
     'bert/encoder/layer_0/output/dense/kernel']
  """
  p = f"bert/encoder/layer_{layer}"
  slices = {}
  if columns is not None:
    for part in ("query", "key", "value"):
      slices[f"{p}/attention/self/{part}/kernel"] = (1, columns)
      slices[f"{p}/attention/self/{part}/bias"] = (0, columns)
    slices[f"{p}/attention/output/dense/kernel"] = (0, columns)
  if neurons is not None:
    slices[f"{p}/intermediate/dense/kernel"] = (1, neurons)
    slices[f"{p}/intermediate/dense/bias"] = (0, neurons)
    slices[f"{p}/output/dense/kernel"] = (0, neurons)
  return slices


def model_variables(model):
  """Maps canonical names to the variables of a BERT model.

  Args:
    model: a `BertEncoder`, a `BertPretrainer` (adds `cls/predictions/*`
      and, with next_sentence, `cls/seq_relationship/*`; the MLM output
      matrix is tied to `bert/embeddings/word_embeddings` and has no name),
      or a task model from `keras_bert_lab.models.task_models` (adds its head from
      its `head_variables()`, named `CLASSIFIER_*` or `SQUAD_*`).

  Returns:
    A dict `{canonical name: keras.Variable}`.

  Example:
    >>> from keras_bert_lab.config import BertConfig
    >>> from keras_bert_lab.models import BertEncoder, BertPretrainer
    >>> enc = BertEncoder(BertConfig(vocab_size=10, hidden_size=8, num_layers=1,
    ...                              num_heads=2, intermediate_size=16))
    >>> sorted(n for n in model_variables(BertPretrainer(enc))
    ...        if n.startswith("cls/"))
    ['cls/predictions/output_bias', 'cls/predictions/transform/LayerNorm/beta',
     'cls/predictions/transform/LayerNorm/gamma',
     'cls/predictions/transform/dense/bias',
     'cls/predictions/transform/dense/kernel',
     'cls/seq_relationship/output_bias', 'cls/seq_relationship/output_weights']
  """
  encoder = getattr(model, "encoder", model)
  names = encoder_variables(encoder)
  mlm = getattr(model, "masked_lm", None)
  if mlm is not None:
    names.update(_dense("cls/predictions/transform/dense",
                        mlm.transform_dense))
    names.update(_layer_norm("cls/predictions/transform/LayerNorm",
                             mlm.transform_layer_norm))
    names["cls/predictions/output_bias"] = mlm.output_bias
  nsp = getattr(model, "next_sentence", None)
  if nsp is not None:
    names["cls/seq_relationship/output_weights"] = nsp.output_weights
    names["cls/seq_relationship/output_bias"] = nsp.output_bias
  head_variables = getattr(model, "head_variables", None)
  if head_variables is not None:
    names.update(head_variables())
  return names


def get_weights(model):
  """Returns a model's weights as `{canonical name: float32 numpy array}`.

  Args:
    model: a `BertEncoder`, `BertPretrainer` or task model.

  Returns:
    A dict of numpy arrays in Google's names and shapes.

  Example:
    >>> from keras_bert_lab.models import BertEncoder
    >>> w = get_weights(BertEncoder.from_vocab(num_layers=1))  # BERT-tiny
    >>> w["bert/embeddings/word_embeddings"].shape, w["bert/pooler/dense/bias"].dtype
    ((8000, 128), dtype('float32'))
  """
  return {name: np.asarray(var.numpy(), dtype=np.float32)
          for name, var in model_variables(model).items()}


def set_weights(model, weights, source):
  """Assigns canonical-named arrays to a model, checking every shape first.

  Args:
    model: a `BertEncoder`, `BertPretrainer` or task model.
    weights: `{canonical name: array}` (e.g. from a checkpoint reader).
    source: where the weights came from, used in messages.

  Returns:
    `(missing, unused)`: sorted lists of model variables the weights lacked
    (left at their initial values) and of weights the model has no place
    for. Both are also logged on one line each, never silently dropped.

  Raises:
    ValueError: one or more shapes differ; the message lists each variable
      with the expected and found shapes. Nothing is assigned in that case.

  Example:
    >>> import numpy as np
    >>> from keras_bert_lab.config import BertConfig
    >>> from keras_bert_lab.models import BertEncoder, BertPretrainer
    >>> config = BertConfig(vocab_size=10, hidden_size=8, num_layers=1,
    ...                     num_heads=2, intermediate_size=16)
    >>> source, pre = BertEncoder(config), BertPretrainer(BertEncoder(config))
    >>> missing, unused = set_weights(pre, get_weights(source), "source")
    >>> len(missing), unused, missing[0]   # the heads were not in `source`
    (7, [], 'cls/predictions/output_bias')
    >>> np.array_equal(get_weights(pre)["bert/pooler/dense/kernel"],
    ...                get_weights(source)["bert/pooler/dense/kernel"])
    True
    >>> set_weights(BertEncoder(BertConfig(
    ...     vocab_size=12, hidden_size=8, num_layers=1, num_heads=2,
    ...     intermediate_size=16)), get_weights(source), "source")
    Traceback (most recent call last):
    ...
    ValueError: Shapes in source do not match the model's config:
      bert/embeddings/word_embeddings: model expects (12, 8), source has (10, 8)
    Check that the config file belongs to these weights.
  """
  variables = model_variables(model)
  mismatches = [
      f"{name}: model expects {tuple(var.shape)}, {source} has "
      f"{tuple(np.shape(weights[name]))}"
      for name, var in variables.items()
      if name in weights and tuple(var.shape) != tuple(np.shape(weights[name]))
  ]
  if mismatches:
    raise ValueError(
        f"Shapes in {source} do not match the model's config:\n  "
        + "\n  ".join(mismatches)
        + "\nCheck that the config file belongs to these weights.")
  for name, var in variables.items():
    if name in weights:
      var.assign(np.asarray(weights[name], dtype=np.float32))
  missing = sorted(set(variables) - set(weights))
  unused = sorted(set(weights) - set(variables))
  if missing:
    logger.warning("%s: %d model weights not in the checkpoint, left at their "
                   "initial values: %s", source, len(missing),
                   ", ".join(missing))
  if unused:
    logger.warning("%s: %d checkpoint weights not used by this model: %s",
                   source, len(unused), ", ".join(unused))
  return missing, unused
