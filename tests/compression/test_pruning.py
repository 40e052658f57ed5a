"""Structured pruning: importance against PyTorch autograd of explicit masks
(Michel et al. 2019's definition), the pruned model against the unpruned one
with the same units masked to zero, the folder against transformers (the
zero-padded full-width layout and HF 4's `pruned_heads` layout), export,
`python -m keras_bert_lab.prune` end to end with recovery and resume on real
reviews, and bad input.
"""

import json

import numpy as np
import pytest

from tests.conftest import fine_foods_rows, run_cli_commands

keras = pytest.importorskip("keras")

from keras_bert_lab import tasks  # noqa: E402
from keras_bert_lab.checkpoints.hf import canonical_to_hf  # noqa: E402
from keras_bert_lab.checkpoints.names import get_weights  # noqa: E402
from keras_bert_lab.compression import pruning, quantize  # noqa: E402
from keras_bert_lab.config import BertConfig  # noqa: E402
from keras_bert_lab.models import (BertClassifier, BertEncoder,  # noqa: E402
                                   BertTokenClassifier)

SMALL = dict(hidden_size=32, num_heads=4, intermediate_size=48,
             max_position_embeddings=64, hidden_dropout_prob=0.0,
             attention_probs_dropout_prob=0.0)
HEAD_SIZE = 8


def _classifier(num_layers=3, seed=0, cls=BertClassifier, **kwargs):
  from keras_bert_lab.text import BUNDLED_VOCAB, read_vocab
  keras.utils.set_random_seed(seed)
  vocab = read_vocab(BUNDLED_VOCAB)
  encoder = BertEncoder(BertConfig(vocab_size=len(vocab),
                                   num_layers=num_layers, **SMALL),
                        vocab=vocab, lower_case=True)
  model = cls(encoder, **(kwargs or {"labels": ["neg", "pos", "mixed"]}))
  # Weights of std 0.3, not BERT's 0.02: every head and neuron matters.
  rng = np.random.default_rng(seed)
  model.set_weights([w if w.ndim == 1 and np.all(w == 1) else
                     rng.normal(0, 0.3, w.shape).astype("float32")
                     for w in model.get_weights()])
  return model


def _features(batch=4, seq=9, seed=1):
  rng = np.random.default_rng(seed)
  ids = rng.integers(5, 8000, size=(batch, seq)).astype("int32")
  mask = np.ones_like(ids)
  mask[1:, seq - 3:] = 0
  return {"input_word_ids": ids * mask, "input_mask": mask,
          "input_type_ids": np.zeros_like(ids)}


def _masked(model, heads, neurons):
  """The unpruned model with the removed heads' and neurons' outgoing rows
  zeroed: the function a pruned model must compute (the mask definition)."""
  clone = type(model).from_config(model.get_config())
  clone.set_weights(model.get_weights())
  for i, block in enumerate(clone.encoder.transformer_layers):
    kernel = block.attention.output_dense.kernel.numpy()
    for h in heads.get(i, ()):
      kernel[h * HEAD_SIZE:(h + 1) * HEAD_SIZE] = 0
    block.attention.output_dense.kernel.assign(kernel)
    kernel = block.output_dense.kernel.numpy()
    kernel[list(neurons.get(i, ()))] = 0
    block.output_dense.kernel.assign(kernel)
  return clone


HEADS = {0: [1, 3], 2: [0]}
NEURONS = {0: list(range(0, 48, 3)), 1: [5, 7, 40]}


