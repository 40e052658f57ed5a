r"""Export a fine-tuned or pre-trained model as SavedModels that take raw text.

  python -m keras_bert_lab.export --model_dir=runs/sst2 \
      --export_dir=exported/sst2 [--version=1] [--max_seq_length=128] \
      [--quantize=int8|int8_weights] [--max_input_bytes=100000] \
      [--max_batch_size=1024]

`--model_dir` is a `finetune` model_dir (save_pretrained layout + task.json)
or a `pretrain` model_dir (its `pretrained/` folder) or any checkpoint folder
`BertEncoder.from_pretrained` reads. Writes `export_dir/<version>/` for a
task model and `export_dir/preprocess/<version>/` +
`export_dir/encoder/<version>/` for an encoder (TF Serving's versioned
layout: point `model_base_path` at `export_dir`, or at
`export_dir/encoder`). See `keras_bert_lab.serving.export` for the
signatures. Every signature refuses, with an `InvalidArgumentError` that
names the flag, a request of more rows than `--max_batch_size` or with a
text of more bytes than `--max_input_bytes` (`keras_bert_lab.serving.limits`).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from absl import app, flags, logging  # noqa: E402

from keras_bert_lab.compression.quantization import MODES  # noqa: E402
from keras_bert_lab.serving.limits import (  # noqa: E402
    DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_INPUT_BYTES)

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Model folder: a finetune or pretrain "
                    "model_dir, or a save_pretrained/checkpoint folder.")
flags.DEFINE_string("export_dir", None, "Base folder; the SavedModel goes to "
                    "<export_dir>/<version>/ (encoders: "
                    "<export_dir>/{preprocess,encoder}/<version>/).")
flags.DEFINE_integer("version", None, "Version folder name (a non-negative "
                     "integer, as TF Serving needs); default the Unix time.",
                     lower_bound=0)
flags.DEFINE_integer("max_seq_length", None, "Packed sequence length; "
                     "default task.json's max_seq_length (128 for encoders).")
flags.DEFINE_bool("jit_compile", False, "Compile the model call with XLA "
                  "(task models; lengths round up to a multiple of 16). "
                  "Faster on CPU after each shape's first call; TF Serving "
                  "then needs --xla_cpu_compilation_enabled=true.")
flags.DEFINE_enum("quantize", None, list(MODES),
                  "Quantize the task model's encoder to int8 first "
                  "(keras_bert_lab.compression): int8 weights and "
                  "activations, or int8 weights only; LayerNorm, the pooler "
                  "and the head stay float.")
flags.DEFINE_integer("max_input_bytes", DEFAULT_MAX_INPUT_BYTES,
                     "Every signature refuses (InvalidArgumentError) a "
                     "request with a text (or a row of words or choices) of "
                     "more bytes than this.", lower_bound=1)
flags.DEFINE_integer("max_batch_size", DEFAULT_MAX_BATCH_SIZE,
                     "Every signature refuses a request of more rows than "
                     "this.", lower_bound=1)
flags.mark_flags_as_required(["model_dir", "export_dir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from keras_bert_lab.serving import InputLimits
  from keras_bert_lab.serving.export import export
  try:
    paths = export(FLAGS.model_dir, FLAGS.export_dir, version=FLAGS.version,
                   max_seq_length=FLAGS.max_seq_length,
                   jit_compile=FLAGS.jit_compile, quantize=FLAGS.quantize,
                   limits=InputLimits(FLAGS.max_input_bytes,
                                      FLAGS.max_batch_size))
  except (ValueError, FileExistsError) as e:
    raise app.UsageError(str(e))
  except OSError as e:
    from keras_bert_lab.training import DiskFullError
    if not isinstance(e, DiskFullError):
      raise
    raise SystemExit(f"FATAL: {e}")
  for path in paths:
    logging.info("SavedModel: %s", path)
    print(path)


if __name__ == "__main__":
  app.run(main)
