"""SQuAD on the host: the published JSON and tfds in, the original's files out.

The host half of SQuAD (`squad` holds the graph half: windows,
post-processing): `read_squad_json` (the published v1.1/v2.0 JSON) and
`read_squad_tfds` (`squad/v1.1`, `squad/v2.0`) give a `SquadExamples`
whose `.dataset()` feeds `squad.squad_windows`. For training, answers whose
text is not found at `answer_start` are skipped, counted and logged exactly as
Google's `run_squad.py` does ("Could not find answer"); duplicate ids are an
error naming the file and the id. `prediction_json` turns the graph's answers
into the original's `predictions.json`, `nbest_predictions.json` and
`null_odds.json`.

Why by hand: SQuAD's JSON nests articles, paragraphs and questions, which
tf.data cannot read; `json` on the host reads it once (SQuAD fits in memory).
"""

import dataclasses
import json
import logging
import os

import numpy as np
import tensorflow as tf

# `read_squad_examples`' whitespace: space, tab, CR, LF and U+202F.
_ORIGINAL_WHITESPACE = " \t\r\n\u202f"

_log = logging.getLogger(__name__)



@dataclasses.dataclass
class SquadExamples:
  """Questions read from SQuAD, ready for `squad_windows`.

  Attributes:
    examples: list of dicts `{id, question, context, answer_text,
      answer_start, is_impossible, answers}`; `answer_text`/`answer_start`
      (characters) are the (first) gold answer, "" and -1 when there is none;
      `answers` all gold answer texts (for EM/F1).
    skipped: ids of training questions skipped because the answer text was not
      found at `answer_start` (the original's "Could not find answer").
    version_2_with_negative: the data has `is_impossible` questions.
    source: the file or tfds name read.
  """
  examples: list
  skipped: list
  version_2_with_negative: bool
  source: str

  def __len__(self):
    return len(self.examples)

  @property
  def ids(self):
    return [e["id"] for e in self.examples]

  def dataset(self):
    """A `tf.data.Dataset` of one dict per question (scalars):
    `example_index` (int64, position in `examples`), `id`, `question`,
    `context` (strings), `answer_text`, `answer_start` (int32, characters),
    `is_impossible` (bool)."""
    def column(key, dtype):
      return tf.constant([e[key] for e in self.examples], dtype, [len(self)])

    return tf.data.Dataset.from_tensor_slices({
        "example_index": tf.range(len(self), dtype=tf.int64),
        "id": column("id", tf.string),
        "question": column("question", tf.string),
        "context": column("context", tf.string),
        "answer_text": column("answer_text", tf.string),
        "answer_start": column("answer_start", tf.int32),
        "is_impossible": column("is_impossible", tf.bool),
    })


def _whitespace_words(context):
  """`read_squad_examples`' `doc_tokens` and `char_to_word_offset`."""
  words, char_to_word = [], []
  prev_is_whitespace = True
  for c in context:
    if c in _ORIGINAL_WHITESPACE:
      prev_is_whitespace = True
    else:
      if prev_is_whitespace:
        words.append(c)
      else:
        words[-1] += c
      prev_is_whitespace = False
    char_to_word.append(len(words) - 1)
  return words, char_to_word


def _find_answer(context, answer_text, answer_start):
  """The original's check that the answer can be recovered from the context.

  Returns:
    `(actual_text, cleaned_answer_text)`; the answer is found when the second
    occurs in the first. `actual_text` is None if `answer_start` is outside
    the context (the original would crash with an IndexError).
  """
  words, char_to_word = _whitespace_words(context)
  end = answer_start + len(answer_text) - 1
  cleaned = " ".join(answer_text.split())
  if answer_start < 0 or end >= len(context) or end < answer_start:
    return None, cleaned
  first, last = char_to_word[answer_start], char_to_word[end]
  return " ".join(words[max(first, 0):last + 1]), cleaned


