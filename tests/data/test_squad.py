"""SQuAD reading, in-graph windows and post-processing against run_squad.py.

The reference below is a small transcription of the rules of Google's
`run_squad.py` (google-research/bert): `read_squad_examples`,
`convert_examples_to_features`, `_improve_answer_span`,
`_check_is_max_context`, `write_predictions` and `get_final_text`, with the
original's FullTokenizer / BasicTokenizer taken from `transformers`' Python
`BertTokenizer` on the bert-base-uncased vocabulary.
"""

import collections
import json
import logging
import math
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.data import squad, squad_json
from keras_bert_lab.text import BertTokenizer

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
V11 = FIXTURES / "squad_v1.1.json"
V20 = FIXTURES / "squad_v2.0.json"

# ------------------------------------------------- run_squad.py, by its rules


def ref_read(path, is_training, version_2):
  data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))["data"]
  examples = []
  for entry in data:
    for paragraph in entry["paragraphs"]:
      text = paragraph["context"]
      doc_tokens, char_to_word = [], []
      prev_ws = True
      for c in text:
        if c in " \t\r\n" or ord(c) == 0x202F:
          prev_ws = True
        else:
          if prev_ws:
            doc_tokens.append(c)
          else:
            doc_tokens[-1] += c
          prev_ws = False
        char_to_word.append(len(doc_tokens) - 1)
      for qa in paragraph["qas"]:
        start = end = None
        answer = None
        impossible = False
        if is_training:
          if version_2:
            impossible = qa["is_impossible"]
          if not impossible:
            a = qa["answers"][0]
            answer = a["text"]
            start = char_to_word[a["answer_start"]]
            end = char_to_word[a["answer_start"] + len(answer) - 1]
            actual = " ".join(doc_tokens[start:end + 1])
            if actual.find(" ".join(answer.split())) == -1:
              continue
          else:
            start = end = -1
            answer = ""
        examples.append(dict(qas_id=qa["id"], question_text=qa["question"],
                             doc_tokens=doc_tokens, context=text,
                             orig_answer_text=answer, start_position=start,
                             end_position=end, is_impossible=impossible))
  return examples


def ref_improve_answer_span(doc_tokens, start, end, tokenizer, answer):
  tok_answer = " ".join(tokenizer.tokenize(answer))
  for new_start in range(start, end + 1):
    for new_end in range(end, new_start - 1, -1):
      if " ".join(doc_tokens[new_start:new_end + 1]) == tok_answer:
        return new_start, new_end
  return start, end


def ref_is_max_context(doc_spans, cur, position):
  best_score, best_index = None, None
  for index, (span_start, length) in enumerate(doc_spans):
    end = span_start + length - 1
    if position < span_start or position > end:
      continue
    score = min(position - span_start, end - position) + 0.01 * length
    if best_score is None or score > best_score:
      best_score, best_index = score, index
  return cur == best_index


def ref_convert(examples, tokenizer, max_seq_length, doc_stride,
                max_query_length, is_training):
  features = []
  for example_index, example in enumerate(examples):
    query = tokenizer.tokenize(example["question_text"])[:max_query_length]
    tok_to_orig, orig_to_tok, all_doc = [], [], []
    for i, token in enumerate(example["doc_tokens"]):
      orig_to_tok.append(len(all_doc))
      for sub in tokenizer.tokenize(token):
        tok_to_orig.append(i)
        all_doc.append(sub)
    tok_start = tok_end = None
    rough = None
    if is_training and example["is_impossible"]:
      tok_start = tok_end = -1
    if is_training and not example["is_impossible"]:
      tok_start = orig_to_tok[example["start_position"]]
      if example["end_position"] < len(example["doc_tokens"]) - 1:
        tok_end = orig_to_tok[example["end_position"] + 1] - 1
      else:
        tok_end = len(all_doc) - 1
      rough = (tok_start, tok_end)
      tok_start, tok_end = ref_improve_answer_span(
          all_doc, tok_start, tok_end, tokenizer, example["orig_answer_text"])
    max_doc = max_seq_length - len(query) - 3
    spans = []
    offset = 0
    while offset < len(all_doc):
      length = min(len(all_doc) - offset, max_doc)
      spans.append((offset, length))
      if offset + length == len(all_doc):
        break
      offset += min(length, doc_stride)
    for span_index, (span_start, span_length) in enumerate(spans):
      tokens = ["[CLS]"] + query + ["[SEP]"]
      segment_ids = [0] * len(tokens)
      to_orig, max_ctx = {}, {}
      for i in range(span_length):
        split = span_start + i
        to_orig[len(tokens)] = tok_to_orig[split]
        max_ctx[len(tokens)] = ref_is_max_context(spans, span_index, split)
        tokens.append(all_doc[split])
        segment_ids.append(1)
      tokens.append("[SEP]")
      segment_ids.append(1)
      input_ids = tokenizer.convert_tokens_to_ids(tokens)
      input_mask = [1] * len(input_ids)
      pad = max_seq_length - len(input_ids)
      input_ids += [0] * pad
      input_mask += [0] * pad
      segment_ids += [0] * pad
      start = end = None
      if is_training and not example["is_impossible"]:
        if tok_start >= span_start and tok_end <= span_start + span_length - 1:
          start = tok_start - span_start + len(query) + 2
          end = tok_end - span_start + len(query) + 2
        else:
          start = end = 0
      if is_training and example["is_impossible"]:
        start = end = 0
      features.append(dict(
          example_index=example_index, doc_span_index=span_index,
          tokens=tokens, token_to_orig_map=to_orig, token_is_max_context=max_ctx,
          input_ids=input_ids, input_mask=input_mask, segment_ids=segment_ids,
          start_position=start, end_position=end, rough=rough,
          improved=(tok_start, tok_end), all_doc=all_doc,
          orig_to_tok=orig_to_tok, span_start=span_start,
          query_length=len(query)))
  return features


