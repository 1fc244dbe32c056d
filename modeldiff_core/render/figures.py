"""The cluster map as a plotly figure (WebGL scatter), built from stored points."""
from __future__ import annotations

import html

import pandas as pd

SIDE_COLOURS = {"A": "#1f77b4", "B": "#d62728"}


def snippet(text: str, width: int = 120) -> str:
    """Escaped, shortened text for hover labels (plotly renders some HTML in hover text)."""
    short = text if len(text) <= width else text[:width] + "…"
    return html.escape(short)


def map_figure(points: pd.DataFrame, color_by: str = "model", height: int = 600):
    """points: side, cluster_id, x, y, text (one row per text). One trace per colour group;
    each marker's customdata is its row position in `points`, to map selections back."""
    import plotly.graph_objects as go

    fig = go.Figure()
    key = "side" if color_by == "model" else "cluster_id"
    pts = points.reset_index(drop=True)
    hover = [f"{s} · cluster {c}<br>{snippet(t)}" for s, c, t in
             zip(pts["side"], pts["cluster_id"], pts["text"])]
    pts = pts.assign(_hover=hover, _row=range(len(pts)))
    for value, group in pts.groupby(key, sort=True):
        name = f"model {value}" if key == "side" else f"cluster {value}"
        marker = {"size": 5, "opacity": 0.7}
        if key == "side":
            marker["color"] = SIDE_COLOURS.get(value)
        fig.add_trace(go.Scattergl(x=group["x"], y=group["y"], mode="markers", name=name,
                                   marker=marker, customdata=group["_row"],
                                   hovertext=group["_hover"], hoverinfo="text"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), dragmode="lasso",
                      legend=dict(itemsizing="constant"), xaxis=dict(showticklabels=False),
                      yaxis=dict(showticklabels=False))
    return fig
