from django import forms

from .models import BACKGROUNDS, INVERSIONS, REFERENCES


class RunForm(forms.Form):
    inversion = forms.ChoiceField(choices=INVERSIONS.items(), initial="iswim")
    background = forms.ChoiceField(label="Background removal", choices=BACKGROUNDS.items(), initial="vsharp")
    reference = forms.ChoiceField(choices=REFERENCES.items(), initial="brain")