def ref_get_final_text(pred_text, orig_text, basic_tokenizer, at=None):
  def strip_spaces(text):
    chars, ns_to_s = [], collections.OrderedDict()
    for i, c in enumerate(text):
      if c == " ":
        continue
      ns_to_s[len(chars)] = i
      chars.append(c)
    return "".join(chars), ns_to_s

  tok_text = " ".join(basic_tokenizer.tokenize(orig_text))
  start = tok_text.find(pred_text)
  if at is not None and tok_text.startswith(pred_text, at):
    start = at  # see ref_span_text
  if start == -1:
    return orig_text
  end = start + len(pred_text) - 1
  orig_ns, orig_map = strip_spaces(orig_text)
  tok_ns, tok_map = strip_spaces(tok_text)
  if len(orig_ns) != len(tok_ns):
    return orig_text
  tok_s_to_ns = {v: k for k, v in tok_map.items()}
  if start not in tok_s_to_ns or tok_s_to_ns[start] not in orig_map:
    return orig_text
  orig_start = orig_map[tok_s_to_ns[start]]
  if end not in tok_s_to_ns or tok_s_to_ns[end] not in orig_map:
    return orig_text
  orig_end = orig_map[tok_s_to_ns[end]]
  return orig_text[orig_start:orig_end + 1]


def ref_span_text(example, feature, start_index, end_index, basic_tokenizer,
                  fixed=True):
  """The original's final text of a span; `fixed`: where the detokenized
  pieces occur more than once in the basic tokens of their words,
  get_final_text takes the first (e.g. the "S" of "Shepherds" for the piece
  "##s"); fixed looks at the occurrence the pieces come from."""
  tok_text = " ".join(feature["tokens"][start_index:end_index + 1])
  tok_text = tok_text.replace(" ##", "").replace("##", "")
  tok_text = " ".join(tok_text.strip().split())
  first_word = feature["token_to_orig_map"][start_index]
  orig = example["doc_tokens"][first_word:
                               feature["token_to_orig_map"][end_index] + 1]
  at = None
  if fixed:
    # Where the start piece is in " ".join(basic tokens of the words).
    split = feature["span_start"] + start_index - feature["query_length"] - 2
    before = ""
    for piece in feature["all_doc"][feature["orig_to_tok"][first_word]:split]:
      if piece.startswith("##"):
        before += piece[2:]
      else:
        before += (" " if before else "") + piece
    starts_word = not feature["all_doc"][split].startswith("##")
    at = len(before) + (1 if before and starts_word else 0)
  return ref_get_final_text(tok_text, " ".join(orig), basic_tokenizer, at)


