"""Maps `BertConfig.hidden_act` to a Keras activation.

`keras.activations.gelu(x, approximate=...)` already provides both forms; this
module only keeps the name -> callable choice in one place.
"""

import keras


def get_activation(name):
  """Returns the activation function for a `BertConfig.hidden_act` name.

  Args:
    name: `"gelu"` (exact, erf) or `"gelu_approximate"` (tanh).

  Returns:
    A callable `x -> activation(x)` built from `keras.activations.gelu`.

  Example:
    >>> keras.ops.convert_to_numpy(get_activation("gelu")(keras.ops.ones([2])))
    array([0.8413447, 0.8413447], dtype=float32)
  """
  if name == "gelu":
    return lambda x: keras.activations.gelu(x, approximate=False)
  if name == "gelu_approximate":
    return lambda x: keras.activations.gelu(x, approximate=True)
  raise ValueError(
      f"Unknown hidden_act {name!r}; use 'gelu' or 'gelu_approximate'.")
