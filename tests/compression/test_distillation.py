"""Distillation: the losses against NumPy references of the papers' formulas,
the student's initialisation, learning from the teacher, `python -m
keras_bert_lab.distill` end to end on real reviews and NER-style tags, and
bad input.

References: Hinton et al. 2015 (soft targets: T^2 * KL(softmax(t/T) ||
softmax(s/T)), mixed with the hard-label cross-entropy), TinyBERT (hidden
MSE through a learned projection, uniform layer map g(m), the attention-score
MSE as its code computes it), MiniLM (attention and value-relation KL on the
last blocks), DistilBERT
(student blocks copied from teacher blocks), scikit-learn for the reported
accuracies, and transformers reading the student folder.
"""

import csv
import json

import numpy as np
import pytest

from tests.conftest import fine_foods_rows, run_cli_commands

keras = pytest.importorskip("keras")

from keras_bert_lab.compression import distillation  # noqa: E402
from keras_bert_lab.config import BertConfig  # noqa: E402
from keras_bert_lab.models import (BertClassifier, BertEncoder,  # noqa: E402
                                   BertMultipleChoice, BertSpanLabeler,
                                   BertTokenClassifier)

SMALL = dict(hidden_size=32, num_heads=2, intermediate_size=64,
             max_position_embeddings=64, hidden_dropout_prob=0.0,
             attention_probs_dropout_prob=0.0)


def _encoder(num_layers=4, **overrides):
  from keras_bert_lab.text import BUNDLED_VOCAB, read_vocab
  vocab = read_vocab(BUNDLED_VOCAB)
  config = BertConfig(vocab_size=len(vocab), num_layers=num_layers,
                      **{**SMALL, **overrides})
  return BertEncoder(config, vocab=vocab, lower_case=True)


def _features(batch=6, seq=10, seed=0, choices=None):
  rng = np.random.default_rng(seed)
  shape = (batch, seq) if choices is None else (batch, choices, seq)
  ids = rng.integers(5, 8000, size=shape).astype("int32")
  mask = np.ones(shape, "int32")
  mask[..., seq - 3:] = 0
  return {"input_word_ids": ids * mask, "input_mask": mask,
          "input_type_ids": np.zeros(shape, "int32")}


def _spread_heads(*models):
  """Heads of std 1, a different one per model: logits far apart, so the
  KL terms are far from 0 (random BERT heads have std 0.02)."""
  for seed, model in enumerate(models):
    rng = np.random.default_rng(100 + seed)
    model.head.set_weights([rng.normal(size=w.shape).astype("float32")
                            for w in model.head.get_weights()])


def _log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _kl(teacher, student, temperature):
  """T^2 * mean over rows of KL(p_teacher || p_student) at temperature T."""
  log_p = _log_softmax(teacher / temperature)
  log_q = _log_softmax(student / temperature)
  return temperature ** 2 * np.mean(np.sum(np.exp(log_p) * (log_p - log_q),
                                           -1))


def _cross_entropy(logits, labels, weights=None):
  picked = -np.take_along_axis(_log_softmax(logits), labels[..., None],
                               -1)[..., 0]
  if weights is None:
    return picked.mean()
  return (picked * weights).sum() / weights.sum()


def _loss(distiller, features, labels, *weights):
  return float(distiller.compute_loss(features, labels, None,
                                      weights[0] if weights else None))


def test_uniform_layer_map_is_tinybert_g():
  # g(m) = m * N / M (1-based): 4 of 12 -> 3, 6, 9, 12.
  assert distillation.uniform_layer_map(4, 12) == [2, 5, 8, 11]
  assert distillation.uniform_layer_map(6, 6) == list(range(6))


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_soft_and_hard_classification_loss_match_hinton(temperature):
  teacher = BertClassifier(_encoder(4), labels=["a", "b", "c"])
  student = distillation.build_student(teacher, layers=[1, 3])
  _spread_heads(teacher, student)
  features, labels = _features(), np.array([0, 1, 2, 0, 1, 2])
  t, s = (m.predict(features, verbose=0) for m in (teacher, student))
  for alpha in (0.0, 0.3, 1.0):
    distiller = distillation.BertDistiller(
        teacher, student, distillation.DistillConfig(temperature, alpha))
    distiller.compile()
    expected = (alpha * _cross_entropy(s, labels)
                + (1 - alpha) * _kl(t, s, temperature))
    np.testing.assert_allclose(_loss(distiller, features, labels), expected,
                               rtol=1e-4)


