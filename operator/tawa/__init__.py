"""Tawa: gas metering for a Kubernetes platform."""

__version__ = "0.1.0"
