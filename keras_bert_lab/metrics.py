"""Evaluation metrics by their official definitions, in plain numpy/Python.

They run on what `model.predict` returns (class ids or logits, tag strings,
answer texts), after the graph, so they are ordinary host code:

  * `accuracy`, `f1_score` (binary and macro), `matthews_corrcoef`: as
    scikit-learn defines them (an undefined precision, recall or correlation
    counts as 0);
  * `pearson_corrcoef`, `spearman_corrcoef` (STS-B): Spearman is Pearson on
    ranks, ties given their average rank (scipy's `spearmanr`);
  * `entity_scores`: entity-level precision/recall/F1 with exact span match,
    the `conlleval` chunk rules that `seqeval` uses by default (BIO, IOB1,
    IOE and IOBES tags alike: `I-` after `O` starts an entity, a change of
    type ends one), micro-averaged, with a per-type breakdown;
  * `squad_scores`: the official SQuAD `evaluate-v1.1.py` / `evaluate-v2.0.py`
    exact match and F1 (answer normalisation, max over gold answers, v2.0's
    HasAns/NoAns split), in percent like the scripts;
  * `multiple_choice_accuracy`.

Why written here: scikit-learn, scipy, seqeval and the SQuAD scripts are not
dependencies of the package (scipy/scikit-learn are large; seqeval pulls in
scikit-learn; the SQuAD scripts are not a package). The tests compare every
function with those references on random inputs and with hand-worked cases.
"""

import collections
import logging
import math
import re
import string

import numpy as np

__all__ = [
    "accuracy", "f1_score", "matthews_corrcoef", "pearson_corrcoef",
    "spearman_corrcoef", "get_entities", "entity_scores", "tags_from_ids",
    "normalize_answer", "squad_exact", "squad_f1", "squad_scores",
    "squad_gold_answers", "multiple_choice_accuracy", "compute", "TASKS",
]

TASKS = ("classification", "regression", "tagging", "squad",
         "multiple_choice")


def _class_ids(values, name):
  """Class ids from ids ([n]) or from logits/probabilities ([n, classes])."""
  values = np.asarray(values)
  if values.ndim == 2 and np.issubdtype(values.dtype, np.floating):
    return np.argmax(values, axis=-1)
  if values.ndim != 1:
    raise ValueError(
        f"{name} must be class ids of shape [n] or scores of shape "
        f"[n, num_classes]; got shape {values.shape}.")
  return values


def _pair(labels, predictions):
  labels = _class_ids(labels, "labels")
  predictions = _class_ids(predictions, "predictions")
  if labels.shape != predictions.shape:
    raise ValueError(f"labels ({labels.shape[0]}) and predictions "
                     f"({predictions.shape[0]}) differ in length.")
  if labels.size == 0:
    raise ValueError("No examples to score: labels and predictions are empty.")
  return labels, predictions


def accuracy(labels, predictions):
  """Fraction of examples whose prediction equals the label.

  Args:
    labels: class ids, shape [n].
    predictions: class ids [n], or logits/probabilities [n, num_classes]
      (their argmax is taken).

  Returns:
    A float in [0, 1].

  Example:
    >>> accuracy([0, 1, 1, 0], [0, 1, 0, 0])
    0.75
  """
  labels, predictions = _pair(labels, predictions)
  return float(np.mean(labels == predictions))


def _f1_for(labels, predictions, cls):
  tp = np.sum((predictions == cls) & (labels == cls))
  fp = np.sum((predictions == cls) & (labels != cls))
  fn = np.sum((predictions != cls) & (labels == cls))
  denominator = 2 * tp + fp + fn
  return float(2 * tp / denominator) if denominator else 0.0


def f1_score(labels, predictions, average="binary", pos_label=1):
  """F1 = 2·precision·recall / (precision + recall), as scikit-learn's.

  Args:
    labels: class ids, shape [n].
    predictions: class ids [n], or logits [n, num_classes].
    average: `"binary"`: F1 of class `pos_label` (GLUE's MRPC/QQP F1);
      `"macro"`: unweighted mean of the per-class F1 over every class that
      occurs in labels or predictions.
    pos_label: the positive class for `average="binary"`.

  Returns:
    A float in [0, 1]; 0 where F1 is undefined (no positives anywhere).

  Example:
    >>> f1_score([1, 1, 0, 0], [1, 0, 1, 0])  # tp=1, fp=1, fn=1: 2/(2+1+1)
    0.5
  """
  labels, predictions = _pair(labels, predictions)
  if average == "binary":
    return _f1_for(labels, predictions, pos_label)
  if average == "macro":
    classes = np.union1d(labels, predictions)
    return float(np.mean([_f1_for(labels, predictions, c) for c in classes]))
  raise ValueError(f"average={average!r} is not one of 'binary', 'macro'.")


