"""Checkpoint import/export: HF safetensors, Google TF1, keras-hub, our own folder."""

from keras_bert_lab.checkpoints.loader import LAYOUTS, Checkpoint, load_checkpoint
from keras_bert_lab.checkpoints.names import get_weights, model_variables, set_weights
from keras_bert_lab.checkpoints.own import save_pretrained
