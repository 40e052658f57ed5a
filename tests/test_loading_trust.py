"""What loading trusts: a model folder is data, never code.

No code path unpickles, evaluates or deserializes code from a folder
(checked on the package's source, with a scanner shown to catch each
pattern), `.keras` archives and `pytorch_model.bin` are refused unread, a
keras-hub preset may only name `BertBackbone`, a safetensors index may only
name the folder's own files, and the strings of `task.json` are typed data:
a wrong type is an error naming the file and key, and odd labels stay
labels (nothing is written outside the export folder, the graph returns
them verbatim).
"""

import ast
import json
import os
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab import serving, tasks
from keras_bert_lab.config import BertConfig
from keras_bert_lab.models import BertClassifier, BertEncoder
from keras_bert_lab.text import SPECIAL_TOKENS

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_bert_lab"
CONFIG = BertConfig(vocab_size=12, hidden_size=8, num_layers=1, num_heads=2,
                    intermediate_size=16, max_position_embeddings=32)
VOCAB = list(SPECIAL_TOKENS) + [f"w{i}" for i in range(7)]

# Modules that deserialize code or arbitrary objects.
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle",
                  "joblib", "marshal", "shelve"}
# Calls that run or deserialize code: Python's own (called bare), any call
# of these names, and `owner.name` calls.
BUILTINS = {"eval", "exec"}
UNSAFE_NAMES = {"enable_unsafe_deserialization", "load_model", "KerasLayer"}
UNSAFE_CALLS = {"torch.load", "yaml.load", "saved_model.load", "hub.load"}
# np.load must say allow_pickle=False (its default, but stated).
NUMPY_LOADS = {"np.load", "numpy.load"}


def unsafe_uses(source):
  """`[(line, what)]` of the unsafe patterns in Python `source`."""
  found = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
      names = ([a.name for a in node.names] if isinstance(node, ast.Import)
               else [node.module or ""])
      found += [(node.lineno, f"import {n}") for n in names
                if n.split(".")[0] in UNSAFE_MODULES]
    elif isinstance(node, ast.Call):
      func = node.func
      name = (func.id if isinstance(func, ast.Name) else
              func.attr if isinstance(func, ast.Attribute) else "")
      owner = (func.value.attr if isinstance(func, ast.Attribute) and
               isinstance(func.value, ast.Attribute) else
               func.value.id if isinstance(func, ast.Attribute) and
               isinstance(func.value, ast.Name) else "")
      if ((isinstance(func, ast.Name) and name in BUILTINS) or
          name in UNSAFE_NAMES or f"{owner}.{name}" in UNSAFE_CALLS):
        found.append((node.lineno, f"{owner}.{name}".lstrip(".")))
      if f"{owner}.{name}" in NUMPY_LOADS and not any(
          k.arg == "allow_pickle" and isinstance(k.value, ast.Constant)
          and k.value.value is False for k in node.keywords):
        found.append((node.lineno, "np.load"))
      for keyword in node.keywords:
        if (keyword.arg in ("safe_mode", "allow_pickle") and
            isinstance(keyword.value, ast.Constant) and
            keyword.value.value is (keyword.arg == "allow_pickle")):
          found.append((node.lineno, f"{keyword.arg}="
                        f"{keyword.value.value}"))
  return sorted(found)


def test_the_scanner_catches_each_pattern():
  snippet = "\n".join([
      "import pickle", "from joblib import load", "eval('1')",
      "torch.load(f)", "keras.saving.load_model(p, safe_mode=False)",
      "tf.saved_model.load(p)", "np.load(f, allow_pickle=True)",
      "np.load(f, allow_pickle=False)", "np.load(f)",
      "keras.config.enable_unsafe_deserialization()"])
  assert [what for _, what in unsafe_uses(snippet)] == [
      "import pickle", "import joblib", "eval", "torch.load",
      "safe_mode=False", "saving.load_model", "saved_model.load",
      "allow_pickle=True", "np.load", "np.load",
      "config.enable_unsafe_deserialization"]


def test_package_never_unpickles_or_runs_code_it_loads():
  found = {}
  for path in sorted(PACKAGE.rglob("*.py")):
    uses = unsafe_uses(path.read_text(encoding="utf-8"))
    if uses:
      found[str(path.relative_to(PACKAGE))] = uses
  assert found == {}


@pytest.fixture()
def task_folder(tmp_path):
  """A classifier folder, as finetune saves it."""
  folder = tmp_path / "run"
  model = BertClassifier(BertEncoder(CONFIG, vocab=VOCAB),
                         labels=["neg", "pos"])
  tasks.get_task("classification", max_seq_length=16).save(model, folder)
  return folder