def test_regression_distils_the_teachers_scores_by_mse():
  teacher = BertClassifier(_encoder(2), num_classes=1)
  student = distillation.build_student(teacher, config=BertConfig(
      vocab_size=8000, num_layers=1, **SMALL))
  _spread_heads(teacher, student)
  features, scores = _features(), np.linspace(0, 5, 6).astype("float32")
  t, s = (m.predict(features, verbose=0)[:, 0] for m in (teacher, student))
  distiller = distillation.BertDistiller(
      teacher, student, distillation.DistillConfig(alpha=0.25))
  distiller.compile()
  expected = (0.25 * np.mean((s - scores) ** 2)
              + 0.75 * np.mean((s - t) ** 2))
  np.testing.assert_allclose(_loss(distiller, features, scores), expected,
                             rtol=1e-4)


def test_tagging_hard_loss_is_the_mean_over_weighted_positions():
  tags = ["O", "B-PER", "I-PER"]
  teacher = BertTokenClassifier(_encoder(2), labels=tags)
  student = distillation.build_student(teacher, layers=[1])
  _spread_heads(teacher, student)
  features = _features()
  rng = np.random.default_rng(1)
  labels = rng.integers(0, 3, size=(6, 10))
  weights = (rng.random((6, 10)) > 0.4).astype("float32")
  t, s = (m.predict(features, verbose=0) for m in (teacher, student))
  distiller = distillation.BertDistiller(
      teacher, student, distillation.DistillConfig(3.0, 0.5))
  distiller.compile()
  # Keras' LogitsDistillation averages the KL over every position.
  expected = (0.5 * _cross_entropy(s, labels, weights)
              + 0.5 * _kl(t.reshape(-1, 3), s.reshape(-1, 3), 3.0))
  np.testing.assert_allclose(_loss(distiller, features, labels, weights),
                             expected, rtol=1e-4)


def test_squad_losses_are_means_of_start_and_end():
  teacher = BertSpanLabeler(_encoder(2))
  student = distillation.build_student(teacher, layers=[0])
  _spread_heads(teacher, student)
  features = _features()
  labels = {"start_positions": np.array([1, 2, 3, 0, 4, 5]),
            "end_positions": np.array([2, 2, 5, 0, 6, 5])}
  t, s = (m.predict(features, verbose=0) for m in (teacher, student))
  distiller = distillation.BertDistiller(
      teacher, student, distillation.DistillConfig(2.0, 0.5))
  distiller.compile()
  hard = np.mean([_cross_entropy(s["start_logits"], labels["start_positions"]),
                  _cross_entropy(s["end_logits"], labels["end_positions"])])
  soft = np.mean([_kl(t[k], s[k], 2.0) for k in ("start_logits",
                                                 "end_logits")])
  np.testing.assert_allclose(_loss(distiller, features, labels),
                             0.5 * hard + 0.5 * soft, rtol=1e-4)


def test_multiple_choice_soft_targets_are_over_choices():
  teacher = BertMultipleChoice(_encoder(2), num_choices=4)
  student = distillation.build_student(teacher, layers=[1])
  _spread_heads(teacher, student)
  features, labels = _features(choices=4), np.array([0, 1, 2, 3, 0, 1])
  t, s = (m.predict(features, verbose=0) for m in (teacher, student))
  distiller = distillation.BertDistiller(
      teacher, student, distillation.DistillConfig(2.0, 0.0))
  distiller.compile()
  np.testing.assert_allclose(_loss(distiller, features, labels),
                             _kl(t, s, 2.0), rtol=1e-4)