def ref_write_predictions(examples, features, results, n_best_size,
                          max_answer_length, version_2, threshold,
                          basic_tokenizer):
  by_example = collections.defaultdict(list)
  for i, f in enumerate(features):
    by_example[f["example_index"]].append(i)
  predictions, nbest_json, diffs = {}, {}, {}

  def best_indexes(logits):
    order = sorted(enumerate(logits), key=lambda x: x[1], reverse=True)
    return [i for i, _ in order[:n_best_size]]

  for example_index, example in enumerate(examples):
    prelim = []
    score_null, null_feature, null_start, null_end = 1000000, 0, 0, 0
    for fi in by_example[example_index]:
      feature = features[fi]
      start_logits = [float(x) for x in results[fi][0]]
      end_logits = [float(x) for x in results[fi][1]]
      if version_2:
        null = start_logits[0] + end_logits[0]
        if null < score_null:
          score_null, null_feature = null, fi
          null_start, null_end = start_logits[0], end_logits[0]
      for s in best_indexes(start_logits):
        for e in best_indexes(end_logits):
          if s >= len(feature["tokens"]) or e >= len(feature["tokens"]):
            continue
          if s not in feature["token_to_orig_map"]:
            continue
          if e not in feature["token_to_orig_map"]:
            continue
          if not feature["token_is_max_context"].get(s, False):
            continue
          if e < s or e - s + 1 > max_answer_length:
            continue
          prelim.append((fi, s, e, start_logits[s], end_logits[e]))
    if version_2:
      prelim.append((null_feature, 0, 0, null_start, null_end))
    prelim.sort(key=lambda x: x[3] + x[4], reverse=True)
    seen, nbest = set(), []
    for fi, s, e, sl, el in prelim:
      if len(nbest) >= n_best_size:
        break
      if s > 0:
        text = ref_span_text(example, features[fi], s, e, basic_tokenizer)
        if text in seen:
          continue
      else:
        text = ""
      seen.add(text)
      nbest.append((text, sl, el))
    if version_2 and "" not in seen:
      nbest.append(("", null_start, null_end))
    if not nbest:
      nbest.append(("empty", 0.0, 0.0))
    scores = [sl + el for _, sl, el in nbest]
    top = max(scores)
    exps = [math.exp(x - top) for x in scores]
    probs = [x / sum(exps) for x in exps]
    best_non_null = next((n for n in nbest if n[0]), None)
    nbest_json[example["qas_id"]] = [
        dict(text=t, probability=p, start_logit=sl, end_logit=el)
        for (t, sl, el), p in zip(nbest, probs)]
    if not version_2:
      predictions[example["qas_id"]] = nbest[0][0]
    elif best_non_null is None:  # the original crashes; ours: "" and inf
      predictions[example["qas_id"]] = ""
      diffs[example["qas_id"]] = math.inf
    else:
      diff = score_null - best_non_null[1] - best_non_null[2]
      diffs[example["qas_id"]] = diff
      predictions[example["qas_id"]] = (
          "" if diff > threshold else best_non_null[0])
  return predictions, nbest_json, diffs


# ---------------------------------------------------------------- fixtures --


@pytest.fixture(scope="module")
def hf_tokenizer(bert_vocab):
  # The original's FullTokenizer, in Python (transformers 5 keeps it as
  # BertTokenizerLegacy; BertTokenizer is the Rust one).
  legacy = pytest.importorskip(
      "transformers.models.bert.tokenization_bert_legacy")
  return legacy.BertTokenizerLegacy(bert_vocab, do_lower_case=True)


@pytest.fixture(scope="module")
def basic_tokenizer():
  legacy = pytest.importorskip(
      "transformers.models.bert.tokenization_bert_legacy")
  return legacy.BasicTokenizer(do_lower_case=True)


@pytest.fixture(scope="module")
def tokenizer(bert_vocab):
  return BertTokenizer(bert_vocab, lower_case=True)


def _windows(examples, tokenizer, with_answers, **cfg):
  """All windows of `examples`, eagerly (`squad_windows` is tested once)."""
  column = lambda key: [e[key] for e in examples.examples]
  answers = {}
  if with_answers:
    answers = dict(answer_texts=column("answer_text"),
                   answer_starts=column("answer_start"),
                   is_impossible=column("is_impossible"))
  out = squad.squad_features(tokenizer, column("question"), column("context"),
                             **answers, **cfg)
  return {k: v.numpy() for k, v in out.items()}


def test_dataset_gives_the_same_windows(tokenizer):
  examples = squad_json.read_squad_json(V20, is_training=True)
  cfg = dict(max_seq_length=40, doc_stride=16, max_query_length=10)
  ds = squad.squad_windows(examples, tokenizer, batch_size=4, **cfg)
  got = {k: v.numpy() for k, v in next(iter(ds.batch(1000))).items()}
  want = _windows(examples, tokenizer, True, **cfg)
  assert got.keys() == want.keys()
  for key in want:
    np.testing.assert_array_equal(got[key], want[key], err_msg=key)
  features, labels = squad.fit_inputs(ds.element_spec)
  assert sorted(features) == ["input_mask", "input_type_ids", "input_word_ids"]
  assert features["input_word_ids"].shape == [40]
  assert sorted(labels) == ["end_positions", "start_positions"]
  assert labels["start_positions"].dtype == tf.int32


def _example_dict(ex):
  return {k: ex[k] for k in ("id", "question", "context", "answer_text",
                             "answer_start", "is_impossible")}


# ----------------------------------------------------------------- reading --


