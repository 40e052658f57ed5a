"""Runs `train` on synthetic data; the exact-resume test runs it as a process.

Usage (from the repository root):
  python -m tests.training.train_script MODEL_DIR IDS_FILE WEIGHTS_FILE DROPOUT [REPLICAS]
Trains on one device, or under `MirroredStrategy` on REPLICAS logical CPUs.
Appends the example ids of each step to IDS_FILE (one line a step and
replica) and
writes the final weights to WEIGHTS_FILE (.npz). Each step sleeps 0.2 s so
that the test can kill the process between two checkpoints.
"""

import logging
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf

from keras_bert_lab.models import BertEncoder, BertPretrainer
from keras_bert_lab.training import (create_optimizer, get_strategy,
                                     pretraining_loss, split_cpu, train)
from tests.training import synthetic

NUM_TRAIN_STEPS = 12


def main(model_dir, ids_file, weights_file, dropout, replicas):
  split_cpu(replicas)
  tf.config.experimental.enable_op_determinism()
  strategy = get_strategy("mirrored" if replicas > 1 else "cpu")
  keras.utils.set_random_seed(0)
  with strategy.scope():
    model = BertPretrainer(BertEncoder(synthetic.tiny_config(dropout)))
    optimizer = create_optimizer("adamw", 1e-3, NUM_TRAIN_STEPS, 2)

  def loss_fn(features, outputs):
    tf.print(features["example_id"], output_stream=f"file://{ids_file}",
             summarize=-1)
    tf.py_function(lambda: time.sleep(0.2), [], [])
    return pretraining_loss(features, outputs)

  train(model, optimizer, synthetic.dataset_fn(40, 4), model_dir,
        NUM_TRAIN_STEPS, strategy=strategy, steps_per_execution=2,
        checkpoint_every=3, log_every=3, loss_fn=loss_fn)
  np.savez(weights_file, *model.get_weights())


if __name__ == "__main__":
  logging.basicConfig(level=logging.INFO)
  main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]),
       int(sys.argv[5]) if len(sys.argv) > 5 else 1)
