"""Results files for the analysis tests: made by epbench's own commands, or fabricated with
h5py in the shapes those commands write (serve_file, evaluate_file)."""
import os
import subprocess

import numpy as np

MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_mpi_yield_when_idle="1")


def epbench(exe, *args, ranks=None):
    cmd = [exe, *map(str, args)]
    if ranks:
        # ctest passes the mpiexec CMake found and its flags (OpenMPI: --oversubscribe).
        launcher = os.environ.get("EPBENCH_MPIEXEC", "mpirun")
        flags = os.environ.get("EPBENCH_MPIEXEC_FLAGS", "--oversubscribe").split()
        cmd = [launcher, "-np", str(ranks), *flags, *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, env=MPI_ENV, timeout=600)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def make_trace(exe, d, model, requests=60):
    path = os.path.join(d, f"{model}.h5")
    epbench(exe, "trace", "synth", "--model", model, "--requests", requests, "--prompt-len", "16:64",
            "--decode-len", "8:32", "--seed", 3, "--calib-iters", 2, "-o", path)
    return path


def place(exe, d, trace, algo, nodes, gpus):
    path = os.path.join(d, f"{algo}-{nodes}x{gpus}.json")
    epbench(exe, "place", "--trace", trace, "--fit", "0%:50%", "--algo", algo, "--nodes", nodes,
            "--gpus-per-node", gpus, "-o", path)
    return path


