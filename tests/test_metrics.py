"""Metrics against hand-worked cases from their definitions and against the
reference implementations (scikit-learn, scipy, seqeval, a transcription of
SQuAD's official evaluate-v2.0.py rules)."""

import collections
import math
import random
import re
import string

import numpy as np
import pytest

from keras_bert_lab import metrics


# --- accuracy / F1 / MCC: hand-worked --------------------------------------

def test_accuracy_hand_worked():
  # 3 of 4 equal.
  assert metrics.accuracy([0, 1, 1, 0], [0, 1, 0, 0]) == 3 / 4
  # Logits: argmax -> [0, 1, 0]; 2 of 3 equal.
  assert metrics.accuracy([0, 1, 1], [[2., 1.], [0., 1.], [3., 0.]]) == 2 / 3


def test_binary_f1_hand_worked():
  labels = [1, 1, 1, 0, 0, 0, 1]
  preds = [1, 1, 0, 1, 0, 0, 0]
  # tp = 2 (pos 0, 1), fp = 1 (pos 3), fn = 2 (pos 2, 6).
  # precision = 2/3, recall = 2/4; F1 = 2 * (2/3 * 1/2) / (2/3 + 1/2) = 4/7.
  assert metrics.f1_score(labels, preds) == pytest.approx(4 / 7)
  # Class 0 as positive: tp = 2 (pos 4, 5), fp = 2 (pos 2, 6), fn = 1 (pos 3)
  # -> 2*2 / (2*2 + 2 + 1) = 4/7 too; macro = (4/7 + 4/7) / 2.
  assert metrics.f1_score(labels, preds, pos_label=0) == pytest.approx(4 / 7)
  assert metrics.f1_score(labels, preds, average="macro") == pytest.approx(
      4 / 7)
  # No positive anywhere: F1 undefined -> 0.
  assert metrics.f1_score([0, 0], [0, 0]) == 0.0


def test_macro_f1_three_classes_hand_worked():
  labels = [0, 1, 2, 2, 1]
  preds = [0, 2, 2, 1, 1]
  # class 0: tp 1, fp 0, fn 0 -> 1.
  # class 1: tp 1 (pos 4), fp 1 (pos 3), fn 1 (pos 1) -> 2/4.
  # class 2: tp 1 (pos 2), fp 1 (pos 1), fn 1 (pos 3) -> 2/4.
  assert metrics.f1_score(labels, preds, average="macro") == pytest.approx(
      (1 + 0.5 + 0.5) / 3)


def test_matthews_hand_worked():
  # Binary: tp=1, tn=2, fp=0, fn=1.
  # MCC = (tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn))
  #     = (2 - 0) / sqrt(1 * 2 * 2 * 3) = 2 / sqrt(12).
  assert metrics.matthews_corrcoef([1, 1, 0, 0], [1, 0, 0, 0]) == (
      pytest.approx(2 / math.sqrt(12)))
  # Perfect and perfectly wrong.
  assert metrics.matthews_corrcoef([0, 1, 0, 1], [0, 1, 0, 1]) == 1.0
  assert metrics.matthews_corrcoef([0, 1, 0, 1], [1, 0, 1, 0]) == -1.0
  # Undefined (all predictions one class) -> 0, as sklearn.
  assert metrics.matthews_corrcoef([0, 1, 0, 1], [1, 1, 1, 1]) == 0.0
  assert metrics.matthews_corrcoef([1, 1, 1], [1, 1, 1]) == 0.0


def test_classification_errors():
  with pytest.raises(ValueError, match="differ in length"):
    metrics.accuracy([0, 1], [0])
  with pytest.raises(ValueError, match="empty"):
    metrics.accuracy([], [])
  with pytest.raises(ValueError, match="average"):
    metrics.f1_score([0], [0], average="micro-ish")


# --- against scikit-learn on random data -----------------------------------

@pytest.mark.filterwarnings("ignore::UserWarning")  # sklearn: one class.
@pytest.mark.parametrize("num_classes", [2, 3, 5])
def test_classification_matches_sklearn(num_classes):
  import sklearn.metrics as sk  # Comes with seqeval (the test extra).
  rng = np.random.default_rng(num_classes)
  for trial in range(30):
    n = int(rng.integers(1, 40))
    labels = rng.integers(0, num_classes, n)
    # Correlated predictions: keep some labels, redraw the rest.
    preds = np.where(rng.random(n) < 0.6, labels,
                     rng.integers(0, num_classes, n))
    assert metrics.accuracy(labels, preds) == pytest.approx(
        sk.accuracy_score(labels, preds))
    assert metrics.matthews_corrcoef(labels, preds) == pytest.approx(
        sk.matthews_corrcoef(labels, preds), abs=1e-12)
    assert metrics.f1_score(labels, preds, average="macro") == pytest.approx(
        sk.f1_score(labels, preds, average="macro", zero_division=0))
    if num_classes == 2:
      assert metrics.f1_score(labels, preds) == pytest.approx(
          sk.f1_score(labels, preds, zero_division=0))


