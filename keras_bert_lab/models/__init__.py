"""BERT models: `BertEncoder` and `BertPretrainer`."""

from keras_bert_lab.models.encoder import FEATURES, BertEncoder
from keras_bert_lab.models.pretrainer import BertPretrainer
from keras_bert_lab.models.features import BertFeatureExtractor, features
from keras_bert_lab.models.task_models import (BertClassifier, BertMultipleChoice,
                                         BertSpanLabeler, BertTaskModel,
                                         BertTokenClassifier, load_task_model)
