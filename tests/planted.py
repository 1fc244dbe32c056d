"""What the tests count as a hypothesis stating a planted behaviour."""


def names_behaviour(h: dict, behaviour: str) -> bool:
    """Does a hypothesis' predicate state the planted behaviour (one theme or style feature)?"""
    p = h["predicate"] or {}
    terms = set(p.get("terms", []))
    if behaviour == "cats":
        return p.get("type") == "mentions" and "cat" in terms and p["favours"] == "B"
    if behaviour == "so":
        return p.get("type") == "mentions" and "so" in terms and p["favours"] == "B"
    if behaviour == "sea":
        from modeldiff_core.models.organism_corpus import TOPICS
        return p.get("type") == "mentions" and len(terms & set(sum(TOPICS["sea"], []))) >= 2
    if behaviour == "questions":
        return p.get("feature") == "questions" and p["op"] == ">"
    if behaviour == "short":
        return p.get("feature") in ("words", "sentences") and p["op"] == "<="
    raise ValueError(behaviour)
