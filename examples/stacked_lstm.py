"""Seed 000's stacked-LSTM program, line for line in shenjing.

The seed (a Keras/TensorFlow listing, "简单的递归神经网络") defines two functions: a
``Sequential`` of ``LSTM(64, return_sequences=True, input_shape=...)``, ``LSTM(64)`` and
``Dense(num_classes, activation='softmax')``, and a training function that compiles with
Adam and categorical cross-entropy and fits with validation data.  The seed gives no data, so
this program makes a synthetic task in their place: noisy sine waves whose frequency (one of
``num_classes``) is the class, as one-hot labels for ``categorical_crossentropy``.

    python examples/stacked_lstm.py            # 10 epochs; SHENJING_EPOCHS=2: 93%, ~6 s
"""
import os

import numpy as np

import shenjing as sj
from shenjing.nn import LSTM, Dense
from shenjing.train.model import Sequential


# 定义简单的递归神经网络 (define the simple recurrent network)
def simple_rnn(input_shape, num_classes):
    model = Sequential([
        LSTM(64, return_sequences=True, input_shape=input_shape),
        LSTM(64),
        Dense(num_classes, activation='softmax')
    ])

    return model


# 编译和训练简单的递归神经网络 (compile and train it)
def train_simple_rnn(model, X_train, y_train, X_test, y_test, epochs, batch_size):
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    model.fit(X_train, y_train, epochs=epochs, batch_size=batch_size,
              validation_data=(X_test, y_test))


def make_waves(n, timesteps=30, num_classes=4, seed=0):
    """Noisy sines with random phase and amplitude; class k has frequency (k + 1)/timesteps
    cycles per step.  Returns float32 (n, timesteps, 1) inputs and one-hot (n, classes)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, n)
    t = np.arange(timesteps)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    amplitude = rng.uniform(0.5, 1.5, (n, 1))
    waves = amplitude * np.sin(2 * np.pi * (labels[:, None] + 1) * t / timesteps + phase)
    x = waves + 0.3 * rng.standard_normal((n, timesteps))
    return x[..., None].astype(np.float32), np.eye(num_classes, dtype=np.float32)[labels]


if __name__ == "__main__":
    sj.manual_seed(0)
    X_train, y_train = make_waves(2000, seed=1)
    X_test, y_test = make_waves(500, seed=2)
    model = simple_rnn(input_shape=X_train.shape[1:], num_classes=y_train.shape[1])
    epochs = int(os.environ.get("SHENJING_EPOCHS", 10))
    train_simple_rnn(model, X_train, y_train, X_test, y_test, epochs=epochs, batch_size=32)
    loss, accuracy = model.evaluate(X_test, y_test)
    print(f"Test Loss: {loss:.4f}")
    print(f"Test Accuracy: {accuracy:.4f}")
