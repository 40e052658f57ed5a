"""Training: BERT's optimizers and schedule, a resumable pre-training loop,
strategies, and a fine-tuning backup that keeps the dropout seeds."""

from keras_bert_lab.training.backup import SeedBackupAndRestore, seed_states

from keras_bert_lab.training.distribution import (STRATEGIES,
                                                   check_global_batch,
                                                   get_strategy,
                                                   num_input_pipelines,
                                                   split_cpu)
from keras_bert_lab.training.loop import (evaluate, is_chief, pretraining_loss,
                                         train)
from keras_bert_lab.training.optimization import (WarmupLinearDecay,
                                                  create_optimizer)
