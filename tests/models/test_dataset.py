import zipfile

import numpy as np
import pytest
from eurosat_landcover.models.dataset import (
    EUROSAT_CLASSES,
    DatasetError,
    list_eurosat,
    load_arrays,
    read_rgb,
    split_fingerprint,
    stratified_split,
)


def _fake_listing(counts):
    return {c: [f"EuroSAT_RGB/{c}/{c}_{i}.jpg" for i in range(1, n + 1)] for c, n in counts.items()}


def test_classes_in_dataset_order():
    assert EUROSAT_CLASSES[0] == "AnnualCrop" and EUROSAT_CLASSES[-1] == "SeaLake" and len(EUROSAT_CLASSES) == 10


def test_split_is_deterministic_and_stratified():
    listing = _fake_listing({c: 100 + 10 * i for i, c in enumerate(EUROSAT_CLASSES)})
    a = stratified_split(listing, seed=42)
    b = stratified_split(dict(reversed(list(listing.items()))), seed=42)
    assert a == b  # same seed -> same split, regardless of listing order
    c = stratified_split(listing, seed=7)
    assert a["test"] != c["test"]
    all_members = sorted(m for ms in listing.values() for m in ms)
    parts = [m for s in ("train", "val", "test") for m, _ in a[s]]
    assert sorted(parts) == all_members  # a partition: nothing lost, nothing twice
    for i, cls in enumerate(EUROSAT_CLASSES):
        n = 100 + 10 * i
        counts = {s: sum(1 for _, ci in a[s] if ci == i) for s in a}
        assert counts["test"] == round(n * 0.1) and counts["val"] == round(n * 0.1)
        assert counts["train"] == n - 2 * round(n * 0.1)
        for s in a:  # labels agree with the class folder
            assert all(m.split("/")[-2] == cls for m, ci in a[s] if ci == i)
    fp_a, fp_c = split_fingerprint(a), split_fingerprint(c)
    assert fp_a == split_fingerprint(b) and fp_a["test"]["members_sha256"] != fp_c["test"]["members_sha256"]
    assert fp_a["test"]["count"] == len(a["test"])


def test_split_stable_when_a_file_is_added():
    listing = _fake_listing({"Forest": 50})
    before = stratified_split(listing, seed=1)
    listing["Forest"].append("EuroSAT_RGB/Forest/Forest_999.jpg")
    after = stratified_split(listing, seed=1)
    moved = set(before["test"]) ^ set(after["test"])
    assert len(moved) <= 2


def test_small_classes_still_reach_every_split():
    split = stratified_split(_fake_listing({"Forest": 5, "River": 3}), seed=0)
    for s in ("train", "val", "test"):
        assert {ci for _, ci in split[s]} == {EUROSAT_CLASSES.index("Forest"), EUROSAT_CLASSES.index("River")}


def test_bad_fractions():
    with pytest.raises(ValueError):
        stratified_split(_fake_listing({"Forest": 5}), fractions=(0.5, 0.5, 0.5))


def test_real_zip_split_matches_shared_counts(tiny_zip, tiny_folder):
    # folder and zip of the same images list the same members (relative to the source)
    z, f = list_eurosat(tiny_zip), list_eurosat(tiny_folder.parent)
    assert list(z) == list(EUROSAT_CLASSES)
    assert z == f
    assert all(len(v) == 6 for v in z.values())
    img = read_rgb(tiny_zip, z["Forest"][0])
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert np.array_equal(img, read_rgb(tiny_folder.parent, f["Forest"][0]))
    split = stratified_split(tiny_zip, seed=3)
    x, y = load_arrays(tiny_zip, split["val"], size=64)
    assert x.shape == (len(split["val"]), 3, 64, 64) and x.dtype == np.uint8
    assert sorted(set(y.tolist())) == list(range(10))
    small = read_rgb(tiny_zip, z["Forest"][0], size=32)
    assert small.shape == (32, 32, 3)


def test_not_eurosat_layout(tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DatasetError, match="EuroSAT layout"):
        list_eurosat(tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        list_eurosat(tmp_path / "absent")
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("Forest/broken.jpg", b"not a jpeg")
    with pytest.raises(DatasetError, match="cannot read image"):
        read_rgb(bad, "Forest/broken.jpg")
