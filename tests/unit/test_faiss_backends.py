"""FAISS kernels give the numpy path's selections (ALGORITHMS.md §7; activecv.scale._faiss).

Pools are continuous random draws, so no two candidates' distances are within float32
rounding of each other and the rankings are unambiguous: picks must be identical, and
distances equal to float32 precision.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import activecv as acv
from activecv.strategies._backends import NUMPY, resolve_backend
from activecv.strategies._kmeans import kmeans
from activecv.strategies._typiclust import typicality

faiss = pytest.importorskip("faiss")

from activecv.scale import FaissBackend, faiss_backend  # noqa: E402  (after the importorskip)

FAISS = faiss_backend()


def pool(seed: int, n: int = 600, d: int = 12, dtype: type = np.float32) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(dtype)


def blobs(n_per: int, centres: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.vstack([c + 0.3 * rng.normal(size=(n_per, centres.shape[1])) for c in centres])
    return x.astype(np.float32), np.repeat(np.arange(centres.shape[0]), n_per)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


# --- core-set -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_coreset_picks_equal_numpy(seed: int, dtype: type) -> None:
    x = pool(seed, dtype=dtype)
    labeled = np.random.default_rng(seed).choice(600, size=25, replace=False)
    expected = acv.select("coreset", budget=60, embeddings=x, labeled=labeled)
    got = acv.select(acv.get_strategy("coreset", backend="faiss"), budget=60, embeddings=x, labeled=labeled)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-5)
    assert got.info == {"backend": "faiss"} and expected.info == {}


@pytest.mark.parametrize("rng", [None, 3])
def test_coreset_cold_start_equals_numpy(rng: int | None) -> None:
    x = pool(7, n=300)
    expected = acv.select("coreset", budget=20, embeddings=x, rng=rng)
    got = acv.select(acv.get_strategy("coreset", backend=FAISS), budget=20, embeddings=x, rng=rng)
    np.testing.assert_array_equal(got.indices, expected.indices)


def test_kernels_equal_numpy_distances() -> None:
    x = pool(1, n=400, d=20)
    ours, theirs = NUMPY.points(x), FAISS.points(x)
    np.testing.assert_array_equal(ours.sq, theirs.sq)
    for j in (0, 17, 399):
        np.testing.assert_allclose(theirs.squared_distances_to(j), ours.squared_distances_to(j), atol=1e-4)
    centres = np.arange(0, 400, 9)
    np.testing.assert_allclose(
        theirs.min_squared_distances(centres), ours.min_squared_distances(centres), atol=1e-4
    )
    vectors = x[:30].astype(np.float64) + 0.5
    (l_ours, d_ours), (l_theirs, d_theirs) = ours.nearest(vectors), theirs.nearest(vectors)
    np.testing.assert_array_equal(l_theirs, l_ours)
    np.testing.assert_allclose(d_theirs, d_ours, atol=1e-4)


def test_duplicates_of_labeled_points_come_last_with_faiss_too() -> None:
    x = np.array([[0.0], [0.0], [0.0], [4.0]], dtype=np.float32)
    sel = acv.select(acv.get_strategy("coreset", backend="faiss"), budget=3, embeddings=x, labeled=[0])
    assert sel.indices.tolist() == [3, 1, 2]
    np.testing.assert_allclose(sel.scores, [4.0, 0.0, 0.0])


# --- the approximate index ------------------------------------------------------------------


def test_ivf_searching_every_list_is_exact() -> None:
    x = pool(2, n=2000, d=8)
    labeled = np.arange(0, 2000, 5)  # 400 labeled, 20 lists
    expected = acv.select("coreset", budget=40, embeddings=x, labeled=labeled)
    exhaustive = faiss_backend(index="ivf", nlist=20, nprobe=20)
    got = acv.select(
        acv.get_strategy("coreset", backend=exhaustive), budget=40, embeddings=x, labeled=labeled
    )
    np.testing.assert_array_equal(got.indices, expected.indices)


@pytest.mark.parametrize("index", ["ivf", "hnsw"])
def test_approximate_indexes_overstate_distances_never_understate(index: str) -> None:
    x = pool(3, n=4000, d=32)
    centres = np.arange(0, 4000, 4)
    exact = NUMPY.points(x).min_squared_distances(centres)
    loose = faiss_backend(index=index, nprobe=1, nlist=64, hnsw_m=4, ef_search=1)
    approx = loose.points(x).min_squared_distances(centres)
    assert (approx >= exact - 1e-3).all()
    recall = np.isclose(approx, exact, atol=1e-3).mean()
    assert 0.0 < recall < 1.0  # loose settings miss nearest centres; tight ones find them all
    tight = faiss_backend(index=index, nprobe=64, nlist=64, ef_search=512)
    np.testing.assert_allclose(tight.points(x).min_squared_distances(centres), exact, atol=1e-3)


def test_faiss_ivf_name_selects_and_is_recorded() -> None:
    x = pool(4, n=1500)
    sel = acv.select(
        acv.get_strategy("coreset", backend="faiss-ivf"), budget=10, embeddings=x, labeled=[0, 1]
    )
    assert sel.info == {"backend": "faiss-ivf"} and len(set(sel.indices.tolist())) == 10
    assert resolve_backend("faiss-ivf") == FaissBackend(index="ivf")


# --- BADGE ----------------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["max_norm", "random"])
@pytest.mark.parametrize("seed", range(3))
def test_badge_seeds_equal_numpy_on_the_same_rng(first: str, seed: int) -> None:
    g = pool(seed, n=500, d=24)
    expected = acv.select(acv.get_strategy("badge", first=first), budget=40, gradient_embeddings=g, rng=seed)
    strategy = acv.get_strategy("badge", first=first, backend="faiss")
    got = acv.select(strategy, budget=40, gradient_embeddings=g, rng=seed)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-5)


def test_badge_from_probs_and_embeddings_keeps_the_implicit_numpy_distances() -> None:
    rng = np.random.default_rng(5)
    probs, h = rng.dirichlet(np.ones(4), size=200), rng.normal(size=(200, 6))
    expected = acv.select("badge", budget=15, probs=probs, embeddings=h, rng=1)
    got = acv.select(acv.get_strategy("badge", backend="faiss"), budget=15, probs=probs, embeddings=h, rng=1)
    np.testing.assert_array_equal(got.indices, expected.indices)
    assert got.info == {}  # nothing ran on FAISS


# --- k-means and TypiClust -------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_kmeans_labels_equal_numpy_from_the_same_seeds(seed: int) -> None:
    x = pool(seed, n=800, d=6).astype(np.float64)
    expected = kmeans(x, 12, np.random.default_rng(seed))
    got = kmeans(x, 12, np.random.default_rng(seed), backend=FAISS)
    np.testing.assert_array_equal(got, expected)


def test_typicality_equals_numpy_with_duplicates() -> None:
    x = pool(6, n=50, d=5)
    x[10] = x[11] = x[12]  # self and a duplicate at distance 0: the self is the one dropped
    np.testing.assert_allclose(typicality(x, 7, FAISS), typicality(x, 7), rtol=1e-4)
    np.testing.assert_allclose(FAISS.knn_squared(x, 7), NUMPY.knn_squared(x, 7), atol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_typiclust_picks_equal_numpy(seed: int) -> None:
    x = pool(seed, n=900, d=10)
    labeled = np.arange(0, 900, 60)
    expected = acv.select("typiclust", budget=25, embeddings=x, labeled=labeled, rng=seed)
    strategy = acv.get_strategy("typiclust", backend="faiss")
    got = acv.select(strategy, budget=25, embeddings=x, labeled=labeled, rng=seed)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-4)


# --- Cluster-Margin -------------------------------------------------------------------------


@pytest.mark.parametrize("rng", [None, 2])
def test_cluster_margin_kmeans_equals_numpy(rng: int | None) -> None:
    gen = np.random.default_rng(8)
    x, probs = pool(8, n=700, d=8), gen.dirichlet(np.ones(6), size=700)
    numpy_km = acv.get_strategy("cluster_margin", clustering="kmeans")
    faiss_km = acv.get_strategy("cluster_margin", clustering="kmeans", backend="faiss")
    expected = acv.select(numpy_km, budget=20, probs=probs, embeddings=x, labeled=[0, 1], rng=rng)
    got = acv.select(faiss_km, budget=20, probs=probs, embeddings=x, labeled=[0, 1], rng=rng)
    np.testing.assert_array_equal(got.indices, expected.indices)


def test_kmeans_finds_the_clusters_average_linkage_finds_on_separated_blobs() -> None:
    from activecv.strategies._cluster_margin import hac_clusters

    centres = 10.0 * np.eye(5, 4)  # 5 blobs 10 apart, spread 0.3
    x, truth = blobs(40, centres)
    hac = hac_clusters(x, 5, None)
    for seed in range(5):
        labels = kmeans(x, 5, np.random.default_rng(seed), backend=FAISS)
        assert same_partition(labels, truth) and same_partition(labels, hac)


# --- errors ---------------------------------------------------------------------------------


def test_unknown_backend_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"backend must be one of 'numpy', 'faiss', 'faiss-ivf'; got 'gpu'"):
        acv.get_strategy("coreset", backend="gpu")


def test_backend_of_the_wrong_type() -> None:
    with pytest.raises(TypeError, match=r"backend must be a name .* got int"):
        acv.get_strategy("typiclust", backend=3)


def test_faiss_with_average_linkage_is_refused() -> None:
    with pytest.raises(ValueError, match="backend='faiss' computes k-means distances; average linkage"):
        acv.get_strategy("cluster_margin", backend="faiss")


def test_distance_threshold_with_kmeans_is_refused() -> None:
    with pytest.raises(ValueError, match="distance_threshold cuts the average-linkage tree"):
        acv.get_strategy("cluster_margin", clustering="kmeans", distance_threshold=1.0)


def test_kmeans_clustering_has_no_hac_limit() -> None:
    gen = np.random.default_rng(9)
    x, probs = pool(9, n=400), gen.dirichlet(np.ones(3), size=400)
    strategy = acv.get_strategy("cluster_margin", clustering="kmeans", max_hac_points=10, backend="faiss")
    assert len(acv.select(strategy, budget=5, probs=probs, embeddings=x).indices) == 5
    with pytest.raises(ValueError, match="use clustering='kmeans'"):
        acv.select(acv.get_strategy("cluster_margin", max_hac_points=10), budget=5, probs=probs, embeddings=x)


def test_faiss_backend_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="index must be one of 'flat', 'ivf', 'hnsw'; got 'lsh'"):
        faiss_backend(index="lsh")
    with pytest.raises(ValueError, match="nprobe must be a positive integer; got 0"):
        faiss_backend(index="ivf", nprobe=0)
    with pytest.raises(TypeError, match="nlist must be a positive integer"):
        faiss_backend(index="ivf", nlist=2.5)  # type: ignore[arg-type]


def test_missing_faiss_names_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now raises ImportError
    with pytest.raises(ImportError, match=r"faiss-cpu is required .* pip install 'activecv\[scale\]'"):
        faiss_backend()
    x = pool(0, n=20)
    with pytest.raises(ImportError, match="faiss-cpu is required"):
        acv.select(acv.get_strategy("coreset", backend="faiss"), budget=2, embeddings=x, labeled=[0])


def test_the_command_line_takes_the_backend_as_a_parameter(tmp_path: Path) -> None:
    from activecv.cli import main
    from activecv.io import save_predictions

    x = pool(5, n=300)
    labeled = np.zeros(300, dtype=bool)
    labeled[:20] = True
    save_predictions(tmp_path / "p.npz", ids=np.arange(300), embeddings=x, labeled=labeled)
    chosen = {}
    for backend in ("numpy", "faiss"):
        out = tmp_path / f"{backend}.csv"
        args = ["select", "--predictions", str(tmp_path / "p.npz"), "--strategy", "coreset", "--budget", "15"]
        assert main([*args, "--param", f"backend={backend}", "--out", str(out), "--quiet"]) == 0
        chosen[backend] = [line.split(",")[1] for line in out.read_text().splitlines()[1:]]
    assert chosen["faiss"] == chosen["numpy"] and len(chosen["numpy"]) == 15
    assert main([*args, "--param", "backend=annoy", "--out", str(tmp_path / "x.csv")]) == 2
