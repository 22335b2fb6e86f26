"""Text: tokenizers, language-modelling windows, sampling, and a shipped public-domain corpus.

    import shenjing as sj
    text = sj.text.load_corpus()
    tok = sj.text.CharTokenizer().fit(text)
    x, y = sj.text.sliding_windows(tok.encode(text), seq_len=64, stride=32)
    ...  # train a model mapping (N, T) ids to (N, T, vocab_size) logits
    print(sj.text.generate(model, tok, "The ", length=200, temperature=0.8, top_k=10))
"""
from .datasets import (CORPORA_DIR, DEFAULT_CORPUS, LanguageModelDataset, corpora, corpus_path,
                       load_corpus, sliding_windows, split_ids, unigram_entropy)
from .sampling import generate, sample_logits
from .tokenizers import (PAD, PAD_ID, UNK, UNK_ID, CharTokenizer, Tokenizer, WordTokenizer,
                         load_tokenizer)

__all__ = ["CORPORA_DIR", "DEFAULT_CORPUS", "PAD", "PAD_ID", "UNK", "UNK_ID", "CharTokenizer",
           "LanguageModelDataset", "Tokenizer", "WordTokenizer", "corpora", "corpus_path",
           "generate", "load_corpus", "load_tokenizer", "sample_logits", "sliding_windows",
           "split_ids", "unigram_entropy"]
