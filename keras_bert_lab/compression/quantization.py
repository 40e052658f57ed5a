"""Post-training int8 quantization of a task model's encoder, with Keras 3.

Built on Keras' own `Model.quantize` (Keras >= 3.12): the encoder's `Dense`
layers (query, key, value, attention output, intermediate, output) and its
`Embedding` tables (word and token-type) store int8 weights with a float
scale per output channel (per row for embeddings). LayerNorm, softmax, the
position table, the pooler and the task head stay in float, as the
quantized-BERT papers keep them (Zafrir et al. 2019; Kim et al. 2021).

Two modes (`MODES`):
  * `"int8"`: Keras' default. The weights are int8 and so are the
    activations, quantized per token (abs-max) on the fly, so each matmul
    runs int8 x int8 -> int32.
  * `"int8_weights"`: weight-only. The int8 weights are widened to float in
    each matmul, so the activations keep full precision. The SavedModel is
    as small as with `"int8"`.

What this adds to `Model.quantize`: which layers (the encoder's, not the
head's or the pooler's: a `filters` over the encoder's layer objects), the
weight-only config, and clear errors for a model that is not built or is
already quantized. Which mode is faster on a CPU is measured, not assumed:
`benchmarks/compression.py` (README, "Compression").
"""

import keras

# The quantization modes `quantize` (and `export --quantize`) take.
MODES = ("int8", "int8_weights")
_QUANTIZABLE = (keras.layers.Dense, keras.layers.EinsumDense,
                keras.layers.Embedding)


def quantized_layers(model):
  """The layers of `model` that hold quantized weights.

  Args:
    model: a Keras model.

  Returns:
    A list of `(layer path, mode)`.

  Example:
    >>> from keras_bert_lab.models import BertClassifier, BertEncoder
    >>> quantized_layers(BertClassifier(BertEncoder.from_vocab(), 2))
    []
  """
  return [(layer.path, layer.quantization_mode)
          for layer in model._flatten_layers()
          if getattr(layer, "quantization_mode", None)]


def quantize(model, mode="int8"):
  """Quantizes the encoder of a task model in place.

  Args:
    model: a built task model with an `encoder` (`BertClassifier`,
      `BertTokenClassifier`, `BertSpanLabeler`, `BertMultipleChoice`,
      `BertPretrainer`) or a `BertEncoder` itself. With `BertPretrainer`
      the word embeddings stay in float: the masked-LM head reads them as
      its output table.
    mode: one of `MODES`.

  Returns:
    `model`, whose encoder's `Dense` and `Embedding` layers now hold int8
    weights.

  Raises:
    ValueError: an unknown `mode`, a model without an encoder, or one that
      is already quantized.

  Example:
    >>> from keras_bert_lab.models import BertClassifier, BertEncoder
    >>> clf = BertClassifier(BertEncoder.from_vocab(num_layers=1), 2)
    >>> _ = quantize(clf, "int8")
    >>> sorted({mode for _, mode in quantized_layers(clf)})
    ['int8']
    >>> len(quantized_layers(clf))   # 6 Dense per block, 2 Embedding tables
    8
    >>> quantize(clf)
    Traceback (most recent call last):
    ...
    ValueError: bert_classifier is already quantized (int8: 8 layers, e.g. ...); quantize the float model it came from.
  """
  if mode not in MODES:
    raise ValueError(f"quantize={mode!r} is not one of {MODES}.")
  done = quantized_layers(model)
  if done:
    modes = sorted({m for _, m in done})
    raise ValueError(
        f"{model.name} is already quantized ({', '.join(modes)}: "
        f"{len(done)} layers, e.g. {done[0][0]}); quantize the float model "
        "it came from.")
  encoder = model if hasattr(model, "transformer_layers") else getattr(
      model, "encoder", None)
  if encoder is None or not hasattr(encoder, "transformer_layers"):
    raise ValueError(f"{type(model).__name__} has no BERT encoder to "
                     "quantize; pass a keras_bert_lab task model.")
  keep_float = {id(encoder.pooler)}
  if getattr(model, "masked_lm", None) is not None:
    keep_float.add(id(encoder.embeddings.word_embeddings))
  targets = {id(layer) for layer in encoder._flatten_layers()
             if isinstance(layer, _QUANTIZABLE) and id(layer) not in keep_float}
  config = None
  if mode == "int8_weights":
    # Keras' per-layer default weight quantizers (per output channel for
    # Dense, per row for Embedding); no activation quantizer.
    config = keras.quantizers.Int8QuantizationConfig(
        weight_quantizer=None, activation_quantizer=None)
  model.quantize(None if config else "int8", config=config,
                 filters=lambda layer: id(layer) in targets)
  return model
