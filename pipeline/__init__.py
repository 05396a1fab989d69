"""Nightwatch's pipeline library: pure stages plus one I/O module; no Prefect here."""
