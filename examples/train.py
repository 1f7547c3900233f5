#!/usr/bin/env python3
"""A small, seeded training run: logistic regression by gradient descent on
synthetic data, in plain Python so it needs nothing but the interpreter.

Reads its hyperparameters from xrun ($XRUN_PARAMS: lr, epochs, n), its seed
from $XRUN_SEED, appends metrics to $XRUN_METRICS and writes the model to
$XRUN_OUTPUT (or ./out). Run it with:

    xrun run -p lr=0.5 -p epochs=20 -o out examples/train.py

In the sandbox the working directory is read-only: -o out makes ./out
writable and sets $XRUN_OUTPUT to it.
"""
import json
import math
import os
import random


def load_params():
    params = {"lr": 0.5, "epochs": 20, "n": 400}
    path = os.environ.get("XRUN_PARAMS")
    if path:
        with open(path) as f:
            params.update(json.load(f))
    return params


def main():
    params = load_params()
    seed = int(os.environ.get("XRUN_SEED", "0"))
    rng = random.Random(seed)
    # Two Gaussian blobs, labels 0 and 1.
    data = []
    for i in range(int(params["n"])):
        label = i % 2
        cx = 1.0 if label else -1.0
        data.append(((rng.gauss(cx, 1.0), rng.gauss(cx, 1.0)), label))
    w = [rng.gauss(0, 0.1), rng.gauss(0, 0.1)]
    b = 0.0
    metrics = os.environ.get("XRUN_METRICS")
    mf = open(metrics, "a") if metrics else None
    for epoch in range(int(params["epochs"])):
        rng.shuffle(data)
        loss = 0.0
        correct = 0
        for (x1, x2), y in data:
            z = w[0] * x1 + w[1] * x2 + b
            p = 1.0 / (1.0 + math.exp(-z))
            loss -= math.log(max(p if y else 1 - p, 1e-12))
            correct += (p >= 0.5) == bool(y)
            g = p - y
            w[0] -= params["lr"] * g * x1 / len(data)
            w[1] -= params["lr"] * g * x2 / len(data)
            b -= params["lr"] * g / len(data)
        loss /= len(data)
        acc = correct / len(data)
        print(f"epoch {epoch + 1}: loss {loss:.4f} acc {acc:.3f}", flush=True)
        if mf:
            mf.write(json.dumps({"step": epoch + 1, "loss": loss, "acc": acc}) + "\n")
            mf.flush()
    outdir = os.environ.get("XRUN_OUTPUT") or "out"
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "model.json"), "w") as f:
        json.dump({"w": w, "b": b, "seed": seed}, f)
    print(f"model written to {os.path.join(outdir, 'model.json')}")


if __name__ == "__main__":
    main()
