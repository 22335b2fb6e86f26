"""Iris with the PyTorch-style low-level API: Module, DataLoader, F.cross_entropy, an optimizer.

    python examples/iris_manual_loop.py            # SHENJING_EPOCHS=5 for a quick run

The same network as seed 002 (4 → 64 → 32 → 3), written as an explicit training loop.
"""
import os

import shenjing as sj
from shenjing.nn import functional as F

EPOCHS = int(os.environ.get("SHENJING_EPOCHS", 50))
sj.manual_seed(int(os.environ.get("SHENJING_SEED", 0)))

# The seed's split (train_test_split(test_size=0.2, random_state=42)), standardised.
(x_train, y_train), (x_test, y_test) = sj.data.load_iris()
loader = sj.data.DataLoader(sj.data.TensorDataset(x_train, y_train), batch_size=16,
                            shuffle=True)

model = sj.nn.Sequential([
    sj.nn.Linear(4, 64), sj.nn.ReLU(),
    sj.nn.Linear(64, 32), sj.nn.ReLU(),
    sj.nn.Linear(32, 3),                 # logits: cross_entropy applies log-softmax itself
])
opt = sj.optim.Adam(model.parameters(), lr=1e-2)

for epoch in range(EPOCHS):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        total += loss.item() * len(y)
        count += len(y)
    if (epoch + 1) % 10 == 0 or epoch + 1 == EPOCHS:
        print(f"epoch {epoch + 1}/{EPOCHS}  loss {total / count:.4f}")

model.eval()
with sj.no_grad():
    logits = model(sj.tensor(x_test))
accuracy = (logits.argmax(axis=1).numpy() == y_test).mean()
print(f"Test Accuracy: {accuracy:.4f}")