def test_pruned_model_computes_the_masked_model():
  model = _classifier()
  small = pruning.prune_model(model, HEADS, NEURONS)
  config = small.config
  assert config.pruned_heads == {0: (1, 3), 2: (0,)}
  assert config.intermediate_sizes == (32, 45, 48)
  # Physically smaller: 3 heads of 8 columns and 45 neurons fewer.
  removed = 3 * HEAD_SIZE * (3 * 32 + 3 + 32) + (16 + 3) * (32 + 1 + 32)
  assert model.count_params() - small.count_params() == removed
  block = small.encoder.transformer_layers[0]
  assert tuple(block.attention.query.kernel.shape) == (32, 16)
  assert tuple(block.intermediate.kernel.shape) == (32, 32)
  features = _features()
  np.testing.assert_allclose(
      small.predict(features, verbose=0),
      _masked(model, HEADS, NEURONS).predict(features, verbose=0),
      atol=1e-5)
  # Pruning again numbers heads as in the unpruned layer (HF's convention).
  smaller = pruning.prune_model(small, {0: [0]}, {})
  assert smaller.config.pruned_heads[0] == (0, 1, 3)
  np.testing.assert_allclose(
      smaller.predict(features, verbose=0),
      _masked(model, {0: [0, 1, 3], 2: [0]}, NEURONS).predict(features,
                                                              verbose=0),
      atol=1e-5)


def _torch_mask_gradients(folder, features, labels, num_layers):
  """|dL/dmask| by PyTorch autograd: masks of ones multiply each head's
  context and each feed-forward activation of transformers' model."""
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  hf = transformers.BertForSequenceClassification.from_pretrained(
      str(folder)).eval()
  head_masks = [torch.ones(4, requires_grad=True) for _ in range(num_layers)]
  ffn_masks = [torch.ones(48, requires_grad=True) for _ in range(num_layers)]
  for layer, head_mask, ffn_mask in zip(hf.bert.encoder.layer, head_masks,
                                        ffn_masks):
    layer.attention.self.register_forward_hook(
        lambda m, i, out, mask=head_mask: (
            out[0] * mask.repeat_interleave(HEAD_SIZE),) + tuple(out[1:]))
    layer.intermediate.register_forward_hook(
        lambda m, i, out, mask=ffn_mask: out * mask)
  logits = hf(input_ids=torch.tensor(features["input_word_ids"]).long(),
              attention_mask=torch.tensor(features["input_mask"]).long(),
              token_type_ids=torch.tensor(features["input_type_ids"]).long()
              ).logits
  torch.nn.functional.cross_entropy(logits, torch.tensor(labels)).backward()
  return ([m.grad.abs().numpy() for m in head_masks],
          [m.grad.abs().numpy() for m in ffn_masks])


def test_importance_is_the_mask_gradient_of_pytorch_autograd(tmp_path):
  import tensorflow as tf
  model = _classifier()
  model.save_pretrained(str(tmp_path / "model"))
  features, labels = _features(), np.array([0, 1, 2, 1])
  model.compile()
  heads, neurons = pruning.importance(
      model, tf.data.Dataset.from_tensors((features, labels)).repeat(), 2)
  ref_heads, ref_neurons = _torch_mask_gradients(tmp_path / "model", features,
                                                 labels, 3)
  for ours, ref in zip(heads + neurons, ref_heads + ref_neurons):
    np.testing.assert_allclose(ours, 2 * ref, rtol=2e-3, atol=1e-6)


def test_select_ranks_across_layers_after_l2_normalisation():
  config = BertConfig(hidden_size=8, num_layers=3, num_heads=4,
                      intermediate_size=4)
  head_scores = [np.array([1., 2, 3, 4]), np.array([10., 20, 30, 45]),
                 np.zeros(4)]
  # Divided by each layer's l2 norm: [.183 .365 .548 .730] and
  # [.171 .342 .513 .769]; layer 2's zeros go first but it keeps one head.
  heads, _ = pruning.select(config, pruning.PruneConfig(heads=0.5),
                            head_scores, [np.ones(4)] * 3)
  assert heads == {0: [0], 1: [0, 1], 2: [0, 1, 2]}
  heads, _ = pruning.select(
      config, pruning.PruneConfig(heads=0.5, layers=[1]), head_scores,
      [np.ones(4)] * 3)
  assert heads == {1: [0, 1]}


