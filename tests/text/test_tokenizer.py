"""BertTokenizer against the reference: Google's original tokenization rules.

The reference is Hugging Face's Python port of the original
(`transformers`' legacy `BasicTokenizer` + `WordpieceTokenizer`), configured
as the original: 200 characters per word, no special-token matching, and the
original's `_is_control` (Cc and Cf only; the port drops every C* category,
so private-use characters would differ).
"""

import pathlib
import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_lab.text import BertTokenizer, read_vocab

legacy = pytest.importorskip("transformers.models.bert.tokenization_bert_legacy")


def _original_is_control(char):
  if char in "\t\n\r":
    return False
  return unicodedata.category(char) in ("Cc", "Cf")


class Reference:
  """Google's FullTokenizer rules via HF's Python port."""

  def __init__(self, vocab_file, lower_case):
    self.vocab = {t: i for i, t in enumerate(read_vocab(vocab_file))}
    self.basic = legacy.BasicTokenizer(
        do_lower_case=lower_case, never_split=None,
        tokenize_chinese_chars=True, strip_accents=None)
    self.wordpiece = legacy.WordpieceTokenizer(
        self.vocab, "[UNK]", max_input_chars_per_word=200)

  def tokens(self, text):
    return [p for w in self.basic.tokenize(text)
            for p in self.wordpiece.tokenize(w)]

  def ids(self, text):
    return [self.vocab[t] for t in self.tokens(text)]


@pytest.fixture(scope="module", autouse=True)
def original_control_rule():
  saved = legacy._is_control
  legacy._is_control = _original_is_control
  yield
  legacy._is_control = saved


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def pair(request, bert_vocab):
  lower = request.param
  return BertTokenizer(bert_vocab, lower_case=lower), Reference(bert_vocab, lower)


EDGE_CASES = [
    "", " ", "   \t\n  ", "\u3000\u00a0\u2028\u2029",
    "Hello, World! How's it going?",
    "naïve café Ångström Straße İstanbul ΟΔΟΣ όσος Σ",        # accents, sigma
    "résumé RÉSUMÉ e\u0301 \u0301alone",                        # combining marks
    "emoji 🙂👍🏽 ☃ ♥ 🇫🇷",
    "zero\u200bwidth soft\u00adhyphen bom\ufeffx lrm\u200e nul\x00x ctl\x07x",
    "\ufffd replacement \ufffd",
    "ligatures ﬁ ﬂ œ æ ĳ",                                       # not NFKC
    "full-width ＡＢＣ１２３ｈｅｌｌｏ！",
    "ellipsis… dashes – — ‐ quotes “”‘’ «» ¿¡",
    "$5 + 3 = 8 < 9 > 7 ^ ` | ~ @ # %",
    "中文分词测试，中华人民共和国。日本語のテキスト한국어 텍스트",
    "CJK ext 𠀀𪜀𫝀𫠠 compat 丽 兀 \U0002F800",
    "[CLS] [SEP] [MASK] [UNK] [PAD] are text here",
    "a" * 250, "b" * 200, "é" * 150, "ж" * 150, "ж" * 200, "ж" * 201,
    "x " + "ж" * 120 + " y " + "q" * 201 + " z",
    "private use \ue000\ue001 chars",
    "tab\tsep\nnewline\rcr",
    "Roman Ⅻ circled ① ⒜ superscript ² fraction ½",
    "Turkish ı İ Greek ΐ Hangul 한 Devanagari हिन्दी Thai ภาษาไทย",
    "unaffable unbelievably antidisestablishmentarianism",
]


def test_edge_cases_match_reference(pair):
  tok, ref = pair
  ours = tok(tf.constant(EDGE_CASES)).to_list()
  for text, got in zip(EDGE_CASES, ours):
    assert got == ref.ids(text), text


def test_private_use_characters_kept_as_in_the_original(bert_vocab):
  # The original keeps Co characters (only Cc/Cf are dropped): the word
  # holding one has no WordPiece match and becomes [UNK].
  tok = BertTokenizer(bert_vocab)
  assert tok(tf.constant(["x\ue000y z"])).to_list() == [[tok.unk_id, 1062]]


def test_special_tokens_in_text_are_split(bert_vocab):
  tok = BertTokenizer(bert_vocab)
  ids = tok(tf.constant(["[CLS]"])).to_list()[0]
  assert tok.cls_id not in ids
  assert [tok.vocab[i] for i in ids] == ["[", "cl", "##s", "]"]


