"""Results files made by epbench's own commands, for the analysis tests."""
import os
import subprocess

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
