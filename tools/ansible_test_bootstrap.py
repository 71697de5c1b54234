"""Offline pip bootstrap for ansible-test.

ansible-test bootstraps pip in its virtual environments by downloading ``get-pip.py``;
without internet that download fails. This script is a stand-in with the same calling
convention (``python get_pip.py [pip options] packages``): it bootstraps pip from the
interpreter's bundled wheel with ``ensurepip`` and then lets pip install the requested
packages from the configured package index.
"""
import subprocess
import sys

IGNORED = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
args = [arg for arg in sys.argv[1:] if arg not in IGNORED]
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