def test_output_types_and_special_ids(bert_vocab):
  tok = BertTokenizer(bert_vocab)
  ids = tok(tf.constant(["Hello world!", "中文"]))
  assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
  assert ids.to_list() == [[7592, 2088, 999], [1746, 1861]]
  assert tok(tf.constant("Hello")).numpy().tolist() == [7592]
  vocab = read_vocab(bert_vocab)
  assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == tuple(
      vocab.index(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"))
  assert tok.vocab_size == len(vocab) == 30522


def test_empty_and_whitespace_give_empty_rows(bert_vocab):
  tok = BertTokenizer(bert_vocab)
  assert tok(tf.constant(["", "  \t\n", "\u200b"])).to_list() == [[], [], []]
  ids, starts, ends = tok.tokenize_with_offsets(tf.constant(["", " "]))
  assert ids.to_list() == starts.to_list() == ends.to_list() == [[], []]


INVALID_UTF8 = [b"ab\xffcd", b"\xc3", b"caf\xc3", b"ok\xed\xa0\x80x",
                b"\xf4\x90\x80\x80z", b"\xc0\xafq", b"\xe4\xb8\xad\xe6\x96",
                b"fine text"]


def test_invalid_utf8_bytes_are_dropped(pair):
  # As the original, which decodes with errors="ignore": never a crash.
  tok, ref = pair
  ours = tok(tf.constant(INVALID_UTF8)).to_list()
  for raw, got in zip(INVALID_UTF8, ours):
    assert got == ref.ids(raw.decode("utf-8", "ignore")), raw
  ids, starts, ends = tok.tokenize_with_offsets(tf.constant(INVALID_UTF8))
  assert ids.to_list() == ours
  assert all(e <= len(raw) for raw, row in zip(INVALID_UTF8, ends.to_list())
             for e in row)


def test_detokenize_joins_pieces(bert_vocab):
  tok = BertTokenizer(bert_vocab)
  texts = ["Unaffable people, playing!", "中文"]
  out = tok.detokenize(tok(tf.constant(texts))).numpy().tolist()
  ref = Reference(bert_vocab, True)
  # Hugging Face's convert_tokens_to_string rule.
  assert out == [" ".join(ref.tokens(t)).replace(" ##", "").encode()
                 for t in texts]


def _normalize_like_reference(ref, text):
  text = ref.basic._clean_text(text)
  if ref.basic.do_lower_case:
    text = ref.basic._run_strip_accents(text.lower())
  return "".join(text.split())


def _check_offsets(tok, ref, lines):
  ids, starts, ends = tok.tokenize_with_offsets(tf.constant(lines))
  checked = 0
  for text, row_ids, row_starts, row_ends in zip(
      lines, ids.to_list(), starts.to_list(), ends.to_list()):
    raw = text.encode()
    for i, s, e in zip(row_ids, row_starts, row_ends):
      if i == tok.unk_id:
        continue
      piece = tok.vocab[i].removeprefix("##") if len(tok.vocab[i]) > 2 else (
          tok.vocab[i])
      span = raw[s:e].decode()
      got = _normalize_like_reference(ref, span)
      if got != piece:
        # Only where normalization expands one character into several
        # (e.g. a Hangul syllable into jamo) and a piece ends inside it.
        assert piece in got and any(
            len(_normalize_like_reference(ref, c)) > 1 for c in span), (
                text, span, piece)
      checked += 1
  return checked


def test_offsets_slice_back_to_tokens(pair):
  tok, ref = pair
  assert _check_offsets(tok, ref, EDGE_CASES) > 50


@pytest.mark.slow
def test_offsets_on_real_text(pair, data_dir):
  tok, ref = pair
  lines = []
  for name in ("corpora/en/enwiki_104_articles.txt",
               "corpora/zh/peoples_daily_199801_raw.txt",
               "labeled/en/fine_foods_train.tsv"):
    lines += (data_dir / name).read_text(encoding="utf-8").split("\n")[:1500]
  assert _check_offsets(tok, ref, lines) > 100_000


def _all_lines(data_dir):
  files = sorted(p for p in data_dir.rglob("*")
                 if p.suffix in (".txt", ".tsv", ".bio"))
  assert len(files) >= 6, files
  for path in files:
    yield path, path.read_text(encoding="utf-8").split("\n")


@pytest.mark.slow
def test_every_line_of_the_shared_data_matches_reference(pair, data_dir):
  """100% equality, every line of every corpus and labelled file."""
  tok, ref = pair
  # Both tokenizers are functions of the line alone (batching does not
  # matter: test_runs_in_tf_data_and_tf_function), and the BIO file's 1.7 M
  # lines hold 8,401 distinct ones: each distinct line is checked once.
  total = 0
  for path, lines in _all_lines(data_dir):
    distinct = list(dict.fromkeys(lines))
    ours = []
    for i in range(0, len(distinct), 8192):
      ours += tok(tf.constant(distinct[i:i + 8192])).to_list()
    mismatches = [line for line, got in zip(distinct, ours)
                  if got != ref.ids(line)]
    assert not mismatches, (path, mismatches[:5])
    total += len(lines)
  assert total > 1_700_000


def test_runs_in_tf_data_and_tf_function(bert_vocab):
  tok = BertTokenizer(bert_vocab)
  texts = ["Hello world!", "naïve café", "中文", ""]
  expected = tok(tf.constant(texts)).to_list()
  ds = tf.data.Dataset.from_tensor_slices(texts).batch(2).map(tok)
  assert [r for batch in ds for r in batch.to_list()] == expected
  per_example = tf.data.Dataset.from_tensor_slices(texts).map(tok)
  assert [x.numpy().tolist() for x in per_example] == expected
  fn = tf.function(lambda t: tok.tokenize_with_offsets(t)[0])
  assert fn(tf.constant(texts)).to_list() == expected


def test_saved_model_round_trip(bert_vocab, tmp_path):
  tok = BertTokenizer(bert_vocab)

  class Module(tf.Module):

    def __init__(self):
      super().__init__()
      self.tok = tok

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, texts):
      ids = self.tok(texts)
      return {"values": ids.flat_values, "row_splits": ids.row_splits}

  tf.saved_model.save(Module(), str(tmp_path))
  loaded = tf.saved_model.load(str(tmp_path))
  texts = tf.constant(["Hello world!", "ж" * 150, "naïve"])
  out = loaded.tokenize(texts)
  got = tf.RaggedTensor.from_row_splits(out["values"], out["row_splits"])
  assert got.to_list() == tok(texts).to_list()
  graph = loaded.tokenize.get_concrete_function().graph.as_graph_def()
  ops = {n.op for n in graph.node} | {
      n.op for f in graph.library.function for n in f.node_def}
  assert not ops & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}