def test_read_v11_follows_the_file():
  data = json.loads(V11.read_text(encoding="utf-8"))
  ex = squad_json.read_squad_json(V11, is_training=True)
  assert not ex.version_2_with_negative and ex.skipped == []
  qas = [(p["context"], qa) for a in data["data"] for p in a["paragraphs"]
         for qa in p["qas"]]
  assert len(ex) == len(qas) == 10
  for e, (context, qa) in zip(ex.examples, qas):
    assert (e["id"], e["question"], e["context"]) == (qa["id"], qa["question"],
                                                      context)
    a = qa["answers"][0]
    assert (e["answer_text"], e["answer_start"]) == (a["text"],
                                                     a["answer_start"])
    assert context[a["answer_start"]:][:len(a["text"])] == a["text"]
  element = next(iter(ex.dataset()))
  assert element["id"].numpy() == b"v11-bridge-born"
  assert element["answer_start"].numpy() == ex.examples[0]["answer_start"]


def test_read_v20_impossible_questions():
  ex = squad_json.read_squad_json(V20, is_training=True)
  assert ex.version_2_with_negative
  impossible = [e for e in ex.examples if e["is_impossible"]]
  assert {e["id"] for e in impossible} == {
      "v20-quinn-last-year", "v20-quinn-poems", "v20-pku-students",
      "v20-lenka-hotel"}
  for e in impossible:
    assert (e["answer_text"], e["answer_start"], e["answers"]) == ("", -1, [])
  # Same examples as the original reader keeps.
  ref = ref_read(V20, True, True)
  assert [r["qas_id"] for r in ref] == ex.ids


def _write(tmp_path, qas, context="Alpha beta gamma.", name="bad.json"):
  path = tmp_path / name
  path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t",
      "paragraphs": [{"context": context, "qas": qas}]}]}), encoding="utf-8")
  return path


def test_unfound_answers_are_skipped_and_reported(tmp_path, caplog):
  qas = [
      {"id": "ok", "question": "q?", "answers": [{"text": "beta",
                                                  "answer_start": 6}]},
      {"id": "shifted", "question": "q?", "answers": [{"text": "beta",
                                                       "answer_start": 0}]},
      {"id": "outside", "question": "q?", "answers": [{"text": "delta",
                                                       "answer_start": 40}]},
  ]
  path = _write(tmp_path, qas)
  with caplog.at_level(logging.WARNING):
    ex = squad_json.read_squad_json(path, is_training=True)
  assert ex.ids == ["ok"] and ex.skipped == ["shifted", "outside"]
  assert "Could not find answer: 'Alpha' vs. 'beta'" in caplog.text
  assert "skipped 2 of 3" in caplog.text and str(path) in caplog.text
  # Not training: nothing is checked or skipped.
  assert squad_json.read_squad_json(path, is_training=False).ids == [
      "ok", "shifted", "outside"]


def test_duplicate_ids_name_file_and_id(tmp_path):
  qa = {"id": "twice", "question": "q?", "answers": [{"text": "beta",
                                                      "answer_start": 6}]}
  path = _write(tmp_path, [qa, dict(qa)], name="dup.json")
  with pytest.raises(ValueError, match=r"dup\.json.*'twice'.*twice"):
    squad_json.read_squad_json(path, is_training=False)


def test_dev_questions_keep_all_answers_and_training_needs_one(tmp_path):
  qa = {"id": "many", "question": "q?", "answers": [
      {"text": "beta", "answer_start": 6}, {"text": "beta gamma",
                                           "answer_start": 6}]}
  path = _write(tmp_path, [qa], name="dev.json")
  ex = squad_json.read_squad_json(path, is_training=False)
  assert ex.examples[0]["answers"] == ["beta", "beta gamma"]
  with pytest.raises(ValueError, match=r"dev\.json.*'many'.*exactly 1"):
    squad_json.read_squad_json(path, is_training=True)


def test_not_squad_json(tmp_path):
  path = tmp_path / "x.json"
  path.write_text("[1, 2]")
  with pytest.raises(ValueError, match=r"x\.json.*\"data\""):
    squad_json.read_squad_json(path, is_training=False)


def test_tfds_names_read_like_the_json():
  tfds = pytest.importorskip("tensorflow_datasets")
  ref = squad_json.read_squad_json(V20, is_training=True)
  rows = [dict(id=e["id"], title="", question=e["question"],
               context=e["context"], is_impossible=e["is_impossible"],
               answers={"text": [e["answer_text"]] if e["answers"] else [],
                        "answer_start": [e["answer_start"]] if e["answers"]
                                        else []})
          for e in ref.examples]

  def as_dataset(self, split, **kwargs):
    del self, split, kwargs
    def gen():
      for r in rows:
        yield {"id": r["id"], "title": r["title"], "question": r["question"],
               "context": r["context"], "is_impossible": r["is_impossible"],
               "answers": {"text": np.array(r["answers"]["text"], object),
                           "answer_start": np.array(
                               r["answers"]["answer_start"], np.int32)},
               "plausible_answers": {"text": np.zeros([0], object),
                                     "answer_start": np.zeros([0], np.int32)}}
    strings = tf.TensorSpec([], tf.string)
    spans = {"text": tf.TensorSpec([None], tf.string),
             "answer_start": tf.TensorSpec([None], tf.int32)}
    return tf.data.Dataset.from_generator(gen, output_signature={
        "id": strings, "title": strings, "question": strings,
        "context": strings, "is_impossible": tf.TensorSpec([], tf.bool),
        "answers": spans, "plausible_answers": spans})

  with tfds.testing.mock_data(as_dataset_fn=as_dataset):
    got = squad_json.read_squad_tfds("squad/v2.0", "train")
  assert got.version_2_with_negative and got.source == "squad/v2.0:train"
  assert [_example_dict(e) for e in got.examples] == [
      _example_dict(e) for e in ref.examples]


