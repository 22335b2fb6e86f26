"""Seed 002, §5 (Iris with the Keras API), translated line for line to shenjing.

    python examples/iris_keras_style.py            # SHENJING_EPOCHS=100 for a longer run

With the seed's 10 epochs (30 Adam steps at lr=1e-3) the test accuracy is about 93% (seed 0);
SHENJING_EPOCHS=100 gives about 97%.

Two changes from the seed's TensorFlow program, both marked below:
* the import lines (``shenjing`` instead of ``tensorflow.keras``);
* the loss: the seed pairs integer labels (0, 1, 2) with 'categorical_crossentropy', which
  expects one-hot rows; that is a mistake in the seed.  Integer labels go with
  'sparse_categorical_crossentropy' (or one-hot the labels and keep 'categorical_crossentropy').
"""
import os

from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import shenjing as sj

# seed: from tensorflow.keras.models import Sequential
# seed: from tensorflow.keras.layers import Dense, Activation
from shenjing import Sequential
from shenjing.nn import Activation, Dense  # noqa: F401  (Activation: imported, unused, as in the seed)

EPOCHS = int(os.environ.get("SHENJING_EPOCHS", 10))   # the seed trains 10 epochs
sj.manual_seed(int(os.environ.get("SHENJING_SEED", 0)))  # repeatable runs (not in the seed)

# 5.2.1 Data: load, split, standardise
iris = load_iris()
X = iris.data
y = iris.target

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)

scaler = StandardScaler()
X_train = scaler.fit_transform(X_train)
X_test = scaler.transform(X_test)

# 5.2.2 Model
model = Sequential()

model.add(Dense(units=64, input_dim=4, activation='relu'))
model.add(Dense(units=32, activation='relu'))

model.add(Dense(units=3, activation='softmax'))

# 5.2.3 Training (seed: loss='categorical_crossentropy', see the note at the top)
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
model.fit(X_train, y_train, epochs=EPOCHS, batch_size=32, validation_split=0.2)

# 5.2.4 Evaluation
loss, accuracy = model.evaluate(X_test, y_test)
print(f"Test Loss: {loss}")
print(f"Test Accuracy: {accuracy}")
