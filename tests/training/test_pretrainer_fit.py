"""`BertPretrainer.compile()` defaults: `fit` trains on pre-training batches
as `pretraining_dataset` makes them, with BERT's loss and no hand-written
one."""

import keras
import numpy as np
import pytest

from keras_bert_lab import text
from keras_bert_lab.config import BertConfig
from keras_bert_lab.models import BertEncoder, BertPretrainer
from keras_bert_lab.training import (PretrainingInput, create_optimizer,
                                     pretraining_loss)
from keras_bert_lab.training.pretraining import BUNDLED_VOCAB
from tests.training import synthetic

CORPUS = ("keras_bert_lab/resources/"
          "austen_sense_and_sensibility_pride_and_prejudice.txt")


@pytest.mark.parametrize("next_sentence", [True, False])
def test_default_loss_is_the_pretraining_loss(next_sentence):
  """On one replica, exactly `pretraining_loss` (MLM over the real
  predictions, + NSP), from a features batch with no targets given."""
  keras.utils.set_random_seed(1)
  model = BertPretrainer(BertEncoder(synthetic.tiny_config(0.0)),
                         next_sentence=next_sentence)
  model.compile()
  features = next(iter(synthetic.dataset(6, 6)))
  outputs = model(features)
  expected, _ = pretraining_loss(features, outputs)
  loss = model.compute_loss(x=features, y_pred=outputs, training=False)
  assert float(loss) == pytest.approx(float(expected), rel=1e-6)
  assert set(outputs) == ({"masked_lm_logits", "next_sentence_logits"}
                          if next_sentence else {"masked_lm_logits"})


def test_fit_trains_on_pretraining_batches(tmp_path):
  keras.utils.set_random_seed(0)
  tokenizer = text.BertTokenizer(BUNDLED_VOCAB)
  data = PretrainingInput(input_files=[CORPUS], max_seq_length=32,
                          max_predictions_per_seq=5, train_batch_size=16,
                          eval_batches=4).checked()
  config = BertConfig.preset("tiny", vocab_size=tokenizer.vocab_size,
                             max_position_embeddings=32)
  model = BertPretrainer(BertEncoder(config, vocab=tokenizer.vocab))
  model.compile(create_optimizer("adamw", 2e-3, num_train_steps=40,
                                 num_warmup_steps=4), steps_per_execution=5)
  held_out = data.eval_dataset(tokenizer).cache()
  before = model.evaluate(held_out, return_dict=True, verbose=0)
  train = data.features(tokenizer, data.documents(data.input_files), 16,
                        passes=None, seed=0, shuffle=True)
  history = model.fit(train, epochs=4, steps_per_epoch=10, verbose=0,
                      shuffle=False)
  after = model.evaluate(held_out, return_dict=True, verbose=0)
  losses = history.history["loss"]
  assert losses[-1] < losses[0] - 1.0, losses
  assert after["loss"] < before["loss"] - 1.0, (before, after)
  assert after["masked_lm_logits_accuracy"] > before[
      "masked_lm_logits_accuracy"]
  assert set(history.history) >= {
      "loss", "masked_lm_logits_loss", "next_sentence_logits_loss",
      "masked_lm_logits_accuracy", "next_sentence_logits_accuracy"}
  assert np.isclose(after["loss"], after["masked_lm_logits_loss"] +
                    after["next_sentence_logits_loss"], rtol=1e-4)
