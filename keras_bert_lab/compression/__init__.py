"""Compression of fine-tuned models: post-training int8 quantization.

  >>> from keras_bert_lab import compression
  >>> compression.MODES
  ('int8', 'int8_weights')

`quantize(model, mode)` quantizes a task model's encoder with Keras 3's
`Model.quantize`; `python -m keras_bert_lab.export --quantize=int8` exports
the result as a raw-text SavedModel.
"""

from keras_bert_lab.compression.quantization import (MODES, quantize,
                                                     quantized_layers)
