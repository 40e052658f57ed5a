"""keras_bert_lab: BERT's whole life on Keras 3 / TensorFlow.

  import keras_bert_lab as kbl
  tok = kbl.text.BertTokenizer(vocab_file, lower_case=True)
  encoder = kbl.models.BertEncoder(kbl.BertConfig.preset("tiny"))
  encoder = kbl.models.BertEncoder.from_pretrained(path)   # HF, Google, keras-hub, ours
"""

__version__ = "0.1.0"

from keras_bert_lab import checkpoints, data, models, text
from keras_bert_lab.config import BertConfig
