"""Exported SavedModels: raw text in, the Keras model's predictions out.

Tiny random models are saved as `finetune` saves them (save_pretrained +
task.json), exported (classification through the CLI), and then loaded in a
fresh Python process that imports only `tensorflow` and `tensorflow_text`.
Its outputs are compared with in-process predictions of the Keras models on
features built by the package's training-side featurisation
(`classification_dataset`, `tagging_dataset`, `multiple_choice.featurize`,
`squad_features`/`squad_postprocess`, `BertPacker`). The graphs' op types are
checked against TensorFlow core's op list (`tf.raw_ops`) plus the ops of
tensorflow-text's libraries, and `saved_model_cli` is run on them.
"""

import importlib
import json
import os
import pathlib
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab import serving, tasks
from keras_bert_lab.config import BertConfig
from keras_bert_lab.data import classification, multiple_choice, squad
from keras_bert_lab.data import squad_json
from keras_bert_lab.data import tagging
from keras_bert_lab.models import (BertClassifier, BertEncoder,
                                   BertFeatureExtractor, BertMultipleChoice,
                                   BertPretrainer, BertSpanLabeler,
                                   BertTokenClassifier)
from keras_bert_lab.text import BertPacker, BertTokenizer, read_vocab

export_lib = importlib.import_module("keras_bert_lab.serving.export")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
VOCAB_FILE = os.path.join(ROOT, "keras_bert_lab", "resources", "vocab.txt")
PYTHON = sys.executable
SAVED_MODEL_CLI = os.path.join(os.path.dirname(PYTHON), "saved_model_cli")
SEQ = 32
TOL = 1e-5

LONG = "Long text " * 1000            # 10,000 characters
assert len(LONG) == 10_000
INVALID = b"caf\xc3 na\xefve \xff\xfe ok"   # invalid UTF-8 bytes
MIXED = "Hello мир 世界 مرحبا 🙂 naïve ÉTÉ"
TEXTS = ["The movie was great!", "", LONG, INVALID, MIXED]
TEXTS_B = ["It was.", "", "second", "", "第二 句"]
LABELS = ["neg", "neu", "pos"]
TAGS = ["O", "B-PER", "I-PER"]

# Ops that TensorFlow core does not define and tensorflow-text does; the
# exported graphs may use these and nothing else outside `tf.raw_ops`.
TF_TEXT_OPS = {"NormalizeUTF8", "FastWordpieceTokenizeWithOffsets",
               "RegexSplitWithOffsets", "TFText>RoundRobinTrim"}
FORBIDDEN_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc", "NumpyFunction"}

# Runs in a fresh interpreter: imports tensorflow and tensorflow_text only
# (plus the standard library), calls every job, lists every op type.
CHILD = textwrap.dedent(r"""
  import glob, os, pickle, sys
  import tensorflow as tf, tensorflow_text
  from tensorflow.core.protobuf import saved_model_pb2

  def op_types(path):
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
      proto.ParseFromString(f.read())
    ops = set()
    for meta in proto.meta_graphs:
      library = meta.graph_def.library
      functions = {f.signature.name for f in library.function}
      nodes = list(meta.graph_def.node)
      for function in library.function:
        nodes.extend(function.node_def)
      ops |= {n.op for n in nodes if n.op not in functions}
    return sorted(ops)

  from tensorflow.python.framework import op_def_registry
  # tensorflow-text's op libraries: each loaded module has one generated
  # wrapper per op it registers.
  text_ops = set()
  folder = os.path.join(os.path.dirname(tensorflow_text.__file__), "python",
                        "ops")
  for library in glob.glob(os.path.join(folder, "_*.so")):
    module = tf.load_op_library(library)
    for name in dir(module):   # "TFText>Op" is wrapped as "TFText_Op"
      for op in (name, name.replace("TFText_", "TFText>", 1)):
        if not name.startswith("_") and op_def_registry.get(op) is not None:
          text_ops.add(op)

  def call(model, function, kwargs):
    # The outputs of one job.
    if function.startswith("signature:"):
      fn = model.signatures[function[len("signature:"):]]
      out = fn(**{k: tf.constant(v) for k, v in kwargs.items()})
    elif function == "tokenize":
      out = {"ids": model.tokenize(tf.constant(kwargs["text"]))}
    elif function == "bert_pack_inputs":
      segments = [model.tokenize(tf.constant(t)) for t in kwargs["texts"]]
      out = model.bert_pack_inputs(segments)
    elif function.startswith("function:"):
      out = getattr(model, function[len("function:"):])(
          *[tf.constant(v) for v in kwargs.values()])
      if isinstance(out, tuple):   # tagging: (features, word index)
        out = dict(out[0], word_index=out[1])
    elif function == "call":
      out = model({k: tf.constant(v) for k, v in kwargs.items()})
      out["encoder_outputs"] = tf.stack(out["encoder_outputs"], 1)
    return out

  with open(sys.argv[1], "rb") as f:
    jobs = pickle.load(f)
  results = {"core_ops": sorted(dir(tf.raw_ops)),
             "text_ops": sorted(text_ops), "ops": {}, "outputs": {}}
  loaded = {}
  for key, path, function, kwargs in jobs:
    if path not in loaded:
      loaded[path] = tf.saved_model.load(path)
      results["ops"][path] = op_types(path)
    model = loaded[path]
    try:
      out = call(model, function, kwargs)
    except tf.errors.InvalidArgumentError as e:   # a refused request
      results["outputs"][key] = {"refused": e.message}
      continue
    out = {k: (v.to_list() if isinstance(v, tf.RaggedTensor) else v.numpy())
           for k, v in out.items()}
    results["outputs"][key] = out
  results["modules"] = sorted(m for m in sys.modules
                              if m.split(".")[0] == "keras_bert_lab")
  with open(sys.argv[2], "wb") as f:
    pickle.dump(results, f)
""")


