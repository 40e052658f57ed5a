"""Raw-text SavedModels for TF Serving, `saved_model_cli` and TF Hub."""

from keras_bert_lab.serving.export import (ClassifierServing, EncoderServing,
                                           MultipleChoiceServing,
                                           PreprocessServing, SquadServing,
                                           TaggerServing, build_serving,
                                           export, resolve_model_dir,
                                           save_module)
