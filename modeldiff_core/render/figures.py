"""The dashboard's plotly figures: the cluster map (WebGL scatter) from stored points, a
quantization study's cost per level, the layer lens's heatmaps and scaling curves, the feature
lens's α curves, and the probe game's accuracy against its control."""
from __future__ import annotations

import html
from typing import Optional

import pandas as pd

SIDE_COLOURS = {"A": "#1f77b4", "B": "#d62728"}


def snippet(text: str, width: int = 120) -> str:
    """Escaped, shortened text for hover labels (plotly renders some HTML in hover text)."""
    short = text if len(text) <= width else text[:width] + "…"
    return html.escape(short)


MAX_HOVER_TEXTS = 20_000  # past this, a text in every hover label makes the page heavy


def map_figure(points: pd.DataFrame, color_by: str = "model", height: int = 600,
               max_hover_texts: int = MAX_HOVER_TEXTS, seed: int = 0,
               terms: Optional[dict] = None, highlight=None):
    """points: side, cluster_id, x, y, text (one row per text). One WebGL trace per colour group;
    each marker's customdata is its row position in `points`, to map selections back to the
    texts on the server. Above `max_hover_texts` points, a seeded sample of them carries its
    text in the hover label and the rest their side and cluster only: the figure's size then
    stays bounded (100k points stay interactive), and a selection still reads every text.
    `terms`: cluster id -> its top terms, written at each cluster's centre and in the legend;
    `highlight`: a boolean per point (a text search's matches), ringed on top."""
    import numpy as np
    import plotly.graph_objects as go

    fig = go.Figure()
    key = "side" if color_by == "model" else "cluster_id"
    pts = points.reset_index(drop=True)
    with_text = np.ones(len(pts), dtype=bool)
    if len(pts) > max_hover_texts:
        with_text[:] = False
        with_text[np.random.default_rng(seed).choice(len(pts), max_hover_texts, replace=False)] = True
    hover = [f"{s} · cluster {c}<br>{snippet(t)}" if w else f"{s} · cluster {c}"
             for s, c, t, w in zip(pts["side"], pts["cluster_id"], pts["text"], with_text)]
    pts = pts.assign(_hover=hover, _row=range(len(pts)))
    terms = terms or {}
    for i, (value, group) in enumerate(pts.groupby(key, sort=True)):
        name = f"model {value}" if key == "side" else _cluster_name(value, terms)
        marker = {"size": 5 if len(pts) <= max_hover_texts else 3, "opacity": 0.7,
                  "color": SIDE_COLOURS.get(value) if key == "side" else _cluster_colour(value, i)}
        fig.add_trace(go.Scattergl(x=group["x"].astype("float32"), y=group["y"].astype("float32"),
                                   mode="markers", name=name, marker=marker,
                                   customdata=group["_row"], hovertext=group["_hover"],
                                   hoverinfo="text"))
    if highlight is not None and np.asarray(highlight).any():
        hit = pts[np.asarray(highlight, dtype=bool)]
        fig.add_trace(go.Scattergl(x=hit["x"], y=hit["y"], mode="markers",
                                   name=f"search matches ({len(hit)})", customdata=hit["_row"],
                                   hovertext=hit["_hover"], hoverinfo="text",
                                   marker={"size": 11, "symbol": "circle-open",
                                           "color": "black", "line": {"width": 2}}))
    _label_clusters(fig, pts, terms)
    # A drag selects a box at once (the lasso is one click away in the tool bar).
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), dragmode="select",
                      legend=dict(itemsizing="constant"), xaxis=dict(showticklabels=False),
                      yaxis=dict(showticklabels=False))
    return fig


def _cluster_name(cluster_id: int, terms: dict) -> str:
    words = ", ".join(str(terms.get(cluster_id, "")).split(", ")[:3])
    return f"cluster {cluster_id}" + (f": {html.escape(words)}" if words and cluster_id != -1
                                      else "")


def _cluster_colour(cluster_id: int, i: int) -> str:
    """A qualitative colour per cluster with no repeat before 50 clusters; noise in grey."""
    import plotly.express as px

    palette = px.colors.qualitative.Dark24 + px.colors.qualitative.Light24
    return "#9e9e9e" if cluster_id == -1 else palette[i % len(palette)]


def _label_clusters(fig, pts: pd.DataFrame, terms: dict) -> None:
    """Each cluster's id and first terms at its centre (the median of its points)."""
    for cluster_id, group in pts.groupby("cluster_id"):
        if cluster_id == -1 or cluster_id not in terms:
            continue
        first = ", ".join(str(terms[cluster_id]).split(", ")[:2])
        fig.add_annotation(x=float(group["x"].median()), y=float(group["y"].median()),
                           text=f"{cluster_id}: {html.escape(first)}", showarrow=False,
                           font={"size": 11}, bgcolor="rgba(255,255,255,0.7)")


