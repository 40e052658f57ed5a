"""SavedModels that take raw text, for TF Serving, `saved_model_cli` and TF Hub.

`export(model_dir, export_dir)` reads a model folder once: a fine-tuned
folder's typed task config (`keras_bert_lab.tasks.read_config`; format-1
`task.json` and HF task folders upgraded) picks its serving module
(`SERVING`, by config type), which runs the task's own preprocessor (the
layer training used), the Keras model and the post-processing in the graph:
only TensorFlow and tensorflow-text ops, so the SavedModel loads with
`tensorflow` + `tensorflow_text` alone, and in TF Serving. A pre-trained
encoder becomes a TF-Hub style preprocessor + encoder pair
(`serving.encoder`).

Why by hand: `keras.Model.export` / `keras.export.ExportArchive` export the
model's own inputs (token ids) and keras-hub's exported classifiers leave the
preprocessor out; Model Garden's serving modules take token ids (QA,
tagging) and need tf-models-official. None post-processes QA spans or
tagging words in the graph.

Layout: `export_dir/<version>/` (TF Serving's versioned layout) for a
fine-tuned model, and `export_dir/preprocess/<version>/` +
`export_dir/encoder/<version>/` for a pre-trained encoder, each written
atomically (`savedmodel.save_module`).
"""

import dataclasses
import hashlib
import json
import logging
import os
import time

from keras_bert_lab.serving.classification import ClassifierServing
from keras_bert_lab.serving.encoder import EncoderServing, PreprocessServing
from keras_bert_lab.serving.limits import InputLimits
from keras_bert_lab.serving.multiple_choice import MultipleChoiceServing
from keras_bert_lab.serving.savedmodel import save_module
from keras_bert_lab.serving.squad import SquadServing
from keras_bert_lab.serving.tagging import TaggerServing
from keras_bert_lab.tasks import (ClassificationConfig, MultipleChoiceConfig,
                                  SquadConfig, TaggingConfig)

logger = logging.getLogger("keras_bert_lab")

DEFAULT_PRETRAIN_SEQ_LENGTH = 128
_MLM_BIAS = "cls/predictions/output_bias"
_NSP_WEIGHTS = "cls/seq_relationship/output_weights"
# The files of a model folder an export reads (see `fingerprint`).
_MODEL_FILES = ("config.json", "bert_config.json", "task.json", "vocab.txt",
                "tokenizer_config.json", "keras_bert_lab.json",
                "model.safetensors.index.json")
FINGERPRINT_FILE = "keras_bert_lab_export.json"
# The serving module of each task config.
SERVING = {ClassificationConfig: ClassifierServing,
           TaggingConfig: TaggerServing,
           SquadConfig: SquadServing,
           MultipleChoiceConfig: MultipleChoiceServing}


def _vocab_file(folder, model):
  path = os.path.join(folder, "vocab.txt")
  if os.path.exists(path):
    return path
  raise ValueError(
      f"{folder} has no vocab.txt; the export tokenizes in the graph and "
      "needs the model's WordPiece vocabulary there (save_pretrained writes "
      "it).")


def resolve_model_dir(model_dir):
  """The folder that holds the model: `model_dir`, or its `pretrained/`.

  Args:
    model_dir: a fine-tuning `model_dir`, a pre-training `model_dir` (its
      `pretrained/` folder is used) or any checkpoint folder.

  Returns:
    The folder path.

  Raises:
    ValueError: no such folder.
  """
  model_dir = os.fspath(model_dir)
  if not os.path.isdir(model_dir):
    raise ValueError(f"--model_dir={model_dir} is not a folder; pass a "
                     "finetune or pretrain model_dir (or a save_pretrained "
                     "folder).")
  # A pretrain model_dir also holds bert_config.json and training
  # checkpoints (TF2 object checkpoints, not a model); its model is
  # `pretrained/`.
  nested = os.path.join(model_dir, "pretrained")
  if (os.path.isdir(nested)
      and not os.path.exists(os.path.join(model_dir, "config.json"))
      and not os.path.exists(os.path.join(model_dir, "task.json"))):
    return nested
  return model_dir