def matthews_corrcoef(labels, predictions):
  """Matthews correlation coefficient (CoLA's metric), multi-class form.

  With the confusion matrix C (rows = labels), t = row sums, p = column sums,
  c = trace, s = total:
  MCC = (c·s − t·p) / sqrt((s² − p·p)(s² − t·t)); 0 when the denominator is
  0 (all labels or all predictions one class), as scikit-learn returns.

  Args:
    labels: class ids, shape [n].
    predictions: class ids [n], or logits [n, num_classes].

  Returns:
    A float in [-1, 1].

  Example:
    >>> matthews_corrcoef([1, 1, 0, 0], [1, 0, 0, 0])  # 2/sqrt(12)
    0.5773502691896258
  """
  labels, predictions = _pair(labels, predictions)
  classes, encoded = np.unique(np.concatenate([labels, predictions]),
                               return_inverse=True)
  k, n = len(classes), len(labels)
  confusion = np.zeros((k, k), dtype=np.float64)
  np.add.at(confusion, (encoded[:n], encoded[n:]), 1)
  t, p = confusion.sum(axis=1), confusion.sum(axis=0)
  c, s = np.trace(confusion), confusion.sum()
  cov_tp = c * s - t @ p
  cov_pp = s * s - p @ p
  cov_tt = s * s - t @ t
  if cov_pp * cov_tt == 0:
    return 0.0
  return float(cov_tp / math.sqrt(cov_pp * cov_tt))


def _scores_pair(x, y):
  x = np.asarray(x, dtype=np.float64).reshape(-1)
  y = np.asarray(y, dtype=np.float64).reshape(-1)
  if x.shape != y.shape:
    raise ValueError(f"The two score lists differ in length: {x.size} vs "
                     f"{y.size}.")
  if x.size < 2:
    raise ValueError(f"A correlation needs at least 2 pairs; got {x.size}.")
  return x, y


def pearson_corrcoef(x, y):
  """Pearson's r = cov(x, y) / (σx·σy) (STS-B).

  Args:
    x, y: numbers, same length ≥ 2 (e.g. gold scores and predictions; a
      [n, 1] regression output is flattened).

  Returns:
    A float in [-1, 1]; NaN when either side is constant (r is undefined;
    scipy also returns NaN).

  Example:
    >>> pearson_corrcoef([1, 2, 3], [1, 2, 4])
    0.98198050606196...
  """
  x, y = _scores_pair(x, y)
  dx, dy = x - x.mean(), y - y.mean()
  denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
  if denominator == 0:
    return float("nan")
  return float(np.clip(float(dx @ dy) / denominator, -1.0, 1.0))


def _average_ranks(values):
  """1-based ranks; tied values share the mean of the ranks they span."""
  order = np.argsort(values, kind="mergesort")
  sorted_values = values[order]
  ranks = np.empty(len(values), dtype=np.float64)
  start = 0
  while start < len(values):
    end = start
    while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[
        start]:
      end += 1
    ranks[order[start:end + 1]] = (start + end) / 2 + 1
    start = end + 1
  return ranks


def spearman_corrcoef(x, y):
  """Spearman's ρ: Pearson's r of the ranks, ties at their average rank.

  Args:
    x, y: numbers, same length ≥ 2.

  Returns:
    A float in [-1, 1]; NaN when either side is constant.

  Example:
    >>> spearman_corrcoef([1, 2, 2, 3], [1, 3, 2, 4])  # ranks [1,2.5,2.5,4]
    0.9486832980505138
  """
  x, y = _scores_pair(x, y)
  return pearson_corrcoef(_average_ranks(x), _average_ranks(y))


# ---------------------------------------------------------------------------
# Entities (conlleval / seqeval default mode).


def _split_tag(tag):
  """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '_'); a bare 'B' -> ('B', '_').

  The prefix is the first character and the type what follows the first
  '-' after it, as conlleval/seqeval read tags.
  """
  return tag[:1], tag[1:].split("-", 1)[-1] or "_"


def _ends(prev_tag, tag, prev_type, type_):
  """conlleval's endOfChunk: does the chunk before this token end here?"""
  if prev_tag in ("E", "S"):
    return True
  if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
    return True
  return prev_tag not in ("O", ".") and prev_type != type_


def _starts(prev_tag, tag, prev_type, type_):
  """conlleval's startOfChunk: does a chunk start at this token?"""
  if tag in ("B", "S"):
    return True
  if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
    return True
  return tag not in ("O", ".") and prev_type != type_