# --- Pearson / Spearman -------------------------------------------------------

def test_pearson_hand_worked():
  # x = [1,2,3], y = [1,2,4]: means 2 and 7/3; dx = [-1,0,1],
  # dy = [-4/3,-1/3,5/3]; sum dx*dy = 3; sum dx^2 = 2; sum dy^2 = 42/9.
  # r = 3 / sqrt(2 * 42/9) = 3 / sqrt(28/3).
  assert metrics.pearson_corrcoef([1, 2, 3], [1, 2, 4]) == pytest.approx(
      3 / math.sqrt(28 / 3))
  assert math.isnan(metrics.pearson_corrcoef([1, 1, 1], [1, 2, 3]))


def test_spearman_hand_worked_with_ties():
  # x = [1,2,2,3] -> average ranks [1, 2.5, 2.5, 4]; y = [1,3,2,4] -> [1,3,2,4].
  # Rank means 2.5; dx = [-1.5,0,0,1.5], dy = [-1.5,0.5,-0.5,1.5];
  # sum dx*dy = 4.5; sum dx^2 = 4.5; sum dy^2 = 5; rho = 4.5/sqrt(22.5).
  assert metrics.spearman_corrcoef([1, 2, 2, 3], [1, 3, 2, 4]) == (
      pytest.approx(4.5 / math.sqrt(22.5)))
  # Monotone but not linear: rho = 1.
  assert metrics.spearman_corrcoef([1, 2, 3, 4], [1, 8, 27, 64]) == (
      pytest.approx(1.0))
  # A [n, 1] regression output is flattened.
  assert metrics.spearman_corrcoef([1, 2, 3], [[3.], [2.], [1.]]) == (
      pytest.approx(-1.0))


def test_correlations_match_scipy():
  import scipy.stats as stats  # Comes with scikit-learn (via seqeval).
  rng = np.random.default_rng(0)
  for trial in range(30):
    n = int(rng.integers(3, 50))
    # Gold STS-B-like scores on a 0..5 grid (many ties), noisy predictions.
    x = rng.integers(0, 11, n) / 2
    y = x + rng.normal(0, 1, n).round(1)
    if np.all(x == x[0]) or np.all(y == y[0]):
      continue
    assert metrics.pearson_corrcoef(x, y) == pytest.approx(
        stats.pearsonr(x, y)[0], abs=1e-12)
    assert metrics.spearman_corrcoef(x, y) == pytest.approx(
        stats.spearmanr(x, y)[0], abs=1e-12)


def test_correlation_errors():
  with pytest.raises(ValueError, match="differ in length"):
    metrics.pearson_corrcoef([1, 2, 3], [1, 2])
  with pytest.raises(ValueError, match="at least 2"):
    metrics.spearman_corrcoef([1], [1])


# --- entities ---------------------------------------------------------------

