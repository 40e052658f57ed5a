"""Training: BERT's optimizers and schedule, a resumable pre-training loop."""

from keras_bert_lab.training.distribution import STRATEGIES, get_strategy
from keras_bert_lab.training.loop import evaluate, pretraining_loss, train
from keras_bert_lab.training.optimization import (WarmupLinearDecay,
                                                  create_optimizer)
