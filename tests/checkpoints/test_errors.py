"""Bad checkpoints fail early with messages naming the thing and the fix."""

import os

import numpy as np
import pytest

from keras_bert_lab.checkpoints import get_weights, set_weights
from keras_bert_lab.config import BertConfig
from keras_bert_lab.models import BertEncoder, BertPretrainer
from keras_bert_lab.text import SPECIAL_TOKENS

CONFIG = BertConfig.preset("tiny", vocab_size=64)


def _vocab(size):
  return list(SPECIAL_TOKENS) + [f"w{i}" for i in range(size - len(SPECIAL_TOKENS))]


@pytest.fixture
def saved(tmp_path):
  folder = tmp_path / "model"
  BertPretrainer(BertEncoder(CONFIG, vocab=_vocab(64))).save_pretrained(folder)
  return folder


def test_unknown_layout_lists_files_and_layouts(tmp_path):
  (tmp_path / "weights.npz").write_bytes(b"")
  with pytest.raises(ValueError) as e:
    BertEncoder.from_pretrained(str(tmp_path))
  message = str(e.value)
  assert "weights.npz" in message
  for layout in ("save_pretrained", "Hugging Face", "Google TF1", "keras-hub"):
    assert layout in message


def test_missing_folder():
  with pytest.raises(ValueError, match="does not exist"):
    BertEncoder.from_pretrained("/nonexistent/bert")


def test_pickle_is_refused_with_conversion_hint(saved):
  os.remove(saved / "model.safetensors")
  (saved / "pytorch_model.bin").write_bytes(b"not unpickled")
  os.remove(saved / "keras_bert_lab.json")
  with pytest.raises(ValueError, match="never unpickles.*safe_serialization"):
    BertEncoder.from_pretrained(str(saved))


def test_config_and_weights_disagree_names_both_numbers(saved):
  config = (saved / "config.json").read_text().replace('"vocab_size": 64',
                                                        '"vocab_size": 80')
  (saved / "config.json").write_text(config)
  (saved / "vocab.txt").write_text("".join(t + "\n" for t in _vocab(80)))
  with pytest.raises(ValueError,
                     match=r"word_embeddings: model expects \(80, 128\).*\(64, 128\)"):
    BertPretrainer.from_pretrained(str(saved))


def test_vocab_size_differs_from_embedding_table(saved):
  (saved / "vocab.txt").write_text("".join(t + "\n" for t in _vocab(70)))
  with pytest.raises(ValueError, match="70 tokens.*vocab_size=64"):
    BertEncoder.from_pretrained(str(saved))


def test_bad_vocab_file_is_reported(saved):
  (saved / "vocab.txt").write_text("a\nb\n")
  with pytest.raises(ValueError, match=r"lacks the special token"):
    BertEncoder.from_pretrained(str(saved))


def test_unused_and_missing_weights_are_logged(saved, caplog):
  with caplog.at_level("WARNING", logger="keras_bert_lab"):
    encoder = BertEncoder.from_pretrained(str(saved))
  assert "checkpoint weights not used" in caplog.text
  assert "cls/predictions/output_bias" in caplog.text
  weights = get_weights(encoder)
  del weights["bert/pooler/dense/bias"]
  weights["bert/extra/thing"] = np.zeros(3)
  caplog.clear()
  with caplog.at_level("WARNING", logger="keras_bert_lab"):
    missing, unused = set_weights(encoder, weights, "dict")
  assert missing == ["bert/pooler/dense/bias"] and unused == ["bert/extra/thing"]
  assert "bert/pooler/dense/bias" in caplog.text and "bert/extra/thing" in caplog.text


def test_shape_mismatch_assigns_nothing():
  encoder = BertEncoder(CONFIG)
  before = get_weights(encoder)
  weights = {name: np.ones_like(v) for name, v in before.items()}
  weights["bert/pooler/dense/kernel"] = np.zeros((3, 3))
  with pytest.raises(ValueError, match=r"pooler/dense/kernel: model expects \(128, 128\), dict has \(3, 3\)"):
    set_weights(encoder, weights, "dict")
  np.testing.assert_array_equal(get_weights(encoder)["bert/embeddings/word_embeddings"],
                                before["bert/embeddings/word_embeddings"])


def test_own_folder_carries_vocab_and_case(tmp_path):
  encoder = BertEncoder(CONFIG, vocab=_vocab(64), lower_case=False)
  encoder.save_pretrained(tmp_path)
  again = BertEncoder.from_pretrained(str(tmp_path))
  assert again.vocab == _vocab(64) and again.lower_case is False
  assert sorted(os.listdir(tmp_path)) == [
      "config.json", "keras_bert_lab.json", "model.safetensors",
      "tokenizer_config.json", "vocab.txt"]


def test_bfloat16_and_sharded_hf_weights_load(tmp_path):
  """HF folders saved in bfloat16 and sharded (transformers' own writer)."""
  import torch
  import transformers
  config = transformers.BertConfig(
      vocab_size=64, hidden_size=128, num_hidden_layers=2,
      num_attention_heads=2, intermediate_size=512)
  model = transformers.BertModel(config).to(torch.bfloat16)
  model.save_pretrained(tmp_path, max_shard_size="200KB")
  assert (tmp_path / "model.safetensors.index.json").exists()
  encoder = BertEncoder.from_pretrained(str(tmp_path))
  expected = model.embeddings.word_embeddings.weight.float().detach().numpy()
  np.testing.assert_array_equal(
      get_weights(encoder)["bert/embeddings/word_embeddings"], expected)
