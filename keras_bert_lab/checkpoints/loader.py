"""Recognise a checkpoint's layout and read it into canonical weights.

One entry point, `load_checkpoint`, for the four layouts `from_pretrained`
accepts; each reader lives in its own module. No library recognises all of
them, so the dispatch is written here.
"""

import dataclasses
import logging
import os

from keras_bert_lab.checkpoints import google, hf, keras_hub, own
from keras_bert_lab.config import BertConfig, read_json
from keras_bert_lab.text import read_vocab

logger = logging.getLogger("keras_bert_lab")

LAYOUTS = (
    "this package's save_pretrained folder (keras_bert_lab.json, config.json, "
    "model.safetensors, vocab.txt)",
    "Hugging Face folder (config.json + model.safetensors or "
    "model.safetensors.index.json, optional vocab.txt)",
    "Google TF1 folder (bert_config.json + bert_model.ckpt.index/.data-*, "
    "vocab.txt)",
    "keras-hub BertBackbone object or preset folder (config.json with "
    "registered_name + model.weights.h5)",
)


@dataclasses.dataclass
class Checkpoint:
  """What a checkpoint holds, in this package's terms.

  Attributes:
    config: the `BertConfig`.
    weights: `{canonical name: numpy array}`.
    vocab: list of tokens, or None when the checkpoint has no vocabulary.
    lower_case: whether the vocabulary expects lower-cased text.
    source: a description of where it came from (for messages).
    layout: `"keras_bert_lab"`, `"hf"`, `"google"` or `"keras_hub"`.
  """

  config: BertConfig
  weights: dict
  vocab: list | None
  lower_case: bool
  source: str
  layout: str


def _layout_of(folder, files):
  if "config.json" not in files and (own.MARKER in files
                                     or own.TASK_FILE in files):
    raise ValueError(
        f"{folder!r} holds no config.json: a save_pretrained there was cut "
        "short (killed, or the disk filled), and config.json is written "
        "last. Save the model again (a pretrain or finetune run resumes and "
        "saves it); nothing was read.")
  if own.MARKER in files:
    return "keras_bert_lab"
  if "config.json" in files:
    if "registered_name" in read_json(os.path.join(folder, "config.json")):
      return "keras_hub"
    if ("model.safetensors" in files
        or "model.safetensors.index.json" in files):
      return "hf"
    if "pytorch_model.bin" in files or any(
        f.startswith("pytorch_model-") for f in files):
      raise ValueError(
          f"{folder!r} holds only pickle weights (pytorch_model.bin), which "
          "this package never unpickles (pickle can run arbitrary code). "
          "Convert them once to safetensors, in an environment you trust: "
          "`transformers.BertForPreTraining.from_pretrained(folder)"
          ".save_pretrained(folder, safe_serialization=True)`.")
  if "bert_config.json" in files and any(f.endswith(".index") for f in files):
    return "google"
  raise ValueError(
      f"Cannot recognise a BERT checkpoint in {folder!r}; found: "
      f"{', '.join(sorted(files)) or 'nothing'}. Accepted layouts:\n  - "
      + "\n  - ".join(LAYOUTS))


def load_checkpoint(source):
  """Reads any accepted checkpoint into a `Checkpoint`.

  Args:
    source: a folder path (see `LAYOUTS`) or a keras-hub `BertBackbone`.

  Returns:
    A `Checkpoint`. The vocabulary is validated with
    `keras_bert_lab.text.read_vocab` and must match the config's vocab_size.

  Raises:
    ValueError: unknown layout (message lists the files found and the
      layouts accepted), pickle-only weights, a bad config or vocabulary, or
      a vocabulary whose size differs from the config's vocab_size.

  Example:
    >>> import os, tempfile
    >>> from keras_bert_lab.models import BertEncoder
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hi"]
    >>> folder = os.path.join(tempfile.mkdtemp(), "bert")
    >>> BertEncoder(BertConfig(vocab_size=6, hidden_size=8, num_layers=1,
    ...                        num_heads=2, intermediate_size=16),
    ...             vocab=vocab, lower_case=False).save_pretrained(folder)
    >>> ckpt = load_checkpoint(folder)
    >>> ckpt.layout, ckpt.config.num_layers, ckpt.vocab == vocab, ckpt.lower_case
    ('keras_bert_lab', 1, True, False)
    >>> load_checkpoint(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    ValueError: Cannot recognise a BERT checkpoint in '...'; found: nothing. ...
  """
  if not isinstance(source, (str, os.PathLike)):
    if type(source).__name__ != "BertBackbone":
      raise ValueError(
          f"Cannot load a BERT checkpoint from a {type(source).__name__}; "
          "pass a folder path or a keras_hub.models.BertBackbone.")
    return Checkpoint(keras_hub.backbone_config(source),
                      keras_hub.backbone_weights(source), None, True,
                      f"keras-hub {source.name}", "keras_hub")
  folder = os.fspath(source)
  if os.path.isfile(folder):
    kind = ("a Keras archive (.keras), which this package never "
            "deserializes: one can carry code (Lambda layers)"
            if folder.endswith(".keras") else "a file")
    raise ValueError(
        f"{folder!r} is {kind}; pass a checkpoint folder. Accepted "
        "layouts:\n  - " + "\n  - ".join(LAYOUTS))
  if not os.path.isdir(folder):
    raise ValueError(
        f"Checkpoint folder {folder!r} does not exist. Accepted layouts:\n  - "
        + "\n  - ".join(LAYOUTS))
  layout = _layout_of(folder, os.listdir(folder))
  reader = {"keras_bert_lab": hf.read_hf_folder, "hf": hf.read_hf_folder,
            "google": google.read_google_folder,
            "keras_hub": keras_hub.read_keras_hub_preset}[layout]
  config, weights, vocab, lower_case = reader(folder)
  if layout == "keras_bert_lab":
    lower_case = read_json(os.path.join(folder, own.MARKER))["lower_case"]
  if isinstance(vocab, str):
    vocab = read_vocab(vocab)
  if vocab is None:
    logger.warning("%s has no vocab.txt; the model will carry no vocabulary.",
                   folder)
  elif len(vocab) != config.vocab_size:
    raise ValueError(
        f"{folder}: the vocabulary has {len(vocab)} tokens but the config "
        f"says vocab_size={config.vocab_size}. Use the vocab.txt that belongs "
        "to this checkpoint.")
  if lower_case is None:
    logger.warning("%s does not say whether its vocabulary is lower-cased; "
                   "assuming lower_case=True.", folder)
    lower_case = True
  return Checkpoint(config, weights, vocab, bool(lower_case), folder, layout)
