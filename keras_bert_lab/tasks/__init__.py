"""One task per family: typed config, data, model, preprocessor, evaluation.

The downstream families (`get_task` by name: classification, regression,
tagging, squad, multiple_choice) and pre-training (`PretrainingTask` over a
`PretrainingInput`) share one interface: `read_data`, `build_model`,
`train_dataset` / `eval_dataset`, `model.compile()` with the task's loss,
`evaluate`.

The library path that `finetune`, the notebooks and `export` all take:

  >>> from keras_bert_lab import tasks
  >>> task = tasks.get_task("classification", text_column="review",
  ...                       label_column="score", max_seq_length=128)
  >>> task.config.max_seq_length
  128

Then `tasks.finetune(task, tasks.DataConfig(train_file=...), checkpoint,
model_dir, tasks.TrainConfig(...))` runs the whole job, or by hand:
`data = task.read_data(...)`, `model = task.build_model(checkpoint)`,
`model.compile()` (the task's loss and metrics),
`model.fit(task.train_dataset(data.train, tokenizer, 32), ...)`,
`task.evaluate(model, tokenizer, data.eval)`, `task.save(model, folder)`.
`tasks.load(folder)` reads a fine-tuned folder back: its typed config (any
`task.json` format, or an HF `BertFor...` folder) and the model.
"""

from keras_bert_lab.tasks.base import DataConfig, Task, TaskData
from keras_bert_lab.tasks.classification import ClassificationTask
from keras_bert_lab.tasks.config import (CONFIGS, ClassificationConfig,
                                         MultipleChoiceConfig, SquadConfig,
                                         TaggingConfig, TaskConfig,
                                         config_from_task_json)
from keras_bert_lab.tasks.finetuning import (TrainConfig, evaluate_and_save,
                                             finetune, load_tokenizer)
from keras_bert_lab.tasks.multiple_choice import MultipleChoiceTask
from keras_bert_lab.tasks.pretraining import PretrainingInput, PretrainingTask
from keras_bert_lab.tasks.squad import SquadTask
from keras_bert_lab.tasks.tagging import TaggingTask

# Config class -> the task that owns it.
TASK_OF_CONFIG = {ClassificationConfig: ClassificationTask,
                  TaggingConfig: TaggingTask,
                  SquadConfig: SquadTask,
                  MultipleChoiceConfig: MultipleChoiceTask}
# Every task name (`--task`): classification, regression, tagging, squad,
# multiple_choice.
TASK_NAMES = tuple(CONFIGS)


def get_task(name, **config):
  """The task called `name`, with its config's fields set from `config`.

  Args:
    name: one of `TASK_NAMES`.
    **config: fields of the family's config (e.g. `max_seq_length=64`).

  Returns:
    A `Task`.

  Raises:
    ValueError: an unknown name or field.

  Example:
    >>> get_task("regression").config.regression
    True
  """
  if name not in CONFIGS:
    raise ValueError(f"task={name!r} is not one of {TASK_NAMES}.")
  cls = CONFIGS[name]
  if name == "regression":
    config["regression"] = True
  try:
    return TASK_OF_CONFIG[cls](cls(**config))
  except TypeError as e:
    raise ValueError(f"{cls.__name__}: {e}") from None


def task_for_config(config):
  """The `Task` that owns `config` (a `TaskConfig` instance).

  Args:
    config: a `TaskConfig` subclass instance.

  Returns:
    A `Task` of that family.

  Example:
    >>> task_for_config(SquadConfig()).name
    'squad'
  """
  return TASK_OF_CONFIG[type(config)](config)


def read_config(folder):
  """The typed config of a fine-tuned folder (`task.json`, or HF's config).

  Args:
    folder: a `save_pretrained` task folder or an HF `BertFor...` folder.

  Returns:
    A `TaskConfig` (format-1 files upgraded), or None when the folder says
    nothing about a task (a pre-trained encoder).

  Raises:
    ValueError: a `task.json` with an unknown task, unknown or missing keys
      or a newer format (naming the file).
  """
  import os
  from keras_bert_lab.models.task_models import TASK_FILE, read_task_metadata
  values = read_task_metadata(folder)
  if not values:
    return None
  return config_from_task_json(values, os.path.join(str(folder), TASK_FILE))


def load(folder, **config_overrides):
  """A fine-tuned folder's task and model.

  Args:
    folder: see `read_config`.
    **config_overrides: `BertConfig` fields that do not change shapes.

  Returns:
    `(task, model)`.

  Raises:
    ValueError: not a task folder, or a bad `task.json`.

  Example:
    >>> task, model = load("runs/reviews")   # doctest: +SKIP
  """
  from keras_bert_lab.models.task_models import load_task_model
  # load_task_model names what a folder that is not a task model lacks.
  model, _ = load_task_model(folder, **config_overrides)
  return task_for_config(read_config(folder)), model
