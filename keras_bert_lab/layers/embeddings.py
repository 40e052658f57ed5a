"""`BertEmbeddings`: word + learned position + token-type embeddings, LayerNorm, dropout.

keras-hub's `PositionEmbedding` and `ReversibleEmbedding` exist, but keras-hub
has no single layer for BERT's three-table sum with BERT's variable layout
(`word_embeddings`, `position_embeddings`, `token_type_embeddings`,
`LayerNorm`), which checkpoint conversion maps name for name. So this layer
combines core Keras `Embedding` and `LayerNormalization`.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class BertEmbeddings(keras.layers.Layer):
  """Sums word, position and token-type embeddings, then LayerNorm and dropout.

  Args:
    vocab_size: rows of the word table.
    hidden_size: embedding width H.
    max_position_embeddings: rows of the position table.
    type_vocab_size: rows of the token-type table.
    initializer_range: stddev of the truncated-normal initializer.
    layer_norm_eps: LayerNorm epsilon.
    dropout_rate: dropout after the LayerNorm.
    **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

  Call args:
    input_word_ids: int32 `[batch, seq]`.
    input_type_ids: int32 `[batch, seq]`.

  Returns:
    `[batch, seq, H]` embeddings.

  Example:
    >>> emb = BertEmbeddings(100, 16, 32, 2, 0.02, 1e-12, 0.1)
    >>> tuple(emb(ops.ones([2, 5], "int32"), ops.zeros([2, 5], "int32")).shape)
    (2, 5, 16)
  """

  def __init__(self, vocab_size, hidden_size, max_position_embeddings,
               type_vocab_size, initializer_range, layer_norm_eps,
               dropout_rate, **kwargs):
    super().__init__(**kwargs)
    self.vocab_size = vocab_size
    self.hidden_size = hidden_size
    self.max_position_embeddings = max_position_embeddings
    self.type_vocab_size = type_vocab_size
    self.initializer_range = initializer_range
    self.layer_norm_eps = layer_norm_eps
    self.dropout_rate = dropout_rate
    init = keras.initializers.TruncatedNormal(stddev=initializer_range)
    self.word_embeddings = keras.layers.Embedding(
        vocab_size, hidden_size, embeddings_initializer=init,
        dtype=self.dtype_policy, name="word_embeddings")
    self.token_type_embeddings = keras.layers.Embedding(
        type_vocab_size, hidden_size, embeddings_initializer=init,
        dtype=self.dtype_policy, name="token_type_embeddings")
    self.layer_norm = keras.layers.LayerNormalization(
        epsilon=layer_norm_eps, dtype=self.dtype_policy, name="LayerNorm")
    self.dropout = keras.layers.Dropout(dropout_rate, dtype=self.dtype_policy)

  def build(self, input_word_ids_shape=None, input_type_ids_shape=None):
    self.word_embeddings.build()
    self.token_type_embeddings.build()
    self.position_embeddings = self.add_weight(
        name="position_embeddings",
        shape=(self.max_position_embeddings, self.hidden_size),
        initializer=keras.initializers.TruncatedNormal(
            stddev=self.initializer_range))
    self.layer_norm.build((None, None, self.hidden_size))
    self.built = True

  def call(self, input_word_ids, input_type_ids, training=None):
    seq_length = ops.shape(input_word_ids)[1]
    if isinstance(seq_length, int) and seq_length > self.max_position_embeddings:
      raise ValueError(
          f"input_word_ids has sequence length {seq_length} but the model "
          f"has max_position_embeddings={self.max_position_embeddings}. "
          f"Pack inputs to at most {self.max_position_embeddings} tokens "
          "(max_seq_length).")
    words = self.word_embeddings(input_word_ids)
    types = self.token_type_embeddings(input_type_ids)
    positions = ops.expand_dims(self.position_embeddings[:seq_length], 0)
    x = words + types + ops.cast(positions, words.dtype)
    x = self.layer_norm(x)
    return self.dropout(x, training=training)

  def compute_output_shape(self, input_word_ids_shape, input_type_ids_shape):
    return tuple(input_word_ids_shape) + (self.hidden_size,)

  def get_config(self):
    config = super().get_config()
    config.update(
        vocab_size=self.vocab_size, hidden_size=self.hidden_size,
        max_position_embeddings=self.max_position_embeddings,
        type_vocab_size=self.type_vocab_size,
        initializer_range=self.initializer_range,
        layer_norm_eps=self.layer_norm_eps, dropout_rate=self.dropout_rate)
    return config
