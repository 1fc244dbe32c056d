"""The token diff's parameters: two models and one text."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ...models.spec import ModelSpec
from ...params import Declared


@dataclass
class Params(Declared):
    spec_a: ModelSpec
    spec_b: ModelSpec
    text: str
    prompt: Optional[str] = None  # the text is scored as the answer to it
    use_chat_template: bool = True
