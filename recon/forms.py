from django import forms

from .models import BACKGROUNDS, INVERSIONS, REFERENCES
from qsm.background import DEFAULT as DEFAULT_BACKGROUND
from qsm.inversion import DEFAULT as DEFAULT_INVERSION


class RunForm(forms.Form):
    inversion = forms.ChoiceField(choices=INVERSIONS.items(), initial=DEFAULT_INVERSION)
    background = forms.ChoiceField(label="Background removal", choices=BACKGROUNDS.items(), initial=DEFAULT_BACKGROUND)
    reference = forms.ChoiceField(choices=REFERENCES.items(), initial="brain")
