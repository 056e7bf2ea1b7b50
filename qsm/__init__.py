"""Quantitative susceptibility mapping from multi-echo gradient-echo MRI.

A pure numpy/scipy/nibabel/scikit-image package (no Django): load inputs,
reconstruct a susceptibility map in ppm, save it with provenance.

>>> from qsm import reconstruct, load_inputs, save_outputs
>>> inputs = load_inputs(["mag.nii.gz"], ["phase.nii.gz"])          # doctest: +SKIP
>>> result = reconstruct(inputs.magnitude, inputs.phase, inputs.te_s,
...                      inputs.b0_tesla, inputs.affine, mask=inputs.mask)  # doctest: +SKIP
>>> save_outputs(result, inputs, "chi.nii.gz")                       # doctest: +SKIP
"""

__version__ = "0.3.0"  # 0.3.0: dipole-fit background and single-step TV by default

from .inputs import InputError  # noqa: E402
from .io import QSMInputs, load_inputs, save_outputs  # noqa: E402
from .pipeline import STAGES, QSMResult, reconstruct  # noqa: E402

__all__ = [
    "InputError",
    "QSMInputs",
    "QSMResult",
    "STAGES",
    "__version__",
    "load_inputs",
    "reconstruct",
    "save_outputs",
]