def get_entities(tags):
  """Entity spans in one tag sequence, by conlleval's chunk rules.

  A tag is `O` or `<prefix>-<TYPE>` with prefix B, I, E or S (so BIO, IOB1,
  IOE and IOBES all work). An entity starts at B/S, at I/E after O, E or S,
  or where the type changes; it ends before O, B or S, after E or S, or
  where the type changes. So `O I-PER I-PER` is one PER entity, and
  `B-PER I-LOC` two entities.

  Args:
    tags: a list of tag strings (one sentence).

  Returns:
    A list of `(type, start, end)` tuples, `end` inclusive, in order.

  Example:
    >>> get_entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3), ('LOC', 4, 4)]
  """
  entities = []
  prev_tag, prev_type, begin = "O", "_", 0
  for i, tag in enumerate(list(tags) + ["O"]):
    if not isinstance(tag, str):
      raise TypeError(f"Tags must be strings like 'B-PER' or 'O'; got {tag!r} "
                      f"at position {i}. Map tag ids to names first.")
    prefix, type_ = _split_tag(tag)
    if _ends(prev_tag, prefix, prev_type, type_):
      entities.append((prev_type, begin, i - 1))
    if _starts(prev_tag, prefix, prev_type, type_):
      begin = i
    prev_tag, prev_type = prefix, type_
  return entities


def tags_from_ids(tag_ids, sample_weight, label_list):
  """Per-word tag strings from first-wordpiece tag ids (or logits).

  Turns tagging model outputs and labels (one tag at each word's first
  wordpiece, `sample_weight` 1 there and 0 elsewhere) into the sentences of
  tag strings that `entity_scores` takes.

  Args:
    tag_ids: int [batch, seq] tag indices, or float logits
      [batch, seq, num_labels] (argmax taken).
    sample_weight: [batch, seq], nonzero at the positions to keep.
    label_list: tag strings, indexed by tag id.

  Returns:
    A list of `batch` lists of tag strings.

  Example:
    >>> tags_from_ids([[0, 1, 0, 2]], [[0, 1, 0, 1]], ["O", "B-PER", "I-PER"])
    [['B-PER', 'I-PER']]
  """
  tag_ids = np.asarray(tag_ids)
  if tag_ids.ndim == 3:
    tag_ids = np.argmax(tag_ids, axis=-1)
  sample_weight = np.asarray(sample_weight)
  if tag_ids.shape != sample_weight.shape:
    raise ValueError(f"tag ids {tag_ids.shape} and sample_weight "
                     f"{sample_weight.shape} differ in shape.")
  if tag_ids.size and (tag_ids.min() < 0 or tag_ids.max() >= len(label_list)):
    raise ValueError(f"Tag id {int(tag_ids.max())} or {int(tag_ids.min())} "
                     f"is outside the label list of {len(label_list)} tags.")
  return [[label_list[t] for t, w in zip(ids, weights) if w]
          for ids, weights in zip(tag_ids.tolist(), sample_weight.tolist())]


def _prf(tp, n_pred, n_true):
  precision = tp / n_pred if n_pred else 0.0
  recall = tp / n_true if n_true else 0.0
  f1 = (2 * precision * recall / (precision + recall)
        if precision + recall else 0.0)
  return precision, recall, f1


def entity_scores(true_tags, pred_tags):
  """Entity-level precision, recall and F1 with exact span match (seqeval).

  An entity counts as correct only if its type, first and last token all
  match a gold entity. Scores are micro-averaged over all entities;
  undefined ratios count as 0, as in seqeval.

  Args:
    true_tags: a list of sentences, each a list of tag strings.
    pred_tags: the predicted tags, same shape as `true_tags`.

  Returns:
    A dict: `precision`, `recall`, `f1` (floats in [0, 1]), `num_true`,
    `num_pred`, `num_correct` (entity counts) and `per_type`: for each entity
    type, a dict with `precision`, `recall`, `f1`, `support` (number of gold
    entities).

  Example:
    >>> entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])["f1"]
    0.0
  """
  true_tags, pred_tags = list(true_tags), list(pred_tags)
  if true_tags and isinstance(true_tags[0], str):
    true_tags, pred_tags = [true_tags], [pred_tags]  # One sentence given.
  if len(true_tags) != len(pred_tags):
    raise ValueError(f"{len(true_tags)} gold sentences but {len(pred_tags)} "
                     "predicted ones.")
  gold, predicted = set(), set()
  for i, (t, p) in enumerate(zip(true_tags, pred_tags)):
    if len(t) != len(p):
      raise ValueError(f"Sentence {i} has {len(t)} gold tags but {len(p)} "
                       "predicted ones; predict one tag per word.")
    gold.update((i,) + e for e in get_entities(t))
    predicted.update((i,) + e for e in get_entities(p))
  correct = gold & predicted
  types = sorted({e[1] for e in gold | predicted})
  per_type = {}
  for kind in types:
    n_true = sum(e[1] == kind for e in gold)
    n_pred = sum(e[1] == kind for e in predicted)
    tp = sum(e[1] == kind for e in correct)
    precision, recall, f1 = _prf(tp, n_pred, n_true)
    per_type[kind] = {"precision": precision, "recall": recall, "f1": f1,
                      "support": n_true}
  precision, recall, f1 = _prf(len(correct), len(predicted), len(gold))
  return {"precision": precision, "recall": recall, "f1": f1,
          "num_true": len(gold), "num_pred": len(predicted),
          "num_correct": len(correct), "per_type": per_type}