# --------------------------------------------------- features vs original --

CONFIGS = [
    (V11, False, dict(max_seq_length=32, doc_stride=8, max_query_length=8)),
    (V20, True, dict(max_seq_length=40, doc_stride=16, max_query_length=10)),
    (V11, False, dict(max_seq_length=64, doc_stride=128, max_query_length=64 -
                      4)),
    (V20, True, dict(max_seq_length=384, doc_stride=128, max_query_length=64)),
]


@pytest.mark.parametrize("path,version_2,cfg", CONFIGS)
def test_features_equal_the_original(path, version_2, cfg, tokenizer,
                                     hf_tokenizer):
  examples = squad_json.read_squad_json(path, is_training=True)
  ref_examples = ref_read(path, True, version_2)
  ref = ref_convert(ref_examples, hf_tokenizer, is_training=True, **cfg)
  got = _windows(examples, tokenizer, True, **cfg)
  n = len(ref)
  assert len(got["input_word_ids"]) == n
  for i, f in enumerate(ref):
    assert got["example_index"][i] == f["example_index"]
    assert got["window_index"][i] == f["doc_span_index"]
    np.testing.assert_array_equal(got["input_word_ids"][i], f["input_ids"])
    np.testing.assert_array_equal(got["input_mask"][i], f["input_mask"])
    np.testing.assert_array_equal(got["input_type_ids"][i], f["segment_ids"])
    assert got["start_positions"][i] == f["start_position"], f
    assert got["end_positions"][i] == f["end_position"], f
    max_ctx = np.zeros(cfg["max_seq_length"], bool)
    for pos, value in f["token_is_max_context"].items():
      max_ctx[pos] = value
    np.testing.assert_array_equal(got["token_is_max_context"][i], max_ctx)
    # Each token's characters lie inside its whitespace word.
    ex = ref_examples[f["example_index"]]
    starts = got["token_char_start"][i]
    is_doc = np.zeros(cfg["max_seq_length"], bool)
    is_doc[list(f["token_to_orig_map"])] = True
    np.testing.assert_array_equal(starts >= 0, is_doc)
    for pos, word in f["token_to_orig_map"].items():
      piece = ex["context"][starts[pos]:got["token_char_end"][i][pos]]
      assert piece and piece in ex["doc_tokens"][word]
  if cfg["max_seq_length"] <= 40:  # the small configs do make windows
    assert np.max(got["window_index"]) >= 2
  if path == V11:
    born = [f for f in ref
            if ref_examples[f["example_index"]]["qas_id"] == "v11-bridge-born"]
    assert born[0]["rough"] != born[0]["improved"]  # _improve_answer_span


def test_answer_positions_after_non_ascii(tokenizer):
  examples = squad_json.read_squad_json(V11, is_training=True)
  ex = next(e for e in examples.examples if e["id"] == "v11-cafe-street")
  prefix = ex["context"][:ex["answer_start"]]
  assert len(prefix.encode("utf-8")) > len(prefix)  # bytes != characters
  got = _windows(examples, tokenizer, True, max_seq_length=384)
  i = examples.ids.index("v11-cafe-street")
  s, e = got["start_positions"][i], got["end_positions"][i]
  chars = ex["context"][got["token_char_start"][i][s]:
                        got["token_char_end"][i][e]]
  assert chars == "Rue de la République"


def test_final_text_equals_get_final_text(tokenizer, hf_tokenizer,
                                          basic_tokenizer):
  """Our context[start:end] is get_final_text's answer on ordinary spans."""
  cfg = dict(max_seq_length=48, doc_stride=16, max_query_length=12)
  checked, slips = 0, []
  for path, version_2 in ((V11, False), (V20, True)):
    examples = squad_json.read_squad_json(path, is_training=False)
    ref_examples = ref_read(path, False, version_2)
    ref = ref_convert(ref_examples, hf_tokenizer, is_training=False, **cfg)
    got = _windows(examples, tokenizer, False, **cfg)
    for i, f in enumerate(ref):
      ex = ref_examples[f["example_index"]]
      positions = sorted(f["token_to_orig_map"])
      for a in positions:
        for b in positions:
          if not a <= b < a + 6:
            continue
          ours = ex["context"][got["token_char_start"][i][a]:
                               got["token_char_end"][i][b]]
          assert ours == ref_span_text(ex, f, a, b, basic_tokenizer), (a, b)
          theirs = ref_span_text(ex, f, a, b, basic_tokenizer, fixed=False)
          checked += 1
          if ours != theirs:
            # get_final_text's own slip: it takes the first `find` of the
            # pieces' text in the words, e.g. "s" of "shepherd ##s" -> "S".
            pred = " ".join(f["tokens"][a:b + 1]).replace(" ##", "").replace(
                "##", "")
            words = " ".join(ex["doc_tokens"][f["token_to_orig_map"][a]:
                                              f["token_to_orig_map"][b] + 1])
            tok_words = " ".join(basic_tokenizer.tokenize(words))
            assert tok_words.count(pred) > 1, (ours, theirs)
            assert ours.lower() == pred and theirs.lower() == pred
            slips.append((ours, theirs))
  assert checked > 1000 and len(slips) < checked / 100


