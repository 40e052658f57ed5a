"""Fine-tuning data in tf.data: one module per task family."""
from keras_bert_lab.data.tasks import multiple_choice
from keras_bert_lab.data.tasks import classification
from keras_bert_lab.data.tasks import tagging
from keras_bert_lab.data.tasks import squad
