"""The base of the task preprocessors: a tokenizer and settings, as a Keras layer.

Each task family's preprocessor (`ClassificationPreprocessor`,
`TaggingPreprocessor`, `SquadPreprocessor`, `MultipleChoicePreprocessor`)
turns raw inputs into model features in the graph. The same layer runs in
the training `tf.data` map and in the exported serving signature, so the
two cannot pack, truncate or window differently. As keras-hub's
preprocessors, they are Keras layers with `get_config`; unlike keras-hub's,
they carry no labels (the datasets map labels) and export into raw-text
SavedModels.
"""

import keras

from keras_bert_lab.text.tokenizer import BertTokenizer


class Preprocessor(keras.layers.Layer):
  """A tokenizer plus the settings named in `settings`, serializable.

  Args:
    tokenizer: a `keras_bert_lab.text.BertTokenizer`.
    settings: `{name: value}` of the subclass' `settings`, kept as
      attributes.
    **kwargs: passed to `keras.layers.Layer`.

  Example:
    >>> from keras_bert_lab.data.classification import (
    ...     ClassificationPreprocessor)
    >>> from importlib import resources
    >>> from keras_bert_lab.text import BertTokenizer
    >>> tok = BertTokenizer(resources.files("keras_bert_lab") / "resources"
    ...                     / "vocab.txt")
    >>> pre = ClassificationPreprocessor(tok, 16)
    >>> ClassificationPreprocessor.from_config(pre.get_config()).seq_length
    16
  """

  settings = ()   # constructor arguments `get_config` records

  def __init__(self, tokenizer, settings, **kwargs):
    kwargs.setdefault("trainable", False)
    super().__init__(**kwargs)
    for name in self.settings:
      setattr(self, name, settings[name])
    # Strings in, ragged or int features out: Keras must not cast them.
    self._convert_input_args = False
    self._allow_non_tensor_positional_args = True
    self.tokenizer = tokenizer
    self.built = True

  @classmethod
  def of(cls, tokenizer, *args, **kwargs):
    """`tokenizer` itself when it is already a `cls`, else `cls(tokenizer, ...)`.

    Lets a dataset function take a tokenizer (with its settings) or the
    preprocessor a task built.

    Args:
      tokenizer: a `BertTokenizer` or an instance of `cls`.
      *args, **kwargs: `cls`' other arguments (ignored for an instance).

    Returns:
      An instance of `cls`.
    """
    if isinstance(tokenizer, cls):
      return tokenizer
    return cls(tokenizer, *args, **kwargs)

  def get_config(self):
    config = super().get_config()
    config.update({name: getattr(self, name) for name in self.settings})
    config["tokenizer"] = self.tokenizer.get_config()
    return config

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    config["tokenizer"] = BertTokenizer.from_config(config["tokenizer"])
    return cls(**config)
