"""Compression of fine-tuned models: distillation, structured pruning and
int8 quantization.

  >>> from keras_bert_lab import compression
  >>> compression.MODES
  ('int8', 'int8_weights')

`distill(teacher_dir, data, model_dir, layers=[0, 2, 4])` trains a smaller
student of a fine-tuned task folder on its labels and outputs
(`python -m keras_bert_lab.distill`; `BertDistiller`, `build_student` and
`DistillConfig` for `model.fit` by hand). `prune(model_in, data,
model_dir, PruneConfig(heads=0.5, ffn=0.5))` removes the least important
attention heads and feed-forward neurons (`python -m keras_bert_lab.prune`;
`importance`, `select` and `prune_model` by hand). `quantize(model, mode)`
quantizes a task model's encoder with Keras 3's `Model.quantize`;
`python -m keras_bert_lab.export --quantize=int8` exports the result as a
raw-text SavedModel.
"""

from keras_bert_lab.compression.distillation import (BertDistiller,
                                                     DistillConfig,
                                                     build_student, distill)
from keras_bert_lab.compression.pruning import (PruneConfig, importance,
                                                prune, prune_model, select)
from keras_bert_lab.compression.quantization import (MODES, quantize,
                                                     quantized_layers)
