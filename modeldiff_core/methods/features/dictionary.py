"""Top-k transcoders: a sparse code of an MLP's input that reconstructs its output. The base
dictionary is fitted to model A's MLP; the delta dictionary to what B's MLP adds on top of it,
with the base frozen, so the delta's latents hold what B adds.

A small torch module rather than a library: sae-lens (6.54) resolves against this torch but
brings some 40 packages, and its runner fits a dictionary to one hook point's activations;
the lens needs a second dictionary fitted to what remains of B's output after a frozen
first, on two models (adapters and quantized weights included) that modeldiff already loads
and hooks — a training loop of our own either way. A top-k transcoder and that loop are the
60 lines below."""
from __future__ import annotations

from .settings import DictionarySettings


def transcoder(d_in: int, d_out: int, n_latents: int, k: int, seed: int):
    """A top-k transcoder: code = the k largest of relu(x W_enc + b_enc), output = code W_dec +
    b_dec; decoder rows of unit norm (kept so while training)."""
    import torch

    class TopKTranscoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(seed)
            w = torch.randn(n_latents, d_out, generator=g)
            w = w / w.norm(dim=1, keepdim=True)
            self.k = min(k, n_latents)
            self.W_dec = torch.nn.Parameter(w)
            # Encoder tied to the decoder at the start (the usual sparse-dictionary start): each
            # latent first reads the direction it writes.
            enc = w.T.clone() if d_in == d_out else torch.randn(d_in, n_latents, generator=g)
            self.W_enc = torch.nn.Parameter(enc)
            self.b_enc = torch.nn.Parameter(torch.zeros(n_latents))
            self.b_dec = torch.nn.Parameter(torch.zeros(d_out))

        def encode(self, x):
            pre = torch.relu(x @ self.W_enc + self.b_enc)
            values, index = pre.topk(self.k, dim=-1)
            return torch.zeros_like(pre).scatter(-1, index, values)

        def forward(self, x):
            return self.encode(x) @ self.W_dec + self.b_dec

    return TopKTranscoder()


def fit(x, y, n_latents: int, k: int, s: DictionarySettings):
    """A transcoder from x to y by Adam on the summed squared error, minibatches seeded."""
    import torch

    tc = transcoder(x.shape[1], y.shape[1], n_latents, k, s.seed)
    tc.b_dec.data = y.mean(0).clone()
    opt = torch.optim.Adam(tc.parameters(), lr=s.lr)
    g = torch.Generator().manual_seed(s.seed)
    for _ in range(s.steps):
        idx = torch.randint(0, len(x), (min(s.batch, len(x)),), generator=g)
        loss = ((tc(x[idx]) - y[idx]) ** 2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            tc.W_dec.data /= tc.W_dec.data.norm(dim=1, keepdim=True).clamp_min(1e-8)
    return tc.eval()


def fit_pair(x_a, y_a, x_b, y_b, a_on_b, s: DictionarySettings):
    """The base dictionary, fitted to A's MLP where A's inputs lie and where B's do (`a_on_b`:
    A's MLP applied to B's inputs), so that what is left of B's outputs is B's change and not
    the base's error off A's inputs; then the delta, fitted to that remainder, base frozen."""
    import torch

    d = x_a.shape[1]
    base = fit(torch.cat([x_a, x_b]), torch.cat([y_a, a_on_b]), s.width * d, s.k, s)
    with torch.no_grad():
        rest = y_b - base(x_b)
    delta = fit(x_b, rest, s.delta_width * d, s.delta_k, s)
    return base, delta


def quality(tc, x, y, extra=None, chunk: int = 8192) -> dict:
    """Fraction of variance of y explained (with `extra`'s output added: base + delta), and
    of the sparse code — the delta's when `extra` is given — its mean L0 and the latents never
    active on these tokens. Computed in chunks of rows (a wide code of every token at once
    would not fit in memory)."""
    import torch

    coder = extra if extra is not None else tc
    err = l0 = 0.0
    active = None
    with torch.no_grad():
        for start in range(0, len(x), chunk):
            xs, ys = x[start:start + chunk], y[start:start + chunk]
            recon = tc(xs) + (extra(xs) if extra is not None else 0)
            err += float(((ys - recon) ** 2).sum())
            fires = coder.encode(xs) > 0
            l0 += float(fires.sum())
            active = fires.any(0) if active is None else active | fires.any(0)
        total = float(((y - y.mean(0)) ** 2).sum())
    n_latents = coder.W_dec.shape[0]
    return {"fve": 1 - err / total, "l0": l0 / max(1, len(x)),
            "dead": int(n_latents - (int(active.sum()) if active is not None else 0)),
            "n_latents": int(n_latents)}
