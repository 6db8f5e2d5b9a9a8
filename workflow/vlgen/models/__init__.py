"""Model sources. Importing this package registers every source (see registry.py).

Source modules import torch, timm, open_clip and transformers only inside functions, so this
import stays cheap (config validation does it).
"""

from vlgen.models import registry  # noqa: F401
from vlgen.models import (  # noqa: F401  (registration side effects)
    source_checkpoint,
    source_hf,
    source_open_clip,
    source_open_clip_text,
    source_pixels,
    source_tf_hub,
    source_timm,
    source_torchvision,
    source_trained,
)
