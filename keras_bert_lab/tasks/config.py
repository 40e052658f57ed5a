"""Typed task configs: the preprocessing that training and serving share.

A fine-tuned model folder's `task.json` is one of these dataclasses written
out, next to what the model owns (its task name, head class and size,
labels and case). Training builds its preprocessor from the config, and the
exporter reads the same config back, so the two cannot drift apart.

Format 2 (written now) lists every field: an unknown key (a typo, a newer
version's field) or a missing one is an error naming the file. Format 1
(folders written before the configs were typed) and Hugging Face task
folders (no `task.json`) are upgraded on reading: their missing settings take
the values the code of that time used (see `upgrade`).

Example:
  >>> config = ClassificationConfig(labels=["neg", "pos"], max_seq_length=64)
  >>> config.task
  'classification'
  >>> ClassificationConfig.from_task_json(
  ...     {"format_version": 2, "task": "classification", **config.to_json(),
  ...      "model_class": "BertClassifier", "num_outputs": 2,
  ...      "lower_case": True}, "task.json").max_seq_length
  64
"""

import dataclasses
import logging
from typing import ClassVar, Optional

logger = logging.getLogger("keras_bert_lab")

from keras_bert_lab.models import task_models
# The format, and the task.json keys the model writes
# (`BertTaskModel.save_pretrained`), not the config; `labels` is both (the
# config's, as the head was built with).
from keras_bert_lab.models.task_models import MODEL_KEYS, TASK_FORMAT_VERSION


@dataclasses.dataclass
class TaskConfig:
  """Fields every task has.

  Attributes:
    max_seq_length: packed length.
  """

  family: ClassVar[str] = ""
  max_seq_length: int = 128

  @property
  def task(self):
    """The task name written to `task.json`."""
    return self.family

  def to_json(self):
    """The config's `task.json` fields (all but `MODEL_KEYS`, plus labels).

    Returns:
      A dict of JSON values.
    """
    values = dataclasses.asdict(self)
    values.pop("regression", None)   # it is the task name
    return values

  @classmethod
  def from_task_json(cls, values, path):
    """The config of a format-2 `task.json` dict.

    Args:
      values: the file's dict.
      path: the file, for messages.

    Returns:
      An instance of `cls`.

    Raises:
      ValueError: a key is unknown or missing (the message names `path`).
    """
    fields = {f.name for f in dataclasses.fields(cls)} - {"regression"}
    known = fields | set(MODEL_KEYS)
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(
          f"{path}: unknown key(s) {unknown} for a {values.get('task')} "
          f"task (format_version {TASK_FORMAT_VERSION} knows "
          f"{sorted(known)}); fix the file, or rewrite it with "
          "save_pretrained.")
    missing = sorted(fields - set(values))
    if missing:
      raise ValueError(
          f"{path}: missing key(s) {missing} for a {values.get('task')} "
          "task; add them, or rewrite the file with save_pretrained.")
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    types.update(_MODEL_KEY_TYPES)
    for key, value in values.items():
      _check_type(key, value, types[key], path)
    return cls._build({k: values[k] for k in fields}, values)

  @classmethod
  def _build(cls, fields, values):
    return cls(**fields)


# The types of the model's task.json keys (`MODEL_KEYS`).
_MODEL_KEY_TYPES = {"format_version": int, "task": str, "model_class": str,
                    "num_outputs": int, "labels": Optional[list],
                    "lower_case": bool}


def _check_type(key, value, annotation, path):
  """Refuses a task.json value that is not of its field's type.

  A file is data, not code: a wrong type (a number as a label, a string as
  a length) would otherwise surface as a confusing error deep in training
  or inside an exported graph. Labels must be distinct strings.

  Raises:
    ValueError: naming the file, the key and the type wanted.
  """
  optional = annotation in (Optional[list], Optional[str])
  if value is None and optional:
    return
  wanted = {Optional[list]: list, Optional[str]: str}.get(annotation,
                                                          annotation)
  ok = isinstance(value, wanted) and (wanted is bool or
                                      not isinstance(value, bool))
  if wanted is float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
  if ok and wanted is int and key != "format_version":
    ok = value >= 0
  if ok and key == "labels":
    ok = (all(isinstance(v, str) for v in value)
          and len(set(value)) == len(value))
  if not ok:
    what = ("a list of distinct strings" if key == "labels" else
            {int: "a non-negative integer", str: "a string", bool:
             "true or false", float: "a number", list: "a list"}[wanted])
    raise ValueError(f"{path}: {key}={value!r} is not {what}"
                     f"{' or null' if optional else ''}; fix the file, or "
                     "rewrite it with save_pretrained.")