def _config():
  return BertConfig(vocab_size=len(read_vocab(VOCAB_FILE)), hidden_size=32,
                    num_layers=2, num_heads=2, intermediate_size=64,
                    max_position_embeddings=64, initializer_range=0.3)


def _encoder(seed):
  keras.utils.set_random_seed(seed)
  return BertEncoder(_config(), vocab=read_vocab(VOCAB_FILE), lower_case=True)


def _tokenizer():
  return BertTokenizer(VOCAB_FILE, lower_case=True)


def _as_bytes(texts):
  return [t if isinstance(t, bytes) else t.encode("utf-8") for t in texts]


def _fresh_process(jobs, tmp_path):
  """Runs `jobs` in a new interpreter outside the repo; returns its results."""
  job_file, result_file = tmp_path / "jobs.pkl", tmp_path / "results.pkl"
  with open(job_file, "wb") as f:
    pickle.dump(jobs, f)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.pop("PYTHONPATH", None)
  proc = subprocess.run([PYTHON, "-c", CHILD, str(job_file), str(result_file)],
                        cwd=str(tmp_path), env=env, capture_output=True,
                        text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-4000:]
  with open(result_file, "rb") as f:
    return pickle.load(f)


# ----------------------------------------------------------- fixtures --

@pytest.fixture(scope="module")
def exported(tmp_path_factory):
  """Saves tiny task models and an encoder as finetune/pretrain do, exports
  them, and returns `{name: (keras model, SavedModel folder(s))}`."""
  base = tmp_path_factory.mktemp("export")
  models = {
      "classifier": BertClassifier(_encoder(1), labels=LABELS),
      "regression": BertClassifier(_encoder(2), 1),
      "tagger": BertTokenClassifier(_encoder(3), labels=TAGS),
      "squad": BertSpanLabeler(_encoder(4)),
      "choice": BertMultipleChoice(_encoder(5)),
  }
  # task.json as keras_bert_lab.finetune writes it (`Task.save`): format 2.
  configs = {
      "classifier": tasks.ClassificationConfig(
          max_seq_length=SEQ, labels=LABELS, text_b_column="text_b",
          pair=True),
      "regression": tasks.ClassificationConfig(max_seq_length=SEQ,
                                               regression=True),
      "squad": tasks.SquadConfig(
          max_seq_length=SEQ, doc_stride=8, max_query_length=8,
          n_best_size=5, max_answer_length=6, version_2_with_negative=True),
      "choice": tasks.MultipleChoiceConfig(max_seq_length=SEQ),
      "tagger_chars": tasks.TaggingConfig(max_seq_length=SEQ, labels=TAGS,
                                          word_units="characters"),
  }
  models["tagger_chars"] = BertTokenClassifier(_encoder(7), labels=TAGS)
  paths = {}
  for name, config in configs.items():
    tasks.task_for_config(config).save(models[name], base / name)
  # The tagger as the code before typed configs wrote it (task.json format
  # 1, no word rule): upgraded on export, splitting by BERT's basic rule.
  models["tagger"].save_pretrained(str(base / "tagger"))
  (base / "tagger" / "task.json").write_text(json.dumps({
      "format_version": 1, "task": "tagging",
      "model_class": "BertTokenClassifier", "num_outputs": len(TAGS),
      "labels": TAGS, "lower_case": True, "max_seq_length": SEQ,
      "empty_words": "unk", "first_wordpiece_labels": True}))
  # Classification through the CLI, the rest through the library call.
  proc = subprocess.run(
      [PYTHON, "-m", "keras_bert_lab.export", f"--model_dir={base}/classifier",
       f"--export_dir={base}/out/classifier", "--version=7"],
      cwd=ROOT, capture_output=True, text=True, timeout=900,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 0, proc.stderr[-4000:]
  paths["classifier"] = str(base / "out" / "classifier" / "7")
  assert proc.stdout.split() == [paths["classifier"]]
  for name in ("regression", "tagger", "tagger_chars", "squad", "choice"):
    (paths[name],) = export_lib.export(str(base / name),
                                       str(base / "out" / name), version=1)
  (paths["classifier_xla"],) = export_lib.export(
      str(base / "classifier"), str(base / "out" / "classifier"), version=8,
      jit_compile=True)
  pretrainer = BertPretrainer(_encoder(6))
  pretrainer.save_pretrained(str(base / "pretrain" / "pretrained"))
  paths["preprocess"], paths["encoder"] = export_lib.export(
      str(base / "pretrain"), str(base / "out" / "bert"), version=3,
      max_seq_length=SEQ)
  models["pretrainer"] = pretrainer
  return models, paths


def _classifier_reference(model, texts, texts_b=None, regression=False):
  columns = {"text": tf.constant(_as_bytes(texts))}
  if texts_b is not None:
    columns["text_b"] = tf.constant(_as_bytes(texts_b))
  ds = classification.classification_dataset(
      tf.data.Dataset.from_tensor_slices(columns), _tokenizer(),
      labels=None if regression else LABELS, seq_length=SEQ, batch_size=64,
      regression=regression)
  logits = np.concatenate([model(f, training=False).numpy() for f in ds])
  if regression:
    return {"score": logits[:, 0]}
  probabilities = tf.nn.softmax(logits).numpy()
  return {"probabilities": probabilities,
          "label": np.array([LABELS[i].encode() for i in logits.argmax(-1)])}


def _tagger_reference(model, words):
  ds = tf.data.Dataset.from_tensor_slices(
      {"words": tf.ragged.constant(words, dtype=tf.string)})
  ds = tagging.tagging_dataset(ds, _tokenizer(), TAGS, seq_length=SEQ,
                               batch_size=64)
  tags = []
  for features, index in ds:
    ids = tf.argmax(model(features, training=False), -1)
    tags.extend(tagging.word_level(ids, index).to_list())
  return [[TAGS[i].encode() for i in row] for row in tags]


def _squad_reference(model, questions, contexts):
  windows = squad.squad_features(
      _tokenizer(), tf.constant(_as_bytes(questions)),
      tf.constant(_as_bytes(contexts)), max_seq_length=SEQ, doc_stride=8,
      max_query_length=8)
  logits = model(squad.model_inputs(windows), training=False)
  out = squad.squad_postprocess(
      logits["start_logits"], logits["end_logits"], windows,
      tf.constant(_as_bytes(contexts)), n_best_size=5, max_answer_length=6,
      version_2_with_negative=True, null_score_diff_threshold=0.0)
  return {k: out[k].numpy() for k in ("answer", "answer_start", "answer_end",
                                      "score")}


def _choice_reference(model, contexts, choices):
  ds = tf.data.Dataset.from_tensor_slices(
      {"context": tf.constant(_as_bytes(contexts)),
       "choices": tf.constant([_as_bytes(row) for row in choices])})
  ds = multiple_choice.featurize(ds, _tokenizer(), SEQ, batch_size=64,
                                 with_labels=False)
  logits = np.concatenate([model(f, training=False).numpy() for f in ds])
  return {"probabilities": tf.nn.softmax(logits).numpy(),
          "choice": logits.argmax(-1).astype("int32")}


SQUAD_QUESTIONS = ["Who came to the party?", "", "Where?", "Qui ?",
                   "What is long?"]
SQUAD_CONTEXTS = ["Ann came to the party with Bob, said the neighbours.",
                  "Nobody asked.", "", INVALID + " 世界 Paris".encode(),
                  LONG + " The end is here."]
CHOICE_CONTEXTS = ["He opens the door.", "", LONG, MIXED]
CHOICES = [["He walks in.", "He sings.", "", "The door opens him."],
           ["a", "b", "c", "d"], ["x", LONG, "y", ""],
           ["世界", "мир", "🙂", "naïve"]]
TAGGER_TEXTS = ["Ann lives in Paris, France.", "", "中文 ok", LONG, INVALID,
                MIXED]
# Words by the definition of BERT's basic tokenization (whitespace, each
# punctuation character, each CJK ideograph), original casing kept.
TAGGER_WORDS_BY_HAND = {
    0: ["Ann", "lives", "in", "Paris", ",", "France", "."],
    1: [],
    2: ["中", "文", "ok"],
}


def _jobs(paths):
  many = [TEXTS[i % len(TEXTS)] if i % 7 else f"review {i}"
          for i in range(256)]
  many_b = [TEXTS_B[i % len(TEXTS_B)] for i in range(256)]
  example = tf.train.Example(features=tf.train.Features(feature={
      "text": tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[b"The movie was great!"])),
      "text_b": tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[b"It was."]))})).SerializeToString()
  regression_example = tf.train.Example(features=tf.train.Features(feature={
      "text": tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[b"The movie was great!"]))})).SerializeToString()
  features = {"input_word_ids": [[2, 70, 71, 3, 0], [2, 80, 3, 90, 3]],
              "input_mask": [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]],
              "input_type_ids": [[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]]}
  c, sig = paths, "signature:"
  b = _as_bytes
  return [
      ("clf", c["classifier"], sig + "serving_default",
       {"text": b(TEXTS), "text_b": b(TEXTS_B)}),
      ("clf1", c["classifier"], sig + "serving_default",
       {"text": b(TEXTS[:1]), "text_b": b(TEXTS_B[:1])}),
      ("clf256", c["classifier"], sig + "serving_default",
       {"text": b(many), "text_b": b(many_b)}),
      ("clf_xla", c["classifier_xla"], sig + "serving_default",
       {"text": b(many), "text_b": b(many_b)}),
      ("clf0", c["classifier"], sig + "serving_default",
       {"text": np.array([], bytes), "text_b": np.array([], bytes)}),
      ("clf_examples", c["classifier"], sig + "serve_examples",
       {"inputs": [example, example]}),
      ("reg", c["regression"], sig + "serving_default", {"text": b(TEXTS)}),
      ("reg_examples", c["regression"], sig + "serve_examples",
       {"inputs": [regression_example]}),
      ("tag", c["tagger"], sig + "serving_default", {"text": b(TAGGER_TEXTS)}),
      ("tag1", c["tagger"], sig + "serving_default", {"text": [b""]}),
      ("squad", c["squad"], sig + "serving_default",
       {"question": b(SQUAD_QUESTIONS), "context": b(SQUAD_CONTEXTS)}),
      ("squad1", c["squad"], sig + "serving_default",
       {"question": b(SQUAD_QUESTIONS[:1]), "context": b(SQUAD_CONTEXTS[:1])}),
      ("choice", c["choice"], sig + "serving_default",
       {"context": b(CHOICE_CONTEXTS), "choices": [b(r) for r in CHOICES]}),
      ("pre", c["preprocess"], sig + "serving_default", {"text": b(TEXTS)}),
      ("pre_pair", c["preprocess"], sig + "pair",
       {"text": b(TEXTS), "text_b": b(TEXTS_B)}),
      ("tokenize", c["preprocess"], "tokenize", {"text": b(TEXTS)}),
      ("pack2", c["preprocess"], "bert_pack_inputs",
       {"texts": [b(TEXTS), b(TEXTS_B)]}),
      ("enc", c["encoder"], sig + "serving_default", features),
      ("enc_call", c["encoder"], "call", features),
      ("mlm", c["encoder"], sig + "mlm",
       dict(features, masked_lm_positions=[[1, 2], [3, 0]])),
      ("embed", c["encoder"], sig + "embed", {"text": b(TEXTS)}),
  ]


