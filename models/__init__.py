"""Performance models of RAG stages: (stage, chips, batch) -> latency, or a rejection with its reason.

Pure numpy; this package never imports ``ortools`` nor anything from ``planner``.
"""

from models.cost import Breakdown, RetrievalModel, StageCost
from models.errors import ModelError, ProfileError
from models.profiles import (
    BatchCurve,
    EncodeCost,
    ProfileTable,
    RerankCost,
    RetrievalCost,
    TableCost,
    inference_table,
    read_inference_csv,
    read_retrieval_csv,
    retrieval_table,
)

__all__ = [
    "BatchCurve",
    "Breakdown",
    "EncodeCost",
    "ModelError",
    "ProfileError",
    "ProfileTable",
    "RerankCost",
    "RetrievalCost",
    "RetrievalModel",
    "StageCost",
    "TableCost",
    "inference_table",
    "read_inference_csv",
    "read_retrieval_csv",
    "retrieval_table",
]