def run(exe, d, trace, ranks, algos=("round-robin", "eplb")):
    """Measured: `epbench run` on `ranks` ranks in virtual nodes of 2."""
    layouts = [place(exe, d, trace, a, ranks // 2, 2) for a in algos]
    path = os.path.join(d, f"run-{ranks}.h5")
    epbench(exe, "run", "--trace", trace, "--layouts", ",".join(layouts), "--ranks-per-node", 2,
            "--scale", "0.0625", "--batch-sizes", "1,8", "--steps", 3, "--warmup", 1,
            "--routing", "least-loaded", "-o", path, ranks=ranks)
    return path


def evaluate(exe, d, trace, name, *extra):
    layouts = [place(exe, d, trace, a, 2, 4) for a in ("round-robin", "balanced")]
    path = os.path.join(d, name)
    epbench(exe, "evaluate", "--trace", trace, "--layouts", ",".join(layouts), "--batch-sizes", "1,16",
            "--steps", 20, *extra, "-o", path)
    return path


# Results files fabricated with h5py (no epbench needed), every name from src/results/schema.json.

def _root(f, tool, model):
    from epbench_analysis import schema
    f.attrs[schema.attr("format")] = schema.FORMAT
    f.attrs[schema.attr("version")] = np.int64(schema.VERSION)
    f.attrs[schema.attr("tool")] = tool
    f.attrs[schema.attr("model")] = model
    f.attrs[schema.attr("trace")] = f"traces/{model}.h5"
    f.attrs[schema.attr("git_revision")] = "fabricated"
    f.attrs[schema.attr("created_at")] = "2026-12-04T00:00:00Z"
    return f.create_group(schema.RUNS_GROUP)


def nearest_rank(values, q):
    """The tool's percentile (src/results/serve_summary.cpp): nearest rank of the sorted sample."""
    v = np.sort(np.asarray(values, float))
    if len(v) == 0:
        return 0.0
    return float(v[min(max(int(np.ceil(q * len(v))), 1), len(v)) - 1])


def serve_requests(rng, rate, requests, tpot):
    """Arrivals at `rate`/s, first tokens after a queueing delay, tokens `tpot` s apart."""
    arrival = np.cumsum(rng.exponential(1 / rate, requests))
    output = rng.integers(1, 24, requests).astype(np.uint32)
    output[0] = 1  # one request of a single token: no TPOT
    first = arrival + rng.uniform(0.01, 0.2, requests) * (1 + rate / 8)
    offsets = np.concatenate([[0], np.cumsum(output)]).astype(np.uint64)
    token_time = np.concatenate([first[r] + tpot * (1 + 0.1 * rng.random()) * np.arange(output[r])
                                 for r in range(requests)])
    finish = token_time[offsets[1:] - 1]
    return {"arrival": arrival, "admitted": arrival + 0.001, "first_token": first, "finish": finish,
            "output_tokens": output, "prompt_tokens": rng.integers(16, 64, requests).astype(np.uint32),
            "preemptions": (rng.random(requests) < 0.1).astype(np.uint32),
            "home": rng.integers(0, 8, requests).astype(np.int32),
            "trace_request": np.arange(requests, dtype=np.uint64), "token_offset": offsets,
            "token_time": token_time}


def write_serve_run(group, layout, routing, policy, rate=0.0, users=0, requests=40, slo_ttft=0.5,
                    slo_tpot=0.05, seed=0, saturated=None):
    """One serve run group: config, serving and latency attributes, requests/* and steps/*."""
    from epbench_analysis import schema
    rng = np.random.default_rng(seed)
    q = serve_requests(rng, rate if rate > 0 else 2.0 * users, requests, 0.004 * (1 + (rate or users) / 10))
    for name, values in q.items():
        group[schema.dataset(f"requests/{name}")] = values
    steps = 30
    start = np.linspace(0, q["finish"].max(), steps)
    time = np.full(steps, start[1] - start[0])
    for name, values in {"start": start, "time": time, "moe": 0.6 * time, "non_moe": 0.3 * time,
                         "overhead": 0.1 * time, "dispatch": 0.2 * time, "compute": 0.3 * time,
                         "combine": 0.1 * time, "occupancy": rng.random(steps),
                         "kv_max": rng.integers(0, 500, steps).astype(float),
                         "kv_total": rng.integers(0, 4000, steps).astype(float)}.items():
        group[schema.dataset(f"steps/{name}")] = values
    for name in ("prefill_tokens", "decode_tokens", "running", "waiting", "tokens"):
        group[schema.dataset(f"steps/{name}")] = rng.integers(0, 64, steps).astype(np.uint32)
    group[schema.dataset("steps/prefill")] = (rng.random(steps) < 0.3).astype(np.uint8)
    ttft = q["first_token"] - q["arrival"]
    many = q["output_tokens"] > 1
    tpot = (q["finish"] - q["first_token"])[many] / (q["output_tokens"][many].astype(float) - 1)
    e2e = q["finish"] - q["arrival"]
    per_request_tpot = np.where(many, (q["finish"] - q["first_token"]) /
                                np.maximum(q["output_tokens"].astype(float) - 1, 1), 0)
    good = ((ttft <= slo_ttft) | (slo_ttft <= 0)) & ((per_request_tpot <= slo_tpot) | (slo_tpot <= 0))
    duration = q["finish"].max() - q["arrival"].min()
    a = group.attrs
    text = {"layout": f"/layouts/{layout}.json", "algorithm": layout, "routing": routing,
            "allocation": "round-robin", "batching": "continuous", "backend": "serving-model",
            "dtype": "bf16", "policy": policy, "arrival": "poisson" if rate > 0 else "closed",
            "step_cost": "full", "priced_model": "mixtral-8x7b"}
    for name, value in text.items():
        a[schema.attr(name)] = value
    ints = {"world_size": 8, "nodes": 2, "gpus_per_node": 4, "batch_size": 0, "users": users,
            "token_budget": 8192, "max_running": 0, "seed": seed, "requests": requests,
            "steps": steps, "preemptions": int(q["preemptions"].sum()),
            "output_tokens": int(q["output_tokens"].sum()), "prompt_tokens": int(q["prompt_tokens"].sum()),
            "saturated": int(rate > 20 if saturated is None else saturated)}
    for name, value in ints.items():
        a[schema.attr(name)] = np.int64(value)
    floats = {"rate": rate, "cv": 1.0, "think_time": 0.0, "slo_ttft": slo_ttft, "slo_tpot": slo_tpot,
              "duration": duration, "offered_rate": (requests - 1) / np.ptp(q["arrival"]),
              "request_throughput": requests / duration,
              "output_tokens_per_s": q["output_tokens"].sum() / duration,
              "slo_attainment": good.mean(), "goodput": good.sum() / duration}
    for p in (50, 90, 99):
        floats[f"ttft_p{p}"] = nearest_rank(ttft, p / 100)
        floats[f"tpot_p{p}"] = nearest_rank(tpot, p / 100)
        floats[f"e2e_p{p}"] = nearest_rank(e2e, p / 100)
    for name, value in floats.items():
        a[schema.attr(name)] = np.float64(value)


def serve_file(path, model="mixtral-8x7b", layouts=("round-robin", "eplb"), policies=("fcfs", "chunked"),
               rates=(2.0, 8.0, 32.0), users=(), routing="first"):
    """A file shaped as `epbench serve` writes it: one run per layout, policy and rate (and
    closed-loop user count), named layout.routing.policy.rateX / .usersN."""
    import h5py
    with h5py.File(path, "w") as f:
        runs = _root(f, "serve", model)
        seed = 0
        for layout in layouts:
            for policy in policies:
                for rate in rates:
                    seed += 1
                    write_serve_run(runs.create_group(f"{layout}.{routing}.{policy}.rate{rate:g}"), layout,
                                    routing, policy, rate=rate, seed=seed)
                for n in users:
                    seed += 1
                    write_serve_run(runs.create_group(f"{layout}.{routing}.{policy}.users{n}"), layout,
                                    routing, policy, users=n, seed=seed)
    return path


def evaluate_file(path, model="mixtral-8x7b", layouts=("round-robin", "balanced"), batch_sizes=(1, 16),
                  steps=5, moe_layers=3, gpus=8):
    """A file shaped as `epbench evaluate` writes it: [S,L,G] cubes per run."""
    import h5py
    from epbench_analysis import schema
    rng = np.random.default_rng(7)
    with h5py.File(path, "w") as f:
        runs = _root(f, "evaluate", model)
        for layout in layouts:
            for b in batch_sizes:
                g = runs.create_group(f"{layout}.least-loaded.b{b}")
                shape = (steps, moe_layers, gpus)
                times = {p: rng.uniform(1e-4, 1e-3, shape) * (1 + b / 8) for p in schema.PHASES}
                for p, t in times.items():
                    g[schema.dataset(f"time/{p}")] = t
                g[schema.dataset("tokens/per_gpu")] = rng.integers(0, 100, shape).astype(np.uint32)
                step = sum(t.max(axis=2).sum(axis=1) for t in times.values())
                a = g.attrs
                for name, value in {"layout": f"/layouts/{layout}.json", "algorithm": layout,
                                    "routing": "least-loaded", "allocation": "round-robin",
                                    "batching": "decode", "backend": "cost-model", "dtype": "bf16"}.items():
                    a[schema.attr(name)] = value
                for name, value in {"batch_size": b, "world_size": gpus, "nodes": 2, "gpus_per_node": gpus // 2,
                                    "steps": steps, "tokens": steps * b}.items():
                    a[schema.attr(name)] = np.int64(value)
                comm = sum(times[p].max(axis=2).sum() for p in ("dispatch", "combine")) / step.sum()
                for name, value in {"tokens_per_s": steps * b / step.sum(), "step_time_mean": step.mean(),
                                    "step_time_p50": float(np.median(step)), "step_time_p99": step.max(),
                                    "comm_share": comm, "imbalance": 1.2,
                                    "lower_bound_time": 0.8 * step.sum(), "gap_to_lower_bound": 1.25}.items():
                    a[schema.attr(name)] = np.float64(value)
    return path


def serve(exe, d, trace, rates="2,50", policies="fcfs,chunked", name="serve.h5"):
    """Predicted serving: `epbench serve` of two placements at the given rates and policies."""
    layouts = [place(exe, d, trace, a, 2, 4) for a in ("round-robin", "balanced")]
    path = os.path.join(d, name)
    epbench(exe, "serve", "--trace", trace, "--layouts", ",".join(layouts), "--rate", rates, "--policy",
            policies, "--requests", 30, "--slo-ttft", "100ms", "--slo-tpot", "5ms", "-o", path)
    return path