# Requests just past the default `InputLimits` (1,024 rows, 100,000 bytes per
# text): job key -> (path key, signature, inputs, the input and flag named).
ROWS, BYTES = "--max_batch_size=1024", "--max_input_bytes=100000"
PAST_LIMITS = {
    "clf_rows": ("classifier", "serving_default",
                 {"text": [b"a"] * 1025, "text_b": [b"b"] * 1025},
                 ("text", ROWS)),
    "clf_bytes": ("classifier", "serving_default",
                  {"text": [b"ok", b"a" * 100_001], "text_b": [b"", b""]},
                  ("text", BYTES)),
    "clf_b_bytes": ("classifier", "serving_default",
                    {"text": [b""], "text_b": [b"a" * 100_001]},
                    ("text_b", BYTES)),
    "reg_examples_rows": ("regression", "serve_examples",
                          {"inputs": [b""] * 1025}, ("inputs", ROWS)),
    "tag_bytes": ("tagger", "serving_default", {"text": [b"a " * 50_001]},
                  ("text", BYTES)),
    # two words of 50,000 bytes, each counted with its separator
    "tag_words_bytes": ("tagger", "tag_words",
                        {"words": [[b"a" * 50_000, b"b" * 50_000]]},
                        ("words", BYTES)),
    "squad_bytes": ("squad", "serving_default",
                    {"question": [b"Who?"], "context": [b"a" * 100_001]},
                    ("context", BYTES)),
    "choice_rows": ("choice", "serving_default",
                    {"context": [b"c"] * 1025,
                     "choices": [[b"x", b"y", b"z", b"w"]] * 1025},
                    ("context", ROWS)),
    "pre_bytes": ("preprocess", "pair",
                  {"text": [b"a" * 100_001], "text_b": [b""]},
                  ("text", BYTES)),
    "enc_rows": ("encoder", "serving_default",
                 {k: [[2, 3]] * 1025 for k in ("input_word_ids", "input_mask",
                                                "input_type_ids")},
                 ("input_word_ids", ROWS)),
    "embed_bytes": ("encoder", "embed", {"text": [b"a" * 100_001]},
                    ("text", BYTES)),
}
# At the limits: answered.
AT_LIMITS = {
    "clf_at_limits": ("classifier", "serving_default",
                      {"text": [b"a " * 50_000] + [b"b"] * 1023,
                       "text_b": [b""] * 1024}),
    "tag_words_at_limit": ("tagger", "tag_words",
                           {"words": [[b"a" * 49_999, b"b" * 49_999]]}),
}