def quant_figure(levels: pd.DataFrame, height: int = 380):
    """A quantization study's levels (`quant_result(...)["levels"]` as a frame): KL mean and p99
    as bars, top-1 agreement as a line on a second axis."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_bar(x=levels["level"], y=levels["kl_mean"], name="KL mean")
    fig.add_bar(x=levels["level"], y=levels["kl_p99"], name="KL p99")
    fig.add_scatter(x=levels["level"], y=levels["top1_agreement"], name="top-1 agreement",
                    yaxis="y2", mode="lines+markers")
    fig.update_layout(barmode="group", yaxis={"title": "KL (nats per token)"},
                      yaxis2={"title": "top-1 agreement", "overlaying": "y", "side": "right",
                              "range": [min(0.9, float(levels["top1_agreement"].min())), 1.0]},
                      height=height, margin={"t": 30})
    return fig


def _layer_heatmap(df: pd.DataFrame, rows: str, value: str, title: str):
    """A layer-by-`rows` heatmap of `value` (one cell per row of df)."""
    import plotly.graph_objects as go

    grid = df.pivot_table(index=rows, columns="layer", values=value, aggfunc="first")
    layers = [str(c) for c in grid.columns]
    fig = go.Figure(go.Heatmap(z=grid.values, x=layers, y=[str(i) for i in grid.index],
                               colorscale="Reds", colorbar={"title": value}))
    # Layers as categories, each labelled (numbers as text would get a sparse numeric axis).
    fig.update_layout(title=title, xaxis_title="layer", height=260 + 30 * len(grid.index),
                      margin={"t": 40}, xaxis={"type": "category", "tickmode": "array",
                                               "tickvals": layers, "ticktext": layers})
    return fig


def layer_delta_figure(weight_delta: list[dict]):
    """The layer lens's weight deltas ({layer, module, rel_norm} rows) as a heatmap."""
    return _layer_heatmap(pd.DataFrame(weight_delta), "module", "rel_norm",
                          "Weight delta ‖W_B − W_A‖ / ‖W_A‖")


def activation_diff_figure(activation_diff: list[dict]):
    """The layer lens's activation differences ({layer, cosine, rel_l2} rows) as a heatmap."""
    long = pd.DataFrame(activation_diff).melt(id_vars="layer", value_vars=["cosine", "rel_l2"],
                                              var_name="metric")
    return _layer_heatmap(long, "metric", "value",
                          "Activation difference (residual stream, held-out texts)")


def scaling_figure(curves: pd.DataFrame, value: str, label: str):
    """One hypothesis' scaling rows: `value` against the scale, one line per layer window
    (dashed: all layers); None when no row has a value."""
    import plotly.graph_objects as go

    if curves[value].isna().all():
        return None
    fig = go.Figure()
    for layer, curve in curves.groupby(curves["layer"].astype(str), sort=False):
        curve = curve.sort_values("alpha")  # the stored lens names the scale "alpha"
        fig.add_scatter(x=curve["alpha"], y=curve[value], mode="lines+markers",
                        name=f"layer {layer}" if layer != "all" else "all layers",
                        line={"dash": "dash"} if layer == "all" else None)
    # The legend above the plot: beside it, it covers the axis labels of a narrow column.
    fig.update_layout(xaxis_title="α", yaxis_title=label, height=360, margin={"t": 60},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})
    return fig


def probe_figure(hypotheses: list[dict]):
    """Accuracy of each probed hypothesis beside its empty-hypothesis control, chance marked."""
    import plotly.graph_objects as go

    ids = [h["hypothesis_id"] for h in hypotheses]
    fig = go.Figure([
        go.Bar(name="with the hypothesis", x=ids, y=[h["accuracy"] for h in hypotheses],
               marker_color=SIDE_COLOURS["B"]),
        go.Bar(name="control (empty hypothesis)", x=ids,
               y=[h["control_accuracy"] for h in hypotheses], marker_color="#999999")])
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="chance")
    fig.update_layout(barmode="group", yaxis_title="share of rounds guessed right",
                      yaxis_range=[0, 1], height=340, margin=dict(t=50, b=20),
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})
    return fig


def feature_scaling_figure(rows: pd.DataFrame, value: str, label: str):
    """One hypothesis' feature-lens scaling rows: `value` against α for all delta latents and
    for the linked ones, with model A, model B and the reconstructions as dotted references;
    None when no row has a value."""
    import plotly.graph_objects as go

    if rows[value].isna().all():
        return None
    fig = go.Figure()
    for condition, curve in rows[rows["alpha"].notna()].groupby("condition", sort=False):
        curve = curve.sort_values("alpha")
        fig.add_scatter(x=curve["alpha"], y=curve[value], mode="lines+markers", name=condition)
    refs = {"A": "model A", "no delta": "base reconstruction", "full": "base + delta recon."}
    for r in rows[rows["alpha"].isna()].itertuples():
        v = getattr(r, value)
        if r.condition in refs and v is not None and v == v:
            fig.add_hline(y=v, line_dash="dot", annotation_text=refs[r.condition],
                          line_color=SIDE_COLOURS["A"] if r.condition == "A" else "#999999")
    fig.update_layout(xaxis_title="α (scale of the delta inside B)", yaxis_title=label,
                      height=360, margin={"t": 60},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})
    return fig
