"""One function per figure; each takes the runs table and a path and writes one PNG."""
import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .results import PHASES, pareto_front  # noqa: E402

PHASE_COLOURS = {"dispatch": "#4C72B0", "compute": "#55A868", "combine": "#C44E52"}


def _source(runs):
    kinds = set(runs["tool"])
    return "measured" if kinds == {"run"} else "predicted" if kinds == {"evaluate"} else "measured and predicted"


def _label(row, with_gpus):
    label = f"{row['algorithm']}\n{row['routing']}/{row['batching']}"
    return label + f"\n{row['world_size']} GPUs" if with_gpus else label


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def phases(runs, path):
    """Dispatch, compute and combine stacked per placement, one panel per batch size."""
    sizes = sorted(runs["batch_size"].unique())
    with_gpus = runs["world_size"].nunique() > 1
    widest = max(len(runs[runs["batch_size"] == b]) for b in sizes)
    fig, axes = plt.subplots(1, len(sizes), figsize=(max(6, 0.55 * widest * len(sizes) + 2), 4.8),
                             squeeze=False, sharey=False)
    for ax, b in zip(axes[0], sizes):
        sub = runs[runs["batch_size"] == b].sort_values(["world_size", "algorithm", "routing", "batching"])
        x = np.arange(len(sub))
        bottom = np.zeros(len(sub))
        for p in PHASES:
            ms = sub[f"{p}_s"].to_numpy() * 1e3
            ax.bar(x, ms, bottom=bottom, color=PHASE_COLOURS[p], label=p, width=0.7)
            bottom += ms
        ax.set_xticks(x, [_label(r, with_gpus) for _, r in sub.iterrows()], rotation=60, ha="right", fontsize=7)
        ax.set_title(f"batch size {b}")
        ax.set_ylabel("time per step (ms)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle(f"Step time by phase ({_source(runs)}; slowest rank per layer, mean over steps)", y=0.99)
    # between the title and the panels, never on a bar
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.94), ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def pareto(runs, path):
    """Throughput against per-token latency (a decoding request gets one token per step)."""
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for strategy, sub in runs.groupby("strategy"):
        ax.scatter(sub["step_time_mean"] * 1e3, sub["tokens_per_s"], label=strategy, s=18 + 4 * np.sqrt(sub["batch_size"]))
    front = pareto_front(runs["step_time_mean"].to_numpy(), runs["tokens_per_s"].to_numpy())
    ax.plot(runs["step_time_mean"].to_numpy()[front] * 1e3, runs["tokens_per_s"].to_numpy()[front],
            "k--", linewidth=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("per-token latency: mean step time (ms)")
    ax.set_ylabel("throughput (tokens/s)")
    ax.set_title(f"Throughput against latency ({_source(runs)}; marker size: batch size)")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _save(fig, path)


def scaling(runs, path):
    """Tokens/s and communication share against GPU count, at each strategy's largest batch."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for strategy, sub in runs.groupby("strategy"):
        top = sub[sub["batch_size"] == sub["batch_size"].max()].sort_values("world_size")
        left.plot(top["world_size"], top["tokens_per_s"], "o-", label=f"{strategy} (b{top['batch_size'].iloc[0]})")
        right.plot(top["world_size"], 100 * top["comm_share"], "o-")
    gpus = sorted(runs["world_size"].unique())
    for ax in (left, right):
        ax.set_xlabel("GPUs (ranks)")
        ax.set_xticks(gpus)
    left.set_ylabel("throughput (tokens/s)")
    right.set_ylabel("communication share of step time (%)")
    right.set_ylim(0, 100)
    left.set_title(f"Scaling ({_source(runs)})")
    right.set_title("Dispatch + combine share")
    fig.legend(fontsize=7, loc="lower center", ncol=3, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def load_heatmaps(runs, path):
    """Token-expert pairs per GPU and layer over the run, relative to the layer's mean GPU:
    one panel per placement, at the largest GPU count and batch size, first routing."""
    top = runs[(runs["world_size"] == runs["world_size"].max())]
    top = top[top["batch_size"] == top["batch_size"].max()]
    top = top[top["routing"] == sorted(top["routing"].unique())[0]].drop_duplicates("layout")
    n = len(top)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    relative = [_relative_load(run["load_per_gpu"]) for _, run in top.iterrows()]
    vmax = max(1.5, max(r.max() for r in relative))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols + 1.2, 3.0 * rows + 0.8), squeeze=False,
                             sharex=True, sharey=True, constrained_layout=True)
    image = None
    for i, (ax, (_, run)) in enumerate(zip(axes.flat, top.iterrows())):
        image = ax.imshow(relative[i], aspect="auto", cmap="RdBu_r", vmin=2 - vmax, vmax=vmax)
        ax.set_title(f"{run['algorithm']} ({run['routing']})", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("GPU (rank)")
    for ax in axes[:, 0]:
        ax.set_ylabel("MoE layer")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.colorbar(image, ax=axes, shrink=0.8, label="load / mean GPU load of the layer")
    fig.suptitle(f"Per-GPU load, batch size {top['batch_size'].iloc[0]}, {top['world_size'].iloc[0]} GPUs")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _relative_load(load):
    load = load.astype(float)
    return load / np.maximum(load.mean(axis=1, keepdims=True), 1e-12)


def predicted_vs_measured(runs, path):
    """The cost model's step time against the measured one, per configuration."""
    measured = runs[runs["tool"] == "run"]
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for algorithm, sub in measured.groupby("algorithm"):
        ax.scatter(sub["step_time_mean"] * 1e3, sub["predicted_step_time_mean"] * 1e3, label=algorithm, s=22)
    values = np.concatenate([measured["step_time_mean"], measured["predicted_step_time_mean"]]) * 1e3
    lo, hi = values.min() / 1.5, values.max() * 1.5
    ax.plot([lo, hi], [lo, hi], "k--", linewidth=1, label="predicted = measured")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured mean step time (ms)")
    ax.set_ylabel("predicted mean step time (ms)")
    ax.set_title("Cost model against measurement")
    ax.legend(fontsize=8)
    _save(fig, path)


def placements_ranked(runs, path):
    """Each placement's step time over the placement-free lower bound (1 = optimal), at the
    largest batch size of the largest GPU count."""
    top = runs[runs["world_size"] == runs["world_size"].max()]
    top = top[top["batch_size"] == top["batch_size"].max()].sort_values("gap_to_lower_bound", ascending=False)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(top) + 1.8))
    labels = [f"{r['algorithm']} / {r['routing']} / {r['batching']}" for _, r in top.iterrows()]
    ax.barh(labels, top["gap_to_lower_bound"], color="#4C72B0")
    ax.axvline(1.0, color="k", linestyle="--", linewidth=1, label="lower bound")
    ax.set_xlabel("step time / lower bound (1 = optimal)")
    ax.set_title(f"Placements ranked ({_source(top)}), batch size {top['batch_size'].iloc[0]}, "
                 f"{top['world_size'].iloc[0]} GPUs")
    ax.legend(fontsize=8, loc="upper right")
    _save(fig, path)


# name -> (function, applies to these runs?)
FIGURES = {
    "phases": (phases, lambda r: True),
    "pareto": (pareto, lambda r: True),
    "scaling": (scaling, lambda r: True),
    "load_heatmap": (load_heatmaps, lambda r: True),
    "predicted_vs_measured": (predicted_vs_measured, lambda r: (r["tool"] == "run").any()),
    "placements_ranked": (placements_ranked, lambda r: True),
}