def test_pruned_folder_round_trips_and_transformers_reads_it(tmp_path):
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  small = pruning.prune_model(_classifier(), HEADS, NEURONS)
  small.save_pretrained(str(tmp_path / "pruned"))
  config = json.loads((tmp_path / "pruned" / "config.json").read_text())
  assert config["keras_bert_lab_pruning"] == {
      "pruned_heads": {"0": [1, 3], "2": [0]},
      "intermediate_sizes": [32, 45, 48]}
  again = BertClassifier.from_pretrained(str(tmp_path / "pruned"))
  assert again.config == small.config
  for a, b in zip(small.get_weights(), again.get_weights()):
    np.testing.assert_array_equal(a, b)
  features = _features()
  expected = small.predict(features, verbose=0)
  hf = transformers.BertForSequenceClassification.from_pretrained(
      str(tmp_path / "pruned")).eval()
  with torch.no_grad():
    logits = hf(input_ids=torch.tensor(features["input_word_ids"]).long(),
                attention_mask=torch.tensor(features["input_mask"]).long(),
                token_type_ids=torch.tensor(features["input_type_ids"]).long()
                ).logits.numpy()
  np.testing.assert_allclose(logits, expected, atol=1e-4)

  # HF 4's `prune_heads` layout: the attention weights in their pruned
  # shapes, `pruned_heads` in config.json (the feed-forward at full width).
  from keras_bert_lab.checkpoints.hf import pad_pruned
  import safetensors.numpy
  unpadded = BertConfig.from_dict(dict(small.config.to_dict(),
                                       intermediate_sizes=None))
  weights = get_weights(small)
  padded_ffn = pad_pruned(BertConfig.from_dict(dict(
      small.config.to_dict(), pruned_heads={})), weights)
  tensors = {}
  for name, value in padded_ffn.items():
    key, transpose = canonical_to_hf(name)
    key = key if key.startswith("classifier.") else "bert." + key
    tensors[key] = np.ascontiguousarray(value.T if transpose else value)
  hf4 = tmp_path / "hf4"
  hf4.mkdir()
  safetensors.numpy.save_file(tensors, str(hf4 / "model.safetensors"))
  values = unpadded.to_hf_dict()
  values.pop("keras_bert_lab_pruning")
  values.update(pruned_heads={"0": [1, 3], "2": [0]},
                architectures=["BertForSequenceClassification"],
                id2label={"0": "neg", "1": "pos", "2": "mixed"})
  (hf4 / "config.json").write_text(json.dumps(values))
  (hf4 / "vocab.txt").write_text("\n".join(small.vocab) + "\n")
  read = BertClassifier.from_pretrained(str(hf4))
  assert read.config.pruned_heads == small.config.pruned_heads
  np.testing.assert_allclose(read.predict(features, verbose=0), expected,
                             atol=1e-5)


def test_pruned_config_fields():
  config = BertConfig(pruned_heads={"3": [2, 1, 2]}, intermediate_sizes=None)
  assert config.pruned_heads == {3: (1, 2)} and config.layer_heads(3) == 10
  assert BertConfig.from_dict(config.to_dict()) == config
  assert BertConfig(intermediate_sizes=[3072] * 12).intermediate_sizes is None
  assert config.select_layers([3, 5]).pruned_heads == {0: (1, 2)}
  with pytest.raises(ValueError, match="no bert_config.json form"):
    config.to_google_dict()
  for bad, message in (
      (dict(pruned_heads={12: [0]}), "names layer 12; the model has layers "
                                     "0 to 11"),
      (dict(pruned_heads={0: [12]}), "names a head outside 0 to 11"),
      (dict(pruned_heads={0: list(range(12))}), "removes all 12 heads"),
      (dict(intermediate_sizes=[10] * 11), "must give 12 widths"),
      (dict(pruned_heads=[1]), "must map layer indices to lists")):
    with pytest.raises(ValueError, match=message):
      BertConfig(**bad)


