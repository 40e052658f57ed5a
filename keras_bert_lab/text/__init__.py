"""Strings to ids, all in the TensorFlow graph: tokenizer, packer, vocabularies."""

from keras_bert_lab.text.masking import MlmMasker, is_continuation_table
from keras_bert_lab.text.packing import FEATURES, TRUNCATIONS, BertPacker
from keras_bert_lab.text.tokenizer import BertTokenizer, basic_tokenize, normalize
from keras_bert_lab.text.vocab_io import (BUNDLED_CORPUS, BUNDLED_VOCAB,
                                         SPECIAL_TOKENS, read_vocab,
                                         write_vocab)
from keras_bert_lab.text.wordpiece_learner import count_words, learn_vocab
