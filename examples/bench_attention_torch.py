"""PyTorch's twin of examples/bench_attention.cpp: forward + backward of attention's core,
softmax(Q K^T / sqrt(Dh)) V in every head (B = 1, H = 8, Dh = 64, causal and not), for T = S = 256 ..
16,384, in milliseconds and peak memory (growth of the peak resident set). Debian's PyTorch 1.13 has no
fused attention for the CPU, so this is the composition nn.MultiheadAttention runs: every [T,S] score map
is made, and memory grows with T^2. Sizes whose score maps would not fit in --memory-gib are skipped,
with a line on stderr saying where the rows stop.
    /usr/bin/python3 examples/bench_attention_torch.py --csv --threads 2
Each size runs in a child process of its own so that its peak memory is its own.
"""
import argparse
import subprocess
import sys
import time

HEADS, HEAD_DIM = 8, 64
# The composition keeps about five [B,H,T,S] float tensors alive at its peak: the scores, the masked
# scores (causal), the weights, and in the backward the gradients of the weights and of the scores.
MAPS_AT_PEAK = 5


def status_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def reset_peak():
    """Lets VmHWM restart from the current resident set (Linux: clear_refs 5); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure(T, causal, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, HEADS, T, HEAD_DIM, requires_grad=True) for _ in range(3))
    w = torch.randn(1, HEADS, T, HEAD_DIM)
    above_diagonal = torch.ones(T, T, dtype=torch.bool).triu(1) if causal else None

    def step():
        scores = q @ k.transpose(-2, -1) / HEAD_DIM**0.5  # [B,H,T,S]
        if causal:
            scores = scores.masked_fill(above_diagonal, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v  # [B,H,T,Dh]
        (out * w).sum().backward()

    runs = 1 if T >= 8192 else 3 if T >= 2048 else 5
    before = status_mib("VmRSS") if reset_peak() else status_mib("VmHWM")
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        best = min(best, (time.perf_counter() - t0) * 1000)
    return best, status_mib("VmHWM") - before


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", action="store_true", help="print rows impl,causal,T,threads,ms,peak_mib")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (1..256)")
    parser.add_argument("--min-T", type=int, default=256, help="the shortest sequence (doubled up to --max-T)")
    parser.add_argument("--max-T", type=int, default=16384, help="the longest sequence (1..16384)")
    parser.add_argument("--memory-gib", type=int, default=4, help="skip sizes whose maps take more (GiB)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # T,causal: one measurement (the child)
    a = parser.parse_args()
    if not 1 <= a.threads <= 256 or not 1 <= a.min_T <= a.max_T <= 16384 or a.memory_gib < 1:
        parser.error("--threads in 1..256, 1 <= --min-T <= --max-T <= 16384, --memory-gib >= 1")
    if a.one:
        T, causal = (int(x) for x in a.one.split(","))
        print("%.3f %.1f" % measure(T, bool(causal), a.threads))
        return
    rows = []
    T = a.min_T
    while T <= a.max_T:
        maps_mib = MAPS_AT_PEAK * HEADS * T * T * 4 / 2**20
        if maps_mib > a.memory_gib * 1024:
            print("bench_attention_torch: rows stop before T=%d: its %d score maps would take %.0f MiB > %d GiB"
                  % (T, MAPS_AT_PEAK, maps_mib, a.memory_gib), file=sys.stderr)
            break
        for causal in (0, 1):
            child = subprocess.run([sys.executable, __file__, "--one", "%d,%d" % (T, causal),
                                    "--threads", str(a.threads)], capture_output=True, text=True, check=True)
            ms, mib = (float(x) for x in child.stdout.split())
            rows.append(("torch", causal, T, a.threads, ms, mib))
            if not a.csv:
                print("torch        causal=%d T=%6d threads=%d  %10.1f ms  %8.1f MiB" % (causal, T, a.threads, ms, mib),
                      flush=True)
        T *= 2
    if a.csv:
        print("impl,causal,T,threads,ms,peak_mib")
        for r in rows:
            print("%s,%d,%d,%d,%.2f,%.1f" % r)


if __name__ == "__main__":
    main()