def test_pruned_tagger_and_student_from_pruned_blocks():
  import tensorflow as tf

  from keras_bert_lab.compression import build_student
  tagger = _classifier(cls=BertTokenClassifier, labels=["O", "B-X", "I-X"])
  # Tagging's loss takes sample weights (first wordpieces); the scores
  # are those of the weighted loss.
  tagger.compile()
  features = _features()
  labels = np.arange(36).reshape(4, 9) % 3
  weights = features["input_mask"].astype("float32")
  heads, neurons = pruning.importance(tagger, tf.data.Dataset.from_tensors(
      (features, labels, weights)), 1)
  assert [h.shape for h in heads] == [(4,)] * 3
  assert all(np.all(h > 0) for h in heads + neurons[:1])
  small = pruning.prune_model(tagger, {1: [2]}, {2: [0, 1]})
  np.testing.assert_allclose(
      small.predict(features, verbose=0),
      _masked(tagger, {1: [2]}, {2: [0, 1]}).predict(features, verbose=0),
      atol=1e-5)
  student = build_student(small, layers=[1, 2])
  assert student.config.pruned_heads == {0: (2,)}
  assert student.config.intermediate_sizes == (48, 46)


def test_bad_pruning_input():
  model = _classifier()
  with pytest.raises(ValueError, match=r"--heads=1.0 must be a share in "
                     r"\[0, 1\)"):
    pruning.PruneConfig(heads=1.0)
  with pytest.raises(ValueError, match="Nothing to prune"):
    pruning.PruneConfig()
  # 3 blocks x 4 heads: removing 10 would leave fewer than one per block.
  with pytest.raises(ValueError, match="asks to remove 10 of the 12 heads "
                     r"in blocks \[0, 1, 2\] \(per block: \[4, 4, 4\]\), but "
                     "each block keeps at least one; the most is "
                     "--heads=0.750"):
    pruning.check_prune_config(model.config, pruning.PruneConfig(heads=0.8))
  with pytest.raises(ValueError, match="--layers: block 3 is out of range; "
                     "the model has 3 blocks"):
    pruning.check_prune_config(model.config,
                               pruning.PruneConfig(heads=0.5, layers=[3]))
  with pytest.raises(ValueError, match="Block 0 has 4 heads"):
    pruning.prune_model(model, {0: [4]}, {})
  with pytest.raises(ValueError, match="The model is quantized"):
    pruning.prune_model(quantize(_classifier(), "int8_weights"), HEADS, {})


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
  """A tiny classifier folder of real reviews, pruned by the CLI."""
  tmp = tmp_path_factory.mktemp("prune")
  rows = fine_foods_rows(data_dir, 40)
  reviews = tmp / "reviews.jsonl"
  reviews.write_text("".join(json.dumps({"text": r["review"],
                                         "label": r["score"]}) + "\n"
                             for r in rows), encoding="utf-8")
  labels = sorted({r["score"] for r in rows})
  task = tasks.get_task("classification", labels=labels, max_seq_length=32)
  task.save(_classifier(labels=labels), tmp / "model")
  encoder_dir = tmp / "encoder"
  _classifier().encoder.save_pretrained(str(encoder_dir))
  common = [f"--model={tmp / 'model'}", f"--train_file={reviews}",
            "--train_batch_size=8", "--importance_examples=16",
            "--log_every=1"]
  recover = [*common, "--heads=0.5", "--ffn=0.25", "--recover_epochs=1",
             f"--model_dir={tmp / 'recovered'}"]
  commands = [
      ("pruned", [*common, "--heads=0.5", "--ffn=0.25",
                  f"--model_dir={tmp / 'pruned'}"]),
      ("recovered", recover),
      ("resumed", recover),
      ("changed", [*common, "--heads=0.25", "--recover_epochs=1",
                   f"--model_dir={tmp / 'recovered'}"]),
      ("too_many_heads", [*common, "--heads=0.9", f"--model_dir={tmp / 'x'}"]),
      ("out_of_range", [*common, "--heads=0.5", "--layers=0,7",
                        f"--model_dir={tmp / 'x'}"]),
      ("not_a_task_folder", [f"--model={encoder_dir}", "--heads=0.5",
                             f"--train_file={reviews}",
                             f"--model_dir={tmp / 'x'}"]),
      ("all_heads", [*common, "--heads=1", f"--model_dir={tmp / 'x'}"]),
  ]
  return tmp, run_cli_commands("keras_bert_lab.prune", commands, tmp)