@dataclasses.dataclass
class ClassificationConfig(TaskConfig):
  """Sentence / pair classification, or regression.

  Attributes:
    labels: class names (class i is `labels[i]`); None for regression.
    regression: one score instead of classes (task "regression").
    pair: the model reads text pairs.
    text_column, text_b_column, label_column: the columns training read.
    truncation: `BertPacker` truncation of pairs.
  """

  family: ClassVar[str] = "classification"
  labels: Optional[list] = None
  regression: bool = False
  pair: bool = False
  text_column: str = "text"
  text_b_column: Optional[str] = None
  label_column: str = "label"
  truncation: str = "longest_first"

  @property
  def task(self):
    return "regression" if self.regression else "classification"

  @classmethod
  def _build(cls, fields, values):
    return cls(regression=values.get("task") == "regression", **fields)


@dataclasses.dataclass
class TaggingConfig(TaskConfig):
  """Token tagging (NER).

  Attributes:
    labels: the tag list (tag i is `labels[i]`).
    word_units: how raw text becomes the words training saw:
      `"characters"` (character-level BIO, e.g. People's Daily),
      `"whitespace"` (CoNLL-style files) or `"basic"` (BERT's basic
      tokenization: format-1 folders).
    empty_words: `align_words`' rule for words without wordpieces.
  """

  family: ClassVar[str] = "tagging"
  labels: Optional[list] = None
  word_units: str = "whitespace"
  empty_words: str = "unk"


@dataclasses.dataclass
class SquadConfig(TaskConfig):
  """Extractive QA (SQuAD v1.1 / v2.0), with `run_squad.py`'s settings."""

  family: ClassVar[str] = "squad"
  max_seq_length: int = 384
  doc_stride: int = 128
  max_query_length: int = 64
  n_best_size: int = 20
  max_answer_length: int = 30
  null_score_diff_threshold: float = 0.0
  version_2_with_negative: bool = False


@dataclasses.dataclass
class MultipleChoiceConfig(TaskConfig):
  """Multiple choice (SWAG).

  Attributes:
    num_choices: K.
    truncation: `BertPacker` truncation of (context, choice).
    context_column, start_column: SWAG's columns training read.
  """

  family: ClassVar[str] = "multiple_choice"
  num_choices: int = 4
  truncation: str = "longest_first"
  context_column: str = "sent1"
  start_column: str = "sent2"


# Task name -> config, through the model each task trains.
_CONFIG_OF_MODEL = {task_models.BertClassifier: ClassificationConfig,
                    task_models.BertTokenClassifier: TaggingConfig,
                    task_models.BertSpanLabeler: SquadConfig,
                    task_models.BertMultipleChoice: MultipleChoiceConfig}
CONFIGS = {task: _CONFIG_OF_MODEL[model]
           for task, model in task_models.TASK_MODELS.items()}

# What format 1 left out, and the value its code used in that case.
_FORMAT_1_DEFAULTS = {
    "tagging": {"word_units": "basic"},
}
# Format-1 keys that no longer mean anything.
_FORMAT_1_DROPPED = ("first_wordpiece_labels",)


def upgrade(values, path):
  """A format-1 (or Hugging Face) task dict as format 2.

  Missing settings take the values the format-1 code used: a pair model
  when `text_b_column` is set, longest-first truncation, BERT's basic
  tokenization to split a tagger's raw text (format 1 did not record the
  word rule), `run_squad.py`'s defaults.

  Args:
    values: the old dict (`read_task_metadata`).
    path: the file or folder, for messages.

  Returns:
    A format-2 dict.
  """
  task = values["task"]
  cls = CONFIGS[task]
  fields = {f.name: f.default for f in dataclasses.fields(cls)}
  fields.pop("regression", None)
  fields.update(_FORMAT_1_DEFAULTS.get(task, {}))
  if task in ("classification", "regression") and "pair" not in values:
    fields["pair"] = bool(values.get("text_b_column"))
  new = dict(fields)
  dropped = []
  for key, value in values.items():
    if key in fields or key in MODEL_KEYS:
      if value is not None or key not in fields:
        new[key] = value
    elif key not in _FORMAT_1_DROPPED:
      dropped.append(key)
  if dropped:
    logger.warning("%s: format-1 key(s) %s are not task settings; ignored.",
                   path, sorted(dropped))
  new["format_version"] = TASK_FORMAT_VERSION
  return new


def config_from_task_json(values, path):
  """The typed config of a `task.json` dict of any format.

  Args:
    values: the dict (`read_task_metadata`).
    path: where it came from, for messages.

  Returns:
    A `TaskConfig` subclass instance.

  Raises:
    ValueError: an unknown task, a newer format, unknown or missing keys.
  """
  task = values.get("task")
  if task not in CONFIGS:
    raise ValueError(f"{path}: task={task!r} is not one of "
                     f"{sorted(CONFIGS)}; fix the file or rewrite it with "
                     "save_pretrained.")
  version = values.get("format_version", 1)
  if not isinstance(version, int) or version > TASK_FORMAT_VERSION:
    raise ValueError(
        f"{path}: format_version={version!r} is newer than this "
        f"keras_bert_lab reads ({TASK_FORMAT_VERSION}); upgrade "
        "keras_bert_lab.")
  if version < TASK_FORMAT_VERSION:
    values = upgrade(values, path)
  return CONFIGS[task].from_task_json(values, path)