def test_hidden_state_mse_through_the_learned_projection():
  teacher = BertClassifier(_encoder(4), labels=["a", "b"])
  narrow = BertConfig(vocab_size=8000, num_layers=2,
                      **{**SMALL, "hidden_size": 16, "intermediate_size": 32})
  student = distillation.build_student(teacher, config=narrow)
  distiller = distillation.BertDistiller(
      teacher, student, distillation.DistillConfig(
          alpha=0.0, logits_weight=0.0, hidden_weight=1.0))
  distiller.compile()
  features = _features()
  t = teacher.encoder.predict(features, verbose=0)["encoder_outputs"]
  s = student.encoder.predict(features, verbose=0)["encoder_outputs"]
  projection = distiller.distillation_losses[0].projection
  kernel, bias = (np.asarray(w) for w in projection.weights)
  # Uniform map for 2 of 4 blocks: 1 and 3.
  expected = np.mean([np.mean((s[m] @ kernel + bias - t[n]) ** 2)
                      for m, n in enumerate([1, 3])])
  np.testing.assert_allclose(_loss(distiller, features, np.zeros(6, "int32")),
                             expected, rtol=1e-4)
  # The projection trains with the student; the teacher is frozen.
  trained = {v.path for v in distiller.trainable_variables}
  assert {v.path for v in projection.weights} <= trained
  assert not teacher.trainable_variables


def _softmax(x):
  return np.exp(_log_softmax(x))


def _tinybert_attention_loss(teacher_scores, student_scores, mask, layer_map):
  """TinyBERT's code (huawei-noah, task_distill.py): the -10000 padding mask
  is added to the scores, entries <= -1e2 are zeroed, then MSELoss; the
  losses of the mapped blocks are averaged here."""
  pad = (1.0 - mask[:, None, None, :]) * -10000.0

  def zeroed(scores):
    scores = scores + pad
    return np.where(scores <= -1e2, 0.0, scores)

  return np.mean([np.mean((zeroed(student_scores[m])
                           - zeroed(teacher_scores[n])) ** 2)
                  for m, n in enumerate(layer_map)])


def _minilm_loss(teacher, student, mask):
  """MiniLM (Wang et al. 2020, eqs. 3-5) on the last blocks:
  1/(A_h |x|) sum over heads a and tokens t of KL(teacher || student) for
  the attention distributions and for the value relations softmax(V V^T /
  sqrt(d_k)); padded keys masked, the mean over the batch's tokens."""
  pad = (1.0 - mask[:, None, None, :]) * -1e9

  def kl(t_logits, s_logits):
    p, log_p = _softmax(t_logits + pad), _log_softmax(t_logits + pad)
    per_row = np.sum(p * (log_p - _log_softmax(s_logits + pad)), -1)
    rows = np.broadcast_to(mask[:, None, :], per_row.shape)
    return (per_row * rows).sum() / rows.sum()

  def relation(values):
    return values @ values.transpose(0, 1, 3, 2) / np.sqrt(values.shape[-1])

  return (kl(teacher["attention_scores"][-1], student["attention_scores"][-1])
          + kl(relation(teacher["attention_values"][-1]),
               relation(student["attention_values"][-1])))


def _spread_attention(*models):
  """Query, key and value kernels of std 0.3, a different one per model, so
  the attention maps are far from uniform (random BERT's are nearly so)."""
  for seed, model in enumerate(models):
    rng = np.random.default_rng(200 + seed)
    for block in model.encoder.transformer_layers:
      for dense in (block.attention.query, block.attention.key,
                    block.attention.value):
        dense.kernel.assign(rng.normal(0, 0.3, dense.kernel.shape))