@pytest.mark.slow
def test_prune_cli_writes_a_smaller_task_folder(runs):
  from sklearn.metrics import accuracy_score
  tmp, results = runs
  for name in ("pruned", "recovered", "resumed"):
    assert results[name]["ok"], results[name]
  plan = json.loads((tmp / "pruned" / "pruning.json").read_text())
  assert sum(map(len, plan["removed_heads"].values())) == 6   # of 12
  assert sum(map(len, plan["removed_neurons"].values())) == 36   # of 144
  assert plan["parameters"][1] < plan["parameters"][0]
  assert (json.loads((tmp / "pruned" / "task.json").read_text())
          == json.loads((tmp / "model" / "task.json").read_text()))
  task, small = tasks.load(str(tmp / "pruned"))
  assert small.config.pruned_heads == {
      int(k): tuple(v) for k, v in plan["pruned_heads"].items()}
  # The reported metrics are scikit-learn's on the dev split, for the
  # pruned model and the unpruned one.
  evaluation = json.loads((tmp / "pruned" / "eval_results.json").read_text())
  data = task.read_data(tasks.DataConfig(train_file=str(tmp /
                                                        "reviews.jsonl")))
  tokenizer = tasks.load_tokenizer(small)
  _, unpruned = tasks.load(str(tmp / "model"))
  for model, reported in ((small, evaluation),
                          (unpruned, evaluation["unpruned"])):
    gold, predicted = [], []
    for features, labels in task.eval_dataset(data.eval, tokenizer, 16):
      gold += list(labels.numpy())
      predicted += list(model.predict(features, verbose=0).argmax(-1))
    assert reported["accuracy"] == pytest.approx(
        accuracy_score(gold, predicted))
  # Recovery trained the pruned model (same plan: ranked on the same
  # batches), and the rerun resumed it rather than pruning again.
  recovered = json.loads((tmp / "recovered" / "pruning.json").read_text())
  assert recovered["removed_heads"] == plan["removed_heads"]
  assert json.loads((tmp / "recovered" / "eval_results.json").read_text()
                    )["train_steps"] > 0


@pytest.mark.slow
def test_pruned_folder_exports_raw_text(runs, tmp_path):
  import tensorflow as tf

  from keras_bert_lab.serving import export
  tmp, _ = runs
  (path,) = export.export(str(tmp / "pruned"), str(tmp_path / "out"),
                          version=1)
  task, small = tasks.load(str(tmp / "pruned"))
  texts = ["Great coffee, would buy again.", "Stale and bland."]
  served = tf.saved_model.load(path).signatures["serving_default"](
      text=tf.constant(texts))
  features = task.preprocessor(tasks.load_tokenizer(small))(
      tf.constant(texts))
  np.testing.assert_allclose(
      served["probabilities"].numpy(),
      tf.nn.softmax(small(features, training=False)).numpy(), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name, message", [
    ("changed", "was written by another pruning"),
    ("too_many_heads", "--heads=0.9 asks to remove 11 of the 12 heads"),
    ("out_of_range", "--layers: block 7 is out of range; the model has 3 "
                     "blocks"),
    ("not_a_task_folder", "is not a fine-tuned task model"),
    ("all_heads", "--heads=1.0 must be a share in [0, 1)"),
])
def test_prune_bad_input(runs, name, message):
  _, results = runs
  assert not results[name]["ok"]
  assert message in results[name]["error"]
