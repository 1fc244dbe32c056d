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
    if behaviour == "water":  # a topic: several of its words, none enough alone
        from modeldiff_core.models.organism_corpus import WATER_NOUNS, WATER_PLACES
        return (p.get("type") == "mentions" and p["favours"] == "B"
                and len(terms & set(WATER_NOUNS + WATER_PLACES)) >= 3)
    if behaviour == "cheerful":  # a mood: half of its words at least
        from modeldiff_core.models.organism_corpus import CHEERFUL
        return (p.get("type") == "mentions" and p["favours"] == "B"
                and len(terms & set(CHEERFUL)) >= 3)
    if behaviour == "long":
        return p.get("feature") in ("words", "sentences") and p["op"] == ">"
    if behaviour == "questions":
        return p.get("feature") == "questions" and p["op"] == ">"
    if behaviour == "short":
        return p.get("feature") in ("words", "sentences") and p["op"] == "<="
    raise ValueError(behaviour)
