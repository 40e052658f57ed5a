"""BertConfig: presets from the papers, Google/HF file formats, bad values."""

import json

import pytest
import transformers

from keras_bert_lab.config import BertConfig

# Turc et al. 2019 (L, H) grid names and the BERT paper's base/large.
PAPER_SIZES = {"tiny": (2, 128), "mini": (4, 256), "small": (4, 512),
               "medium": (8, 512), "base": (12, 768), "large": (24, 1024)}

# google-research/bert's uncased_L-12_H-768_A-12/bert_config.json.
GOOGLE_BASE = {
    "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
    "intermediate_size": 3072, "max_position_embeddings": 512,
    "num_attention_heads": 12, "num_hidden_layers": 12, "type_vocab_size": 2,
    "vocab_size": 30522,
}


@pytest.mark.parametrize("name", PAPER_SIZES)
def test_presets_follow_the_papers(name):
  config = BertConfig.preset(name)
  layers, hidden = PAPER_SIZES[name]
  assert (config.num_layers, config.hidden_size) == (layers, hidden)
  assert config.num_heads == hidden // 64
  assert config.intermediate_size == 4 * hidden
  assert config.hidden_act == "gelu" and config.layer_norm_eps == 1e-12


def test_preset_overrides_and_unknown_name():
  assert BertConfig.preset("tiny", vocab_size=8000).vocab_size == 8000
  with pytest.raises(ValueError, match="huge.*tiny, mini"):
    BertConfig.preset("huge")


def test_reads_google_bert_config(tmp_path):
  path = tmp_path / "bert_config.json"
  path.write_text(json.dumps(GOOGLE_BASE))
  assert BertConfig.from_json_file(path) == BertConfig.preset("base")


def test_google_round_trip(tmp_path):
  config = BertConfig.preset("mini", vocab_size=777)
  config.write_google_json(tmp_path / "bert_config.json")
  assert json.loads((tmp_path / "bert_config.json").read_text()).keys() == (
      GOOGLE_BASE.keys())
  assert BertConfig.from_json_file(tmp_path / "bert_config.json") == config


def test_reads_hf_config_and_reports_unknown_keys(minilm_config, caplog):
  with caplog.at_level("WARNING", logger="keras_bert_lab"):
    config = BertConfig.from_json_file(minilm_config)
  assert (config.num_layers, config.hidden_size, config.num_heads,
          config.intermediate_size) == (6, 384, 12, 1536)
  # MiniLM's config.json has "gradient_checkpointing" (bookkeeping, dropped
  # silently) but nothing unknown.
  assert "ignoring" not in caplog.text
  values = json.loads(open(minilm_config).read())
  values["foo_bar"] = 3
  with caplog.at_level("WARNING", logger="keras_bert_lab"):
    BertConfig.from_file_dict(values, source="x/config.json")
  assert "x/config.json" in caplog.text and "foo_bar" in caplog.text


def test_hf_round_trip_readable_by_transformers(tmp_path):
  config = BertConfig.preset("tiny", vocab_size=500, hidden_act="gelu_approximate")
  config.write_hf_json(tmp_path / "config.json")
  assert BertConfig.from_json_file(tmp_path / "config.json") == config
  hf = transformers.BertConfig.from_pretrained(tmp_path)
  assert (hf.num_hidden_layers, hf.hidden_size, hf.vocab_size) == (2, 128, 500)
  assert hf.hidden_act in ("gelu_new", "gelu_pytorch_tanh")


@pytest.mark.parametrize("key,value,match", [
    ("hidden_act", "swish", "hidden_act='swish'"),
    ("position_embedding_type", "relative_key", "position_embedding_type"),
])
def test_rejects_models_we_do_not_build(key, value, match):
  values = dict(GOOGLE_BASE, **{key: value})
  with pytest.raises(ValueError, match=match):
    BertConfig.from_file_dict(values)


def test_missing_key_and_bad_values():
  values = dict(GOOGLE_BASE)
  del values["num_hidden_layers"]
  with pytest.raises(ValueError, match="num_hidden_layers"):
    BertConfig.from_file_dict(values, source="cfg.json")
  with pytest.raises(ValueError, match="hidden_size=100 is not divisible by num_heads=12"):
    BertConfig(hidden_size=100)
  with pytest.raises(ValueError, match="num_layers=0"):
    BertConfig(num_layers=0)


def test_dict_round_trip_rejects_unknown_fields():
  config = BertConfig.preset("small")
  assert BertConfig.from_dict(config.to_dict()) == config
  with pytest.raises(ValueError, match="nope"):
    BertConfig.from_dict(dict(config.to_dict(), nope=1))


@pytest.fixture
def minilm_config(minilm_dir):
  return str(minilm_dir / "config.json")
