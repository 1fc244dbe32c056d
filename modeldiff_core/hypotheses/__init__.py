"""Hypotheses about how model B differs from A: proposed from the discovery texts (`propose`),
validated on held-out texts with the prompt as the unit (`validation`, `stats`), the run's stage
that does both and stores each step (`stage`), and the simulated nulls that check the tests
hold their level (`calibration`)."""
