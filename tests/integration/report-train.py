#!/usr/bin/python3
# A real scikit-learn training for the report tests: a linear classifier
# on the digits, trained epoch by epoch with SGD, one JSON line of
# metrics per epoch to $XRUN_METRICS. Params: XRUN_PARAM_lr (the step
# size), XRUN_PARAM_epochs; the seed is xrun's.
import json
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

lr = float(os.environ.get("XRUN_PARAM_lr", "0.01"))
epochs = int(os.environ.get("XRUN_PARAM_epochs", "5"))
seed = int(os.environ.get("XRUN_SEED", "0")) % (2**32)

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25,
                                          random_state=0)
clf = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=lr,
                    random_state=seed)
classes = np.unique(y)
rng = np.random.default_rng(seed)
with open(os.environ["XRUN_METRICS"], "a") as m:
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X_tr))
        clf.partial_fit(X_tr[order], y_tr[order], classes=classes)
        loss = log_loss(y_tr, clf.predict_proba(X_tr), labels=classes)
        acc = float((clf.predict(X_va) == y_va).mean())
        m.write(json.dumps({"step": epoch, "loss": loss,
                            "val_accuracy": acc}) + "\n")
        m.flush()
print("final val_accuracy %.4f" % acc)