def _examples_from_records(records, source, is_training,
                           version_2_with_negative):
  """Shared by the JSON and tfds readers.

  Args:
    records: iterable of `(where, qa_dict, context)`; `where` names the
      question's place for error messages.
  """
  examples, skipped, seen = [], [], {}
  for where, qa, context in records:
    qid = str(qa["id"])
    if qid in seen:
      raise ValueError(
          f"{source}: question id {qid!r} occurs twice ({seen[qid]} and "
          f"{where}). SQuAD ids must be unique; fix or drop one of them.")
    seen[qid] = where
    is_impossible = bool(qa.get("is_impossible", False)) and bool(
        version_2_with_negative)
    answers = [(a["text"], int(a["answer_start"])) for a in qa["answers"]]
    if is_training:
      if len(answers) != 1 and not is_impossible:
        raise ValueError(
            f"{source}: question {qid!r} ({where}) has {len(answers)} answers; "
            "for training, each question should have exactly 1 answer (as "
            "run_squad.py requires), or be is_impossible in v2.0 data.")
    if answers and not is_impossible:
      answer_text, answer_start = answers[0]
    else:
      answer_text, answer_start = "", -1
    if is_training and not is_impossible:
      actual, cleaned = _find_answer(context, answer_text, answer_start)
      if actual is None or actual.find(cleaned) == -1:
        _log.warning("Could not find answer: '%s' vs. '%s'", actual, cleaned)
        skipped.append(qid)
        continue
    examples.append({
        "id": qid,
        "question": qa["question"],
        "context": context,
        "answer_text": answer_text,
        "answer_start": answer_start,
        "is_impossible": is_impossible,
        "answers": [] if is_impossible else [a[0] for a in answers],
    })
  if skipped:
    _log.warning(
        "%s: skipped %d of %d training questions whose answer text was not "
        "found at answer_start (as run_squad.py does): %s", source,
        len(skipped), len(skipped) + len(examples), ", ".join(skipped[:20]))
  return SquadExamples(examples, skipped, bool(version_2_with_negative), source)


def read_squad_json(path, is_training, version_2_with_negative=None):
  """Reads a SQuAD v1.1 or v2.0 JSON file as published.

  Args:
    path: the file (`data` -> `paragraphs` -> `context`, `qas` -> `id`,
      `question`, `answers` [`text`, `answer_start`], v2.0: `is_impossible`,
      `plausible_answers`).
    is_training: apply the original's training rules: exactly one answer per
      answerable question, and skip (count, log) answers not found in the
      context.
    version_2_with_negative: read `is_impossible`; None: True when any
      question has that field.

  Returns:
    `SquadExamples`.

  Raises:
    ValueError: not SQuAD JSON, a missing field, duplicate ids, or (training)
      a question without exactly one answer; the message names file and id.

  Example:
    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.json")
    >>> qa = {"id": "q1", "question": "Who came?",
    ...       "answers": [{"text": "Elinor", "answer_start": 0}]}
    >>> with open(path, "w") as f:
    ...   json.dump({"data": [{"paragraphs": [
    ...       {"context": "Elinor came.", "qas": [qa]}]}]}, f)
    >>> train = read_squad_json(path, is_training=True)
    >>> len(train), train.skipped, train.examples[0]["answer_text"]
    (1, [], 'Elinor')
  """
  path = os.fspath(path)
  with tf.io.gfile.GFile(path, "r") as f:
    try:
      data = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f"{path} is not JSON ({e}); expected SQuAD's format "
                       '{"data": [{"paragraphs": [...]}], "version": ...}.')
  if not isinstance(data, dict) or not isinstance(data.get("data"), list):
    raise ValueError(f"{path}: no top-level \"data\" list; expected SQuAD's "
                     'format {"data": [{"title", "paragraphs": [...]}]}.')
  if version_2_with_negative is None:
    version_2_with_negative = any(
        "is_impossible" in qa for entry in data["data"]
        for paragraph in entry.get("paragraphs", [])
        for qa in paragraph.get("qas", []))

  def records():
    for a, entry in enumerate(data["data"]):
      for p, paragraph in enumerate(entry.get("paragraphs", [])):
        where = f"data[{a}].paragraphs[{p}]"
        for field in ("context", "qas"):
          if field not in paragraph:
            raise ValueError(f"{path}: {where} has no {field!r} field.")
        for q, qa in enumerate(paragraph["qas"]):
          for field in ("id", "question", "answers"):
            if field not in qa:
              raise ValueError(f"{path}: {where}.qas[{q}] (id "
                               f"{qa.get('id')!r}) has no {field!r} field.")
          yield f"{where}.qas[{q}]", qa, paragraph["context"]

  return _examples_from_records(records(), path, is_training,
                                version_2_with_negative)


