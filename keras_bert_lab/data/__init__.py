"""tf.data pipelines: corpora, pre-training features, task features."""

from keras_bert_lab.data.corpus import (expand_input_files, read_documents,
                                        split_into_sentences, text_lines,
                                        tfds_documents)
