"""tf.data pipelines: corpora, pre-training features, task features."""

from keras_bert_lab.data.bucketing import (bucket_boundaries,
                                           bucket_by_length, padding_share,
                                           trim_batches)
from keras_bert_lab.data.corpus import (expand_input_files,
                                        invalid_utf8_bytes, read_documents,
                                        split_into_sentences, text_lines,
                                        tfds_documents)
from keras_bert_lab.data.pretraining import nsp_instances, pretraining_dataset
from keras_bert_lab.data.shuffling import shuffle_passes
from keras_bert_lab.data.static_shapes import static_batches
from keras_bert_lab.data.tfrecords import (corrupt_record_error,
                                           read_pretraining_tfrecords,
                                           to_examples)