def _limit_jobs(paths):
  return [(key, paths[path], "signature:" + signature, inputs)
          for key, (path, signature, inputs, *_) in {
              **PAST_LIMITS, **AT_LIMITS}.items()]


@pytest.fixture(scope="module")
def real_rows(data_dir, tmp_path_factory):
  """Real inputs of every task: reviews, People's Daily sentences (a BIO
  file of the first 64 and their raw text), the SQuAD and SWAG fixtures."""
  tmp = tmp_path_factory.mktemp("real")
  reviews = [x["text"] for x in classification.read_classification_file(
      str(data_dir / "labeled" / "en" / "fine_foods_train.tsv"), "review",
      label_column="score").take(64).as_numpy_iterator()]
  blocks = (data_dir / "labeled" / "zh" / "peoples_daily_ner_train.bio"
            ).read_text(encoding="utf-8").split("\n\n")[:64]
  bio = tmp / "ner.bio"
  bio.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
  sentences = ["".join(line.split("\t")[0] for line in block.splitlines())
               for block in blocks]
  fixtures = pathlib.Path(ROOT) / "tests" / "data" / "fixtures"
  return {"reviews": reviews, "reviews_b": reviews[1:] + [b""],
          "bio": str(bio), "sentences": sentences,
          "squad": str(fixtures / "squad_v1.1.json"),
          "swag": str(fixtures / "swag_sample.csv")}


