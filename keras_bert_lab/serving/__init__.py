"""Raw-text SavedModels for TF Serving, `saved_model_cli` and TF Hub.

`export_model(model_dir, export_dir, version=None, max_seq_length=None)` is
`keras_bert_lab.serving.export.export` (the CLI `python -m
keras_bert_lab.export` calls it).
"""

from keras_bert_lab.serving.export import (ClassifierServing, EncoderServing,
                                           MultipleChoiceServing,
                                           PreprocessServing, SquadServing,
                                           TaggerServing, build_serving,
                                           resolve_model_dir, save_module)
from keras_bert_lab.serving.export import export as export_model
