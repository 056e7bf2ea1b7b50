from django import forms


class RoiUploadForm(forms.Form):
    file = forms.FileField(label="Label image (NIfTI)", help_text="From ITK-SNAP, FSLeyes or another tool, on the scan's grid.")
    mapping = forms.CharField(label="Label values", initial="1=LMC, 2=RMC, 3=LCT, 4=RCT",
                              help_text="value=name pairs, e.g. 1=LMC, 2=RMC.")


class SphereForm(forms.Form):
    name = forms.ChoiceField(label="ROI")
    x = forms.FloatField(label="x (R+, mm)")
    y = forms.FloatField(label="y (A+, mm)")
    z = forms.FloatField(label="z (S+, mm)")
    radius = forms.FloatField(label="radius (mm)", min_value=0.5, max_value=50, initial=4)
    within_brain = forms.BooleanField(label="only voxels inside the brain mask", required=False, initial=True)

    def __init__(self, *args, labels: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].choices = [(name, name) for name in labels]
