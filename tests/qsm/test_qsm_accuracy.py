"""Accuracy targets of issue 13 on unseen phantoms (:mod:`qsm.family`, test tier), one test per case.

Every case is a head the pipeline was not tuned on: varied anatomy with sulci,
shim and intravoxel dephasing from our simulator, or our anatomy through
qsm-forward's forward model.  Targets (default parameters):

* default inversion (TV), given mask: NRMSE <= 45 % with B0 straight, <= 47 %
  tilted (20-25 degrees); on the qsm-forward cases <= 40 % straight, <= 42 %
  tilted; motor-control contrast recovery 0.85-1.15 straight, 0.8-1.2 tilted;
* iSWIM, given mask: NRMSE <= 55 %, contrast recovery 0.8-1.2;
* default inversion, derived mask: NRMSE <= 50 %;
* local field (default background removal): NRMSE <= 35 % over the mask with
  the field defined on >= 97 % of it.

Minutes on two cores: marked ``slow``.
"""

import functools

import pytest

from bench.qsm_accuracy import evaluate
from qsm.family import cases
from qsm.inversion import DEFAULT

pytestmark = pytest.mark.slow
pytest.importorskip("qsm_forward")
pytest.importorskip("qsm_ci")

SPECS = {spec.name: spec for spec in cases("test")}
TV_NRMSE = {("own", False): 45.0, ("own", True): 47.0, ("qsm-forward", False): 40.0, ("qsm-forward", True): 42.0}
TV_RECOVERY = {False: (0.85, 1.15), True: (0.8, 1.2)}
ISWIM_NRMSE, ISWIM_RECOVERY = 55.0, (0.8, 1.2)
DERIVED_NRMSE = 50.0
LOCAL_NRMSE, LOCAL_DEFINED = 35.0, 0.97


@functools.cache
def build(name):
    return SPECS[name].build()


@functools.cache
def scored(name, inversion, mask_source):
    return evaluate([build(name)], inversion, mask_source)[0]


@pytest.mark.parametrize("name", SPECS)
def test_default_inversion_with_the_given_mask(name):
    row = scored(name, DEFAULT, "given")
    tilted = row["tilt_deg"] > 0
    low, high = TV_RECOVERY[tilted]
    assert row["nrmse_pct"] <= TV_NRMSE[row["source"], tilted], f"NRMSE {row['nrmse_pct']:.1f} %"
    assert low <= row["contrast_recovery"] <= high, f"contrast recovery {row['contrast_recovery']:.2f}"


@pytest.mark.parametrize("name", SPECS)
def test_iswim_with_the_given_mask(name):
    row = scored(name, "iswim", "given")
    assert row["nrmse_pct"] <= ISWIM_NRMSE, f"NRMSE {row['nrmse_pct']:.1f} %"
    assert ISWIM_RECOVERY[0] <= row["contrast_recovery"] <= ISWIM_RECOVERY[1], (
        f"contrast recovery {row['contrast_recovery']:.2f}")


@pytest.mark.parametrize("name", SPECS)
def test_default_inversion_with_the_derived_mask(name):
    row = scored(name, DEFAULT, "derived")
    assert row["nrmse_pct"] <= DERIVED_NRMSE, f"NRMSE {row['nrmse_pct']:.1f} %"


@pytest.mark.parametrize("name", SPECS)
def test_local_field(name):
    row = scored(name, DEFAULT, "given")
    assert row["local_defined_share"] >= LOCAL_DEFINED, f"defined on {row['local_defined_share']:.3f} of the mask"
    assert row["local_nrmse_pct"] <= LOCAL_NRMSE, f"local-field NRMSE {row['local_nrmse_pct']:.1f} %"
