"""Past one machine: Ray for running the model over a pool and ranking parquet shards, FAISS
for the diversity methods' neighbours and k-means. Needs ``pip install 'activecv[scale]'``;
Ray and FAISS are imported only when used."""

from activecv.scale._faiss import FaissBackend, faiss_backend
from activecv.scale._predict import PredictReport, predict_pool, shard_folder
from activecv.scale._ray_select import select_on_ray, shard_paths

__all__ = [
    "FaissBackend",
    "PredictReport",
    "faiss_backend",
    "predict_pool",
    "select_on_ray",
    "shard_folder",
    "shard_paths",
]
