"""BERT models: `BertEncoder` and `BertPretrainer`."""

from keras_bert_lab.models.encoder import FEATURES, BertEncoder
from keras_bert_lab.models.pretrainer import BertPretrainer