def test_get_entities_conlleval_rules():
  # BIO.
  assert metrics.get_entities(["B-PER", "I-PER", "O", "B-LOC"]) == [
      ("PER", 0, 1), ("LOC", 3, 3)]
  # I- after O starts an entity; a type change ends one and starts another.
  assert metrics.get_entities(["O", "I-PER", "I-PER", "I-LOC"]) == [
      ("PER", 1, 2), ("LOC", 3, 3)]
  # B- after I- of the same type starts a new entity.
  assert metrics.get_entities(["B-ORG", "I-ORG", "B-ORG"]) == [
      ("ORG", 0, 1), ("ORG", 2, 2)]
  # IOBES: S is a one-token entity; E ends one.
  assert metrics.get_entities(
      ["S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "O"]) == [
          ("PER", 0, 0), ("LOC", 1, 3), ("LOC", 4, 4)]
  # E after E starts a new entity; I after E too.
  assert metrics.get_entities(["B-X", "E-X", "E-X", "I-X"]) == [
      ("X", 0, 1), ("X", 2, 2), ("X", 3, 3)]
  # Entity at the very end is closed.
  assert metrics.get_entities(["O", "B-MISC", "I-MISC"]) == [
      ("MISC", 1, 2)]
  assert metrics.get_entities(["O", "O"]) == []


def test_entity_scores_hand_worked():
  gold = [["B-PER", "I-PER", "O", "B-LOC"],
          ["B-ORG", "O", "B-PER"]]
  pred = [["B-PER", "I-PER", "O", "B-ORG"],   # PER right, LOC typed ORG.
          ["B-ORG", "I-ORG", "B-PER"]]        # ORG span too long, PER right.
  # Gold: PER(0,0-1), LOC(0,3), ORG(1,0), PER(1,2) = 4 entities.
  # Pred: PER(0,0-1), ORG(0,3), ORG(1,0-1), PER(1,2) = 4; correct: 2 PER.
  # P = 2/4, R = 2/4, F1 = 1/2.
  scores = metrics.entity_scores(gold, pred)
  assert (scores["precision"], scores["recall"], scores["f1"]) == (
      0.5, 0.5, 0.5)
  assert (scores["num_true"], scores["num_pred"], scores["num_correct"]) == (
      4, 4, 2)
  # Per type: PER 2/2 both ways; LOC: 0 predicted, 1 gold -> P=R=F1=0;
  # ORG: 2 predicted, 1 gold, 0 correct -> 0.
  assert scores["per_type"]["PER"] == {"precision": 1.0, "recall": 1.0,
                                       "f1": 1.0, "support": 2}
  assert scores["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0,
                                       "f1": 0.0, "support": 1}
  assert scores["per_type"]["ORG"]["support"] == 1
  assert scores["per_type"]["ORG"]["f1"] == 0.0


def test_entity_scores_partial_overlap_is_wrong():
  # Exact span match only: predicting 1 of a 2-token entity earns nothing.
  s = metrics.entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
  assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)
  # One sentence may be passed as a flat list.
  s = metrics.entity_scores(["B-PER", "O"], ["B-PER", "O"])
  assert s["f1"] == 1.0


def test_entity_scores_errors():
  with pytest.raises(ValueError, match="Sentence 1 has 2 gold tags but 1"):
    metrics.entity_scores([["O"], ["O", "O"]], [["O"], ["O"]])
  with pytest.raises(ValueError, match="2 gold sentences but 1"):
    metrics.entity_scores([["O"], ["O"]], [["O"]])
  with pytest.raises(TypeError, match="Map tag ids"):
    metrics.get_entities([0, 1])


def test_tags_from_ids():
  labels = ["O", "B-PER", "I-PER"]
  # Words at positions 1, 2, 4 (0 = [CLS], 3 = a ## piece, 5 = [SEP]).
  weights = [[0, 1, 1, 0, 1, 0]]
  assert metrics.tags_from_ids([[0, 1, 2, 0, 0, 0]], weights, labels) == [
      ["B-PER", "I-PER", "O"]]
  logits = np.eye(3)[[[0, 1, 1, 2, 2, 0]]]  # argmax = [0, 1, 1, 2, 2, 0]
  assert metrics.tags_from_ids(logits, weights, labels) == [
      ["B-PER", "B-PER", "I-PER"]]
  with pytest.raises(ValueError, match="outside the label list of 3"):
    metrics.tags_from_ids([[3]], [[1]], labels)


@pytest.mark.filterwarnings("ignore::UserWarning")  # seqeval: 0/0 = 0.
@pytest.mark.parametrize("scheme", ["BIO", "IOBES"])
def test_entity_scores_match_seqeval(scheme):
  from seqeval.metrics import classification_report
  from seqeval.metrics import f1_score as sq_f1
  from seqeval.metrics import precision_score as sq_p
  from seqeval.metrics import recall_score as sq_r
  from seqeval.metrics.sequence_labeling import get_entities as sq_entities
  rng = random.Random(scheme)
  prefixes = "BI" if scheme == "BIO" else "BIES"
  tags = ["O"] + [f"{p}-{t}" for p in prefixes for t in ("PER", "LOC", "ORG")]
  for trial in range(200):
    n_sent = rng.randint(1, 4)
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 8))]
            for _ in range(n_sent)]
    pred = [[t if rng.random() < 0.5 else rng.choice(tags) for t in s]
            for s in gold]
    for sentence in gold + pred:
      assert metrics.get_entities(sentence) == sq_entities(sentence)
    ours = metrics.entity_scores(gold, pred)
    assert ours["precision"] == pytest.approx(sq_p(gold, pred))
    assert ours["recall"] == pytest.approx(sq_r(gold, pred))
    assert ours["f1"] == pytest.approx(sq_f1(gold, pred))
    report = classification_report(gold, pred, output_dict=True,
                                   zero_division=0)
    for kind, row in ours["per_type"].items():
      if row["support"]:  # seqeval's report lists gold types only.
        assert row["precision"] == pytest.approx(report[kind]["precision"])
        assert row["recall"] == pytest.approx(report[kind]["recall"])
        assert row["f1"] == pytest.approx(report[kind]["f1-score"])
        assert row["support"] == report[kind]["support"]


