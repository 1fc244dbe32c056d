"""modeldiff: find, in plain words and with statistics that hold, how two language models differ."""
__version__ = "0.1.0"
