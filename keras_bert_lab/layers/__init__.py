"""Keras layers of BERT in BERT's variable layout: embeddings, block, heads."""

from keras_bert_lab.layers.activations import get_activation
from keras_bert_lab.layers.attention import BertSelfAttention
from keras_bert_lab.layers.embeddings import BertEmbeddings
from keras_bert_lab.layers.heads import MaskedLMHead, NextSentenceHead
from keras_bert_lab.layers.transformer_block import BertTransformerBlock