# --- SQuAD ------------------------------------------------------------------
# A transcription of the official evaluate-v2.0.py rules (no na_prob file).

def _official_normalize(s):
  def remove_articles(text):
    return re.sub(re.compile(r"\b(a|an|the)\b", re.UNICODE), " ", text)

  def white_space_fix(text):
    return " ".join(text.split())

  def remove_punc(text):
    exclude = set(string.punctuation)
    return "".join(ch for ch in text if ch not in exclude)

  return white_space_fix(remove_articles(remove_punc(s.lower())))


def _official_tokens(s):
  return _official_normalize(s).split() if s else []


def _official_f1(a_gold, a_pred):
  gold_toks, pred_toks = _official_tokens(a_gold), _official_tokens(a_pred)
  common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
  num_same = sum(common.values())
  if len(gold_toks) == 0 or len(pred_toks) == 0:
    return int(gold_toks == pred_toks)
  if num_same == 0:
    return 0
  precision = 1.0 * num_same / len(pred_toks)
  recall = 1.0 * num_same / len(gold_toks)
  return (2 * precision * recall) / (precision + recall)


def _official_v2(gold, preds):
  exact, f1, has_ans = {}, {}, {}
  for qid, answers in gold.items():
    golds = [a for a in answers if _official_normalize(a)] or [""]
    has_ans[qid] = bool(answers) and golds != [""]
    exact[qid] = max(int(_official_normalize(a) == _official_normalize(
        preds[qid])) for a in golds)
    f1[qid] = max(_official_f1(a, preds[qid]) for a in golds)

  def make(qids):
    return (100.0 * sum(exact[k] for k in qids) / len(qids),
            100.0 * sum(f1[k] for k in qids) / len(qids), len(qids))

  out = dict(zip(("exact", "f1", "total"), make(list(gold))))
  for name, flag in (("HasAns", True), ("NoAns", False)):
    qids = [k for k, v in has_ans.items() if v == flag]
    if qids:
      out.update(zip((f"{name}_exact", f"{name}_f1", f"{name}_total"),
                     make(qids)))
  return out


def test_normalize_answer_rules():
  # Lower-case; punctuation deleted (not spaced: "Eiffel-Tower" -> one word);
  # articles as whole words only ("another", "theory" survive); whitespace.
  assert metrics.normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
  assert metrics.normalize_answer("an apple, a pear & THE plum") == (
      "apple pear plum")
  assert metrics.normalize_answer("Another theory\tthen") == (
      "another theory then")
  # Articles exposed by punctuation removal are removed: "(a)" -> "a" -> "".
  assert metrics.normalize_answer("(a)") == ""
  for text in ["The  Eiffel-Tower!", "1,000 km", "the the", "Ünïcode —",
               "it's O'Neil", "  "]:
    assert metrics.normalize_answer(text) == _official_normalize(text)


def test_squad_f1_hand_worked():
  # gold "the big red dog" -> [big, red, dog]; pred "red dog barks" ->
  # [red, dog, barks]; overlap 2; P = 2/3, R = 2/3, F1 = 2/3.
  assert metrics.squad_f1("the big red dog", "red dog barks") == (
      pytest.approx(2 / 3))
  # Repeated tokens count with multiplicity:
  # gold "dog dog cat" pred "dog": overlap 1; P = 1, R = 1/3; F1 = 0.5.
  assert metrics.squad_f1("dog dog cat", "dog") == pytest.approx(0.5)
  # v2.0: both empty -> 1; one empty -> 0. v1.1: no overlap -> 0 always.
  assert metrics.squad_f1("", "") == 1.0
  assert metrics.squad_f1("", "dog") == 0.0
  assert metrics.squad_f1("", "", version="v1.1") == 0.0