@pytest.mark.parametrize("choices", [None, 3])
def test_attention_losses_match_tinybert_and_minilm(choices):
  """On padded rows; multiple choice flattens its choices into the batch."""
  if choices:
    teacher = BertMultipleChoice(_encoder(4), num_choices=choices)
  else:
    teacher = BertClassifier(_encoder(4), labels=["a", "b"])
  narrow = BertConfig(vocab_size=8000, num_layers=2,
                      **{**SMALL, "hidden_size": 16, "intermediate_size": 32})
  student = distillation.build_student(teacher, config=narrow)
  _spread_attention(teacher, student)
  features = _features(choices=choices)
  flat = {k: v.reshape(-1, v.shape[-1]) for k, v in features.items()}
  t = teacher.encoder.predict(flat, verbose=0)
  s = student.encoder.predict(flat, verbose=0)
  labels = np.zeros(6, "int32")
  expected = {
      "attention_weight": _tinybert_attention_loss(
          t["attention_scores"], s["attention_scores"], flat["input_mask"],
          [1, 3]),
      "minilm_weight": _minilm_loss(t, s, flat["input_mask"]),
  }
  assert min(expected.values()) > 0.05
  for name, value in expected.items():
    distiller = distillation.BertDistiller(
        teacher, student, distillation.DistillConfig(
            alpha=0.0, logits_weight=0.0, **{name: 1.0}))
    distiller.compile()
    np.testing.assert_allclose(_loss(distiller, features, labels), value,
                               rtol=1e-4, err_msg=name)


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # only attention
def test_student_learns_the_teachers_attention():
  teacher = BertClassifier(_encoder(2), labels=["a", "b"])
  student = distillation.build_student(teacher, config=BertConfig(
      vocab_size=8000, num_layers=1, **SMALL))
  distiller = distillation.BertDistiller(
      teacher, student, distillation.DistillConfig(
          alpha=0.0, logits_weight=0.0, attention_weight=1.0,
          minilm_weight=1.0))
  distiller.compile(keras.optimizers.Adam(3e-3))
  features, labels = _features(batch=16, seed=3), np.zeros(16, "int32")
  before = _loss(distiller, features, labels)
  distiller.fit(features, labels, batch_size=16, epochs=30, verbose=0)
  assert _loss(distiller, features, labels) < 0.5 * before


@pytest.mark.parametrize("loss, message", [
    ("attention_weight", "--attention_weight compares attention maps head by "
     "head, but student block 0 has 4 heads and teacher block 1 has 2"),
    ("minilm_weight", "--minilm_weight compares attention maps head by head, "
     "but student block 1 has 4 heads and teacher block 3 has 2"),
])
def test_attention_losses_need_the_teachers_heads(loss, message):
  teacher = BertClassifier(_encoder(4), labels=["a", "b"])
  student = distillation.build_student(teacher, config=BertConfig(
      vocab_size=8000, num_layers=2, **{**SMALL, "num_heads": 4}))
  with pytest.raises(ValueError, match=message):
    distillation.BertDistiller(teacher, student, distillation.DistillConfig(
        **{loss: 1.0}))


def test_layer_map_must_name_a_block_per_student_block():
  teacher = BertClassifier(_encoder(4), labels=["a", "b"])
  student = distillation.build_student(teacher, layers=[1, 3])
  with pytest.raises(ValueError, match="--layer_map=3 names 1 teacher blocks "
                     "for a student of 2; give one per student block"):
    distillation.BertDistiller(teacher, student, distillation.DistillConfig(
        hidden_weight=1.0, layer_map=[3]))


def test_student_copies_the_chosen_teacher_blocks():
  teacher = BertClassifier(_encoder(4), labels=["a", "b"])
  everything = distillation.build_student(teacher, layers=[0, 1, 2, 3])
  features = _features()
  np.testing.assert_allclose(everything.predict(features, verbose=0),
                             teacher.predict(features, verbose=0), atol=1e-5)
  student = distillation.build_student(teacher, layers=[1, 3])
  for m, n in enumerate([1, 3]):
    for a, b in zip(student.encoder.transformer_layers[m].get_weights(),
                    teacher.encoder.transformer_layers[n].get_weights()):
      np.testing.assert_array_equal(a, b)
  assert student.labels == teacher.labels
  assert student.encoder.vocab == teacher.encoder.vocab


def test_student_learns_the_teachers_outputs():
  teacher = BertClassifier(_encoder(2), labels=["a", "b", "c"])
  student = distillation.build_student(teacher, config=BertConfig(
      vocab_size=8000, num_layers=1, **SMALL))
  features = _features(batch=16, seed=3)
  _spread_heads(teacher, student)
  distiller = distillation.BertDistiller(
      teacher, student, distillation.DistillConfig(2.0, alpha=0.0))
  distiller.compile(keras.optimizers.Adam(3e-3))
  labels = np.zeros(16, "int32")
  before = _loss(distiller, features, labels)
  distiller.fit(features, labels, batch_size=16, epochs=40, verbose=0)
  after = _loss(distiller, features, labels)
  assert after < 0.2 * before, (before, after)


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one way"),
    ({"layers": [0], "config": "tiny"}, "exactly one way"),
    ({"layers": [0, 4]}, "block 4 is out of range; the teacher has 4 blocks"),
    ({"layers": [2, 1]}, "must increase"),
    ({"layers": ["x"]}, "must be block indices"),
])
def test_bad_student_starts(kwargs, message):
  teacher = BertClassifier(_encoder(4), labels=["a", "b"])
  with pytest.raises(ValueError, match=message):
    distillation.build_student(teacher, **kwargs)


