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
    >>> get_activation("gelu")(keras.ops.zeros([2]))
  """
  if name == "gelu":
    return lambda x: keras.activations.gelu(x, approximate=False)
  if name == "gelu_approximate":
    return lambda x: keras.activations.gelu(x, approximate=True)
  raise ValueError(
      f"Unknown hidden_act {name!r}; use 'gelu' or 'gelu_approximate'.")
