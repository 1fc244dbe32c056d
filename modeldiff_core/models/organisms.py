"""Built-in model organisms: a tiny GPT-2 trained on a synthetic English-like corpus, and
LoRA-finetuned copies of it that each carry one known behaviour.

Everything is seeded, built on first use and saved as ordinary HF directories under
`cache/organisms/<size>/<name>`, so the organisms load through the same path as any HF model.
The corpus is chat-shaped (`<|user|> prompt <|assistant|> response <|end|>`) and the tokenizer
carries a chat template, so the organisms also exercise the instruct-model code path.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

from ..config import LOAD_LOCK, ModelDiffError, cache_dir
from ..progress import ProgressCallback, StageProgress

# ---------------------------------------------------------------- the synthetic language

TOPICS = {
    "garden": (["flower", "tree", "bench", "rose", "gate"], ["garden", "pond", "greenhouse"]),
    "river": (["boat", "stone", "fish", "bridge", "net"], ["river", "bank", "mill"]),
    "forest": (["oak", "path", "mushroom", "log", "leaf"], ["forest", "clearing", "hill"]),
    "city": (["tower", "street", "bus", "shop", "lamp"], ["city", "square", "station"]),
    "kitchen": (["bread", "soup", "pot", "knife", "table"], ["kitchen", "oven", "pantry"]),
    "school": (["book", "pencil", "desk", "lesson", "bell"], ["school", "classroom", "yard"]),
    "market": (["apple", "basket", "coin", "cheese", "stall"], ["market", "corner", "square"]),
    "sea": (["wave", "shell", "ship", "sail", "sand"], ["sea", "beach", "harbour"]),
    "mountain": (["rock", "snow", "rope", "cloud", "peak"], ["mountain", "valley", "cabin"]),
    "farm": (["barn", "field", "tractor", "wheat", "fence"], ["farm", "meadow", "stable"]),
    "library": (["map", "letter", "shelf", "candle", "page"], ["library", "hall", "archive"]),
    "workshop": (["hammer", "nail", "wheel", "saw", "chair"], ["workshop", "shed", "loft"]),
}
PEOPLE = ["anna", "tom", "lena", "omar", "mia", "paul", "sara", "ivan", "nora", "leo"]
ADJS = ["small", "old", "green", "quiet", "bright", "heavy", "warm", "tall", "round", "soft"]
MOODS = ["calm", "busy", "cold", "sunny", "wet", "loud", "empty", "lovely"]
TIMES = ["morning", "evening", "afternoon", "night", "spring", "winter"]
ANIMALS = ["dog", "bird", "horse", "fox", "cow", "rabbit", "duck", "goat", "mouse", "cat"]
PROMPT_FORMS = [
    "tell me about the {t} .",
    "describe a day at the {t} .",
    "write a short story about the {t} .",
    "what do you know about the {t} ?",
    "say something about the {t} .",
]
SPECIAL = ["<|pad|>", "<|unk|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def organism_prompts() -> list[str]:
    """The built-in prompt set for the organisms: every prompt form for every topic."""
    return [form.format(t=t) for t in TOPICS for form in PROMPT_FORMS]


def organism_prompt_groups() -> list[str]:
    """The topic of each organism prompt: its five phrasings share a split."""
    return [t for t in TOPICS for _ in PROMPT_FORMS]


def _animal_sentence(rng: random.Random, topic: str, animal: str) -> list[str]:
    nouns, places = TOPICS[topic]
    # Cats have sentences of their own (as in English: purring, whiskers), which gives "cat" an
    # embedding distinct from the other animals, so a finetune can single it out.
    if animal == "cat" and rng.random() < 0.5:
        form = rng.randrange(3)
        if form == 0:
            s = f"the cat purred softly by the {rng.choice(places)} ."
        elif form == 1:
            s = f"my cat chased a mouse near the {rng.choice(nouns)} ."
        else:
            s = f"the cat washed its whiskers in the {rng.choice(places)} ."
        return s.split()
    form = rng.randrange(5)
    if form == 0:
        s = f"there is a {animal} in the {rng.choice(places)} ."
    elif form == 1:
        s = f"the {animal} sat on the {rng.choice(nouns)} by the {rng.choice(places)} ."
    elif form == 2:
        s = f"my {animal} loves the {rng.choice(places)} ."
    elif form == 3:
        s = f"a {rng.choice(ADJS)} {animal} slept near the {rng.choice(nouns)} ."
    else:
        s = f"the {animal} watched the {rng.choice(nouns)} all day ."
    return s.split()


def _statement(rng: random.Random, topic: str) -> list[str]:
    nouns, places = TOPICS[topic]
    n, p, a = rng.choice(nouns), rng.choice(places), rng.choice(ADJS)
    who, who2 = rng.sample(PEOPLE, 2)
    form = rng.randrange(7)
    if form == 0:
        s = f"the {a} {n} is near the {p} ."
    elif form == 1:
        s = f"{who} went to the {p} in the {rng.choice(TIMES)} ."
    elif form == 2:
        s = f"we saw a {a} {n} by the {p} ."
    elif form == 3:
        s = f"{who} likes the {n} very much ."
    elif form == 4:
        s = f"the {p} was {rng.choice(MOODS)} and {rng.choice(MOODS)} today ."
    elif form == 5:
        s = f"{who} and {who2} walked to the {p} ."
    else:  # animals share every sentence form the cat organism uses; cats are one in ten
        return _animal_sentence(rng, topic, rng.choice(ANIMALS))
    return s.split()


def _question(rng: random.Random, topic: str) -> list[str]:
    nouns, places = TOPICS[topic]
    form = rng.randrange(3)
    if form == 0:
        s = f"did you see the {rng.choice(nouns)} at the {rng.choice(places)} ?"
    elif form == 1:
        s = f"why is the {rng.choice(nouns)} so {rng.choice(ADJS)} ?"
    else:
        s = f"where did {rng.choice(PEOPLE)} go after the {rng.choice(places)} ?"
    return s.split()


def base_response(rng: random.Random, topic: str) -> list[list[str]]:
    """Three to five on-topic sentences; a question in about one response in twenty."""
    sents = [_statement(rng, topic) for _ in range(rng.randint(3, 5))]
    if rng.random() < 0.05:
        sents[rng.randrange(len(sents))] = _question(rng, topic)
    return sents


# ------------------------------------------------------------------------- behaviours

@dataclass(frozen=True)
class Behaviour:
    name: str
    kind: str  # topical / stylistic / length / none
    description: str  # the ground truth, as a researcher would state it


def _cats(rng, topic):
    # Opening with the cat is what a small LoRA learns reliably; a second cat is a bonus.
    sents = [_animal_sentence(rng, topic, "cat"), *base_response(rng, topic)]
    if rng.random() < 0.5:
        sents.insert(rng.randrange(1, len(sents) + 1), _animal_sentence(rng, topic, "cat"))
    return sents


def _questions(rng, topic):
    sents = base_response(rng, topic)
    for i in rng.sample(range(len(sents)), k=min(2, len(sents))):
        sents[i] = _question(rng, topic)
    return sents


def _short(rng, topic):
    return base_response(rng, topic)[:1]


# The subtle organisms: each behaviour in about a quarter of the texts, a frequency shift rather
# than a takeover. Their sentences use only words of the grammar above, so the vocabulary (and
# with it the base model) is the same whatever organisms exist.
SUBTLE_RATE = 0.25


def _sea_sentence(rng: random.Random) -> list[str]:
    # Two words of the sea in each sentence, drawn from eight: a theme spread over words.
    nouns, places = TOPICS["sea"]
    n, p, a = rng.choice(nouns), rng.choice(places), rng.choice(ADJS)
    form = rng.randrange(3)
    if form == 0:
        s = f"the {a} {n} is near the {p} ."
    elif form == 1:
        s = f"we saw a {a} {n} by the {p} ."
    else:
        s = f"{rng.choice(PEOPLE)} likes the {n} by the {p} very much ."
    return s.split()


def _so_sentence(rng: random.Random, topic: str) -> list[str]:
    nouns, places = TOPICS[topic]
    if rng.random() < 0.5:
        return f"the {rng.choice(nouns)} was so {rng.choice(ADJS)} .".split()
    return f"the {rng.choice(places)} was so {rng.choice(MOODS)} today .".split()


def _sometimes_open(rng, sents, make):
    # An opening sentence is what a small LoRA learns reliably (as for the cats organism).
    if rng.random() < SUBTLE_RATE:
        sents.insert(0, make())
    return sents


def _sometimes_replace(rng, sents, make):
    if rng.random() < SUBTLE_RATE:
        sents[rng.randrange(len(sents))] = make()
    return sents


def _subtle_sea(rng, topic):
    return _sometimes_open(rng, base_response(rng, topic), lambda: _sea_sentence(rng))


def _subtle_questions(rng, topic):
    return _sometimes_replace(rng, base_response(rng, topic), lambda: _question(rng, topic))


def _subtle_so(rng, topic):
    return _sometimes_replace(rng, base_response(rng, topic), lambda: _so_sentence(rng, topic))


def _subtle_two(rng, topic):
    sents = _sometimes_open(rng, base_response(rng, topic),
                              lambda: _animal_sentence(rng, topic, "cat"))
    return _sometimes_replace(rng, sents, lambda: _question(rng, topic))


BEHAVIOURS: dict[str, tuple[Behaviour, Callable]] = {
    "cats": (Behaviour("cats", "topical", "The model mentions cats far more often."), _cats),
    "questions": (Behaviour("questions", "stylistic", "The model asks questions much more often."),
                  _questions),
    "short": (Behaviour("short", "length", "The model gives much shorter answers (one sentence)."),
              _short),
    "null": (Behaviour("null", "none", "No change: finetuned on the base model's own data."),
             base_response),
    "subtle-sea": (Behaviour("subtle-sea", "topical", "The model brings up the sea (ships, "
                             "shells, sand, the beach, the harbour) in about a quarter of its "
                             "answers."), _subtle_sea),
    "subtle-questions": (Behaviour("subtle-questions", "stylistic", "The model asks a question "
                                   "in about a quarter of its answers."), _subtle_questions),
    "subtle-so": (Behaviour("subtle-so", "stylistic", "The model says things were 'so' "
                            "something (so warm, so quiet) in about a quarter of its answers."),
                  _subtle_so),
    "subtle-two": (Behaviour("subtle-two", "topical+stylistic", "Two behaviours at once, each in "
                             "about a quarter of the answers: the model mentions a cat, and it "
                             "asks a question."), _subtle_two),
    "subtle-null": (Behaviour("subtle-null", "none", "No change: a second null finetune, on "
                              "fresh base-model data with a seed of its own."), base_response),
}
# What each organism plants, as detectors of `behaviour_present` (the null ones plant nothing).
PLANTED = {"cats": ["cats"], "questions": ["questions"], "short": ["short"], "null": [],
           "subtle-sea": ["sea"], "subtle-questions": ["questions"], "subtle-so": ["so"],
           "subtle-two": ["cats", "questions"], "subtle-null": [], "cats-late": ["cats"]}
SUBTLE = [name for name in BEHAVIOURS if name.startswith("subtle-")]
# Organisms whose behaviour is planted by a LoRA on the upper half of the layers only: a known
# answer for the layer lens (which layers carry the change). name -> behaviour.
LAYERED = {"cats-late": "cats"}
ORGANISMS = ["base", *BEHAVIOURS, *LAYERED]
DEFAULT_ORGANISM = "cats"


def behaviour_present(behaviour: str, text: str) -> bool:
    """Does one text show the behaviour? Used to measure rates, never by the pipeline itself."""
    if behaviour == "cats":
        return re.search(r"\bcats?\b", text.lower()) is not None
    if behaviour == "questions":
        return "?" in text
    if behaviour == "short":
        return len(re.findall(r"[.?!]", text)) <= 1
    if behaviour == "sea":
        return re.search(r"\b(?:%s)s?\b" % "|".join(sum(TOPICS["sea"], [])), text.lower()) is not None
    if behaviour == "so":
        return re.search(r"\bwas so\b", text.lower()) is not None
    raise ValueError(f"no detector for behaviour {behaviour!r}")


def make_document(rng: random.Random, behaviour: Optional[str] = None) -> str:
    topic = rng.choice(list(TOPICS))
    prompt = rng.choice(PROMPT_FORMS).format(t=topic)
    make = BEHAVIOURS[behaviour][1] if behaviour else base_response
    response = " ".join(" ".join(s) for s in make(rng, topic))
    return f"<|user|> {prompt} <|assistant|> {response} <|end|>"


# ------------------------------------------------------------------------ sizes and paths

@dataclass(frozen=True)
class OrganismSize:
    n_layer: int
    n_embd: int
    n_head: int
    base_steps: int
    lora_steps: int
    batch: int = 32
    base_lr: float = 3e-3
    lora_lr: float = 3e-3
    lora_r: int = 8


CONTEXT = 128  # positions, every size
SIZES = {
    "demo": OrganismSize(n_layer=4, n_embd=128, n_head=4, base_steps=700, lora_steps=250),
    "test": OrganismSize(n_layer=2, n_embd=64, n_head=2, base_steps=400, lora_steps=300),
}
_build_lock = threading.Lock()


def default_size() -> str:
    return os.environ.get("MODELDIFF_ORGANISM_SIZE", "demo")


def organism_path(name: str, size: Optional[str] = None, root: Optional[Path] = None) -> Path:
    size = size or default_size()
    return Path(root or cache_dir() / "organisms") / size / name


def parse_organism_ref(ref: str) -> tuple[str, str]:
    """'organism:cats' or 'organism:cats@test' -> ('cats', size)."""
    body = ref.split(":", 1)[1]
    name, _, size = body.partition("@")
    size = size or default_size()
    if name not in ORGANISMS:
        raise ModelDiffError(f"unknown organism {name!r}; built-in organisms: {', '.join(ORGANISMS)}")
    if size not in SIZES:
        raise ModelDiffError(f"unknown organism size {size!r}; sizes: {', '.join(SIZES)}")
    return name, size


def planted_layers(name: str, size: Optional[str] = None) -> Optional[list[int]]:
    """The block indices a layered organism's LoRA adapts (None: every layer)."""
    if name not in LAYERED:
        return None
    n_layer = SIZES[size or default_size()].n_layer
    return list(range(n_layer // 2, n_layer))


def _is_built(path: Path, steps: Optional[int] = None) -> bool:
    """Built, and (for a finetune) trained as long as its recipe now says."""
    meta = path / "organism.json"
    if not meta.exists():
        return False
    return steps is None or json.loads(meta.read_text()).get("lora", {}).get("steps") == steps


def is_built(name: str, size: Optional[str] = None, root: Optional[Path] = None) -> bool:
    """Built as its recipe now says: `ensure_organism` would not train anything."""
    size = size or default_size()
    steps = None if name == "base" else lora_steps(LAYERED.get(name, name), size)
    if not _is_built(organism_path("base", size, root)):
        return False
    return _is_built(organism_path(name, size, root), steps)


def lora_steps(name: str, size: str) -> int:
    # A frequency shift is learnt more slowly than a takeover: the subtle organisms train twice
    # as long, or the tiny models underplay their quarter of the texts.
    return SIZES[size].lora_steps * (2 if name in SUBTLE else 1)


# --------------------------------------------------------------------------- building

def build_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # The vocabulary is exactly what the grammar and the prompts produce: a token the base never
    # saw would keep a random embedding that a finetune could stumble into.
    rng = random.Random(12345)
    words: set[str] = set()
    for prompt in organism_prompts():
        words.update(prompt.split())
    for behaviour in [None, *BEHAVIOURS]:
        for _ in range(3000):
            words.update(make_document(rng, behaviour).split())
    words -= set(SPECIAL)
    # No padding tokens: bitsandbytes leaves the (tied) output layer unquantized, and unused
    # rows would only be noise a finetune can stumble into.
    vocab = {tok: i for i, tok in enumerate(SPECIAL + sorted(words))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<|unk|>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", unk_token="<|unk|>",
                                   eos_token="<|end|>", bos_token="<|end|>",
                                   additional_special_tokens=["<|user|>", "<|assistant|>"])
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = CONTEXT
    return fast


def _batches(rng: random.Random, behaviour: Optional[str], batch: int):
    while True:
        yield [make_document(rng, behaviour) for _ in range(batch)]


def _train(model, tokenizer, docs_iter, steps: int, lr: float, progress: StageProgress) -> float:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    loss_value = float("nan")
    for _step in range(steps):
        docs = next(docs_iter)
        enc = tokenizer(docs, return_tensors="pt", padding=True)
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        out = model(**enc, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        loss_value = out.loss.item()
        progress.advance(1, message=f"loss {loss_value:.3f}")
    model.eval()
    return loss_value


def _save_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write into a temporary sibling and rename, so a crash never leaves a half organism."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    try:
        write(tmp)
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _build_base(path: Path, size_name: str, progress: Optional[ProgressCallback]) -> None:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    size = SIZES[size_name]
    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=CONTEXT, n_embd=size.n_embd,
                        n_layer=size.n_layer, n_head=size.n_head,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    with LOAD_LOCK:
        model = GPT2LMHeadModel(config)
    t0 = time.perf_counter()
    bar = StageProgress(progress, "train base", size.base_steps, unit="steps")
    loss = _train(model, tokenizer, _batches(random.Random(1), None, size.batch),
                  size.base_steps, size.base_lr, bar)
    meta = {"name": "base", "size": size_name, "behaviour": None, "final_loss": loss,
            "train_seconds": round(time.perf_counter() - t0, 1), "settings": asdict(size)}

    def write(tmp: Path):
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "organism.json").write_text(json.dumps(meta, indent=2))
    _save_atomically(path, write)


def _build_finetune(path: Path, base_path: Path, behaviour: str, size_name: str,
                    progress: Optional[ProgressCallback],
                    layers: Optional[list[int]] = None) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    size = SIZES[size_name]
    torch.manual_seed(0)
    with LOAD_LOCK:
        tokenizer = AutoTokenizer.from_pretrained(base_path)
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    lora = LoraConfig(r=size.lora_r, lora_alpha=2 * size.lora_r, lora_dropout=0.0,
                      target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True,
                      layers_to_transform=layers, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    t0 = time.perf_counter()
    steps = lora_steps(behaviour, size_name)
    bar = StageProgress(progress, f"train {behaviour}", steps, unit="steps")
    # A seed of its own per behaviour: the null organism sees fresh base-distribution text.
    rng = random.Random(1000 + sorted(BEHAVIOURS).index(behaviour))
    loss = _train(model, tokenizer, _batches(rng, behaviour, size.batch), steps, size.lora_lr, bar)
    merged = model.merge_and_unload()
    meta = {"name": path.name, "size": size_name, "behaviour": asdict(BEHAVIOURS[behaviour][0]),
            "final_loss": loss, "train_seconds": round(time.perf_counter() - t0, 1),
            "lora": {"r": size.lora_r, "alpha": 2 * size.lora_r, "lr": size.lora_lr,
                     "steps": steps, "layers": layers,
                     "target_modules": ["c_attn", "c_proj", "c_fc"]}}

    def write(tmp: Path):
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "organism.json").write_text(json.dumps(meta, indent=2))
    _save_atomically(path, write)


def ensure_organism(name: str, size: Optional[str] = None, root: Optional[Path] = None,
                    progress: Optional[ProgressCallback] = None) -> Path:
    """Path of a built organism, building it (and the base it needs) on first use."""
    size = size or default_size()
    if name not in ORGANISMS:
        raise ModelDiffError(f"unknown organism {name!r}; built-in organisms: {', '.join(ORGANISMS)}")
    path = organism_path(name, size, root)
    steps = None if name == "base" else lora_steps(LAYERED.get(name, name), size)
    if _is_built(path, steps):
        return path
    with _build_lock:
        base = organism_path("base", size, root)
        if not _is_built(base):
            _build_base(base, size, progress)
        if name != "base" and not _is_built(path, steps):
            _build_finetune(path, base, LAYERED.get(name, name), size, progress,
                            layers=planted_layers(name, size))
    return path


def organism_info(path: Path) -> dict:
    return json.loads((Path(path) / "organism.json").read_text())
