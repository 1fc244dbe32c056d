"""Assistants: offline statistics (default), Anthropic and OpenAI, behind one protocol."""
