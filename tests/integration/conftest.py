"""Shared fixtures of the integration tests (real processes, 127.0.0.1 only)."""

import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("SEKISHO_BUILD", REPO / "build"))
PKI_TOOL = REPO / "pki" / "sekisho-pki"