# ------------------------------------------------------- post-processing --


def _postprocess(examples, windows, start_logits, end_logits, **kwargs):
  keys = ("example_index", "token_char_start", "token_char_end",
          "token_is_max_context")
  out = squad.squad_postprocess(
      tf.constant(start_logits, tf.float32), tf.constant(end_logits,
                                                         tf.float32),
      {k: tf.constant(windows[k]) for k in keys},
      tf.constant([e["context"] for e in examples.examples]), **kwargs)
  return out


@pytest.mark.parametrize("version_2,n_best,max_len,threshold", [
    (False, 20, 30, 0.0), (False, 3, 2, 0.0), (True, 20, 30, 0.0),
    (True, 4, 3, 1.5), (True, 2, 30, -2.0)])
def test_postprocess_equals_write_predictions(version_2, n_best, max_len,
                                              threshold, tokenizer,
                                              hf_tokenizer, basic_tokenizer):
  path = V20 if version_2 else V11
  cfg = dict(max_seq_length=40, doc_stride=16, max_query_length=10)
  examples = squad_json.read_squad_json(path, is_training=False)
  ref_examples = ref_read(path, False, version_2)
  features = ref_convert(ref_examples, hf_tokenizer, is_training=False, **cfg)
  windows = _windows(examples, tokenizer, False, **cfg)
  rng = np.random.default_rng(n_best + max_len)
  shape = windows["input_word_ids"].shape
  # Rounded logits make ties (the order rules) and repeated texts likely.
  start = np.round(rng.normal(size=shape) * 2, 0).astype(np.float32)
  end = np.round(rng.normal(size=shape) * 2, 0).astype(np.float32)
  out = _postprocess(examples, windows, start, end, n_best_size=n_best,
                     max_answer_length=max_len,
                     version_2_with_negative=version_2,
                     null_score_diff_threshold=threshold)
  preds, nbest, odds = squad_json.prediction_json(out, examples.ids, version_2)
  ref_preds, ref_nbest, ref_odds = ref_write_predictions(
      ref_examples, features, list(zip(start, end)), n_best, max_len,
      version_2, threshold, basic_tokenizer)
  # No valid span: the original's nonce answer "empty", ours "".
  assert preds == {k: "" if v == "empty" else v for k, v in ref_preds.items()}
  for qid in examples.ids:
    want = [n for n in ref_nbest[qid] if n["text"] != "empty"]
    got = nbest[qid]
    assert [n["text"] for n in got] == [n["text"] for n in want], qid
    for g, w in zip(got, want):
      assert g["start_logit"] == w["start_logit"]
      assert g["end_logit"] == w["end_logit"]
      assert g["probability"] == pytest.approx(w["probability"], abs=1e-6)
  if version_2:
    assert odds == pytest.approx(ref_odds)


@pytest.fixture(scope="module")
def bridge(tokenizer):
  """The first fixture paragraph in 3 windows of at most 12 doc tokens."""
  examples = squad_json.read_squad_json(V11, is_training=False)
  examples.examples = examples.examples[:1]
  windows = _windows(examples, tokenizer, False, max_seq_length=24,
                     doc_stride=6, max_query_length=8)
  return examples, windows


def _slot(windows, context, window, text):
  """The window position of the token whose characters are `text`."""
  for pos, (a, b) in enumerate(zip(windows["token_char_start"][window],
                                   windows["token_char_end"][window])):
    if a >= 0 and context[a:b] == text:
      return pos
  raise AssertionError(f"{text!r} not in window {window}")


def _max_slot(windows, context, text):
  """(window, position) of the token `text` in its max-context window."""
  for w in range(len(windows["window_index"])):
    for pos, (a, b) in enumerate(zip(windows["token_char_start"][w],
                                     windows["token_char_end"][w])):
      if (a >= 0 and context[a:b] == text and
          windows["token_is_max_context"][w][pos]):
        return w, pos
  raise AssertionError(f"{text!r} in no window")


