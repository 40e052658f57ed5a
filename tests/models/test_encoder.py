"""BertEncoder / BertPretrainer: sizes, masking, mixed precision, training."""

import keras
import numpy as np
import pytest

from keras_bert_lab.checkpoints import get_weights, set_weights
from keras_bert_lab.config import BertConfig
from keras_bert_lab.models import BertEncoder, BertPretrainer


def _features(batch_size=2, seq=8, vocab=100, seed=0):
  rng = np.random.default_rng(seed)
  ids = rng.integers(5, vocab, (batch_size, seq)).astype("int32")
  return {"input_word_ids": ids, "input_mask": np.ones_like(ids),
          "input_type_ids": np.zeros_like(ids)}


def test_base_has_hf_bert_base_uncased_parameter_count():
  # HF BertModel (bert-base-uncased, pooler included): 109,482,240.
  assert BertEncoder(BertConfig.preset("base")).count_params() == 109_482_240


@pytest.mark.slow
def test_large_has_hf_bert_large_parameter_count():
  assert BertEncoder(BertConfig.preset("large")).count_params() == 335_141_888


def test_outputs_shapes_and_per_layer_list():
  encoder = BertEncoder(BertConfig.preset("tiny", vocab_size=100))
  out = encoder(_features())
  assert out["sequence_output"].shape == (2, 8, 128)
  assert out["pooled_output"].shape == (2, 128)
  assert len(out["encoder_outputs"]) == 2
  np.testing.assert_array_equal(out["encoder_outputs"][-1],
                                out["sequence_output"])


def test_padding_does_not_change_real_tokens():
  """BERT's attention mask: appended padding leaves real tokens' outputs alone."""
  encoder = BertEncoder(BertConfig.preset("tiny", vocab_size=100))
  short = _features(seq=6)
  padded = {k: np.pad(v, [(0, 0), (0, 4)]) for k, v in short.items()}
  a = np.asarray(encoder(short)["sequence_output"])
  b = np.asarray(encoder(padded)["sequence_output"])[:, :6]
  np.testing.assert_allclose(a, b, atol=1e-5)


def test_vocab_size_mismatch_fails_before_compute():
  config = BertConfig.preset("tiny", vocab_size=100)
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["a"] * 94
  with pytest.raises(ValueError, match=r"99 tokens.*vocab_size=100"):
    BertEncoder(config, vocab=vocab)


def test_pretrainer_outputs_float32_logits_at_positions():
  encoder = BertEncoder(BertConfig.preset("tiny", vocab_size=100))
  pre = BertPretrainer(encoder)
  features = _features()
  features["masked_lm_positions"] = np.array([[1, 2, 3], [0, 4, 7]], "int32")
  out = pre(features)
  assert out["masked_lm_logits"].shape == (2, 3, 100)
  assert out["next_sentence_logits"].shape == (2, 2)
  # Tied: the output matrix is the word-embedding table itself.
  seq = np.asarray(encoder(_features())["sequence_output"])
  gathered = np.take_along_axis(
      seq, features["masked_lm_positions"][:, :, None], axis=1)
  h = pre.masked_lm.transform_layer_norm(pre.masked_lm.transform_dense(gathered))
  table = encoder.embeddings.word_embeddings.embeddings.numpy()
  expected = np.asarray(h) @ table.T + pre.masked_lm.output_bias.numpy()
  np.testing.assert_allclose(out["masked_lm_logits"], expected, atol=1e-5)
  assert "next_sentence_logits" not in BertPretrainer(
      encoder, next_sentence=False)(features)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_pretrainer_trains_with_fit(policy):
  keras.utils.set_random_seed(0)
  keras.config.set_dtype_policy(policy)
  try:
    pre = BertPretrainer(BertEncoder(BertConfig.preset("tiny", vocab_size=100)))
  finally:
    keras.config.set_dtype_policy("float32")
  features = _features(batch_size=8)
  features["masked_lm_positions"] = np.tile(np.array([[1, 3, 5]], "int32"), (8, 1))
  labels = {"masked_lm_logits": features["input_word_ids"][:, [1, 3, 5]],
            "next_sentence_logits": np.arange(8) % 2}
  loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  pre.compile(keras.optimizers.Adam(1e-3),
              loss={"masked_lm_logits": loss, "next_sentence_logits": loss})
  history = pre.fit(features, labels, epochs=20, batch_size=8, verbose=0)
  losses = history.history["loss"]
  assert np.isfinite(losses).all() and losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("policy,tolerance", [("mixed_bfloat16", 0.05),
                                               ("mixed_float16", 0.01)])
def test_mixed_precision_stays_close_to_float32(policy, tolerance, minilm_path,
                                                batch):
  """Under mixed precision softmax, LayerNorm and logits run in float32.

  Tolerance: max |delta| relative to the largest float32 value, for the
  sequence output at real (unpadded) tokens and the MLM logits (MiniLM
  weights, real sentences).
  Measured (sequence / logits): bfloat16 0.011 / 0.021, float16 0.0011 /
  0.0015; asserted: 0.05 and 0.01.
  """
  reference = BertPretrainer.from_pretrained(minilm_path)
  positions = np.tile(np.array([[1, 2, 3]], "int32"), (len(batch["input_mask"]), 1))
  features = {**batch, "masked_lm_positions": positions}
  ref = reference(features)
  ref_seq = np.asarray(reference.encoder(batch)["sequence_output"])
  keras.config.set_dtype_policy(policy)
  try:
    mixed = BertPretrainer(BertEncoder(reference.config))
    set_weights(mixed, get_weights(reference), "float32 model")
    out = mixed(features)
    seq = mixed.encoder(batch)["sequence_output"]
  finally:
    keras.config.set_dtype_policy("float32")
  assert out["masked_lm_logits"].dtype == "float32"
  assert out["next_sentence_logits"].dtype == "float32"
  real = batch["input_mask"].astype(bool)  # padded outputs are never used
  seq, ref_seq = np.asarray(keras.ops.cast(seq, "float32"))[real], ref_seq[real]
  assert np.abs(seq - ref_seq).max() < tolerance * np.abs(ref_seq).max()
  logits, ref_logits = np.asarray(out["masked_lm_logits"]), np.asarray(ref["masked_lm_logits"])
  assert np.abs(logits - ref_logits).max() < tolerance * np.abs(ref_logits).max()
  assert np.isfinite(logits).all()


def test_too_long_input_names_the_limit():
  encoder = BertEncoder(BertConfig.preset("tiny", vocab_size=100,
                                          max_position_embeddings=16))
  with pytest.raises(ValueError, match="length 20.*max_position_embeddings=16"):
    encoder(_features(seq=20))


def test_keras_format_round_trip(tmp_path):
  pre = BertPretrainer(BertEncoder(BertConfig.preset("tiny", vocab_size=100)))
  pre.save(tmp_path / "pre.keras")
  again = keras.models.load_model(tmp_path / "pre.keras")
  features = {**_features(), "masked_lm_positions": np.array([[1], [2]], "int32")}
  for key, value in pre(features).items():
    np.testing.assert_array_equal(value, again(features)[key])
