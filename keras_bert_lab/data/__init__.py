"""tf.data pipelines: corpora, pre-training features, task features."""

from keras_bert_lab.data.corpus import expand_input_files, text_lines