@pytest.fixture(scope="module")
def served(exported, real_rows, tmp_path_factory):
  """The results of calling every exported model in a fresh process."""
  _, paths = exported
  return _fresh_process(_jobs(paths) + _preprocess_jobs(paths, real_rows)
                        + _limit_jobs(paths), tmp_path_factory.mktemp("child"))


def _close(actual, expected, name):
  actual, expected = np.asarray(actual), np.asarray(expected)
  assert actual.shape == expected.shape, name
  if actual.dtype.kind in "fc":
    np.testing.assert_allclose(actual, expected, atol=TOL, rtol=0,
                               err_msg=name)
  else:
    np.testing.assert_array_equal(actual, expected, err_msg=name)


# -------------------------------------------------------------- tests --

@pytest.mark.slow
def test_fresh_process_imports_no_keras_bert_lab(served):
  assert served["modules"] == []


@pytest.mark.slow
def test_ops_are_tensorflow_core_or_tensorflow_text(served):
  core, text = set(served["core_ops"]), set(served["text_ops"])
  assert TF_TEXT_OPS <= text and not TF_TEXT_OPS & core
  used_text = set()
  for path, ops in served["ops"].items():
    ops = set(ops)
    assert not ops & FORBIDDEN_OPS, path
    unknown = ops - core - text
    assert not unknown, f"{path}: {sorted(unknown)}"
    used_text |= ops - core
  # Exactly the tensorflow-text ops listed above, nothing else outside core.
  assert used_text == TF_TEXT_OPS


@pytest.mark.slow
def test_classifier_matches_keras(exported, served):
  models, _ = exported
  clf = models["classifier"]
  for key, texts, texts_b in [("clf", TEXTS, TEXTS_B),
                              ("clf1", TEXTS[:1], TEXTS_B[:1])]:
    expected = _classifier_reference(clf, texts, texts_b)
    for name, value in expected.items():
      _close(served["outputs"][key][name], value, f"{key}/{name}")
  out = served["outputs"]["clf256"]
  assert out["probabilities"].shape == (256, 3)
  np.testing.assert_allclose(out["probabilities"].sum(-1), 1.0, atol=1e-5)
  many = [TEXTS[i % len(TEXTS)] if i % 7 else f"review {i}"
          for i in range(256)]
  many_b = [TEXTS_B[i % len(TEXTS_B)] for i in range(256)]
  _close(out["probabilities"],
         _classifier_reference(clf, many, many_b)["probabilities"], "clf256")
  # `export --jit_compile`: the same outputs from XLA-compiled calls.
  _close(served["outputs"]["clf_xla"]["probabilities"],
         _classifier_reference(clf, many, many_b)["probabilities"], "clf_xla")
  # Rows run in length-sorted micro-batches; an empty batch is fine too.
  assert served["outputs"]["clf0"]["probabilities"].shape == (0, 3)
  examples = served["outputs"]["clf_examples"]
  _close(examples["scores"],
         _classifier_reference(clf, TEXTS[:1] * 2,
                               TEXTS_B[:1] * 2)["probabilities"], "examples")
  assert examples["classes"].tolist() == [[s.encode() for s in LABELS]] * 2


@pytest.mark.slow
def test_regression_matches_keras(exported, served):
  models, _ = exported
  expected = _classifier_reference(models["regression"], TEXTS,
                                   regression=True)
  _close(served["outputs"]["reg"]["score"], expected["score"], "reg")
  _close(served["outputs"]["reg_examples"]["outputs"], expected["score"][:1],
         "reg_examples")


@pytest.mark.slow
def test_tagger_words_and_labels(exported, served):
  models, _ = exported
  out = served["outputs"]["tag"]
  words = [[w for w in row if w] for row in out["words"].tolist()]
  labels = [[t for t in row if t] for row in out["labels"].tolist()]
  for i, expected in TAGGER_WORDS_BY_HAND.items():
    assert [w.decode() for w in words[i]] == expected
  # Every returned word has a label; padding is "" in both.
  assert [len(r) for r in words] == [len(r) for r in labels]
  assert out["words"].shape == out["labels"].shape
  # The 10,000-character text keeps the words that fit: SEQ - 2 one-piece
  # words at most ("long", "text" are in the vocabulary as single pieces
  # or more).
  assert 0 < len(words[3]) <= SEQ - 2
  for row in words:
    for w in row:
      w.decode("utf-8")   # invalid bytes are gone
  assert [w.decode() for w in words[4]] == ["caf", "nave", "ok"]
  # Labels equal the Keras model's on the training featurisation of these
  # words (tagging_dataset + word_level).
  expected = _tagger_reference(models["tagger"], words)
  assert labels == expected
  assert served["outputs"]["tag1"]["words"].shape == (1, 0)