# ---------------------------------------------------------------------------
# SQuAD (official evaluate-v1.1.py / evaluate-v2.0.py).

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text):
  """SQuAD's normalisation: lower-case, drop punctuation, articles, spaces.

  In the official order: lower-case; delete every character of
  `string.punctuation`; replace the words a/an/the with a space; collapse
  runs of whitespace to one space and strip.

  Example:
    >>> normalize_answer("The  Eiffel-Tower!")
    'eiffeltower'
  """
  text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
  text = _ARTICLES.sub(" ", text)
  return " ".join(text.split())


def squad_exact(gold, prediction):
  """1 if the normalised texts are equal, else 0."""
  return int(normalize_answer(gold) == normalize_answer(prediction))


def squad_f1(gold, prediction, version="v2.0"):
  """Token-overlap F1 between normalised texts (bag of words).

  v2.0: if either side has no tokens, 1 when both are empty, else 0.
  v1.1: no overlap (empty sides included) gives 0.
  """
  gold_tokens = normalize_answer(gold).split()
  pred_tokens = normalize_answer(prediction).split()
  if version == "v2.0" and (not gold_tokens or not pred_tokens):
    return float(gold_tokens == pred_tokens)
  common = collections.Counter(gold_tokens) & collections.Counter(pred_tokens)
  overlap = sum(common.values())
  if overlap == 0:
    return 0.0
  precision = overlap / len(pred_tokens)
  recall = overlap / len(gold_tokens)
  return 2 * precision * recall / (precision + recall)


def squad_gold_answers(dataset):
  """`{question id: [gold answer texts]}` from a SQuAD JSON dataset.

  Args:
    dataset: the parsed JSON file (a dict with a `data` list) or its `data`
      list, v1.1 or v2.0 (impossible questions get an empty list).

  Returns:
    A dict from question id to the list of answer texts.
  """
  articles = dataset["data"] if isinstance(dataset, dict) else dataset
  gold = {}
  for article in articles:
    for paragraph in article["paragraphs"]:
      for qa in paragraph["qas"]:
        if qa.get("is_impossible"):
          gold[qa["id"]] = []
        else:
          gold[qa["id"]] = [a["text"] for a in qa["answers"]]
  return gold


