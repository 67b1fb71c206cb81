"""Dataset validation, the linear teacher and the loaders."""

from __future__ import annotations

import numpy as np
import pytest

import verify
from verify import InputError


class TestTeacher:
    def test_labels_are_teacher_signs_and_margin_holds(self):
        d = verify.teacher_dataset(n=300, d=7, seed=3, margin=0.2)
        w = d.teacher
        assert np.isclose(np.linalg.norm(w), 1.0)
        proj = d.X @ w
        assert np.all(np.sign(proj) == d.y)
        assert np.min(d.y * proj) >= 0.2

    def test_seeded_and_spec_equivalent(self):
        a = verify.teacher_dataset(n=50, d=3, seed=9, margin=0.1)
        b = verify.load_dataset("teacher:n=50,d=3,seed=9,margin=0.1")
        c = verify.teacher_dataset(n=50, d=3, seed=10, margin=0.1)
        assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
        assert a.sha256() == b.sha256() != c.sha256()

    @pytest.mark.parametrize("spec", ["teacher:n=1,d=3", "teacher:n=10,d=0", "teacher:n=10,q=3",
                                      "teacher:n=ten", "teacher:n=10,margin=-1", "teacher:n=10,margin=9"])
    def test_bad_specs(self, spec):
        with pytest.raises(InputError):
            verify.load_dataset(spec)


class TestValidation:
    def test_nan_refused(self):
        X = np.ones((3, 2))
        X[1, 0] = np.nan
        with pytest.raises(InputError, match="NaN"):
            verify.Dataset(X, [1, -1, 1])

    def test_inf_refused(self):
        with pytest.raises(InputError, match="NaN or inf"):
            verify.Dataset([[np.inf, 0], [1, 1]], [1, -1])

    def test_shapes(self):
        with pytest.raises(InputError, match="2-D"):
            verify.Dataset(np.ones(4), [1, -1, 1, -1])
        with pytest.raises(InputError, match="rows"):
            verify.Dataset(np.ones((4, 2)), [1, -1, 1])
        with pytest.raises(InputError, match="at least 2"):
            verify.Dataset(np.ones((1, 2)), [1])

    def test_both_labels_needed(self):
        with pytest.raises(InputError, match="both labels"):
            verify.Dataset(np.eye(3), [1, 1, 1])

    def test_zero_one_labels_name_the_flag(self):
        with pytest.raises(InputError, match="--labels01"):
            verify.Dataset(np.eye(3), [0, 1, 1])

    def test_other_labels(self):
        with pytest.raises(InputError, match=r"\{-1,\+1\}"):
            verify.Dataset(np.eye(3), [2, 1, -1])

    def test_conflicting_duplicates(self):
        X = np.array([[1.0, 2.0], [0.0, 1.0], [1.0, 2.0]])
        with pytest.raises(InputError, match="both labels"):
            verify.Dataset(X, [1, -1, -1])

    def test_consistent_duplicates_allowed(self):
        X = np.array([[1.0, 2.0], [0.0, 1.0], [1.0, 2.0]])
        assert verify.Dataset(X, [1, -1, 1]).n == 3

    def test_arrays_are_read_only_copies(self):
        X = np.eye(2)
        d = verify.Dataset(X, [1, -1])
        X[0, 0] = 5
        assert d.X[0, 0] == 1
        with pytest.raises(ValueError):
            d.X[0, 0] = 3

    def test_bias(self):
        d = verify.Dataset(np.eye(2), [1, -1]).with_bias()
        assert d.X.shape == (2, 3) and np.all(d.X[:, -1] == 1)


class TestLoaders:
    def test_npz_roundtrip(self, tmp_path, teacher_small):
        p = verify.save_dataset(tmp_path / "d.npz", teacher_small)
        back = verify.load_dataset(str(p))
        assert np.array_equal(back.X, teacher_small.X) and np.array_equal(back.teacher, teacher_small.teacher)

    def test_npz_missing_arrays(self, tmp_path):
        np.savez(tmp_path / "bad.npz", X=np.eye(2))
        with pytest.raises(InputError, match="missing"):
            verify.load_dataset(str(tmp_path / "bad.npz"))

    def test_npz_with_pickle_refused(self, tmp_path):
        obj = np.empty(2, dtype=object)
        obj[0], obj[1] = {"a": 1}, [2]
        np.savez(tmp_path / "p.npz", X=obj, y=np.array([1, -1]))
        with pytest.raises(InputError, match="pickle"):
            verify.load_dataset(str(tmp_path / "p.npz"))

    def test_csv_and_labels01(self, tmp_path):
        f = tmp_path / "d.csv"
        f.write_text("a,b,label\n1,2,1\n-1,0.5,0\n3,1,1\n")
        with pytest.raises(InputError, match="--labels01"):
            verify.load_dataset(str(f))
        d = verify.load_dataset(str(f), labels01=True)
        assert d.y.tolist() == [1.0, -1.0, 1.0] and d.X.shape == (3, 2)

    def test_csv_non_numeric(self, tmp_path):
        f = tmp_path / "d.csv"
        f.write_text("a,label\nx,1\n2,-1\n")
        with pytest.raises(InputError, match="non-numeric"):
            verify.load_dataset(str(f))

    def test_missing_file_and_unknown_format(self, tmp_path):
        with pytest.raises(InputError, match="no such file"):
            verify.load_dataset(str(tmp_path / "nope.npz"))
        (tmp_path / "d.txt").write_text("1 2")
        with pytest.raises(InputError, match="format"):
            verify.load_dataset(str(tmp_path / "d.txt"))

    def test_sklearn_iris(self):
        pytest.importorskip("sklearn")
        d = verify.load_dataset("sklearn:iris:0,1")
        assert d.n == 100 and d.d == 4 and d.y.sum() == 0
