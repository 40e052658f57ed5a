"""`BertSelfAttention`: BERT's multi-head self-attention, softmax in float32.

Core Keras `MultiHeadAttention` was not used because (Keras 3.15) it computes
the softmax in the layer's compute dtype, i.e. in float16/bfloat16 under a
mixed-precision policy, and its fused `dot_product_attention` path gives no
control over that. BERT's attention also needs BERT's variable layout
(`query`, `key`, `value`, `output/dense` as `[H, H]` kernels) so that
checkpoints convert by name; this layer keeps both with core Keras `Dense`.
"""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class BertSelfAttention(keras.layers.Layer):
  """Scaled dot-product self-attention over `num_heads` heads.

  Args:
    hidden_size: model width H (the input and output width).
    num_heads: number of heads.
    initializer_range: stddev of the truncated-normal kernel initializer.
    dropout_rate: dropout on the attention probabilities.
    head_size: width of each head; default `hidden_size / num_heads`.
      Structured pruning keeps the unpruned head width with fewer heads, so
      query/key/value map `H -> num_heads * head_size` and the output
      projection maps back to H.
    **kwargs: `keras.layers.Layer` arguments.

  Call args:
    x: `[batch, seq, H]`.
    input_mask: `[batch, seq]`, 1 for real tokens, 0 for padding; padded
      keys get no attention.
    return_attention: also return the attention scores and the values.

  Returns:
    `[batch, seq, H]`, the output projection of the attended values (before
    BERT's residual and LayerNorm). With `return_attention`, the tuple
    `(output, scores, values)`: `scores` `[batch, heads, seq, seq]` float32
    are `q k^T / sqrt(head_size)` before the padding mask and the softmax
    (TinyBERT's attention matrices), `values` `[batch, heads, seq,
    head_size]` the value vectors (MiniLM's value relation).

  Example:
    >>> att = BertSelfAttention(16, 4, 0.02, 0.0)
    >>> tuple(att(ops.ones([2, 5, 16]), ops.ones([2, 5], "int32")).shape)
    (2, 5, 16)
    >>> _, scores, values = att(ops.ones([2, 5, 16]), ops.ones([2, 5], "int32"),
    ...                         return_attention=True)
    >>> tuple(scores.shape), tuple(values.shape)
    ((2, 4, 5, 5), (2, 4, 5, 4))
  """

  def __init__(self, hidden_size, num_heads, initializer_range, dropout_rate,
               head_size=None, **kwargs):
    super().__init__(**kwargs)
    self.hidden_size = hidden_size
    self.num_heads = num_heads
    self.head_size = head_size or hidden_size // num_heads
    self.inner_size = num_heads * self.head_size
    self.initializer_range = initializer_range
    self.dropout_rate = dropout_rate
    init = keras.initializers.TruncatedNormal(stddev=initializer_range)

    def dense(units, name):
      return keras.layers.Dense(units, kernel_initializer=init,
                                dtype=self.dtype_policy, name=name)

    self.query = dense(self.inner_size, "query")
    self.key = dense(self.inner_size, "key")
    self.value = dense(self.inner_size, "value")
    self.output_dense = dense(hidden_size, "output_dense")
    self.dropout = keras.layers.Dropout(dropout_rate, dtype=self.dtype_policy)

  def build(self, x_shape=None, input_mask_shape=None):
    for layer in (self.query, self.key, self.value):
      layer.build((None, None, self.hidden_size))
    self.output_dense.build((None, None, self.inner_size))
    self.built = True

  def _split_heads(self, x):
    batch, seq = ops.shape(x)[0], ops.shape(x)[1]
    x = ops.reshape(x, (batch, seq, self.num_heads, self.head_size))
    return ops.transpose(x, (0, 2, 1, 3))  # [batch, heads, seq, head_size]

  def call(self, x, input_mask, training=None, return_attention=False):
    q = self._split_heads(self.query(x))
    k = self._split_heads(self.key(x))
    v = self._split_heads(self.value(x))
    scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))
    scores = ops.cast(scores, "float32") / math.sqrt(self.head_size)
    keep = ops.cast(input_mask, "float32")[:, None, None, :]
    probs = ops.softmax(scores + (1.0 - keep) * -1e9, axis=-1)
    probs = ops.cast(probs, self.compute_dtype)
    probs = self.dropout(probs, training=training)
    context = ops.transpose(ops.matmul(probs, v), (0, 2, 1, 3))
    batch, seq = ops.shape(x)[0], ops.shape(x)[1]
    context = ops.reshape(context, (batch, seq, self.inner_size))
    output = self.output_dense(context)
    if return_attention:
      return output, scores, v
    return output

  def get_config(self):
    config = super().get_config()
    config.update(hidden_size=self.hidden_size, num_heads=self.num_heads,
                  initializer_range=self.initializer_range,
                  dropout_rate=self.dropout_rate, head_size=self.head_size)
    return config
