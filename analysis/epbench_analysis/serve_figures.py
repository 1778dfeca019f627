"""Figures of `epbench serve` results; each takes the serve runs table and a path and writes
one PNG. All of it is predicted by the serving model (docs/serve.md)."""
import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as ticker  # noqa: E402
import numpy as np  # noqa: E402

from .serve import is_open, load_label, pareto_front, slo_text  # noqa: E402

MARKERS = "osD^v<>Pp*hX"
LINESTYLES = ["-", "--", ":", "-."]
# Above this many runs the CDFs show one rate only, one line per layout and policy.
MAX_CDF_LINES = 8


def _colours(keys):
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {k: cycle[i % len(cycle)] for i, k in enumerate(sorted(keys))}


def _markers(keys):
    return {k: MARKERS[i % len(MARKERS)] for i, k in enumerate(sorted(keys))}


def _log_x(ax):
    """Log x with plain numbers (2, 50, 0.3); minor ticks labelled all over at most a decade,
    at 2 and 5 up to 2.5 decades, not at all beyond."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))

    def label(v, _):
        lo, hi = ax.get_xlim()
        if v <= 0 or lo <= 0:
            return ""
        decades = np.log10(hi / lo)
        mantissa = round(v / 10 ** np.floor(np.log10(v) + 1e-9))
        return f"{v:g}" if decades <= 1 or (decades <= 2.5 and mantissa in (2, 5)) else ""
    ax.xaxis.set_minor_formatter(ticker.FuncFormatter(label))


def _save(fig, path):
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _slos(serve):
    pairs = sorted({(r["slo_ttft"], r["slo_tpot"]) for _, r in serve.iterrows()})
    return "; ".join(slo_text(*p) for p in pairs)


def cdf_runs(serve):
    """The runs the CDFs draw and what they are: every run when there are few; else, at one
    offered load (the highest at which no run is saturated, else the lowest) and the first
    routing, one run per layout and policy."""
    if len(serve) <= MAX_CDF_LINES:
        return serve, "every run"
    loads = serve.assign(load=[r["users"] if r["users"] > 0 else r["rate"] for _, r in serve.iterrows()])
    by_load = sorted(loads["load"].unique())
    calm = [x for x in by_load if not loads[loads["load"] == x]["saturated"].any()]
    load = calm[-1] if calm else by_load[0]
    sub = loads[(loads["load"] == load)]
    sub = sub[sub["routing"] == sorted(sub["routing"].unique())[0]]
    sub = sub.drop_duplicates(["layout_name", "policy"])
    return sub, f"at {load_label(sub.iloc[0])}, routing {sub.iloc[0]['routing']}"


def latency_cdfs(serve, path):
    """Cumulative distributions of TTFT, TPOT and end-to-end latency per request, log-x."""
    runs, which = cdf_runs(serve)
    policies = _colours(runs["policy"].unique())
    layouts = {k: LINESTYLES[i % len(LINESTYLES)] for i, k in enumerate(sorted(runs["layout_name"].unique()))}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6), sharey=True)
    panels = (("ttft", "time to first token (ms)"), ("tpot", "time per output token (ms)"),
              ("e2e", "end-to-end latency (ms)"))
    for ax, (key, xlabel) in zip(axes, panels):
        for _, r in runs.sort_values(["layout_name", "policy", "users", "rate"]).iterrows():
            values = np.sort(np.asarray(r[key], float) * 1e3)
            values = values[values > 0]
            if len(values) == 0:
                continue
            share = np.arange(1, len(values) + 1) / len(values)
            label = (r["run"] if which == "every run" else f"{r['layout_name']} / {r['policy']}")
            ax.step(values, share, where="post", color=policies[r["policy"]], linestyle=layouts[r["layout_name"]],
                    label=label, linewidth=1.3)
        _log_x(ax)
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("share of requests")
    axes[0].set_ylim(0, 1.02)
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:  # no request has a positive latency: still say what was drawn
        for ax in axes:
            ax.text(0.5, 0.5, "no requests", transform=ax.transAxes, ha="center")
    fig.suptitle(f"Request latency CDFs ({which}; predicted by the serving model)")
    if handles:
        fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=min(4, len(labels)),
                   bbox_to_anchor=(0.5, -0.02 - 0.035 * ((len(labels) + 3) // 4)))
    fig.tight_layout()
    _save(fig, path)


def throughput_tpot(serve, path):
    """Output tokens/s against p99 TPOT, one point per run (marker: layout, colour: policy),
    with each policy's and each layout's Pareto front (most throughput for a p99 TPOT)."""
    policies = _colours(serve["policy"].unique())
    layouts = _markers(serve["layout_name"].unique())
    styles = {k: LINESTYLES[(i + 1) % len(LINESTYLES)] for i, k in enumerate(sorted(layouts))}
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    x = serve["tpot_p99"].to_numpy(float) * 1e3
    y = serve["output_tokens_per_s"].to_numpy(float)
    for i, (_, r) in enumerate(serve.iterrows()):
        ax.scatter(x[i], y[i], color=policies[r["policy"]], marker=layouts[r["layout_name"]], s=40,
                   edgecolors="k" if r["saturated"] else "none", linewidths=1.2, zorder=3)
    for policy, colour in policies.items():
        rows = np.flatnonzero(serve["policy"].to_numpy() == policy)
        front = rows[pareto_front(x[rows], y[rows])]
        ax.plot(x[front], y[front], "-", color=colour, linewidth=1.2, alpha=0.8, label=f"{policy} front")
    for layout, style in styles.items():
        rows = np.flatnonzero(serve["layout_name"].to_numpy() == layout)
        front = rows[pareto_front(x[rows], y[rows])]
        ax.plot(x[front], y[front], style, color="0.3", linewidth=1.0, label=f"{layout} front")
    for layout, marker in layouts.items():
        ax.scatter([], [], marker=marker, color="0.5", label=f"layout {layout}")
    ax.scatter([], [], marker="o", facecolors="none", edgecolors="k", label="saturated (black edge)")
    if (x > 0).all():
        _log_x(ax)
    ax.set_xlabel("p99 time per output token (ms)")
    ax.set_ylabel("throughput (output tokens/s)")
    ax.set_title("Throughput against p99 TPOT (predicted by the serving model)\n"
                 "colour: policy, marker: layout; Pareto fronts per policy (colour) and per layout (grey)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    _save(fig, path)


def goodput_rate(serve, path):
    """Goodput (requests/s meeting both SLOs) against the arrival rate of open-arrival runs,
    one line per layout and policy; saturated runs circled red."""
    runs = serve[[is_open(r) for _, r in serve.iterrows()]]
    policies = _colours(runs["policy"].unique())
    layouts = _markers(runs["layout_name"].unique())
    styles = {k: LINESTYLES[i % len(LINESTYLES)] for i, k in enumerate(sorted(layouts))}
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    for (layout, routing, policy), sub in runs.groupby(["layout_name", "routing", "policy"]):
        sub = sub.sort_values("rate")
        label = f"{layout} / {policy}" + (f" ({routing})" if runs["routing"].nunique() > 1 else "")
        ax.plot(sub["rate"], sub["goodput"], linestyle=styles[layout], marker=layouts[layout],
                color=policies[policy], label=label)
        sat = sub[sub["saturated"].astype(bool)]
        ax.scatter(sat["rate"], sat["goodput"], s=160, facecolors="none", edgecolors="red", linewidths=1.5,
                   zorder=4)
    rates = np.sort(runs["rate"].unique())
    ax.plot(rates, rates, "k:", linewidth=1, label="goodput = rate")
    if (runs["saturated"].astype(bool)).any():
        ax.scatter([], [], s=160, facecolors="none", edgecolors="red", linewidths=1.5, label="saturated")
    if rates[-1] > 10 * rates[0]:
        _log_x(ax)
        if (runs["goodput"] > 0).all():
            ax.set_yscale("log")
    ax.set_xlabel("arrival rate (requests/s)")
    ax.set_ylabel("goodput (requests/s meeting both SLOs)")
    ax.set_title(f"Goodput against arrival rate (predicted by the serving model)\nSLO: {_slos(runs)}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    _save(fig, path)


# name -> (function, applies to these serve runs?)
FIGURES = {
    "serve_latency_cdf": (latency_cdfs, lambda s: True),
    "serve_throughput_tpot": (throughput_tpot, lambda s: True),
    "serve_goodput_rate": (goodput_rate, lambda s: any(is_open(r) for _, r in s.iterrows())),
}