def read_squad_tfds(name="squad/v1.1", split="train", is_training=None,
                    data_dir=None):
  """Reads TensorFlow Datasets' `squad/v1.1` or `squad/v2.0`.

  Args:
    name: tfds name, `squad/v1.1` or `squad/v2.0`.
    split: `train` or `validation` (any tfds split string).
    is_training: as in `read_squad_json`; None: `split == "train"`.
    data_dir: tfds data folder.

  Returns:
    `SquadExamples` (`source` is `name:split`).

  Example:
    >>> dev = read_squad_tfds("squad/v2.0", "validation")  # doctest: +SKIP
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if is_training is None:
    is_training = split == "train"
  version_2 = name.endswith("v2.0")
  ds = tfds.load(name, split=split, data_dir=data_dir)

  def text(x):
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)

  def records():
    for i, ex in enumerate(tfds.as_numpy(ds)):
      answers = ex["answers"]
      qa = {
          "id": text(ex["id"]),
          "question": text(ex["question"]),
          "answers": [{"text": text(t), "answer_start": int(s)} for t, s in
                      zip(answers["text"], answers["answer_start"])],
      }
      if version_2:
        qa["is_impossible"] = bool(ex["is_impossible"])
      yield f"example {i}", qa, text(ex["context"])

  return _examples_from_records(records(), f"{name}:{split}", is_training,
                                version_2)


def prediction_json(outputs, ids, version_2_with_negative=False):
  """The original's three output files from `squad_postprocess`' result.

  Args:
    outputs: the dict `squad_postprocess` returned (eager tensors or numpy).
    ids: the question ids, one per example, in order.
    version_2_with_negative: also return the null odds.

  Returns:
    `(predictions, nbest, null_odds)`: `{id: answer}` (the official
    predictions file), `{id: [{text, probability, start_logit, end_logit},
    ...]}` (`nbest_predictions.json`) and `{id: null_score_diff}`
    (`null_odds.json`; empty for v1.1).

  Example:
    >>> out = {"answer": [b"Elinor"], "null_score_diff": [0.0],
    ...        "nbest_text": [[b"Elinor", b"came"]],
    ...        "nbest_probability": [[0.75, 0.25]],
    ...        "nbest_start_logit": [[2.0, 1.0]],
    ...        "nbest_end_logit": [[2.0, 1.0]]}  # squad_postprocess' keys
    >>> preds, nbest, odds = prediction_json(out, ["q1"])
    >>> preds, odds
    ({'q1': 'Elinor'}, {})
    >>> nbest["q1"][1]
    {'text': 'came', 'probability': 0.25, 'start_logit': 1.0, 'end_logit': 1.0}
  """
  def rows(key):
    value = outputs[key]
    return value.to_list() if hasattr(value, "to_list") else value

  def text(x):
    return x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x)

  answers = np.asarray(outputs["answer"]).tolist()
  diffs = np.asarray(outputs["null_score_diff"]).tolist()
  nbest_rows = zip(rows("nbest_text"), rows("nbest_probability"),
                   rows("nbest_start_logit"), rows("nbest_end_logit"))
  predictions, nbest, null_odds = {}, {}, {}
  for qid, answer, diff, (texts, probs, sls, els) in zip(ids, answers, diffs,
                                                         nbest_rows):
    predictions[qid] = text(answer)
    nbest[qid] = [{"text": text(t), "probability": float(p),
                   "start_logit": float(s), "end_logit": float(e)}
                  for t, p, s, e in zip(texts, probs, sls, els)]
    if version_2_with_negative:
      null_odds[qid] = float(diff)
  return predictions, nbest, null_odds