def test_max_context_rule(bridge):
  examples, windows = bridge
  context = examples.examples[0]["context"]
  assert len(windows["input_word_ids"]) >= 3
  # "engineer" is in windows 0 and 1; window 1 gives it more context.
  in0, in1 = (_slot(windows, context, w, "engineer") for w in (0, 1))
  assert not windows["token_is_max_context"][0][in0]
  assert windows["token_is_max_context"][1][in1]
  start = np.full(windows["input_word_ids"].shape, -10.0, np.float32)
  end = start.copy()
  start[0, in0], end[0, in0] = 9.0, 9.0  # best logits, wrong window
  start[1, in1], end[1, in1] = 2.0, 3.0
  out = _postprocess(examples, windows, start, end, n_best_size=2)
  a = context.index("engineer")
  assert out["answer"].numpy()[0].decode() == "engineer"
  assert (out["answer_start"][0], out["answer_end"][0]) == (a, a + 8)
  assert out["score"].numpy()[0] == 5.0


def test_max_answer_length_and_original_casing(bridge, tokenizer):
  examples, _ = bridge
  windows = _windows(examples, tokenizer, False, max_seq_length=64,
                     doc_stride=16, max_query_length=8)
  context = examples.examples[0]["context"]
  w, st = _max_slot(windows, context, "St")
  yard = _slot(windows, context, w, "Yard")
  assert yard - st + 1 == 6  # st . mary ' s yard
  start = np.full(windows["input_word_ids"].shape, -10.0, np.float32)
  end = start.copy()
  start[w, st], end[w, yard] = 5.0, 5.0
  end[w, st + 2] = 1.0  # "St. Mary", 3 tokens
  out = _postprocess(examples, windows, start, end, max_answer_length=6)
  assert out["answer"].numpy()[0].decode() == "St. Mary's Yard"
  a = context.index("St. Mary's Yard")
  assert (out["answer_start"][0], out["answer_end"][0]) == (a, a + 15)
  out = _postprocess(examples, windows, start, end, max_answer_length=5)
  assert out["answer"].numpy()[0].decode() == "St. Mary"


def test_nbest_is_sorted_deduplicated_and_sums_to_one(bridge):
  examples, windows = bridge
  rng = np.random.default_rng(0)
  shape = windows["input_word_ids"].shape
  start = rng.normal(size=shape).astype(np.float32)
  end = rng.normal(size=shape).astype(np.float32)
  out = _postprocess(examples, windows, start, end, n_best_size=7)
  texts = out["nbest_text"].to_list()[0]
  scores = (out["nbest_start_logit"] + out["nbest_end_logit"]).to_list()[0]
  assert len(texts) == 7 and len(set(texts)) == 7
  assert scores == sorted(scores, reverse=True)
  assert sum(out["nbest_probability"].to_list()[0]) == pytest.approx(1.0)
  assert texts[0] == out["answer"].numpy()[0]


def test_null_threshold(bridge):
  examples, windows = bridge
  context = examples.examples[0]["context"]
  shape = windows["input_word_ids"].shape
  start = np.full(shape, -10.0, np.float32)
  end = start.copy()
  # Null score: the minimum [CLS] score over windows, here 2 + 3 = 5.
  start[:, 0], end[:, 0] = 4.0, 4.0
  start[1, 0], end[1, 0] = 2.0, 3.0
  w, pos = _max_slot(windows, context, "1931")
  start[w, pos], end[w, pos] = 2.0, 2.0  # best non-null: 4
  kw = dict(version_2_with_negative=True)
  out = _postprocess(examples, windows, start, end, **kw)
  assert out["answer"].numpy()[0] == b""
  assert out["null_score_diff"].numpy()[0] == 1.0
  assert (out["answer_start"][0], out["answer_end"][0]) == (-1, -1)
  assert out["score"].numpy()[0] == 5.0
  assert out["nbest_text"].to_list()[0][:2] == [b"", b"1931"]
  out = _postprocess(examples, windows, start, end,
                     null_score_diff_threshold=1.0, **kw)
  assert out["answer"].numpy()[0] == b"1931"
  a = context.index("1931")
  assert (out["answer_start"][0], out["answer_end"][0]) == (a, a + 4)
  # v1.1 ignores the null score.
  out = _postprocess(examples, windows, start, end)
  assert out["answer"].numpy()[0] == b"1931"


# ------------------------------------------------------------- in graph --