def squad_scores(gold_answers, predictions, version="v2.0"):
  """SQuAD's official exact match and F1, in percent.

  Each question scores the maximum over its gold answers. v2.0 (as
  `evaluate-v2.0.py` with no no-answer probabilities): gold answers that
  normalise to nothing are dropped, a question with no gold answer is
  unanswerable and is answered correctly only by `""`; the result is split
  into HasAns (answerable) and NoAns questions. A question with no
  prediction scores 0 (and is logged); predictions for unknown ids are
  ignored.

  Args:
    gold_answers: `{qid: [answer texts]}` (see `squad_gold_answers`); an
      empty list marks an unanswerable question (v2.0).
    predictions: `{qid: predicted text}` (`""` = no answer).
    version: `"v1.1"` or `"v2.0"`.

  Returns:
    v1.1: `{"exact_match", "f1"}` as `evaluate-v1.1.py` prints them.
    v2.0: `{"exact", "f1", "total"}`, then `HasAns_exact`, `HasAns_f1`,
    `HasAns_total` if any question is answerable and `NoAns_exact`,
    `NoAns_f1`, `NoAns_total` if any is not, as `evaluate-v2.0.py`.

  Example:
    >>> squad_scores({"q1": ["the cat"], "q2": []}, {"q1": "Cat", "q2": ""})
    {'exact': 100.0, 'f1': 100.0, 'total': 2, 'HasAns_exact': 100.0, ...}
  """
  if version not in ("v1.1", "v2.0"):
    raise ValueError(f"version={version!r} is not one of 'v1.1', 'v2.0'.")
  if not gold_answers:
    raise ValueError("No gold questions to score.")
  exact, f1, has_answer = {}, {}, {}
  missing = []
  for qid, answers in gold_answers.items():
    answers = [answers] if isinstance(answers, str) else list(answers)
    if version == "v2.0":
      answers = [a for a in answers if normalize_answer(a)] or [""]
      has_answer[qid] = answers != [""]
    elif not answers:
      raise ValueError(f"Question {qid!r} has no gold answer; unanswerable "
                       "questions need version='v2.0'.")
    if qid not in predictions:
      missing.append(qid)
      exact[qid], f1[qid] = 0, 0.0
      continue
    prediction = predictions[qid]
    exact[qid] = max(squad_exact(a, prediction) for a in answers)
    f1[qid] = max(squad_f1(a, prediction, version) for a in answers)
  if missing:
    logging.warning("No prediction for %d of %d questions (scored 0), e.g. "
                    "%s.", len(missing), len(gold_answers), missing[:3])
  total = len(gold_answers)
  if version == "v1.1":
    return {"exact_match": 100.0 * sum(exact.values()) / total,
            "f1": 100.0 * sum(f1.values()) / total}
  result = {"exact": 100.0 * sum(exact.values()) / total,
            "f1": 100.0 * sum(f1.values()) / total, "total": total}
  for name, wanted in (("HasAns", True), ("NoAns", False)):
    qids = [q for q, has in has_answer.items() if has == wanted]
    if qids:
      result[f"{name}_exact"] = 100.0 * sum(exact[q] for q in qids) / len(qids)
      result[f"{name}_f1"] = 100.0 * sum(f1[q] for q in qids) / len(qids)
      result[f"{name}_total"] = len(qids)
  return result


def multiple_choice_accuracy(labels, logits):
  """Fraction of examples whose highest-scoring choice is the gold one.

  Args:
    labels: gold choice indices, shape [n].
    logits: choice scores [n, K] (or predicted indices [n]).

  Returns:
    A float in [0, 1].

  Example:
    >>> multiple_choice_accuracy([2, 0], [[0.1, 0.2, 3.0, 0.0], [1, 2, 0, 0.]])
    0.5
  """
  logits = np.asarray(logits)
  if logits.ndim == 2:
    logits = np.argmax(logits, axis=-1)
  return accuracy(labels, logits)


def compute(task, labels, predictions, **kwargs):
  """The standard metrics of one fine-tuning task, as a dict.

  Args:
    task: one of `TASKS`.
    labels: gold values: class ids (classification, multiple_choice), scores
      (regression), tag-string sentences (tagging), `{qid: [answers]}`
      (squad).
    predictions: class ids or logits; scores ([n] or [n, 1]); tag-string
      sentences; `{qid: text}`.
    **kwargs: `version` for squad.

  Returns:
    classification: `accuracy`, `f1` (binary, class 1; only with two
    classes), `macro_f1`, `matthews_corrcoef`. regression: `pearson`,
    `spearman`. tagging: `entity_scores`'s dict. squad: `squad_scores`'s dict.
    multiple_choice: `accuracy`.

  Example:
    >>> compute("classification", [0, 1, 1], [[2., 1.], [0., 1.], [3., 0.]])
    {'accuracy': 0.666..., 'f1': 0.666..., 'macro_f1': 0.666..., ...}
  """
  if task == "classification":
    labels, predictions = _pair(labels, predictions)
    result = {"accuracy": accuracy(labels, predictions)}
    if len(np.union1d(labels, predictions)) <= 2 and set(
        np.union1d(labels, predictions).tolist()) <= {0, 1}:
      result["f1"] = f1_score(labels, predictions)
    result["macro_f1"] = f1_score(labels, predictions, average="macro")
    result["matthews_corrcoef"] = matthews_corrcoef(labels, predictions)
    return result
  if task == "regression":
    return {"pearson": pearson_corrcoef(labels, predictions),
            "spearman": spearman_corrcoef(labels, predictions)}
  if task == "tagging":
    return entity_scores(labels, predictions)
  if task == "squad":
    return squad_scores(labels, predictions, **kwargs)
  if task == "multiple_choice":
    return {"accuracy": multiple_choice_accuracy(labels, predictions)}
  raise ValueError(f"task={task!r} is not one of {TASKS}.")