def test_student_checkpoint_with_another_vocabulary(tmp_path):
  teacher = BertClassifier(_encoder(2), labels=["a", "b"])
  vocab = list(teacher.vocab)
  vocab[1000] = "##distilled"
  other = BertEncoder(teacher.encoder.config, vocab=vocab, lower_case=True)
  other.save_pretrained(str(tmp_path / "other"))
  with pytest.raises(ValueError, match=r"does not share the teacher's "
                     r"tokenizer \(id 1000 is '##distilled' there"):
    distillation.build_student(teacher, init_checkpoint=str(tmp_path /
                                                           "other"))


def test_quantized_teacher_is_refused():
  from keras_bert_lab.compression import quantize
  teacher = BertClassifier(_encoder(2), labels=["a", "b"])
  quantize(teacher, "int8_weights")
  with pytest.raises(ValueError, match="teacher is quantized"):
    distillation.build_student(teacher, layers=[0])


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": 0}, "--temperature=0 must be positive"),
    ({"alpha": 1.5}, r"--alpha=1.5 must be in \[0, 1\]"),
    ({"logits_weight": 0.0}, "Nothing to distil: --logits_weight, "
     "--hidden_weight, --attention_weight, --minilm_weight are all 0"),
    ({"attention_weight": -1.0}, "--attention_weight=-1.0: loss weights may "
     "not be negative"),
])
def test_bad_loss_settings(kwargs, message):
  with pytest.raises(ValueError, match=message):
    distillation.DistillConfig(**kwargs)


