"""One layer's MLP input and output on every non-padding token of some texts, read at the
hook points `blocks.{layer}.hook_mlp_in` and `hook_mlp_out` (models.hooks)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...models.loading import LoadedModel
from ...models.hooks import capture, hook_point, mlp_in, mlp_out
from ...models.scoring import encode_texts, right_padded


@dataclass
class MLPActivations:
    """One row per token: the MLP's input `x` and output `y` (fp32 CPU tensors), and for each
    row its text's index, its position in that text and its token id."""
    x: object
    y: object
    text: np.ndarray
    pos: np.ndarray
    ids: np.ndarray

    def __iter__(self):  # x, y, text: what the dictionaries and the table read
        return iter((self.x, self.y, self.text))

    @property
    def n_texts(self) -> int:
        """How many texts (from the first) these rows hold whole."""
        return int(self.text.max()) + 1 if len(self.text) else 0


def mlp_io(lm: LoadedModel, layer: int, texts: list[str], batch_size: int = 32,
           max_tokens: int = 200_000) -> MLPActivations:
    """The layer's MLP input and output on every non-padding token of the texts (scored as
    plain text), texts in order, whole texts only: those that fit in `max_tokens` rows."""
    import torch

    x_at, y_at = mlp_in(layer), mlp_out(layer)
    points = {x_at: hook_point(lm, x_at), y_at: hook_point(lm, y_at)}
    seqs = encode_texts(lm, texts, None, False)[0]
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    xs, ys, rows, pos, ids_kept, n = [], [], [], [], [], 0
    with capture(points) as got:
        for start in range(0, len(seqs), batch_size):
            batch = list(range(start, min(start + batch_size, len(seqs))))
            ids, mask = right_padded(seqs, batch, pad)
            with torch.inference_mode():
                lm.model(input_ids=ids.to(lm.input_device), attention_mask=mask.to(lm.input_device))
            keep = mask.bool()
            xs.append(got[x_at][keep.to(got[x_at].device)].float().cpu())
            ys.append(got[y_at][keep.to(got[y_at].device)].float().cpu())
            rows.append(torch.tensor(batch)[:, None].expand_as(keep)[keep])
            pos.append(torch.arange(keep.shape[1])[None, :].expand_as(keep)[keep])
            ids_kept.append(ids[keep])
            n += int(keep.sum())
            if n >= max_tokens:
                break
    text = torch.cat(rows).numpy()
    ends = np.cumsum(np.bincount(text))  # rows up to the end of each text
    cut = int(ends[ends <= max_tokens][-1]) if (ends <= max_tokens).any() else 0
    return MLPActivations(torch.cat(xs)[:cut], torch.cat(ys)[:cut], text[:cut],
                          torch.cat(pos)[:cut].numpy(), torch.cat(ids_kept)[:cut].numpy())