@pytest.mark.parametrize("content,message", [
    (None, "Cannot read vocabulary file"),
    ("", "is empty"),
    ("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n", "lacks the special token(s) [MASK]"),
    ("[PAD]\n[CLS]\n[SEP]\n[MASK]\nhello\n", "lacks the special token(s) [UNK]"),
    ("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhi\nhi\n", "duplicate tokens: 'hi'"),
])
def test_bad_vocab_fails_at_construction(tmp_path, content, message):
  path = tmp_path / "vocab.txt"
  if content is not None:
    path.write_text(content, encoding="utf-8")
  with pytest.raises(ValueError) as info:
    BertTokenizer(str(path))
  assert str(path) in str(info.value) and message in str(info.value)


def test_tokenizer_is_a_keras_layer(bert_vocab):
  import keras
  tok = BertTokenizer(bert_vocab, lower_case=False)
  assert isinstance(tok, keras.layers.Layer)
  config = tok.get_config()
  assert config["vocab"] == bert_vocab and config["lower_case"] is False
  again = BertTokenizer.from_config(config)
  assert np.array_equal(again(tf.constant(["Hi"])).flat_values,
                        tok(tf.constant(["Hi"])).flat_values)
  # A tokenizer built from a list carries the list in its config.
  from_list = BertTokenizer.from_config(
      BertTokenizer(tok.vocab, lower_case=False).get_config())
  assert from_list.vocab == tok.vocab and from_list.vocab_file is None
  assert np.array_equal(from_list(tf.constant(["Hi"])).flat_values,
                        tok(tf.constant(["Hi"])).flat_values)


BUNDLED_VOCAB = (pathlib.Path(__file__).resolve().parents[2] / "keras_bert_lab"
                 / "resources" / "vocab.txt")
BUNDLED_CORPUS = BUNDLED_VOCAB.parent / (
    "austen_sense_and_sensibility_pride_and_prejudice.txt")


@pytest.mark.parametrize("lower", [True, False], ids=["uncased", "cased"])
def test_vocab_list_equals_vocab_file_and_hf(lower):
  """A token list gives the ids of the same vocab.txt, and those of Hugging
  Face `tokenizers`' BERT pipeline (BertNormalizer, BertPreTokenizer,
  WordPiece with the original's 200-character limit) on that vocabulary."""
  tokenizers = pytest.importorskip("tokenizers")
  lines = [l for l in BUNDLED_CORPUS.read_text(encoding="utf-8").split("\n")
           if l.strip()][:2000]
  lines += ["Hello, Élise: naïve café — ½ “quoted” 中文!", "unaffable"]
  from_file = BertTokenizer(BUNDLED_VOCAB, lower_case=lower)
  vocab = read_vocab(BUNDLED_VOCAB)
  from_list = BertTokenizer(vocab, lower_case=lower)
  assert from_list.vocab == from_file.vocab == vocab
  assert (from_list.cls_id, from_list.mask_id) == (from_file.cls_id,
                                                   from_file.mask_id)
  ours = from_list(tf.constant(lines)).to_list()
  assert ours == from_file(tf.constant(lines)).to_list()

  hf = tokenizers.Tokenizer(tokenizers.models.WordPiece(
      {t: i for i, t in enumerate(vocab)}, unk_token="[UNK]",
      max_input_chars_per_word=200))
  hf.normalizer = tokenizers.normalizers.BertNormalizer(
      clean_text=True, handle_chinese_chars=True, strip_accents=lower,
      lowercase=lower)
  hf.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
  theirs = [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
  assert sum(len(r) for r in ours) > 50_000
  assert ours == theirs


def test_bad_vocab_list_fails_at_construction():
  with pytest.raises(ValueError, match=r"The vocabulary list lacks the "
                     r"special token\(s\) \[MASK\]"):
    BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
  with pytest.raises(ValueError, match="The vocabulary list has duplicate"):
    BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "a"])
