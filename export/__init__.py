"""How a generator ships: SavedModel, TFLite and ONNX, each verified against Keras.

python -m export runs/dcgan-XXXX
"""

from export.core import ExportOptions, export_run
from export.sampler import DestinationError, ExportError

__all__ = ["DestinationError", "ExportError", "ExportOptions", "export_run"]
