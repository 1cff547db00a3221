"""Print uv's requirement line from uv.lock, with every hash the lock holds for it.

``make venv`` installs uv with ``pip --require-hashes`` from this line, so the tool that installs everything else
from the lock is itself the locked, verified file (pip accepts the artefact whose hash is one of these).
"""

import sys
import tomllib
from pathlib import Path

lock = tomllib.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "uv.lock").read_text(encoding="utf-8"))
uv = next(package for package in lock["package"] if package["name"] == "uv")
hashes = [wheel["hash"] for wheel in uv.get("wheels", [])] + ([uv["sdist"]["hash"]] if "sdist" in uv else [])
print(f"uv=={uv['version']} " + " ".join(f"--hash={digest}" for digest in hashes))