def fingerprint(folder, **settings):
  """What an export is made of: the model's files (SHA-256) and settings.

  Written into each version (`assets.extra/keras_bert_lab_export.json`,
  which TF Serving ignores), so that running the same export again after
  it finished, or after a kill between an encoder's two SavedModels, is
  recognised and finished instead of refused.

  Args:
    folder: the model folder.
    **settings: the export's settings (JSON values).

  Returns:
    A dict of JSON values.

  Example:
    >>> import tempfile
    >>> fingerprint(tempfile.mkdtemp(), max_seq_length=128)
    {'model_files': {}, 'settings': {'max_seq_length': 128}}
  """
  files = {}
  for name in sorted(os.listdir(folder)):
    path = os.path.join(folder, name)
    if os.path.isfile(path) and (name in _MODEL_FILES or name.endswith(
        (".safetensors", ".index")) or ".data-" in name):
      digest = hashlib.sha256()
      with open(path, "rb") as f:
        for block in iter(lambda: f.read(2 ** 20), b""):
          digest.update(block)
      files[name] = digest.hexdigest()
  return {"model_files": files, "settings": settings}


def read_fingerprint(path):
  """The fingerprint an export version was written with, or None."""
  file = os.path.join(path, "assets.extra", FINGERPRINT_FILE)
  try:
    with open(file, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _task_serving(folder, config, max_seq_length, jit_compile, quantize,
                  limits):
  """The serving module of a fine-tuned folder, chosen by its config."""
  from keras_bert_lab import tasks
  from keras_bert_lab.text import BertTokenizer
  if max_seq_length:
    config = dataclasses.replace(config, max_seq_length=int(max_seq_length))
  if (isinstance(config, tasks.SquadConfig)
      and config.max_seq_length <= config.max_query_length + 3):
    # As squad_features, but name the export flag.
    config = dataclasses.replace(
        config, max_query_length=max(1, config.max_seq_length // 2))
    logger.warning("max_query_length lowered to %d to fit "
                   "--max_seq_length=%d.", config.max_query_length,
                   config.max_seq_length)
  task = tasks.task_for_config(config)
  model = task.model_class.from_pretrained(folder)
  _check_length(config.max_seq_length, model.config, folder)
  if quantize:
    from keras_bert_lab import compression
    compression.quantize(model, quantize)
  tokenizer = BertTokenizer(_vocab_file(folder, model),
                            lower_case=model.lower_case)
  module = SERVING[type(config)](task, model, tokenizer, limits)
  if jit_compile:
    module.use_xla()
  return module


def build_serving(model_dir, max_seq_length=None, jit_compile=False,
                  quantize=None, limits=None):
  """Loads a model folder and wraps it in its serving module(s).

  Args:
    model_dir: see `resolve_model_dir`. A folder with `task.json` (or an HF
      `BertFor...` task folder) is a fine-tuned model; anything else
      `BertEncoder.from_pretrained` reads is a pre-trained encoder.
    max_seq_length: packed length; default the task config's
      `max_seq_length`, or 128 for an encoder.
    jit_compile: compile a task model's call with XLA
      (`TaskServing.use_xla`); task models only.
    quantize: None, or a `compression.MODES` mode for the task model's
      encoder (`compression.quantize`); task models only.
    limits: the `serving.InputLimits` every signature checks (default
      `InputLimits()`: 1,024 rows, 100,000 bytes per text).

  Returns:
    `{relative folder: module}`: `{"": task module}` for a task model,
    `{"preprocess": ..., "encoder": ...}` for an encoder.

  Raises:
    ValueError: a folder that is not a model, a bad `task.json`, a missing
      vocab.txt, or a `max_seq_length` above the model's position table.
  """
  from keras_bert_lab import tasks
  folder = resolve_model_dir(model_dir)
  return _build(folder, tasks.read_config(folder), max_seq_length,
                jit_compile, quantize, limits)


def _build(folder, config, max_seq_length, jit_compile, quantize=None,
           limits=None):
  """`build_serving` of a resolved folder and its config (None: encoder)."""
  from keras_bert_lab.text import BertTokenizer
  if config is not None:
    return {"": _task_serving(folder, config, max_seq_length, jit_compile,
                              quantize, limits)}
  for flag, given in (("--jit_compile", jit_compile),
                      (f"--quantize={quantize}", quantize)):
    if given:
      raise ValueError(f"{flag} applies to fine-tuned task models; "
                       f"{folder} is a pre-trained encoder. Drop the flag.")
  from keras_bert_lab.checkpoints import set_weights
  from keras_bert_lab.models.encoder import encoder_for_checkpoint
  from keras_bert_lab.models.pretrainer import BertPretrainer
  encoder, ckpt = encoder_for_checkpoint(folder)
  seq_length = int(max_seq_length or min(DEFAULT_PRETRAIN_SEQ_LENGTH,
                                         encoder.config.max_position_embeddings))
  _check_length(seq_length, encoder.config, folder)
  pretrainer = None
  if _MLM_BIAS in ckpt.weights:
    pretrainer = BertPretrainer(encoder,
                                next_sentence=_NSP_WEIGHTS in ckpt.weights)
    set_weights(pretrainer, ckpt.weights, ckpt.source)
  else:
    set_weights(encoder, ckpt.weights, ckpt.source)
  tokenizer = BertTokenizer(_vocab_file(folder, encoder),
                            lower_case=encoder.lower_case)
  return {"preprocess": PreprocessServing(tokenizer, seq_length, limits),
          "encoder": EncoderServing(encoder, tokenizer, seq_length,
                                    pretrainer, limits)}


def _check_length(seq_length, config, folder):
  if seq_length < 8:
    raise ValueError(f"--max_seq_length={seq_length} is too short; use at "
                     "least 8.")
  if seq_length > config.max_position_embeddings:
    raise ValueError(
        f"--max_seq_length={seq_length} exceeds the model's "
        f"max_position_embeddings={config.max_position_embeddings} "
        f"({folder}/config.json); use at most that.")


def export(model_dir, export_dir, version=None, max_seq_length=None,
           jit_compile=False, quantize=None, limits=None):
  """Exports a fine-tuned or pre-trained model as raw-text SavedModels.

  Args:
    model_dir: a finetune `model_dir` (save_pretrained layout + task.json),
      a pretrain `model_dir` (its `pretrained/`), or a checkpoint folder.
    export_dir: the base folder (TF Serving's model base path).
    version: a non-negative integer (TF Serving's version folder name);
      default the current Unix time.
    max_seq_length: packed length; default task.json's (128 for encoders).
    jit_compile: XLA for a task model's call (see `build_serving`).
    quantize: None, `"int8"` or `"int8_weights"`: the task model's encoder
      quantized first (see `build_serving`).
    limits: the `serving.InputLimits` every signature checks (default
      `InputLimits()`); a request past them is refused with an
      `InvalidArgumentError`.

  Returns:
    List of the SavedModel folders written: `[export_dir/<version>]`, or
    `[export_dir/preprocess/<version>, export_dir/encoder/<version>]`.

  Raises:
    ValueError: a bad `version` or model folder.
    FileExistsError: the version folder exists, exported from another model
      or with other settings (the same export again returns its paths).
    keras_bert_lab.training.DiskFullError: the disk filled while writing
      (no partial version folder is left; earlier versions are untouched).

  Example:
    >>> import os, tempfile
    >>> from keras_bert_lab import tasks
    >>> from keras_bert_lab.models import BertClassifier, BertEncoder
    >>> clf = BertClassifier(BertEncoder.from_vocab(), labels=["neg", "pos"])
    >>> base = tempfile.mkdtemp()   # a run folder, as finetune leaves it:
    >>> tasks.get_task("classification").save(clf, os.path.join(base, "run"))
    >>> [os.path.relpath(p, base) for p in export(
    ...     os.path.join(base, "run"), os.path.join(base, "out"), version=1)]
    ['out/1']
  """
  if version is None:
    version = int(time.time())
  version = str(version)
  if not version.isdigit():
    raise ValueError(f"--version={version!r}: TF Serving loads only numeric "
                     "version folders; pass a non-negative integer.")
  from keras_bert_lab.compression import MODES
  if quantize is not None and quantize not in MODES:
    raise ValueError(f"--quantize={quantize}: use one of {', '.join(MODES)}.")
  from keras_bert_lab import tasks
  folder = resolve_model_dir(model_dir)
  config = tasks.read_config(folder)   # the one read of task.json's settings
  subs = [""] if config is not None else ["preprocess", "encoder"]
  paths = [os.path.join(export_dir, sub, version) if sub
           else os.path.join(export_dir, version) for sub in subs]
  # Before any loading (fail fast): a version folder that exists is this
  # same export finished earlier (a rerun after a kill: done), or a clash.
  request = fingerprint(folder, max_seq_length=max_seq_length,
                        jit_compile=jit_compile, quantize=quantize,
                        limits=dataclasses.asdict(limits or InputLimits()))
  todo = []
  for path in paths:
    if not os.path.exists(path):
      todo.append(path)
    elif read_fingerprint(path) != request:
      raise FileExistsError(f"{path} exists; pass another --version.")
    else:
      logger.info("%s exists, exported from the same model and settings.",
                  path)
  if not todo:
    return paths
  modules = _build(folder, config, max_seq_length, jit_compile, quantize,
                   limits)
  from keras_bert_lab.training.disk import disk_full_errors, variable_bytes
  for module, path in zip(modules.values(), paths):
    if path not in todo:
      continue
    with disk_full_errors(
        export_dir, f"the SavedModel {path}",
        lambda: variable_bytes(module.variables),
        "no partial version was left, and it exports again"):
      save_module(module, path, {FINGERPRINT_FILE: request})
    logger.info("Exported %s", path)
  return paths
