"""A character-level language model on the public-domain corpus shipped with shenjing, then
text generated from it.

The corpus (sj.text.load_corpus(), ~89 KB of poems, speeches and founding documents) is cut
into 64-character windows; the model learns to predict every next character.  A model that
ignores context can at best reach the unigram entropy of the characters (≈ 3.2 nats); the
validation loss shows how much the context buys.

    python examples/char_lm.py                 # LSTM, 2 epochs (~3 minutes on one core)
    python examples/char_lm.py transformer     # a small causal Transformer instead
    SHENJING_EPOCHS=1 SHENJING_LIMIT=3000 python examples/char_lm.py   # quicker
"""
import os
import sys

import shenjing as sj
from shenjing import text
from shenjing.recipes.sequence import CharTransformer, char_lm_data, char_lstm_model

SEQ_LEN = 64


def main(kind="lstm"):
    sj.manual_seed(0)
    tokenizer, (x, y), (x_val, y_val) = char_lm_data(seq_len=SEQ_LEN, stride=8)
    limit = int(os.environ.get("SHENJING_LIMIT", len(x)))
    x, y = x[:limit], y[:limit]
    if kind == "transformer":
        model, lr = CharTransformer(tokenizer.vocab_size, SEQ_LEN), 3e-3
    else:
        model, lr = char_lstm_model(tokenizer.vocab_size), 1e-2
    model.compile(optimizer=sj.optim.Adam(lr=lr, clipnorm=1.0),
                  loss=sj.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    epochs = int(os.environ.get("SHENJING_EPOCHS", 2))
    print(f"{kind}: {tokenizer.vocab_size} characters, {len(x)} training windows of "
          f"{SEQ_LEN}, {epochs} epoch(s)")
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=1,
              validation_data=(x_val, y_val))
    loss, accuracy = model.evaluate(x_val, y_val, batch_size=256)
    entropy = text.unigram_entropy(y_val.reshape(-1))
    print(f"validation loss {loss:.3f} nats/char (unigram entropy {entropy:.3f}), "
          f"next-character accuracy {100 * accuracy:.1f}%")
    for prompt in ("The ", "Shall I "):
        sample = text.generate(model, tokenizer, prompt, length=300, temperature=0.8,
                               top_k=10, context=SEQ_LEN)
        print(f"\n--- sample from {prompt!r} (temperature 0.8, top-k 10) ---\n{sample}")
    print(f"\nTest Accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "lstm")