@pytest.mark.slow
def test_squad_matches_keras(exported, served):
  models, _ = exported
  for key, n in (("squad", len(SQUAD_CONTEXTS)), ("squad1", 1)):
    expected = _squad_reference(models["squad"], SQUAD_QUESTIONS[:n],
                                SQUAD_CONTEXTS[:n])
    for name, value in expected.items():
      _close(served["outputs"][key][name], value, f"{key}/{name}")
  out = served["outputs"]["squad"]
  for i, context in enumerate(SQUAD_CONTEXTS):
    start, end = int(out["answer_start"][i]), int(out["answer_end"][i])
    if isinstance(context, bytes):   # invalid UTF-8: no Python str to slice
      continue
    answer = out["answer"][i].decode("utf-8")
    if answer:   # character offsets into the context, by definition
      assert context[start:end] == answer
    else:
      assert (start, end) == (-1, -1)
  assert out["answer"][2] == b""   # empty context: no answer


@pytest.mark.slow
def test_multiple_choice_matches_keras(exported, served):
  models, _ = exported
  expected = _choice_reference(models["choice"], CHOICE_CONTEXTS, CHOICES)
  for name, value in expected.items():
    _close(served["outputs"]["choice"][name], value, f"choice/{name}")


@pytest.mark.slow
def test_preprocess_and_encoder_match_keras(exported, served):
  models, _ = exported
  pretrainer = models["pretrainer"]
  tok = _tokenizer()
  packer = BertPacker.for_tokenizer(tok, SEQ, truncation="round_robin")
  texts, texts_b = tf.constant(_as_bytes(TEXTS)), tf.constant(
      _as_bytes(TEXTS_B))
  single = packer([tok(texts)])
  pair = packer([tok(texts), tok(texts_b)])
  outputs = served["outputs"]
  for name in single:
    _close(outputs["pre"][name], single[name], f"pre/{name}")
    _close(outputs["pre_pair"][name], pair[name], f"pre_pair/{name}")
    _close(outputs["pack2"][name], pair[name], f"pack2/{name}")
  assert outputs["tokenize"]["ids"] == tok(texts).to_list()
  features = {k: np.array(v, "int32") for k, v in {
      "input_word_ids": [[2, 70, 71, 3, 0], [2, 80, 3, 90, 3]],
      "input_mask": [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]],
      "input_type_ids": [[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]]}.items()}
  expected = pretrainer.encoder(features, training=False)
  for key in ("enc", "enc_call"):
    _close(outputs[key]["pooled_output"], expected["pooled_output"], key)
    _close(outputs[key]["sequence_output"], expected["sequence_output"], key)
    _close(outputs[key]["encoder_outputs"],
           np.stack(expected["encoder_outputs"], 1), key)
  mlm = pretrainer(dict(features, masked_lm_positions=np.array(
      [[1, 2], [3, 0]], "int32")), training=False)["masked_lm_logits"]
  _close(outputs["mlm"]["mlm_logits"], mlm, "mlm")
  mean = BertFeatureExtractor(pretrainer.encoder, layers=(-1,),
                              pooling="mean")(single)["sentence_features"]
  _close(outputs["embed"]["embedding"], mean, "embed")


def _preprocess_jobs(paths, real):
  squad_examples = squad_json.read_squad_json(real["squad"], is_training=False)
  swag = [x for x in multiple_choice.read_swag_csv(
      real["swag"], with_labels=True).as_numpy_iterator()]
  fn = "function:preprocess"
  return [
      ("pre_clf", paths["classifier"], fn,
       {"text": real["reviews"], "text_b": real["reviews_b"]}),
      ("pre_tag", paths["tagger_chars"], fn,
       {"text": _as_bytes(real["sentences"])}),
      ("pre_squad", paths["squad"], fn,
       {"question": _as_bytes([e["question"] for e in squad_examples.examples]),
        "context": _as_bytes([e["context"] for e in squad_examples.examples])}),
      ("pre_choice", paths["choice"], fn,
       {"context": [x["context"] for x in swag],
        "choices": [list(x["choices"]) for x in swag]}),
      ("tag_chars", paths["tagger_chars"], "signature:serving_default",
       {"text": _as_bytes(real["sentences"][:8] + ["Ann ６０ 个 ok"])}),
      ("tag_words", paths["tagger_chars"], "signature:tag_words",
       {"words": [["中", "国", ""], ["人", "民", "网"]]}),
  ]


def _concat(dataset, key=None):
  """The features of a one-pass dataset, concatenated over batches."""
  parts = {}
  for element in dataset:
    features = element[0] if isinstance(element, tuple) else element
    for name, value in features.items():
      parts.setdefault(name, []).append(value.numpy())
  return {name: np.concatenate(v) for name, v in parts.items()}


