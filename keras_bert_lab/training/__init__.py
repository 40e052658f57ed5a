"""Training: the runtime that pre-training and fine-tuning share (strategy,
precision, seeds, scalars, progress line, resume policy), BERT's optimizers
and schedule, the resumable pre-training loop and the pre-training run's
set-up, a `fit` backup that keeps the dropout seeds, and a full disk as
one clear error (`disk`)."""

from keras_bert_lab.training.backup import SeedBackupAndRestore, seed_states
from keras_bert_lab.training.disk import (DiskFullError, disk_full_errors,
                                          variable_bytes)

from keras_bert_lab.training.distribution import (STRATEGIES,
                                                   check_global_batch,
                                                   get_strategy,
                                                   num_input_pipelines,
                                                   split_cpu)
from keras_bert_lab.training.loop import (evaluate, is_chief, pretraining_loss,
                                         train)
from keras_bert_lab.training.optimization import (WarmupLinearDecay,
                                                  create_optimizer)
from keras_bert_lab.training.pretraining import (PretrainingInput,
                                                 pretraining_model,
                                                 prepare_model_dir)
from keras_bert_lab.training.runtime import (PRECISION_POLICIES,
                                             ProgressLogger, ScalarWriter,
                                             fit_schedule, progress_line,
                                             resume_fit, setup_runtime,
                                             skip_trained)
