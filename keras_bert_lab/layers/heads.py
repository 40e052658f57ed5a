"""BERT's pre-training heads: `MaskedLMHead` (tied embeddings) and `NextSentenceHead`.

keras-hub's `MaskedLMHead` gathers at masked positions and can tie to a
`ReversibleEmbedding`, but computes its logits in the compute dtype and lays
out its variables its own way; BERT's `cls/predictions` (transform dense,
LayerNorm, `output_bias`) and `cls/seq_relationship` (`output_weights` of shape
`[2, H]`, `output_bias`) are kept here name for name, with logits in float32
so they are safe under mixed precision.
"""

import keras
from keras import ops

from keras_bert_lab.layers.activations import get_activation


class MaskedLMHead(keras.layers.Layer):
  """Masked-LM logits at `masked_lm_positions`, tied to the word embeddings.

  Only the `P` selected positions are projected onto the vocabulary: a full
  projection of every token costs more than the rest of a small model.
  The layer computes in float32 (its dtype); its transform sub-layers follow
  the global dtype policy.

  Args:
    word_embeddings: the encoder's `keras.layers.Embedding` (`[V, H]`), whose
      matrix is reused (tied) as the output projection.
    hidden_size: model width H.
    hidden_act: `"gelu"` or `"gelu_approximate"`.
    initializer_range: stddev of the truncated-normal initializer.
    layer_norm_eps: LayerNorm epsilon.
    **kwargs: `keras.layers.Layer` arguments (`name`).

  Call args:
    sequence_output: `[batch, seq, H]`.
    masked_lm_positions: int32 `[batch, P]`, indices into `seq`.

  Returns:
    float32 logits `[batch, P, V]`.

  Example:
    >>> emb = keras.layers.Embedding(100, 16); emb.build()
    >>> head = MaskedLMHead(emb, 16, "gelu", 0.02, 1e-12)
    >>> tuple(head(ops.ones([2, 5, 16]), ops.zeros([2, 3], "int32")).shape)
    (2, 3, 100)
  """

  def __init__(self, word_embeddings, hidden_size, hidden_act,
               initializer_range, layer_norm_eps, **kwargs):
    kwargs["dtype"] = "float32"
    super().__init__(**kwargs)
    self.word_embeddings = word_embeddings
    self.hidden_size = hidden_size
    self.transform_dense = keras.layers.Dense(
        hidden_size, activation=get_activation(hidden_act),
        kernel_initializer=keras.initializers.TruncatedNormal(
            stddev=initializer_range),
        dtype=keras.config.dtype_policy(), name="transform_dense")
    self.transform_layer_norm = keras.layers.LayerNormalization(
        epsilon=layer_norm_eps, dtype=keras.config.dtype_policy(),
        name="transform_LayerNorm")

  def build(self, sequence_output_shape=None, masked_lm_positions_shape=None):
    self.transform_dense.build((None, None, self.hidden_size))
    self.transform_layer_norm.build((None, None, self.hidden_size))
    self.output_bias = self.add_weight(
        name="output_bias", shape=(self.word_embeddings.input_dim,),
        initializer="zeros")
    self.built = True

  def call(self, sequence_output, masked_lm_positions):
    positions = ops.cast(masked_lm_positions, "int32")[:, :, None]
    gathered = ops.take_along_axis(sequence_output, positions, axis=1)
    h = self.transform_layer_norm(self.transform_dense(gathered))
    h = ops.cast(h, "float32")
    table = ops.cast(self.word_embeddings.embeddings, "float32")
    return ops.matmul(h, ops.transpose(table)) + self.output_bias

  def compute_output_shape(self, sequence_output_shape,
                           masked_lm_positions_shape):
    return (masked_lm_positions_shape[0], masked_lm_positions_shape[1],
            self.word_embeddings.input_dim)


class NextSentenceHead(keras.layers.Layer):
  """Two next-sentence logits from the pooled output, in float32.

  Args:
    hidden_size: model width H.
    initializer_range: stddev of the truncated-normal initializer.
    **kwargs: `keras.layers.Layer` arguments (`name`).

  Call args:
    pooled_output: `[batch, H]`.

  Returns:
    float32 logits `[batch, 2]` (index 0: "B follows A", as in BERT).

  Example:
    >>> tuple(NextSentenceHead(16, 0.02)(ops.ones([2, 16])).shape)
    (2, 2)
  """

  def __init__(self, hidden_size, initializer_range, **kwargs):
    kwargs["dtype"] = "float32"
    super().__init__(**kwargs)
    self.hidden_size = hidden_size
    self.initializer_range = initializer_range

  def build(self, pooled_output_shape=None):
    self.output_weights = self.add_weight(
        name="output_weights", shape=(2, self.hidden_size),
        initializer=keras.initializers.TruncatedNormal(
            stddev=self.initializer_range))
    self.output_bias = self.add_weight(
        name="output_bias", shape=(2,), initializer="zeros")
    self.built = True

  def call(self, pooled_output):
    pooled = ops.cast(pooled_output, "float32")
    return ops.matmul(pooled, ops.transpose(self.output_weights)) + (
        self.output_bias)

  def compute_output_shape(self, pooled_output_shape):
    return (pooled_output_shape[0], 2)
