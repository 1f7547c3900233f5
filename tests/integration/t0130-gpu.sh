#!/bin/bash
# --gpu: the NVIDIA device nodes and /dev/dri reach the sandbox, the
# driver's /proc and /sys entries are readable; without --gpu they are not.
. "$top_srcdir/tests/integration/lib.sh"
cd "$T" || exit 1

# Without a GPU, --gpu still runs and says so in the record.
"$XRUN" -q run --gpu sh -c 'ls /dev' >out 2>&1
is "$?" 0 "--gpu runs on any machine"
rec=$(latest_record)
is "$(jget "$rec" 'd["sandbox"]["gpu"]')" true "the record says gpu"
check "the record validates" -- validate "$rec"

if ! ls /dev/nvidia[0-9]* >/dev/null 2>&1; then
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n # SKIP no NVIDIA GPU on this machine (/dev/nvidia0 missing): devices, nvidia-smi, CUDA"
	done_testing
	exit
fi

"$XRUN" -q run sh -c 'ls /dev/nvidia0 /dev/nvidiactl' >out 2>&1
isnt_zero=$?
ok $((isnt_zero == 0)) "without --gpu the devices are not there"
"$XRUN" -q run --gpu sh -c 'ls /dev/nvidia0 /dev/nvidiactl && cat /proc/driver/nvidia/version' >out 2>&1
is "$?" 0 "with --gpu the devices and the driver's version are there"
if command -v nvidia-smi >/dev/null 2>&1; then
	"$XRUN" -q run --gpu nvidia-smi -L >out 2>&1
	is "$?" 0 "nvidia-smi works in the sandbox"
	like "$(cat out)" "^GPU 0" "... and lists the GPU"
fi
# A Python with a CUDA-enabled torch: Debian's, or the first python3 on
# PATH (GPU machines often have their own).
torch_py=
for py in /usr/bin/python3 "$(command -v python3)"; do
	if [ -x "$py" ] && "$py" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
		torch_py=$py
		break
	fi
done
if [ -n "$torch_py" ]; then
	"$XRUN" -q run --gpu "$torch_py" -c 'import torch; x = torch.ones(1000, device="cuda"); print(float(x.sum()))' >out 2>&1
	like "$(cat out)" "^1000.0" "a CUDA computation runs in the sandbox"
	# A deterministic training run on the GPU replays bit for bit.
	cat >train_gpu.py <<'PY'
import os, torch
torch.manual_seed(int(os.environ["XRUN_SEED"]))
torch.use_deterministic_algorithms(True)
X = torch.randn(4096, 64, device="cuda")
y = X @ torch.randn(64, 1, device="cuda") + 0.1 * torch.randn(4096, 1, device="cuda")
m = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                        torch.nn.Linear(128, 1)).cuda()
opt = torch.optim.SGD(m.parameters(), lr=0.01)
for step in range(200):
    opt.zero_grad()
    loss = ((m(X) - y) ** 2).mean()
    loss.backward()
    opt.step()
os.makedirs("model", exist_ok=True)
with open("model/weights.bin", "wb") as f:
    for p in m.parameters():
        f.write(p.detach().cpu().numpy().tobytes())
print("loss %.10f" % loss.item())
PY
	"$XRUN" -q run --gpu --deterministic --seed 7 -o model -- "$torch_py" train_gpu.py >out 2>&1
	is "$?" 0 "a deterministic CUDA training run succeeds"
	[ -s model/weights.bin ] || sed 's/^/#   /' out
	"$XRUN" replay latest >out 2>&1
	is "$?" 0 "... and replays"
	like "$(cat out)" "^xrun: reproduced: 1 output file" "... bit for bit"
fi
if have_test_user; then
	mkdir "$T/u" && chmod 777 "$T/u"
	(cd "$T/u" && as_user "$XRUN" -q --store "$T/u/.xrun" run --gpu sh -c 'ls /dev/nvidia0') >out 2>&1
	is "$?" 0 "an ordinary user gets the devices with --gpu"
fi

done_testing
