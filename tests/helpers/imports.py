"""Which heavy libraries a fresh interpreter has loaded after importing some of our modules.

CPU jobs and DAG-time code must start fast (DESIGN.md "Jobs start fast"): these modules may import
torch and friends only inside functions.
"""

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "torchvision", "timm", "open_clip", "transformers")
ROOT = Path(__file__).resolve().parents[2]


def heavy_imports(*modules: str, then: str = "") -> list[str]:
    """The HEAVY libraries in sys.modules after `import modules` (and the statement `then`)."""
    code = (f"import json, sys; import {', '.join(modules)}; {then or 'pass'}; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])
