"""keras_bert_lab: BERT's whole life on Keras 3 / TensorFlow.

  import keras_bert_lab as kbl
  tok = kbl.text.BertTokenizer(vocab_file, lower_case=True)
"""

__version__ = "0.1.0"

from keras_bert_lab import text
