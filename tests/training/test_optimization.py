"""BERT's schedule values and which variables of a real model get decay."""

import keras
import numpy as np
import pytest

from keras_bert_lab.models import BertEncoder, BertPretrainer
from keras_bert_lab.training import WarmupLinearDecay, create_optimizer
from tests.training import synthetic


def test_schedule_values():
  lr = WarmupLinearDecay(1e-3, num_train_steps=110, num_warmup_steps=10)
  # 0 at step 0, half-way up at 5, peak at 10, half-way down at 60, 0 at 110.
  expected = {0: 0.0, 5: 5e-4, 10: 1e-3, 60: 5e-4, 110: 0.0, 200: 0.0}
  for step, value in expected.items():
    assert float(lr(step)) == pytest.approx(value, rel=1e-6, abs=1e-12), step
  restored = keras.saving.deserialize_keras_object(
      keras.saving.serialize_keras_object(lr))
  assert restored.get_config() == lr.get_config()
  assert float(WarmupLinearDecay(1.0, 4, 0)(0)) == 1.0  # no warm-up


def test_schedule_rejects_warmup_past_end():
  with pytest.raises(ValueError, match="num_warmup_steps"):
    WarmupLinearDecay(1e-3, num_train_steps=10, num_warmup_steps=10)


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_weight_decay_skips_layer_norm_and_biases(name):
  model = BertPretrainer(BertEncoder(synthetic.tiny_config()))
  optimizer = create_optimizer(name, 0.5, num_train_steps=10,
                               num_warmup_steps=0, weight_decay=0.1)
  variables = model.trainable_variables
  before = [np.array(v) for v in variables]
  # Zero gradients: the Adam/LAMB update is 0, so only decay moves a variable,
  # by the factor 1 - learning_rate * weight_decay.
  optimizer.apply([keras.ops.zeros_like(v) for v in variables], variables)
  decayed = set()
  for v, old in zip(variables, before):
    if not np.array_equal(np.array(v), old):
      np.testing.assert_allclose(np.array(v), old * 0.95, rtol=1e-6)
      decayed.add(v.path)
  excluded = {v.path for v in variables} - decayed
  assert excluded == {v.path for v in variables
                      if "LayerNorm" in v.path or v.path.endswith("bias")}
  # 6 LayerNorms x (gamma, beta); biases: 6 per layer x 2, pooler, MLM
  # transform and output, NSP output.
  assert len(excluded) == 12 + 16
  assert "predictions/output_bias" in excluded
  assert {"embeddings/word_embeddings/embeddings",
          "embeddings/position_embeddings", "layer_0/attention/query/kernel",
          "seq_relationship/output_weights"} <= decayed


def test_loss_scale_wraps_the_configured_optimizer():
  optimizer = create_optimizer("lamb", 1e-3, num_train_steps=10,
                               gradient_accumulation_steps=2, loss_scale=True)
  assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
  inner = optimizer.inner_optimizer
  assert isinstance(inner, keras.optimizers.Lamb)
  assert inner.global_clipnorm == 1.0
  assert inner.gradient_accumulation_steps == 2


def test_unknown_optimizer_is_named():
  with pytest.raises(ValueError, match="adamw"):
    create_optimizer("sgd", 1e-3, num_train_steps=10)