def test_keras_archive_is_refused_unread(tmp_path, monkeypatch):
  archive = tmp_path / "model.keras"
  keras.Sequential([keras.Input((2,)), keras.layers.Lambda(
      lambda x: x * 2)]).save(archive)
  monkeypatch.setattr(keras.saving, "load_model", None)   # never called
  with pytest.raises(ValueError, match=r"model\.keras.*never deserializes"):
    BertEncoder.from_pretrained(str(archive))


def test_keras_hub_preset_may_only_name_bert_backbone(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps({
      "module": "keras.layers", "class_name": "Lambda", "config": {},
      "registered_name": "Lambda"}))
  with pytest.raises(ValueError, match=r"config\.json: registered_name="
                     r"'Lambda'; only a keras_hub>BertBackbone"):
    BertEncoder.from_pretrained(str(tmp_path))


@pytest.mark.parametrize("shard, words", [
    ("../outside.safetensors", "is not a file name"),
    ("/tmp/outside.safetensors", "is not a file name"),
    ("model-00002-of-00002.safetensors", "does not hold"),
])
def test_safetensors_index_names_only_the_folders_files(task_folder, shard,
                                                         words):
  # An HF-layout folder whose one shard was moved out of it.
  (task_folder / "keras_bert_lab.json").unlink()
  (task_folder / "task.json").unlink()
  os.replace(task_folder / "model.safetensors",
             task_folder.parent / "outside.safetensors")
  names = json.loads((task_folder / "config.json").read_text())
  (task_folder / "model.safetensors.index.json").write_text(json.dumps(
      {"metadata": {}, "weight_map": {"bert.x": shard}}))
  assert names   # an HF config.json is still there
  with pytest.raises(ValueError, match=f"index.json.*{shard!r}.*{words}"
                     if words == "is not a file name" else
                     f"index.json names shard {shard!r}, which .* {words}"):
    BertEncoder.from_pretrained(str(task_folder))


@pytest.mark.parametrize("key, value, words", [
    ("labels", [1, 2], "not a list of distinct strings"),
    ("labels", ["a", "a"], "not a list of distinct strings"),
    ("labels", "neg,pos", "not a list of distinct strings"),
    ("max_seq_length", "16", "not a non-negative integer"),
    ("max_seq_length", -1, "not a non-negative integer"),
    ("max_seq_length", True, "not a non-negative integer"),
    ("pair", "yes", "not true or false"),
    ("text_b_column", 3, "not a string or null"),
    ("num_outputs", 2.5, "not a non-negative integer"),
])
def test_task_json_values_of_the_wrong_type_are_named(task_folder, key, value,
                                                       words):
  path = task_folder / "task.json"
  values = json.loads(path.read_text())
  values[key] = value
  path.write_text(json.dumps(values))
  with pytest.raises(ValueError, match=f"task.json: {key}=.*{words}"):
    tasks.read_config(task_folder)


def test_task_json_must_be_an_object(task_folder):
  (task_folder / "task.json").write_text("[1, 2]")
  with pytest.raises(ValueError, match=r"task\.json: holds a JSON list"):
    tasks.read_config(task_folder)


def test_a_utf8_byte_order_mark_is_read(task_folder):
  path = task_folder / "task.json"
  path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
  assert tasks.read_config(task_folder).max_seq_length == 16


ODD_LABELS = ["../../escaped", 'a\nb\t"c"', "{0}%s\\x00", "ü 🙂", ""]


def test_odd_labels_stay_labels_in_the_exported_graph(tmp_path):
  folder = tmp_path / "run"
  model = BertClassifier(BertEncoder(CONFIG, vocab=VOCAB), labels=ODD_LABELS)
  tasks.get_task("classification", max_seq_length=16).save(model, folder)
  before = {p for p in tmp_path.parent.rglob("*")}
  (path,) = serving.export_model(str(folder), str(tmp_path / "out"),
                                 version=1)
  after = {p for p in tmp_path.parent.rglob("*")}
  assert all(str(p).startswith(str(tmp_path / "out")) for p in after - before)
  loaded = tf.saved_model.load(path)
  out = loaded.signatures["serving_default"](text=tf.constant(["w1 w2", ""]))
  assert {v.decode() for v in out["label"].numpy()} <= set(ODD_LABELS)
  example = tf.train.Example(features=tf.train.Features(feature={
      "text": tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[b"w3"]))})).SerializeToString()
  classes = loaded.signatures["serve_examples"](
      inputs=tf.constant([example]))["classes"].numpy()
  np.testing.assert_array_equal(classes[0], [s.encode() for s in ODD_LABELS])