def test_squad_v2_hand_worked():
  gold = {
      "q1": ["Denver Broncos", "The Denver Broncos"],  # answerable
      "q2": ["1,000 km"],                              # answerable
      "q3": [],                                        # unanswerable
      "q4": [],                                        # unanswerable
  }
  preds = {"q1": "the Denver Broncos.", "q2": "about 1000 km", "q3": "",
           "q4": "Paris"}
  # q1: normalises to "denver broncos" = gold -> EM 1, F1 1.
  # q2: gold "1000 km" vs "about 1000 km": EM 0; overlap 2, P = 2/3, R = 1
  #     -> F1 = 2 * (2/3) / (5/3) = 4/5.
  # q3: "" for unanswerable -> EM 1, F1 1.   q4: "Paris" -> 0, 0.
  # exact = 100 * (1+0+1+0)/4 = 50; f1 = 100 * (1 + .8 + 1 + 0)/4 = 70.
  result = metrics.squad_scores(gold, preds)
  assert result == pytest.approx({
      "exact": 50.0, "f1": 70.0, "total": 4,
      "HasAns_exact": 50.0, "HasAns_f1": 90.0, "HasAns_total": 2,
      "NoAns_exact": 50.0, "NoAns_f1": 50.0, "NoAns_total": 2})
  assert list(result) == ["exact", "f1", "total", "HasAns_exact",
                          "HasAns_f1", "HasAns_total", "NoAns_exact",
                          "NoAns_f1", "NoAns_total"]
  assert result == pytest.approx(_official_v2(gold, preds))
  # v1.1 (answerable questions only): same per-question numbers.
  v1 = metrics.squad_scores({"q1": gold["q1"], "q2": gold["q2"]}, preds,
                            version="v1.1")
  assert v1 == pytest.approx({"exact_match": 50.0, "f1": 90.0})


def test_squad_v2_matches_official_rules_on_random_cases():
  words = ["the", "a", "an", "Denver", "broncos", "1,000", "km", "it's",
           "(a)", "Paris", "paris.", "dog", "dog", "-", "red"]
  rng = random.Random(7)
  for trial in range(50):
    gold, preds = {}, {}
    for q in range(rng.randint(1, 6)):
      answers = [" ".join(rng.choices(words, k=rng.randint(1, 4)))
                 for _ in range(rng.randint(0, 3))]
      gold[f"q{q}"] = answers
      preds[f"q{q}"] = ("" if rng.random() < 0.3 else
                        " ".join(rng.choices(words, k=rng.randint(1, 4))))
    assert metrics.squad_scores(gold, preds) == pytest.approx(
        _official_v2(gold, preds))


def test_squad_gold_answers_and_missing_predictions():
  dataset = {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{
      "context": "Paris is big.",
      "qas": [
          {"id": "a", "question": "?", "is_impossible": False,
           "answers": [{"text": "Paris", "answer_start": 0}]},
          {"id": "b", "question": "?", "is_impossible": True, "answers": [],
           "plausible_answers": [{"text": "big", "answer_start": 9}]},
      ]}]}]}
  gold = metrics.squad_gold_answers(dataset)
  assert gold == {"a": ["Paris"], "b": []}
  # Missing "b": scored 0 and counted; extra ids ignored.
  result = metrics.squad_scores(gold, {"a": "paris", "zzz": "x"})
  assert result["exact"] == 50.0 and result["NoAns_exact"] == 0.0
  with pytest.raises(ValueError, match="version='v2.0'"):
    metrics.squad_scores(gold, {"a": "x", "b": ""}, version="v1.1")


# --- multiple choice and compute --------------------------------------------

def test_multiple_choice_accuracy():
  # argmax [2, 1, 3] vs labels [2, 0, 3]: 2 of 3.
  logits = [[0.1, 0.2, 3.0, 0.0], [1.0, 2.0, 0.0, 0.0], [0, 0, 0, 1.0]]
  assert metrics.multiple_choice_accuracy([2, 0, 3], logits) == (
      pytest.approx(2 / 3))


def test_compute_dispatch():
  c = metrics.compute("classification", [0, 1, 1], [[2., 1.], [0., 1.],
                                                    [3., 0.]])
  # preds [0, 1, 0]: acc 2/3; class 1: tp 1, fn 1 -> F1 2/3; class 0:
  # tp 1, fp 1 -> 2/3; MCC = (1*1 - 1*0)/sqrt(1*2*2*1) = 1/2.
  assert c == pytest.approx({"accuracy": 2 / 3, "f1": 2 / 3,
                             "macro_f1": 2 / 3, "matthews_corrcoef": 0.5})
  assert "f1" not in metrics.compute("classification", [0, 1, 2], [0, 1, 2])
  r = metrics.compute("regression", [1, 2, 3], [[1.], [2.], [4.]])
  assert r["spearman"] == pytest.approx(1.0)
  assert metrics.compute("tagging", [["B-X"]], [["B-X"]])["f1"] == 1.0
  assert metrics.compute("squad", {"q": ["x"]}, {"q": "x"})["exact"] == 100
  assert metrics.compute("multiple_choice", [1], [[0., 1.]]) == {
      "accuracy": 1.0}
  with pytest.raises(ValueError, match="task='nli'"):
    metrics.compute("nli", [0], [0])