@pytest.mark.slow
def test_serving_preprocessor_is_trainings_on_real_rows(real_rows, served):
  """The exported `preprocess` equals the training datasets' features, for
  every task, on real rows (raw People's Daily text against its BIO file)."""
  out = served["outputs"]
  tok = _tokenizer()
  clf = tasks.ClassificationTask(tasks.ClassificationConfig(
      max_seq_length=SEQ, labels=LABELS, text_b_column="text_b", pair=True))
  rows = tf.data.Dataset.from_tensor_slices(
      {"text": real_rows["reviews"], "text_b": real_rows["reviews_b"]})
  expected = _concat(clf.eval_dataset(rows, tok, 16))
  for name, value in expected.items():
    _close(out["pre_clf"][name], value, f"pre_clf/{name}")
  tagger = tasks.TaggingTask(tasks.TaggingConfig(
      max_seq_length=SEQ, labels=["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG",
                                  "B-PER", "I-PER"], word_units="characters"))
  sentences = tagging.read_tagging_file(real_rows["bio"]).map(
      lambda s: {"words": s["words"]})
  features, index = [], []
  for f, i in tagger.eval_dataset(sentences, tok, 16):
    features.append(f)
    index.append(i.numpy())
  for name in features[0]:
    _close(out["pre_tag"][name],
           np.concatenate([f[name].numpy() for f in features]),
           f"pre_tag/{name}")
  _close(out["pre_tag"]["word_index"], np.concatenate(index), "word_index")
  qa = tasks.SquadTask(tasks.SquadConfig(max_seq_length=SEQ, doc_stride=8,
                                         max_query_length=8))
  windows = squad.squad_windows(
      squad_json.read_squad_json(real_rows["squad"], is_training=False),
      qa.preprocessor(tok), with_answers=False).batch(1000)
  expected = _concat(windows.map(squad.model_inputs))
  for name, value in expected.items():
    _close(out["pre_squad"][name], value, f"pre_squad/{name}")
  choice = tasks.MultipleChoiceTask(tasks.MultipleChoiceConfig(
      max_seq_length=SEQ))
  expected = _concat(choice.eval_dataset(
      multiple_choice.read_swag_csv(real_rows["swag"], with_labels=True),
      tok, 16))
  for name, value in expected.items():
    _close(out["pre_choice"][name], value, f"pre_choice/{name}")


@pytest.mark.slow
def test_character_tagger_splits_as_its_training_file(real_rows, served):
  """A character-level tagger serves one word per character (full-width
  digits and Latin letters too), with character offsets into the text."""
  out = served["outputs"]["tag_chars"]
  words = [[w.decode() for w in row if w] for row in out["words"].tolist()]
  for i, sentence in enumerate(real_rows["sentences"][:8]):
    kept = words[i]
    assert kept == list(sentence)[:len(kept)] and kept
  assert words[8] == ["A", "n", "n", "６", "０", "个", "o", "k"]
  assert out["start"][8].tolist()[:8] == [0, 1, 2, 4, 5, 7, 9, 10]
  assert out["end"][8].tolist()[:8] == [1, 2, 3, 5, 6, 8, 10, 11]
  tagged = served["outputs"]["tag_words"]["labels"].tolist()
  assert [len([t for t in row if t]) for row in tagged] == [2, 3]


@pytest.mark.slow
def test_requests_past_the_limits_are_refused_by_name(served):
  outputs = served["outputs"]
  for key, (*_, (name, flag)) in PAST_LIMITS.items():
    assert set(outputs[key]) == {"refused"}, key
    message = outputs[key]["refused"]
    # TensorFlow puts the assertion's message inside its own text.
    assert f"[{name}: " in message, (key, message)
    assert flag in message and "export again with a larger" in message, key


@pytest.mark.slow
def test_requests_at_the_limits_are_answered(served):
  outputs = served["outputs"]
  assert outputs["clf_at_limits"]["probabilities"].shape == (1024, 3)
  assert outputs["tag_words_at_limit"]["labels"].shape[0] == 1


def test_limits_must_be_positive_integers():
  for bad in (0, -1, 1.5, True, "10"):
    with pytest.raises(ValueError, match=r"--max_batch_size=.*positive"):
      serving.InputLimits(max_batch_size=bad)
    with pytest.raises(ValueError, match=r"--max_input_bytes=.*positive"):
      serving.InputLimits(max_input_bytes=bad)


