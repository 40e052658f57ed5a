"""Feature-based use of BERT (paper section 5.3): fixed features, no fine-tuning.

Token features are the encoder's hidden states from chosen layers, combined
(the paper's best NER feature set is the concatenation of the last four);
sentence features are the `[CLS]` vector, the mask-weighted mean of the
token vectors (as sentence-transformers' mean pooling), or the pooler
output. keras-hub's `BertBackbone` returns only the last layer and Model
Garden's encoder needs tf-models-official, so this small wrapper is written
here over `BertEncoder`'s `encoder_outputs`.
"""

import keras
from keras import ops

from keras_bert_lab.text.packing import FEATURES

POOLINGS = ("cls", "mean", "pooler")


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class MaskedMeanPooling(keras.layers.Layer):
  """Mean over the tokens where `mask` is 1, in float32.

  Call args:
    x: `[batch, seq, D]`.
    input_mask: `[batch, seq]` of 0/1.

  Returns:
    float32 `[batch, D]`; an all-zero mask gives zeros.

  Example:
    >>> x = ops.convert_to_tensor([[[1.0, 10.0], [3.0, 30.0], [99.0, 99.0]]])
    >>> MaskedMeanPooling()(x, ops.convert_to_tensor([[1, 1, 0]])).numpy()
    array([[ 2., 20.]], dtype=float32)
  """

  def __init__(self, **kwargs):
    kwargs["dtype"] = "float32"
    super().__init__(**kwargs)

  def call(self, x, input_mask):
    x = ops.cast(x, "float32")
    mask = ops.cast(input_mask, "float32")[:, :, None]
    total = ops.sum(x * mask, axis=1)
    return total / ops.maximum(ops.sum(mask, axis=1), 1.0)

  def compute_output_shape(self, x_shape, input_mask_shape):
    return (x_shape[0], x_shape[-1])

  def get_config(self):
    config = super().get_config()
    config.pop("dtype", None)
    return config


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class BertFeatureExtractor(keras.Model):
  """Token and sentence features from chosen encoder layers.

  Args:
    encoder: a `BertEncoder` (its weights are shared, not copied).
    layers: indices into `encoder_outputs` (Python style: -1 is the last
      transformer block, 0 the first), concatenated in this order.
    pooling: `"cls"` (token features at `[CLS]`), `"mean"` (mean of the
      token features over `input_mask`), or `"pooler"` (the encoder's
      dense+tanh `pooled_output`, independent of `layers`).
    **kwargs: `keras.Model` arguments (`name`).

  Call args:
    The three int32 `[batch, seq]` features.

  Returns:
    `{"token_features": float32 [batch, seq, len(layers) * H],
      "sentence_features": float32 [batch, len(layers) * H]}` (`[batch, H]`
    with `pooling="pooler"`).

  Raises:
    ValueError: a layer index outside the encoder, no layers, or an unknown
      pooling.

  Example:
    >>> from keras_bert_lab.config import BertConfig
    >>> from keras_bert_lab.models import BertEncoder
    >>> enc = BertEncoder(BertConfig.preset("tiny", vocab_size=100))  # H = 128
    >>> fx = BertFeatureExtractor(enc, layers=(-2, -1), pooling="mean")
    >>> ids = ops.ones([3, 16], "int32")
    >>> out = fx({"input_word_ids": ids, "input_mask": ids,
    ...           "input_type_ids": ids * 0})
    >>> out["token_features"].shape, out["sentence_features"].shape
    (TensorShape([3, 16, 256]), TensorShape([3, 256]))
  """

  def __init__(self, encoder, layers=(-4, -3, -2, -1), pooling="cls",
               **kwargs):
    if isinstance(encoder, dict):
      encoder = keras.saving.deserialize_keras_object(encoder)
    num_layers = encoder.config.num_layers
    layers = tuple(int(i) for i in layers)
    if not layers:
      raise ValueError("BertFeatureExtractor needs at least one layer index, "
                       "e.g. layers=(-1,).")
    bad = [i for i in layers if not -num_layers <= i < num_layers]
    if bad:
      raise ValueError(
          f"BertFeatureExtractor layers={layers}: {bad} outside the encoder's "
          f"{num_layers} layers; use indices in [{-num_layers}, "
          f"{num_layers - 1}] (-1 = last).")
    if pooling not in POOLINGS:
      raise ValueError(f"BertFeatureExtractor pooling={pooling!r}; use one of "
                       f"{POOLINGS}.")
    kwargs.setdefault("name", "bert_features")
    inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name)
              for name in FEATURES}
    out = encoder(inputs)
    chosen = [out["encoder_outputs"][i] for i in layers]
    tokens = (chosen[0] if len(chosen) == 1 else
              keras.layers.Concatenate(axis=-1, name="concat_layers")(chosen))
    tokens = keras.layers.Activation("linear", dtype="float32",
                                     name="token_features")(tokens)
    if pooling == "cls":
      sentence = tokens[:, 0, :]
    elif pooling == "mean":
      sentence = MaskedMeanPooling(name="mean_pooling")(
          tokens, inputs["input_mask"])
    else:
      sentence = keras.layers.Activation(
          "linear", dtype="float32", name="pooled")(out["pooled_output"])
    super().__init__(inputs=inputs, outputs={
        "token_features": tokens, "sentence_features": sentence}, **kwargs)
    self.encoder = encoder
    self.layer_indices = layers
    self.pooling = pooling

  def get_config(self):
    return {"encoder": keras.saving.serialize_keras_object(self.encoder),
            "layers": list(self.layer_indices), "pooling": self.pooling,
            "name": self.name}

  @classmethod
  def from_config(cls, config):
    return cls(**config)


def features(encoder, layers=(-4, -3, -2, -1), pooling="cls"):
  """Returns a `BertFeatureExtractor`: token and sentence features.

  Args:
    encoder, layers, pooling: as `BertFeatureExtractor`.

  Returns:
    A `BertFeatureExtractor`, a `keras.Model` whose call returns
    `token_features` and `sentence_features`.

  Example:
    >>> from keras_bert_lab.config import BertConfig
    >>> from keras_bert_lab.models import BertEncoder
    >>> enc = BertEncoder(BertConfig.preset("tiny", vocab_size=100))
    >>> fx = features(enc, layers=(-1,), pooling="cls")
    >>> ids = ops.ones([2, 8], "int32")
    >>> out = fx({"input_word_ids": ids, "input_mask": ids,
    ...           "input_type_ids": ids * 0})
    >>> bool(ops.all(out["sentence_features"] == out["token_features"][:, 0]))
    True
  """
  return BertFeatureExtractor(encoder, layers=layers, pooling=pooling)
