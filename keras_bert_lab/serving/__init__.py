"""Raw-text SavedModels for TF Serving, `saved_model_cli` and TF Hub.

`export_model(model_dir, export_dir, version=None, max_seq_length=None)` is
`keras_bert_lab.serving.export.export` (the CLI `python -m
keras_bert_lab.export` calls it). Modules: `savedmodel` (writing),
`batching` (the base `TaskServing`: trimmed and sorted batches, XLA), one
per task family (`classification`, `tagging`, `squad`, `multiple_choice`),
`encoder` (pre-trained encoders), `limits` (the request limits every
signature checks) and `export` (choosing and writing them).
"""

from keras_bert_lab.serving.batching import TaskServing
from keras_bert_lab.serving.classification import ClassifierServing
from keras_bert_lab.serving.encoder import EncoderServing, PreprocessServing
from keras_bert_lab.serving.export import (SERVING, build_serving,
                                           resolve_model_dir)
from keras_bert_lab.serving.export import export as export_model
from keras_bert_lab.serving.limits import InputLimits
from keras_bert_lab.serving.multiple_choice import MultipleChoiceServing
from keras_bert_lab.serving.savedmodel import save_module
from keras_bert_lab.serving.squad import SquadServing
from keras_bert_lab.serving.tagging import TaggerServing