def _saved_model_cli(*args, with_tf_text=False):
  """Runs saved_model_cli (the venv's; with tensorflow_text's ops
  registered first when asked, as `run` needs for these graphs)."""
  if with_tf_text:
    command = [PYTHON, "-c",
               "import sys, tensorflow_text; from tensorflow.python.tools."
               "saved_model_cli import main; sys.argv[0] = 'saved_model_cli';"
               " sys.exit(main())"]
  else:
    command = [SAVED_MODEL_CLI]
  return subprocess.run(command + list(args), capture_output=True, text=True,
                        timeout=600,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


@pytest.mark.slow
def test_saved_model_cli_show_and_run(exported, served):
  models, paths = exported
  shown = _saved_model_cli("show", "--dir", paths["classifier"], "--all")
  assert shown.returncode == 0, shown.stderr[-2000:]
  for line in ("signature_def['serving_default']",
               "signature_def['serve_examples']", "inputs['text']",
               "inputs['text_b']", "outputs['probabilities']",
               "outputs['label']", "inputs['inputs']",
               "Method name is: tensorflow/serving/classify"):
    assert line in shown.stdout, line
  shown = _saved_model_cli("show", "--dir", paths["squad"], "--all")
  for line in ("inputs['question']", "inputs['context']", "outputs['answer']",
               "outputs['answer_start']", "outputs['answer_end']",
               "outputs['score']"):
    assert line in shown.stdout, line
  ran = _saved_model_cli(
      "run", "--dir", paths["classifier"], "--tag_set", "serve",
      "--signature_def", "serving_default", "--input_exprs",
      'text=["The movie was great!", ""];text_b=["It was.", ""]',
      with_tf_text=True)
  assert ran.returncode == 0, ran.stderr[-2000:]
  expected = _classifier_reference(models["classifier"],
                                   ["The movie was great!", ""],
                                   ["It was.", ""])
  labels = " ".join(repr(bytes(label)) for label in expected["label"])
  assert f"Result for output key label:\n[{labels}]" in ran.stdout


@pytest.mark.slow
def test_killed_export_leaves_no_version_folder(exported, tmp_path):
  _, paths = exported
  model_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
      paths["classifier"]))), "regression")
  out = tmp_path / "out"
  proc = subprocess.Popen(
      [PYTHON, "-m", "keras_bert_lab.export", f"--model_dir={model_dir}",
       f"--export_dir={out}", "--version=9"], cwd=ROOT,
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
      if out.is_dir() and any(n.startswith(".9.tmp") for n in os.listdir(out)):
        break
      time.sleep(0.02)
    assert proc.poll() is None, "the export ended before it could be killed"
    proc.send_signal(signal.SIGKILL)   # mid-write
    proc.wait()
  finally:
    if proc.poll() is None:
      proc.kill()
  names = os.listdir(out)
  assert "9" not in names   # only the hidden temporary folder is left
  assert all(n.startswith(".") for n in names)


# ------------------------------------------------------ fast checks --

@pytest.mark.slow
def test_jit_compile_is_for_task_models(exported, tmp_path):
  _, paths = exported
  base = paths["encoder"].split(os.sep + "out" + os.sep)[0]
  with pytest.raises(ValueError, match="--jit_compile applies to fine-tuned"):
    export_lib.export(os.path.join(base, "pretrain"), str(tmp_path / "out"),
                      version=1, jit_compile=True)


def test_version_must_be_a_number(tmp_path):
  with pytest.raises(ValueError, match="numeric version"):
    export_lib.export(str(tmp_path), str(tmp_path / "out"), version="v1")


def test_not_a_model_dir(tmp_path):
  with pytest.raises(ValueError, match="is not a folder"):
    export_lib.resolve_model_dir(str(tmp_path / "missing"))


def test_pretrain_dir_resolves_to_pretrained(tmp_path):
  (tmp_path / "pretrained").mkdir()
  (tmp_path / "bert_config.json").write_text("{}")   # as pretrain writes
  assert export_lib.resolve_model_dir(str(tmp_path)) == str(
      tmp_path / "pretrained")
  (tmp_path / "config.json").write_text("{}")
  assert export_lib.resolve_model_dir(str(tmp_path)) == str(tmp_path)


def test_failed_save_leaves_no_version_folder(tmp_path):
  class Broken(tf.Module):
    def signatures(self):
      raise RuntimeError("killed")
  with pytest.raises(RuntimeError):
    export_lib.save_module(Broken(), str(tmp_path / "5"))
  assert os.listdir(tmp_path) == []


def test_existing_version_is_refused(tmp_path):
  (tmp_path / "model").mkdir()
  (tmp_path / "model" / "task.json").write_text(json.dumps(
      {"task": "classification"}))
  (tmp_path / "out" / "3").mkdir(parents=True)
  with pytest.raises(FileExistsError, match="another --version"):
    export_lib.export(str(tmp_path / "model"), str(tmp_path / "out"),
                      version=3)


@pytest.mark.slow
def test_the_same_export_again_finishes_instead_of_refusing(exported):
  # A rerun after a kill that came after the rename: nothing to write.
  _, paths = exported
  base = pathlib.Path(paths["classifier"]).parents[2]
  pb = pathlib.Path(paths["classifier"]) / "saved_model.pb"
  before = pb.stat().st_mtime_ns
  assert export_lib.export(str(base / "classifier"),
                           str(base / "out" / "classifier"),
                           version=7) == [paths["classifier"]]
  assert pb.stat().st_mtime_ns == before
  # Other settings, or another model, into that version: refused.
  with pytest.raises(FileExistsError, match="another --version"):
    export_lib.export(str(base / "classifier"),
                      str(base / "out" / "classifier"), version=7,
                      jit_compile=True)
  with pytest.raises(FileExistsError, match="another --version"):
    export_lib.export(str(base / "regression"),
                      str(base / "out" / "classifier"), version=7)
  # A kill between an encoder's two SavedModels: the rerun writes the one
  # that is missing and keeps the other.
  import shutil
  shutil.rmtree(paths["encoder"])
  kept = (pathlib.Path(paths["preprocess"]) / "saved_model.pb").stat()
  assert export_lib.export(str(base / "pretrain"), str(base / "out" / "bert"),
                           version=3, max_seq_length=SEQ) == [
                               paths["preprocess"], paths["encoder"]]
  assert (pathlib.Path(paths["preprocess"]) / "saved_model.pb").stat(
      ).st_mtime_ns == kept.st_mtime_ns
  assert (pathlib.Path(paths["encoder"]) / "saved_model.pb").exists()