def test_serving_function_has_no_python_ops(tokenizer):
  @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2)
  def answer(questions, contexts):
    w = squad.squad_features(tokenizer, questions, contexts,
                             max_seq_length=32, doc_stride=8,
                             max_query_length=8)
    # A stand-in model: logits from the word ids.
    logits = tf.cast(w["input_word_ids"] % 97, tf.float32)
    return squad.squad_postprocess(logits, -logits, w, contexts,
                                   version_2_with_negative=True)

  graph = answer.get_concrete_function().graph.as_graph_def()
  ops = {n.op for n in graph.node}
  for f in graph.library.function:
    ops |= {n.op for n in f.node_def}
  assert not ops & {"PyFunc", "EagerPyFunc", "NumpyFunction"}
  long = "word " * 2000
  out = answer(tf.constant(["What?", "", "Who?", "x"]),
               tf.constant(["Ann Lee went home.", "Some text.", "",
                            long]))
  assert out["answer"].shape == [4]
  assert out["answer"].numpy()[2] == b""  # empty context: no windows
  assert out["nbest_text"].row_lengths().numpy()[2] == 0
  bad = answer(tf.constant(["q"]), tf.constant([b"ab\xff\xfe cd"]))
  assert bad["answer"].shape == [1]


def test_answer_questions_composes_the_graph(tokenizer):
  """Windows -> model -> post-processing equals the three steps by hand."""
  def model(features):  # a stand-in span labeler
    ids = tf.cast(features["input_word_ids"], tf.float32)
    return {"start_logits": tf.sin(ids), "end_logits": tf.cos(ids)}

  examples = squad_json.read_squad_json(V20, is_training=False)
  questions = [e["question"] for e in examples.examples]
  contexts = [e["context"] for e in examples.examples]
  cfg = dict(max_seq_length=40, doc_stride=16, max_query_length=10)
  got = squad.answer_questions(
      model, squad.SquadPreprocessor(tokenizer, cfg["max_seq_length"],
                                     cfg["doc_stride"],
                                     cfg["max_query_length"]),
      questions, contexts, version_2_with_negative=True, n_best_size=5)
  w = squad.squad_features(tokenizer, questions, contexts, **cfg)
  logits = model(w)
  want = squad.squad_postprocess(
      logits["start_logits"], logits["end_logits"], w, contexts,
      version_2_with_negative=True, n_best_size=5)
  for key in ("answer", "answer_start", "answer_end", "score"):
    np.testing.assert_array_equal(got[key].numpy(), want[key].numpy())


@pytest.mark.slow
def test_fine_tuned_model_learns_the_fixtures(minilm_dir, bert_vocab):
  """MiniLM fine-tuned on the v1.1 fixture answers its questions."""
  import keras
  from keras_bert_lab.models import BertSpanLabeler
  keras.utils.set_random_seed(0)
  tokenizer = BertTokenizer(bert_vocab, lower_case=True)
  examples = squad_json.read_squad_json(V11, is_training=True)
  cfg = dict(max_seq_length=64, doc_stride=32, max_query_length=16)
  windows = _windows(examples, tokenizer, True, **cfg)
  qa = BertSpanLabeler.from_pretrained(str(minilm_dir))
  sce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  qa.compile(keras.optimizers.Adam(2e-4),
             loss={"start_logits": sce, "end_logits": sce})
  ds = tf.data.Dataset.from_tensor_slices(windows).map(
      squad.fit_inputs).shuffle(64, seed=0).repeat().batch(8)
  qa.fit(ds, steps_per_epoch=30, epochs=1, verbose=0)
  out = squad.answer_questions(
      qa, squad.SquadPreprocessor(tokenizer, cfg["max_seq_length"],
                                  cfg["doc_stride"], cfg["max_query_length"]),
      [e["question"] for e in examples.examples],
      [e["context"] for e in examples.examples])
  answers = [a.decode() for a in out["answer"].numpy()]
  gold = [e["answer_text"] for e in examples.examples]
  # "Japan" is inside the token "japanese": the best the model can give.
  gold = ["Japanese" if g == "Japan" else g for g in gold]
  assert sum(a == g for a, g in zip(answers, gold)) >= 9, list(zip(answers,
                                                                   gold))


def test_invalid_utf8_offsets_are_python_replace_characters(tokenizer):
  raw = b"ab\xff cd \xe4\xb8 ef"
  text = raw.decode("utf-8", "replace")  # "ab\ufffd cd \ufffd ef"
  w = squad.squad_features(tokenizer, tf.constant(["q"]), tf.constant([raw]),
                           max_seq_length=16, max_query_length=4)
  starts = w["token_char_start"][0].numpy()
  ends = w["token_char_end"][0].numpy()
  pieces = [text[a:b] for a, b in zip(starts, ends) if a >= 0]
  assert pieces == ["ab", "cd", "e", "f"]  # "ef" is "e ##f" in this vocab
  start = np.full([1, 16], -5.0, np.float32)
  end = start.copy()
  start[0, 3], end[0, 5] = 5.0, 5.0
  out = squad.squad_postprocess(start, end, w, tf.constant([raw]))
  a, b = out["answer_start"][0], out["answer_end"][0]
  assert out["answer"].numpy()[0].decode() == text[a:b] == "ab\ufffd cd \ufffd e"
