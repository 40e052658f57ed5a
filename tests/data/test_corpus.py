"""Corpus reading: documents, in-graph sentence splitting, files, tfds."""

import collections
import gzip

import pytest
import tensorflow as tf

from keras_bert_lab.data import (expand_input_files, read_documents,
                                 split_into_sentences, tfds_documents)


def _docs(dataset):
  return [[s.decode() for s in d.numpy()] for d in dataset]


@pytest.mark.parametrize("text,sentences", [
    ("Mr. Darcy bowed. She smiled!", ["Mr. Darcy bowed.", "She smiled!"]),
    ('"Is it?" she asked. "Yes."  Then J. K. Rowling wrote.',
     ['"Is it?"', "she asked.", '"Yes."', "Then J. K. Rowling wrote."]),
    ("Wait... what?! (Really.) Yes", ["Wait...", "what?!", "(Really.)", "Yes"]),
    ("今天天气很好。我们去公园吧！“真的吗？”他问；好的",
     ["今天天气很好。", "我们去公园吧！", "“真的吗？”", "他问；", "好的"]),
    ("No end mark here", ["No end mark here"]),
    ("   ", []),
])
def test_split_into_sentences(text, sentences):
  got = split_into_sentences(tf.constant([text])).to_list()[0]
  assert [s.decode() for s in got] == sentences


def test_original_bert_format(tmp_path):
  # One sentence per line, a blank line (possibly with spaces) between docs.
  path = tmp_path / "corpus.txt"
  path.write_text("A one.\nA two. Still two.\n\nB one.\n  \n\n\nC one.\r\nC two.\n",
                  encoding="utf-8")
  docs = _docs(read_documents(str(path), split_sentences=False, shuffle=False))
  assert docs == [["A one.", "A two. Still two."], ["B one."],
                  ["C one.", "C two."]]
  docs = _docs(read_documents(str(path), shuffle=False))
  assert docs[0] == ["A one.", "A two.", "Still two."]


def test_document_per_line_and_gzip(tmp_path):
  text = "First doc. Two sentences.\nSecond doc.\n\nThird doc!\n"
  (tmp_path / "a.txt").write_text(text, encoding="utf-8")
  with gzip.open(tmp_path / "b.txt.gz", "wt", encoding="utf-8") as f:
    f.write(text)
  plain = _docs(read_documents(str(tmp_path / "a.txt"), document_per_line=True,
                               shuffle=False))
  assert plain == [["First doc.", "Two sentences."], ["Second doc."],
                   ["Third doc!"]]
  zipped = _docs(read_documents(str(tmp_path / "b.txt.gz"),
                                document_per_line=True, shuffle=False))
  assert zipped == plain


def test_globs_interleave_and_shuffle(tmp_path):
  for k in range(4):
    (tmp_path / f"part{k}.txt").write_text(
        "\n\n".join(f"doc {k}-{d}. sentence two." for d in range(50)),
        encoding="utf-8")
  pattern = f"{tmp_path}/part*.txt"
  ordered = _docs(read_documents(pattern, shuffle=False))
  first = _docs(read_documents(pattern, seed=7))
  again = _docs(read_documents(pattern, seed=7))
  other = _docs(read_documents(pattern, seed=8))
  as_set = lambda docs: collections.Counter(map(tuple, docs))
  assert len(ordered) == 200
  assert as_set(first) == as_set(ordered) == as_set(other)
  assert first == again and first != other and first != ordered
  # Interleaved: documents of several files among the first ten.
  assert len({d[0].split("-")[0] for d in first[:10]}) > 1


def test_real_corpora(data_dir):
  wiki = _docs(read_documents(str(data_dir / "corpora/en/enwiki_104_articles.txt"),
                              shuffle=False))
  assert len(wiki) == 104
  assert wiki[0][0].startswith("Anarchism is a political philosophy")
  austen = _docs(read_documents(
      str(data_dir / "corpora/en/jane_austen_6_novels.txt"), shuffle=False))
  assert len(austen) == 6 and austen[1][:2] == ["PRIDE AND PREJUDICE",
                                                "By Jane Austen"]
  assert '"My dear Mr. Bennet," said his lady to him one day, "have you heard ' \
      'that Netherfield Park is let at last?"' in austen[1]


@pytest.mark.parametrize("files,message", [
    ("nowhere/*.txt", "does not exist"), ("", "No input files")])
def test_bad_files(files, message):
  with pytest.raises(ValueError, match=message):
    expand_input_files(files)


def test_empty_file_is_named(tmp_path):
  (tmp_path / "empty.txt").write_text("")
  with pytest.raises(ValueError, match="empty.txt.*empty"):
    read_documents(str(tmp_path / "empty.txt"))


def test_tfds_by_name_with_mock_data():
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=5):
    docs = _docs(tfds_documents("wikipedia/20230601.en", text_key="text",
                                shuffle=False))
  assert 0 < len(docs) <= 5 and all(isinstance(s, str) for d in docs for s in d)
  with tfds.testing.mock_data(num_examples=2):
    with pytest.raises(ValueError, match="no feature 'body'.*text"):
      tfds_documents("wikipedia/20230601.en", text_key="body")
