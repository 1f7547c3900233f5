#!/bin/sh
# A small, seeded training run in POSIX shell and awk: fit y = a*x + b by
# gradient descent on noisy synthetic points. Hyperparameters come from
# xrun's XRUN_PARAM_* variables, the seed from XRUN_SEED; metrics go to
# $XRUN_METRICS, the model to $XRUN_OUTPUT (or ./out).
#
#     xrun run -p lr=0.01 -p epochs=50 -o out examples/train.sh
#
# (In the sandbox the working directory is read-only; -o out makes ./out
# writable and sets $XRUN_OUTPUT.)
set -eu

lr=${XRUN_PARAM_lr:-0.01}
epochs=${XRUN_PARAM_epochs:-50}
seed=${XRUN_SEED:-0}
out=${XRUN_OUTPUT:-out}
metrics=${XRUN_METRICS:-/dev/null}
mkdir -p "$out"

awk -v lr="$lr" -v epochs="$epochs" -v seed="$seed" -v metrics="$metrics" \
    -v model="$out/model.txt" 'BEGIN {
	# awk seeds with a number: fold the 64-bit seed into 31 bits.
	srand(seed % 2147483647)
	n = 200
	for (i = 0; i < n; i++) {
		x[i] = rand() * 4 - 2
		y[i] = 3 * x[i] + 0.5 + (rand() - 0.5) * 0.2
	}
	a = 0; b = 0
	for (e = 1; e <= epochs; e++) {
		ga = 0; gb = 0; loss = 0
		for (i = 0; i < n; i++) {
			d = a * x[i] + b - y[i]
			loss += d * d
			ga += 2 * d * x[i]
			gb += 2 * d
		}
		a -= lr * ga / n
		b -= lr * gb / n
		loss /= n
		printf "epoch %d: loss %.6f a %.4f b %.4f\n", e, loss, a, b
		printf "{\"step\": %d, \"loss\": %.9g}\n", e, loss >> metrics
	}
	printf "a %.9g\nb %.9g\n", a, b > model
}'
echo "model written to $out/model.txt"
