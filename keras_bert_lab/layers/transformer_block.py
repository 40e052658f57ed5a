"""`BertTransformerBlock`: self-attention and feed-forward, each with residual
and post-LayerNorm, in BERT's variable layout.

keras-hub's `TransformerEncoder` computes the same function but names and
shapes its variables its own way (`_self_attention_layer` with
`[H, heads, head_size]` kernels) and keeps the softmax in the compute dtype;
this block keeps BERT's layout (`attention/self/{query,key,value}`,
`attention/output/{dense,LayerNorm}`, `intermediate/dense`,
`output/{dense,LayerNorm}`) so checkpoints convert by a name map.
"""

import keras

from keras_bert_lab.layers.activations import get_activation
from keras_bert_lab.layers.attention import BertSelfAttention


@keras.saving.register_keras_serializable(package="keras_bert_lab")
class BertTransformerBlock(keras.layers.Layer):
  """One BERT encoder layer (post-LayerNorm).

  Args:
    hidden_size: model width H.
    num_heads: attention heads.
    intermediate_size: feed-forward width (4 H in BERT).
    hidden_act: `"gelu"` or `"gelu_approximate"`.
    initializer_range: stddev of the truncated-normal initializer.
    layer_norm_eps: LayerNorm epsilon.
    hidden_dropout_prob: dropout on each sub-layer's output.
    attention_probs_dropout_prob: dropout on attention probabilities.
    head_size: width of each head; default `hidden_size / num_heads` (a
      pruned block keeps the unpruned width with fewer heads).
    **kwargs: `keras.layers.Layer` arguments.

  Call args:
    x: `[batch, seq, H]`.
    input_mask: `[batch, seq]`, 1 for tokens, 0 for padding.
    return_attention: also return the self-attention's scores and values
      (see `BertSelfAttention`).

  Returns:
    `[batch, seq, H]`; with `return_attention`, `(output, scores, values)`.

  Example:
    >>> block = BertTransformerBlock(16, 4, 64, "gelu", 0.02, 1e-12, 0.1, 0.1)
    >>> tuple(block(keras.ops.ones([2, 5, 16]), keras.ops.ones([2, 5])).shape)
    (2, 5, 16)
  """

  def __init__(self, hidden_size, num_heads, intermediate_size, hidden_act,
               initializer_range, layer_norm_eps, hidden_dropout_prob,
               attention_probs_dropout_prob, head_size=None, **kwargs):
    super().__init__(**kwargs)
    self.hidden_size = hidden_size
    self.num_heads = num_heads
    self.intermediate_size = intermediate_size
    self.hidden_act = hidden_act
    self.initializer_range = initializer_range
    self.layer_norm_eps = layer_norm_eps
    self.hidden_dropout_prob = hidden_dropout_prob
    self.attention_probs_dropout_prob = attention_probs_dropout_prob
    self.head_size = head_size
    init = keras.initializers.TruncatedNormal(stddev=initializer_range)
    policy = self.dtype_policy
    self.attention = BertSelfAttention(
        hidden_size, num_heads, initializer_range,
        attention_probs_dropout_prob, head_size, dtype=policy,
        name="attention")
    self.attention_dropout = keras.layers.Dropout(hidden_dropout_prob,
                                                  dtype=policy)
    self.attention_layer_norm = keras.layers.LayerNormalization(
        epsilon=layer_norm_eps, dtype=policy, name="attention_LayerNorm")
    self.intermediate = keras.layers.Dense(
        intermediate_size, activation=get_activation(hidden_act),
        kernel_initializer=init, dtype=policy, name="intermediate")
    self.output_dense = keras.layers.Dense(
        hidden_size, kernel_initializer=init, dtype=policy,
        name="output_dense")
    self.output_dropout = keras.layers.Dropout(hidden_dropout_prob,
                                               dtype=policy)
    self.output_layer_norm = keras.layers.LayerNormalization(
        epsilon=layer_norm_eps, dtype=policy, name="output_LayerNorm")

  def build(self, x_shape=None, input_mask_shape=None):
    hidden = (None, None, self.hidden_size)
    self.attention.build(hidden)
    self.attention_layer_norm.build(hidden)
    self.intermediate.build(hidden)
    self.output_dense.build((None, None, self.intermediate_size))
    self.output_layer_norm.build(hidden)
    self.built = True

  def call(self, x, input_mask, training=None, return_attention=False):
    attended, *attention = self.attention(
        x, input_mask, training=training, return_attention=True)
    attended = self.attention_dropout(attended, training=training)
    x = self.attention_layer_norm(x + attended)
    y = self.output_dense(self.intermediate(x))
    y = self.output_dropout(y, training=training)
    output = self.output_layer_norm(x + y)
    if return_attention:
      return (output, *attention)
    return output

  def get_config(self):
    config = super().get_config()
    config.update(
        hidden_size=self.hidden_size, num_heads=self.num_heads,
        intermediate_size=self.intermediate_size, hidden_act=self.hidden_act,
        initializer_range=self.initializer_range,
        layer_norm_eps=self.layer_norm_eps,
        hidden_dropout_prob=self.hidden_dropout_prob,
        attention_probs_dropout_prob=self.attention_probs_dropout_prob,
        head_size=self.head_size)
    return config