def _write_tsv(path, header, rows):
  with open(path, "w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f, delimiter="\t", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
  """A tiny fine-tuned teacher of real reviews and one of tags, distilled."""
  from keras_bert_lab import tasks
  tmp = tmp_path_factory.mktemp("distill")
  rows = fine_foods_rows(data_dir, 48)
  reviews = tmp / "reviews.tsv"
  _write_tsv(reviews, ["stars", "text"], [(r["score"], r["review"])
                                          for r in rows])
  encoder_dir = tmp / "encoder"
  _encoder(3).save_pretrained(str(encoder_dir))
  train = tasks.TrainConfig(num_train_epochs=1, train_batch_size=8,
                            log_every=100)
  task = tasks.get_task("classification", text_column="text",
                        label_column="stars", max_seq_length=32)
  tasks.finetune(task, tasks.DataConfig(train_file=str(reviews)),
                 str(encoder_dir), str(tmp / "teacher"), train)
  sentences = [("John lives in Paris .", "B-PER O O B-LOC O"),
               ("Mary works in Rome .", "B-PER O O B-LOC O"),
               ("Bob visits Oslo today .", "B-PER O B-LOC O O")] * 6
  bio = tmp / "train.bio"
  bio.write_text("".join("".join(f"{w} {t}\n" for w, t in zip(
      s.split(), tags.split())) + "\n" for s, tags in sentences),
                 encoding="utf-8")
  tasks.finetune(tasks.get_task("tagging", max_seq_length=24),
                 tasks.DataConfig(train_file=str(bio)), str(encoder_dir),
                 str(tmp / "tagger"), train)
  other = tmp / "other_vocab"
  BertEncoder(BertConfig(vocab_size=100, num_layers=1, **SMALL),
              vocab=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
              + [f"t{i}" for i in range(95)]).save_pretrained(str(other))

  tiny = ["--num_train_epochs=1", "--train_batch_size=8", "--log_every=1"]
  data = [f"--train_file={reviews}"]
  commands = [
      ("layers", [f"--teacher={tmp / 'teacher'}", "--student_layers=0,2",
                  f"--model_dir={tmp / 'student'}", "--hidden_weight=1",
                  "--attention_weight=1", "--minilm_weight=1", *data, *tiny]),
      ("tagging", [f"--teacher={tmp / 'tagger'}", "--student_config=tiny",
                   f"--model_dir={tmp / 'tag_student'}", "--hidden_weight=1",
                   f"--train_file={bio}", *tiny]),
      ("renamed_columns", [f"--teacher={tmp / 'teacher'}",
                           "--student_layers=1", f"--model_dir={tmp / 'x0'}",
                           *data, "--text_column=nope",
                           *tiny]),
      ("not_a_task_folder", [f"--teacher={encoder_dir}",
                             "--student_layers=0",
                             f"--model_dir={tmp / 'x1'}", *data]),
      ("out_of_range", [f"--teacher={tmp / 'teacher'}",
                        "--student_layers=0,3", f"--model_dir={tmp / 'x2'}",
                        *data]),
      ("other_vocab", [f"--teacher={tmp / 'teacher'}",
                       f"--student_init={other}", f"--model_dir={tmp / 'x3'}",
                       *data]),
      ("two_starts", [f"--teacher={tmp / 'teacher'}", "--student_layers=0",
                      "--student_config=tiny", f"--model_dir={tmp / 'x4'}",
                      *data]),
  ]
  return tmp, run_cli_commands("keras_bert_lab.distill", commands, tmp)


@pytest.mark.slow
def test_distilled_student_folder(runs):
  from sklearn.metrics import accuracy_score

  from keras_bert_lab import tasks
  tmp, results = runs
  assert results["layers"]["ok"], results["layers"]
  student_dir, teacher_dir = tmp / "student", tmp / "teacher"
  teacher_json = json.loads((teacher_dir / "task.json").read_text())
  student_json = json.loads((student_dir / "task.json").read_text())
  assert student_json == teacher_json   # the teacher's task and preprocessing
  task, student = tasks.load(str(student_dir))
  assert student.encoder.config.num_layers == 2
  evaluation = json.loads((student_dir / "eval_results.json").read_text())
  # The same dev split as the teacher's run, scored by scikit-learn.
  assert evaluation["dev_split"] == json.loads(
      (teacher_dir / "eval_results.json").read_text())["dev_split"]
  data = task.read_data(tasks.DataConfig(train_file=str(tmp /
                                                        "reviews.tsv")))
  tokenizer = tasks.load_tokenizer(student)
  _, teacher = tasks.load(str(teacher_dir))
  for model, reported in ((student, evaluation),
                          (teacher, evaluation["teacher"])):
    gold, predicted = [], []
    for features, labels in task.eval_dataset(data.eval, tokenizer, 16):
      gold += list(labels.numpy())
      predicted += list(model.predict(features, verbose=0).argmax(-1))
    assert reported["accuracy"] == pytest.approx(
        accuracy_score(gold, predicted))
  # An ordinary task folder: transformers reads it.
  transformers = pytest.importorskip("transformers")
  torch = pytest.importorskip("torch")
  hf = transformers.BertForSequenceClassification.from_pretrained(
      str(student_dir)).eval()
  ids = {k: np.asarray(v)[:2] for k, v in features.items()}
  with torch.no_grad():
    logits = hf(input_ids=torch.tensor(ids["input_word_ids"]).long(),
                attention_mask=torch.tensor(ids["input_mask"]).long(),
                token_type_ids=torch.tensor(ids["input_type_ids"]).long()
                ).logits.numpy()
  np.testing.assert_allclose(logits, student.predict(ids, verbose=0),
                             atol=1e-4)


@pytest.mark.slow
def test_distilled_tagger(runs):
  tmp, results = runs
  assert results["tagging"]["ok"], results["tagging"]
  evaluation = json.loads((tmp / "tag_student" / "eval_results.json"
                           ).read_text())
  assert {"f1", "teacher"} <= set(evaluation)
  assert "f1" in evaluation["teacher"]
  config = json.loads((tmp / "tag_student" / "config.json").read_text())
  assert config["num_hidden_layers"] == 2   # the "tiny" preset


@pytest.mark.slow
@pytest.mark.parametrize("name, message", [
    ("renamed_columns", "nope"),
    ("not_a_task_folder", "is not a fine-tuned task model"),
    ("out_of_range", "block 3 is out of range; the teacher has 3 blocks"),
    ("other_vocab", "does not share the teacher's tokenizer (100 tokens "
                    "against the teacher's 8000)"),
    ("two_starts", "Give exactly one way to start the student"),
])
def test_distill_bad_input(runs, name, message):
  tmp, results = runs
  assert not results[name]["ok"]
  assert message in results[name]["error"]
